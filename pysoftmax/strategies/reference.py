"""Strategy `reference`: the generic NumPy op sequence.

max, subtract, exp, sum, divide (log_softmax: subtract log of the sum), each a
separate pass with its own temporary: simple, always available, any float
dtype (including longdouble), every feature (where=, scale=, the gradients;
approx=True computes exactly, which meets its bound), and the baseline every
other strategy must beat.  Sums are accumulated in at least float64 so that
the accuracy bounds hold for long non-contiguous reductions too.
"""
import numpy as np

NAME = "reference"
CONTIGUOUS = False   # rows with their own strides are fine


def unavailable_reason():
    """Why this strategy cannot run here, or None when it can."""
    return None


def decline_reason(problem):
    """Why this strategy does not compute `problem`, or None when it does."""
    return None


def run(problem, x, y, n_threads, where=None, scale=None, dy=None):
    """y = op(x) along axis 1 (n_threads is ignored: NumPy is serial); for
    op 'logsumexp', y (float64, (4, rows)) gets each row's statistics."""
    if problem.op == "logsumexp":
        if problem.kind == "inner":      # (outer, n, inner): the columns as rows
            x = np.moveaxis(x, 1, -1).reshape(-1, problem.n)
        y[...] = slice_stats(x, where, scale)
        return
    acc = np.promote_types(x.dtype, np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if problem.op == "softmax_grad":
            s = np.sum(dy * x, axis=1, keepdims=True, dtype=acc).astype(x.dtype)
            np.multiply(x, dy - s, out=y)
            return
        if problem.op == "log_softmax_grad":
            s = np.sum(dy, axis=1, keepdims=True, dtype=acc).astype(x.dtype)
            np.subtract(dy, np.exp(x) * s, out=y)
            return
        shifted, keep = _shifted(x, scale, where)
        e = np.exp(shifted)
        if keep is not None:
            e = np.where(keep, e, 0)
        if problem.op == "softmax":
            s = _sum(e, acc)
            if keep is not None:
                s[s == 0] = 1                   # nothing selected: all 0
            np.divide(e, s.astype(x.dtype), out=y)
        else:
            np.subtract(shifted, _log_sum(e, acc).astype(x.dtype), out=y)
        if keep is not None:                    # even where the selected are NaN
            y[~keep] = 0 if problem.op == "softmax" else -np.inf


def _shifted(x, scale, where):
    """(s*x - the max of s*x over each row, in x's dtype; the mask or None).

    The products are exact: the max element's exponent is exactly 0 and the
    others are rounded once, however large |s*x| is (rounding s*x first
    would put an error of |s*x| * eps into every exponent).  float32
    computes them in float64, wider types with _exact_difference."""
    keep = None if where is None else np.broadcast_to(where, x.shape)
    sg = -1 if scale is not None and scale < 0 else 1
    hidden = -np.inf if sg > 0 else np.inf     # masked out: s * hidden = -inf
    masked_x = x if keep is None else np.where(keep, x, hidden)
    xm = sg * np.max(sg * masked_x, axis=1, keepdims=True)   # the largest s*x is s*xm
    if keep is not None:
        xm = np.where(keep.any(axis=1, keepdims=True), xm, 0)  # nothing selected
    if scale is None:
        return masked_x - xm, keep
    if x.dtype.itemsize <= 4:
        wide = np.float64(scale)
        return (wide * masked_x.astype(np.float64) - wide * xm).astype(x.dtype), keep
    return _exact_difference(scale, masked_x, xm), keep


def _exact_difference(s, x, xm):
    """s*x - s*xm with exact products, rounded once (float64, long double).

    Each product is the rounded p plus its exact error (Dekker's product with
    Veltkamp's splitting), so s*x - s*xm = (p - pm) + (err - errm).  s and x
    are first brought below 2^(maxexp/2 - 2) by powers of 2 (exact), so that
    nothing overflows before the difference is scaled back."""
    info = np.finfo(x.dtype)
    split = x.dtype.type(2 ** ((info.nmant + 2) // 2) + 1)
    limit = info.maxexp // 2 - 2
    finite = np.where(np.isfinite(x), x, 0)
    k_s = max(int(np.frexp(s)[1]) - limit, 0)
    k_x = max(int(np.frexp(np.max(np.abs(finite), initial=0))[1]) - limit, 0)
    s = np.ldexp(s, -k_s)

    def product(v):
        v = np.ldexp(v, -k_x)
        p = s * v
        c, d = split * s, split * v
        s_hi, v_hi = c - (c - s), d - (d - v)
        s_lo, v_lo = s - s_hi, v - v_hi
        err = ((s_hi * v_hi - p) + s_hi * v_lo + s_lo * v_hi) + s_lo * v_lo
        return p, np.where(np.isfinite(p), err, 0)

    p, err = product(x)
    pm, errm = product(xm)
    return np.ldexp((p - pm) + (err - errm), k_s + k_x)


def _sum(a, acc):
    """The sums of `a` along axis 1 (kept), in dtype acc, pairwise: NumPy sums
    pairwise only along a contiguous axis (sequentially otherwise: 3e-11
    relative error over 300000 float64 terms), so the axis goes last in a
    contiguous copy first, unless it is last and contiguous already."""
    if a.ndim == 2 and a.strides[1] == a.itemsize:
        return np.sum(a, axis=1, keepdims=True, dtype=acc)
    last = np.ascontiguousarray(np.moveaxis(a, 1, -1), dtype=acc)
    return np.expand_dims(last.sum(axis=-1), 1)


def _log_sum(e, acc):
    """log of the sum of each row of e (the exp of x - max), accurate near 1:
    the terms equal to 1 (the max) are counted apart, and for one of them
    the log is log1p of the others."""
    ones = _sum(e == 1, acc)
    others = _sum(np.where(e == 1, 0, e), acc)
    k = np.maximum(ones, 1)             # no log(0) in the branch not taken
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ones > 0, np.log(k) + np.log1p(others / k), np.log(others))


# ---- per-row statistics (pysoftmax/_slices.py documents them) -------------

_F64 = np.dtype(np.float64)


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


def _shift_of(xm, s, single):
    """(m, r) in float64 from xm, the element with the largest product s*xm
    (single: the compute dtype is float32)."""
    if s is None:
        return xm, np.zeros_like(xm)
    if single:                           # float * float: exact in double
        p = np.float64(s) * xm
        m = p.astype(np.float32).astype(_F64)
        m = np.where(np.isfinite(m), m, p)        # beyond float: the double product
        return m, np.where(np.isfinite(p), p - m, 0.0)
    return _two_product(np.float64(s), xm)


def _exponents(x64, s, single, m, r):
    """scale*x - m - r from the exact products, in float64."""
    if s is None:
        return (x64 - m) - r
    if single:
        return (np.float64(s) * x64 - m) - r
    p, err = _two_product(np.float64(s), x64)    # s*x = p + err exactly
    return (p - m) + (err - r)


def _stats_input(x, scale):
    """(x in float64, scale as a float64 or None, the compute dtype is float32)."""
    single = x.dtype.itemsize <= 4
    return x.astype(_F64), None if scale is None else np.float64(scale), single


def slice_stats(x, where=None, scale=None):
    """The statistics (m, r, ones, others) of each row of x (rows, n), as a
    float64 array (4, rows), computed in float64 from the exact products."""
    x64, s, single = _stats_input(x, scale)
    sg = -1 if s is not None and s < 0 else 1
    selected = np.ones(x.shape, bool) if where is None else where
    with np.errstate(all="ignore"):
        key = np.where(selected & ~np.isnan(x64), sg * x64, -np.inf)
        xm = sg * np.max(key, axis=1, keepdims=True, initial=-np.inf)
        m, r = _shift_of(xm, s, single)
        products = x64 if s is None else s * x64
        if s == 0:
            m = np.zeros_like(m)
        none = ~np.any(selected, axis=1, keepdims=True)
        nan = np.any(selected & np.isnan(products), axis=1, keepdims=True)
        e = np.exp(_exponents(x64, s, single, m, r))
        one = selected & (e == 1)
        ones = np.sum(one, axis=1, keepdims=True, dtype=_F64)
        others = np.sum(np.where(selected & ~one, e, 0.0), axis=1, keepdims=True)
        infinite = ~np.isfinite(m)       # the largest product is +-inf (or none selected)
        at_m = np.sum(selected & (products == m), axis=1, keepdims=True, dtype=_F64)
        ones = np.where(none, 0.0, np.where(infinite, at_m, ones))
        others = np.where(nan, np.nan, np.where(infinite | none, 0.0, others))
        m = np.where(none, -np.inf, m)
        r = np.where(infinite | none, 0.0, r)
    return np.concatenate([m, r, ones, others], axis=1).T


def _log_split(ones, others):
    """log(ones + others), accurate when ones > 0 and others is tiny."""
    with np.errstate(all="ignore"):
        k = np.maximum(ones, 1)
        return np.where(ones > 0, np.log(k) + np.log1p(others / k), np.log(others))


def log_sums(stats):
    """The log of each row's sum of terms from its statistics (4, rows):
    m + (r + log(ones + others)); +inf, -inf and NaN as pysoftmax._slices.log_sum."""
    m, r, ones, others = (np.asarray(v, _F64) for v in stats)
    with np.errstate(all="ignore"):
        result = m + (r + _log_split(ones, others))
        result = np.where(np.isinf(m), m, result)
        return np.where(np.isnan(others), np.nan, result)


def normalise(x, y, stats, log, n_threads=1, where=None, scale=None):
    """y = softmax (log_softmax if log) of each row of x (rows, n) from the
    statistics stats (4, rows) of its slice (n_threads is ignored)."""
    x64, s, single = _stats_input(x, scale)
    m, r, ones, others = (v[:, None] for v in np.asarray(stats, _F64))
    fill = -np.inf if log else 0.0
    with np.errstate(all="ignore"):
        d = _exponents(x64, s, single, m, r)
        bad = ~np.isfinite(m) | np.isnan(others)
        if log:
            v = d - np.where(bad, np.nan, _log_split(ones, others))
        else:
            v = np.exp(d) / np.where(bad, np.nan, ones + others)
        v = np.where((m == -np.inf) & (ones == 0) & (others == 0), fill, v)
        if where is not None:
            v = np.where(where, v, fill)
        y[...] = v
