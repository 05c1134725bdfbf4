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

The statistics and the outputs are computed by the `vectorized` kernels
(src/slices_body.h: the rows kernel's max and split-sum passes, no output
written, and a columns kernel of the same for a non-last axis; the rows
kernel's finishing pass from given statistics), or by the `reference`
strategy's NumPy for the dtypes those lack (long double, in float64).  With
where=, and always for `normalise`, the reduced axes are brought last first
(a copy when they are not last: normalise has no columns kernel yet).
`slice_stats` goes through dispatch (op 'logsumexp': `select`, so
`pysoftmax.strategy` applies to it); `normalise` takes `reference` when that
strategy is asked for, else `vectorized`.

Imports: _plan, _context, _select, _execute, strategies.
"""
from typing import NamedTuple, Sequence

import numpy as np

from ._context import effective_threads, requested_strategy
from ._execute import _kernel_array, _kernel_mask, execute
from ._plan import check_out, plan_forward
from ._select import Choice, select, threads_to_use
from .strategies import reference, vectorized

__all__ = ["SliceStats", "slice_stats", "combine", "normalise", "log_sum"]

_F64 = np.dtype(np.float64)


class SliceStats(NamedTuple):
    """The statistics of each slice (see the module docstring): float64
    arrays shaped like x with the reduced axes kept (size 1)."""
    m: np.ndarray
    r: np.ndarray
    ones: np.ndarray
    others: np.ndarray


def canonical_stats(plan):
    """The statistics (4, rows) of a 'logsumexp' plan (plan_forward) with a
    problem: through dispatch, as a call of that op."""
    problem, perm = plan.problem, plan.perm
    choice = select(problem, requested_strategy(None), effective_threads())
    impl = choice.strategy
    view = plan.arrays[0] if perm is None else plan.arrays[0].transpose(perm)
    x = _kernel_array(view, problem, impl.CONTIGUOUS)
    stats = np.empty((4, problem.rows), _F64)
    inputs = {}
    if plan.mask is not None:
        inputs["where"] = _kernel_mask(plan.mask, perm, problem, stats)
    if plan.scale is not None:
        inputs["scale"] = plan.scale
    impl.run(problem, x, stats, choice.threads, **inputs)
    return stats


def _empty_stats(rows):
    """The statistics of slices with nothing in them (m = -inf, the rest 0)."""
    stats = np.zeros((4, rows), _F64)
    stats[0] = -np.inf
    return stats


def stats_of(x, axis, where=None, scale=None):
    """(statistics (4, rows) in canonical order, kept shape): slice_stats's
    work, for logsumexp too.  x: an array."""
    plan = plan_forward("logsumexp", x, axis, None, where, scale)
    axes = _axes(axis, x.ndim)
    kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    if plan.problem is None:          # empty: slices of nothing, or no slices
        return _empty_stats(int(np.prod(kept))), kept
    return canonical_stats(plan), kept


def _axes(axis, ndim):
    """The reduced axes as a set of non-negative ints (axis already checked)."""
    if axis is None:
        return set(range(ndim))
    return {a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))}


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
    stats, kept = stats_of(np.asarray(x), axis, where, scale)
    return SliceStats(*(v.reshape(kept) for v in stats))


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


def log_sums(stats):
    """The log of each slice's sum from canonical statistics (4, rows), in
    float64: the kernels' loop, or NumPy's."""
    stats = np.ascontiguousarray(stats, _F64)
    if vectorized.unavailable_reason() is None:
        out = np.empty(stats.shape[1], _F64)
        vectorized._vectorized.log_sums(stats, out)
        return out
    return reference.log_sums(stats)


def log_sum(stats):
    """The log of the sum of exp(scale*x) of each slice: m + r + log(ones +
    others), with log(ones) + log1p(others/ones) so that a slice with a
    single max and tiny others is not rounded to its max; +inf for a +inf
    max, -inf for a slice of only -inf (or nothing selected), NaN for a NaN.

    >>> float(log_sum(slice_stats(np.array([0.0, -40.0]), 0))[0])
    4.248354255291589e-18
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, _F64) for v in stats))
    shape = arrays[0].shape
    return log_sums(np.stack([a.ravel() for a in arrays])).reshape(shape)


class _Normalise:
    """For execute(): a strategy whose run() is `module`.normalise with
    these canonical statistics."""
    CONTIGUOUS = False

    def __init__(self, module, stats, log):
        self.module, self.stats, self.log = module, stats, log

    def run(self, problem, x, y, n_threads, where=None, scale=None):
        kwargs = {} if scale is None else {"scale": scale}
        self.module.normalise(x, y, self.stats, self.log, n_threads, where=where, **kwargs)


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
    x = np.asarray(x)
    plan = plan_forward("log_softmax" if log else "softmax", x, axis, None, where, scale,
                        last=True)
    check_out(out, plan.shape, plan.result_dtype)
    problem = plan.problem
    if problem is None:
        return out if out is not None else np.empty(plan.shape, plan.result_dtype)
    axes = _axes(axis, x.ndim)
    kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    try:
        canonical = np.stack([np.broadcast_to(np.asarray(v, _F64), kept).reshape(problem.rows)
                              for v in stats])
    except ValueError:
        raise ValueError(f"statistics of shape {np.shape(stats[0])} do not fit the slices of "
                         f"x (shape {x.shape}) along axis {axis!r}: expected {kept}") from None
    module = vectorized              # or reference where it cannot, or when asked for
    if (requested_strategy(None) == "reference" or module.unavailable_reason() is not None
            or module.decline_reason(problem) is not None):
        module = reference
    threads = threads_to_use("all", problem, effective_threads())
    result = execute(plan, Choice(_Normalise(module, canonical, bool(log)), threads,
                                  "explicit", None), out)
    return result if out is not None or result.ndim else result[()]
