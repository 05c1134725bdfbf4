"""Per-slice statistics of a softmax, and the softmax from given statistics.

The two halves of softmax and log_softmax, apart: `slice_stats` reduces each
slice (the elements along the reduced axes) to four numbers, `normalise`
computes the outputs from them, `log_sum` the slice's logsumexp, and
`combine` merges the statistics of pieces of a slice (a slice cut into
chunks, as Dask cuts it) exactly as if they had been taken over the whole:

    softmax(x) == normalise(x, combine([slice_stats(p, axis) for p in pieces], axis),
                            axis, log=False)

for any split of the reduced axes into pieces, to the accuracy bounds of
docs/contract.md.  `pysoftmax.logsumexp` is `log_sum(slice_stats(x, axis))`.

The statistics of a slice (SliceStats, float64 arrays shaped like x with
the reduced axes kept, of size 1):
    m, r    the largest product scale*x of the slice is exactly m + r: m is
            that product rounded to the compute dtype (float32 for float32,
            float16 and bfloat16; float64 otherwise), r its rounding error (0
            without scale=, or when the product is exact), so that every
            exponent scale*x - m - r is computed from the exact products, as
            the softmax kernels compute it (softmax_body.h: at the max it is
            exactly 0);
    ones    how many terms exp(scale*x - m - r) are exactly 1 (the elements
            at the max, and any within half an ulp of it);
    others  the sum of the other terms.
Kept apart (not folded into one log) so that log_softmax and logsumexp stay
accurate at the max: log(ones + others) = log(ones) + log1p(others/ones).
Non-finite values: a slice whose largest product is +inf or -inf has m = +-inf,
r = 0, ones = how many products equal m, others = 0; a NaN product makes
others NaN (whatever m is); a slice with nothing selected by where= has m =
-inf and ones = others = 0.  Products beyond float64's range (float64 input
times a large scale) are not supported: their m is +-inf as for an infinite x.

Imports: _plan, strategies (the kernels and the reference formulas).
"""
from typing import NamedTuple, Sequence

import numpy as np

from ._plan import _as_mask, _as_scale, _normalize_axes, _result_dtype, work_dtype

__all__ = ["SliceStats", "slice_stats", "combine", "normalise", "log_sum"]

_F64 = np.dtype(np.float64)


class SliceStats(NamedTuple):
    """The statistics of each slice (see the module docstring): float64
    arrays shaped like x with the reduced axes kept (size 1)."""
    m: np.ndarray
    r: np.ndarray
    ones: np.ndarray
    others: np.ndarray


def _prepare(x, axis, where, scale):
    """(x in its compute dtype, sorted axes, the mask broadcast or None, scale
    as a float of the compute dtype or None)."""
    x = np.asarray(x)
    if x.dtype.kind == "c":
        raise TypeError(f"complex input (dtype {x.dtype}) is not supported")
    compute = work_dtype(_result_dtype(x.dtype, None))
    if compute.itemsize > 8:             # long double: float64 statistics
        compute = _F64
    xc = x.astype(compute, copy=False)
    axes = _normalize_axes(axis, x.ndim)
    keep = None if where is None else _as_mask(where, x.shape)
    s = None if scale is None else _as_scale(scale, compute)
    return xc, axes, keep, s


def _shift_of(xm, s, compute):
    """(m, r) in float64 from xm, the element with the largest product s*xm."""
    xm = xm.astype(_F64)
    if s is None:
        return xm, np.zeros_like(xm)
    with np.errstate(all="ignore"):
        if compute.itemsize == 4:        # float * float: exact in double
            p = np.float64(s) * xm
            m = p.astype(np.float32).astype(_F64)
            m = np.where(np.isfinite(m), m, p)        # beyond float: the double product
            r = np.where(np.isfinite(p), p - m, 0.0)
            return m, r
        return _two_product(np.float64(s), xm)


def _two_product(s, v):
    """(p, err): p = s*v rounded to float64, err its rounding error (Dekker's
    product with Veltkamp's splitting, on the significands, so that nothing
    overflows; err is 0 where p is not finite, and loses what falls below the
    subnormals, which no exponent notices)."""
    fs, es = np.frexp(s)
    fv, ev = np.frexp(v)
    split = 2.0 ** 27 + 1
    c, d = split * fs, split * fv
    s_hi, v_hi = c - (c - fs), d - (d - fv)
    s_lo, v_lo = fs - s_hi, fv - v_hi
    pf = fs * fv
    errf = ((s_hi * v_hi - pf) + s_hi * v_lo + s_lo * v_hi) + s_lo * v_lo
    p = s * v
    err = np.ldexp(errf, es + ev)
    return p, np.where(np.isfinite(p), err, 0.0)


def _exponents(xc, s, m, r):
    """scale*x - m - r from the exact products, in float64."""
    x64 = xc.astype(_F64, copy=False)
    with np.errstate(all="ignore"):
        if s is None:
            return (x64 - m) - r
        if xc.dtype.itemsize == 4:
            return (np.float64(s) * x64 - m) - r
        p, err = _two_product(np.float64(s), x64)    # s*x = p + err exactly
        return (p - m) + (err - r)


def slice_stats(x, axis, *, where=None, scale=None):
    """The statistics of each slice of `x` along `axis` (an int, a tuple of
    ints or None for all), of the elements `where` selects, of the products
    `scale` * x; see the module docstring.

    >>> s = slice_stats(np.array([[0.0, -40.0], [1.0, 1.0]]), -1)
    >>> s.m.ravel(), s.ones.ravel()
    (array([0., 1.]), array([1., 2.]))
    >>> float(s.others[0, 0])
    4.248354255291589e-18
    """
    xc, axes, keep, s = _prepare(x, axis, where, scale)
    sg = -1 if s is not None and s < 0 else 1
    with np.errstate(all="ignore"):
        key = sg * xc
        key = np.where(np.isnan(key), -np.inf, key)
        selected = np.ones(xc.shape, bool) if keep is None else keep
        key = np.where(selected, key, -np.inf)
        xm = sg * np.max(key, axis=axes, keepdims=True, initial=-np.inf)
        m, r = _shift_of(xm, s, xc.dtype)
        none = ~np.any(selected, axis=axes, keepdims=True)
        m = np.where(none, -np.inf, m)
        r = np.where(none, 0.0, r)
        products = xc.astype(_F64) if s is None else np.float64(s) * xc.astype(_F64)
        nan = np.any(selected & np.isnan(products), axis=axes, keepdims=True)
        d = _exponents(xc, s, m, r)
        e = np.exp(d)
        one = selected & (e == 1)
        ones = np.sum(one, axis=axes, keepdims=True, dtype=_F64)
        others = np.sum(np.where(selected & ~one, e, 0.0), axis=axes, keepdims=True)
        infinite = np.isinf(m)           # the largest product is +-inf (or nothing selected)
        at_m = np.sum(selected & (products == m), axis=axes, keepdims=True, dtype=_F64)
        ones = np.where(infinite, at_m, ones)
        others = np.where(infinite, 0.0, others)
        others = np.where(nan, np.nan, others)
        r = np.where(infinite, 0.0, r)
    return SliceStats(m, r, ones, others)


def combine(parts: Sequence[SliceStats], axis=None):
    """The statistics of slices cut into pieces, from those of the pieces:
    M + R the largest of the m_i + r_i; the pieces at it keep their ones and
    others, the others' ones + others are scaled by exp((m_i - M) + (r_i - R))
    and added to others.  Exact but for that one rounding per piece: the
    two-level reduction of a slice split across chunks.  `axis` is not
    needed (the statistics are elementwise); it is accepted so that a caller
    can pass the axes it reduced.  NaN propagates through others.

    >>> x = np.array([3.0, 1.0, -2.0, 3.0])
    >>> whole = slice_stats(x, 0)
    >>> parts = combine([slice_stats(x[:1], 0), slice_stats(x[1:], 0)])
    >>> [v.item() for v in parts] == [v.item() for v in whole]
    True
    """
    parts = [SliceStats(*(np.asarray(v, _F64) for v in p)) for p in parts]
    if not parts:
        raise ValueError("combine needs at least one SliceStats")
    with np.errstate(all="ignore"):
        big_m = parts[0].m
        big_r = parts[0].r
        for p in parts[1:]:
            key_m = np.where(np.isnan(big_m), -np.inf, big_m)
            better = (p.m > key_m) | ((p.m == key_m) & (p.r > big_r))
            big_m = np.where(better, p.m, big_m)
            big_r = np.where(better, p.r, big_r)
        ones = np.zeros(np.broadcast_shapes(*(p.m.shape for p in parts)))
        others = np.zeros_like(ones)
        for p in parts:
            at = (p.m == big_m) & (p.r == big_r)
            factor = np.exp((p.m - big_m) + (p.r - big_r))
            ones = ones + np.where(at, p.ones, 0.0)
            others = others + np.where(at, p.others, (p.ones + p.others) * factor)
    return SliceStats(big_m, big_r, ones, others)


def _log_split(ones, others):
    """log(ones + others), accurate when ones > 0 and others is tiny."""
    with np.errstate(all="ignore"):
        k = np.maximum(ones, 1)
        return np.where(ones > 0, np.log(k) + np.log1p(others / k), np.log(others))


def log_sum(stats):
    """The log of the sum of exp(scale*x) of each slice: m + r + log(ones +
    others), with log(ones) + log1p(others/ones) so that a slice with a
    single max and tiny others is not rounded to its max; +inf for a +inf
    max, -inf for a slice of only -inf (or nothing selected), NaN for a NaN.

    >>> float(log_sum(slice_stats(np.array([0.0, -40.0]), 0))[0])
    4.248354255291589e-18
    """
    m, r, ones, others = (np.asarray(v, _F64) for v in stats)
    with np.errstate(all="ignore"):
        result = m + (r + _log_split(ones, others))
        result = np.where(np.isinf(m), m, result)
        return np.where(np.isnan(others), np.nan, result)


def normalise(x, stats, axis, *, log, where=None, scale=None, out=None):
    """softmax (log_softmax if `log`) of `x` along `axis` from the statistics
    of its slices (slice_stats or combine, with the same where= and scale=):
    exp(scale*x - m - r) / (ones + others), or scale*x - m - r - log(ones +
    others).  The conventions of softmax/log_softmax: a NaN or +inf product
    or a slice of only -inf makes the slice NaN, elements `where` leaves out
    get 0 (log: -inf), and so does a slice with none selected.  The result
    has the dtype softmax gives (float64 for integers); `out` as softmax's.

    >>> x = np.array([1.0, 2.0, 3.0])
    >>> normalise(x, slice_stats(x, 0), 0, log=False)
    array([0.09003057, 0.24472847, 0.66524096])
    """
    xc, axes, keep, s = _prepare(x, axis, where, scale)
    result_dtype = _result_dtype(np.asarray(x).dtype, None)
    m, r, ones, others = (np.asarray(v, _F64) for v in stats)
    fill = -np.inf if log else 0.0
    with np.errstate(all="ignore"):
        d = _exponents(xc, s, m, r)
        bad = ~np.isfinite(m) | np.isnan(others)
        if log:
            y = d - np.where(bad, np.nan, _log_split(ones, others))
        else:
            y = np.exp(d) / np.where(bad, np.nan, ones + others)
        none = (m == -np.inf) & (ones == 0) & (others == 0)
        y = np.where(none, fill, y)
        if keep is not None:
            y = np.where(keep, y, fill)
    if out is None:
        with np.errstate(over="ignore"):
            result = y.astype(result_dtype)
        return result if result.ndim else result[()]
    with np.errstate(over="ignore"):
        out[...] = y
    return out
