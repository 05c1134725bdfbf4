"""Dask arrays: softmax, log_softmax and logsumexp of a dask.array.Array, lazily.

A call with a Dask array returns a Dask array: nothing is computed until the
caller computes it, chunk by chunk, on whatever scheduler they use (threads,
processes, a dask.distributed cluster), so an array larger than memory is
computed out of core.  The result has x's chunks (logsumexp: x's chunks
but along the reduced axes).

- The reduced axes not split across chunks (each slice in one chunk): one
  blockwise pass, the public function (softmax, log_softmax, logsumexp)
  applied to each chunk.  The same kernels as a NumPy call, so the results
  are those of the same call on that chunk's NumPy array.
- Split across chunks: the exact two-level reduction of _slices.  Each
  chunk gives the statistics of its part of each slice (slice_stats: the
  max m, with the residual r of a scaled max, and the sum of exp(x - m) kept
  as (ones, others)); the statistics are combined in a tree (dask's
  reduction, `combine`: M = max m_i, s = sum s_i exp(m_i - M)), and one more
  blockwise pass computes each output chunk from its x chunk and its slices'
  statistics (`normalise`; logsumexp: `log_sum` of the statistics, no second
  pass).  No rechunking.  The split (m, r, ones, others) is kept to the end,
  so log_softmax and logsumexp stay accurate at the max.  softmax reads x
  twice: the second pass reads a copy of
  x's graph that starts only once every statistic is known (dask's
  graph_manipulation.bind), so that no chunk of x is held in memory between
  the passes; an x whose chunks are expensive to compute is computed twice
  (persist it first to avoid that).

The statistics travel as a NumPy structured array (fields m, r, ones, others;
float64), shaped like x with the reduced axes of size 1 per chunk.

`where=` (a Dask or NumPy boolean array broadcastable to x) is brought to x's
shape and chunks; `scale=`, `dtype=`, `approx=`, the strategy (the call's
own or the one set for the calling context when the call is made) and the
thread count set for the calling context (`num_threads`) are carried to every
chunk.  With the axes split, `approx` is not used (the statistics and the
normalisation are exact, within the bounds of approx).  logsumexp with
weights `b` is _weighted's array-API formula on dask.array.

This module never imports Dask at import time: `is_dask_array` looks at
sys.modules, and Dask is imported only to build the graph of a Dask array.

Imports: _plan, _context, _slices, _weighted (and dask, when called with a Dask
array).
"""
import contextlib
import functools
import math
import sys

import numpy as np

from ._context import num_threads, requested_strategy, requested_threads
from ._context import strategy as strategy_context
from ._plan import _as_scale, _normalize_axes, _result_dtype, work_dtype
from ._slices import SliceStats, combine, log_sum, normalise, slice_stats
from ._weighted import logsumexp_weighted

_OUT_REFUSED = ("out= is not supported with a Dask array: the result is a new lazy Dask "
                "array (store it with dask.array.store, or compute it)")

# The statistics of a chunk's slices, as one array (the fields of SliceStats).
STATS_DTYPE = np.dtype([(name, np.float64) for name in SliceStats._fields])


def is_dask_array(x):
    """True if `x` is a dask.array.Array.  Never imports Dask: a Dask array
    can only exist once dask.array has been imported."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(x, module.Array)


# --- the entry points (called by _api and _logsumexp with a Dask array) ---

def forward(func, x, axis, *, log, out=None, dtype=None, where=None, scale=None,
            approx=False, strategy=None):
    """softmax or log_softmax (`log`) of the Dask array `x`, lazily: a Dask
    array.  `func` is the public function (softmax or log_softmax) applied to
    each chunk when no reduced axis is split across chunks."""
    import dask.array as da

    call = _Call(x, axis, out, dtype, where, scale, strategy)
    if not isinstance(approx, (bool, np.bool_)):
        raise TypeError(f"approx must be True or False, got {type(approx).__name__}")
    name = "log_softmax" if log else "softmax"
    meta = np.empty((0,) * x.ndim, call.result_dtype)
    if not call.split:
        block = functools.partial(_forward_block, func=func, axis=call.axes, dtype=dtype,
                                  scale=scale, approx=bool(approx), context=call.context)
        return da.map_blocks(block, call.x, *call.masks, dtype=call.result_dtype,
                             meta=meta, token=name)
    stats = call.statistics(name)
    x2, masks2 = call.reread(stats)
    block = functools.partial(_normalise_block, axis=call.axes, log=bool(log),
                              compute=call.compute_dtype, result=call.result_dtype,
                              scale=scale, context=call.context)
    return da.map_blocks(block, x2, stats, *masks2, dtype=call.result_dtype, meta=meta,
                         token=f"{name}-normalise")


def logsumexp(func, a, axis=None, b=None, keepdims=False, return_sign=False, *, where=None,
              scale=None, out=None):
    """logsumexp of the Dask array `a` (or with Dask weights `b`), lazily: a
    Dask array, and its sign if `return_sign` (as `pysoftmax.logsumexp`:
    1, 0 for a zero sum, NaN for NaN; -1 for empty input, as SciPy).
    `func` is the public logsumexp, applied to each chunk when no reduced
    axis is split across chunks.  With `b`: the array-API formula of
    _weighted on dask.array (it reads a and b more than once)."""
    import dask.array as da

    if out is not None:
        raise TypeError(_OUT_REFUSED)
    a = a if is_dask_array(a) else da.asarray(a)
    if np.dtype(a.dtype).kind == "c":
        raise TypeError(f"logsumexp of complex input (dtype {a.dtype}) is not supported")
    if a.ndim == 0:
        a = a.reshape((1,))             # as SciPy: a 0-d input is a 1-d one
    if b is not None:
        return _weighted(a, axis, b, keepdims, return_sign, where, scale)
    call = _Call(a, axis, None, None, where, scale, None)
    dtype, axes = call.result_dtype, call.axes
    meta = np.empty((0,) * a.ndim, dtype)
    if call.split:
        value = da.map_blocks(functools.partial(_log_sum_block, dtype=dtype),
                              call.statistics("logsumexp"), dtype=dtype, meta=meta,
                              token="logsumexp")
    else:
        chunks = tuple((1,) if i in axes else c for i, c in enumerate(a.chunks))
        block = functools.partial(_logsumexp_block, func=func, axis=axes, scale=scale,
                                  context=call.context)
        value = da.map_blocks(block, a, *call.masks, chunks=chunks, dtype=dtype, meta=meta,
                              token="logsumexp")
    results = [value]
    if return_sign:
        results.append(value.map_blocks(_sign_of_log_sum, empty=a.size == 0, dtype=dtype,
                                        meta=meta, token="logsumexp-sign"))
    if not keepdims:
        results = [r.squeeze(axis=axes) for r in results]
    return tuple(results) if return_sign else results[0]


def _weighted(a, axis, b, keepdims, return_sign, where, scale):
    """logsumexp with weights, lazily: _weighted's array-API formula on
    dask.array (where= as zero weights, scale= multiplied in, float16 and
    bfloat16 computed in float32, as pysoftmax.logsumexp)."""
    import dask.array as da

    w = b if is_dask_array(b) else da.asarray(np.asarray(b))
    if np.dtype(w.dtype).kind == "c":
        raise TypeError(f"logsumexp of complex weights (dtype {w.dtype}) is not supported")
    try:
        common = np.result_type(a.dtype, w.dtype)
    except TypeError:                   # bfloat16 with another dtype: a's
        common = a.dtype
    result_dtype = _result_dtype(np.dtype(common), None)
    compute = work_dtype(result_dtype)
    x, w = da.broadcast_arrays(a.astype(compute), w.astype(compute))
    if where is not None:
        w = da.where(_aligned_mask(where, x), w, compute.type(0))
    if scale is not None:
        x = x * _as_scale(scale, compute)
    result = logsumexp_weighted(_DaskNamespace(da), x, w, axis, keepdims, return_sign)
    if not return_sign:
        return result.astype(result_dtype)
    return tuple(r.astype(result_dtype) for r in result)


class _DaskNamespace:
    """dask.array as an array-API namespace for _weighted: the module, with
    the array-API function it lacks (astype)."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return getattr(self._module, name)

    @staticmethod
    def astype(a, dtype):
        return a.astype(dtype)


# --- the call, checked, and its graph ---

class _Call:
    """A checked call on a Dask array: its dtypes, axes, where= aligned to x
    (as a list of 0 or 1 Dask arrays), scale checked, and `context`: what the
    chunks' functions take of the calling context, (the strategy: the call's
    own or the context's, the thread count set for the context)."""

    def __init__(self, x, axis, out, dtype, where, scale, strategy):
        if out is not None:
            raise TypeError(_OUT_REFUSED)
        self.x = x
        self.result_dtype = _result_dtype(np.dtype(x.dtype), dtype)
        self.compute_dtype = work_dtype(self.result_dtype)
        self.axes = _normalize_axes(axis, x.ndim)
        if scale is not None:
            _as_scale(scale, self.compute_dtype)        # TypeError now, not at compute
        self.scale = scale
        self.masks = [] if where is None else [_aligned_mask(where, x)]
        self.split = x.size != 0 and any(x.numblocks[a] > 1 for a in self.axes)  # NaN: unknown
        self.context = (requested_strategy(strategy), requested_threads())

    def statistics(self, name):
        """The statistics of every slice (a Dask array of STATS_DTYPE, x's
        shape and chunks with the reduced axes of size 1): each chunk's,
        combined in a tree."""
        import dask.array as da

        x, axes = self.x, self.axes
        chunks = tuple((1,) * x.numblocks[i] if i in axes else c
                       for i, c in enumerate(x.chunks))
        meta = np.empty((0,) * x.ndim, STATS_DTYPE)
        block = functools.partial(_stats_block, axis=axes, compute=self.compute_dtype,
                                  scale=self.scale, context=self.context)
        parts = da.map_blocks(block, x, *self.masks, chunks=chunks, dtype=STATS_DTYPE,
                              meta=meta, token=f"{name}-stats")
        return da.reduction(parts, _combine_blocks, _combine_blocks, combine=_combine_blocks,
                            axis=axes, keepdims=True, concatenate=False, dtype=STATS_DTYPE,
                            meta=meta, name=f"{name}-combine")

    def reread(self, stats):
        """x and the masks again, as new graphs that start once `stats` is
        computed: the second pass reads x anew instead of holding every chunk
        of x in memory until the first pass is over."""
        from dask.base import tokenize
        from dask.graph_manipulation import bind

        children = (self.x, *self.masks)
        again = bind(children, stats, seed=tokenize(stats.name, "reread"))
        return again[0], list(again[1:])


def _aligned_mask(where, x):
    """`where` as a boolean Dask array of x's shape and chunks (broadcast,
    never copied)."""
    import dask.array as da

    if any(math.isnan(n) for n in x.shape):
        raise ValueError("where= needs the chunk sizes of x, which Dask does not know "
                         "(call x.compute_chunk_sizes() first)")
    w = where if is_dask_array(where) else np.asarray(where)
    if w.dtype != np.bool_:
        raise TypeError(f"where must be a boolean array, got dtype {w.dtype}")
    try:
        if np.broadcast_shapes(w.shape, x.shape) != x.shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"where of shape {w.shape} cannot be broadcast to the shape "
                         f"{x.shape} of x") from None
    w = w.reshape((1,) * (x.ndim - w.ndim) + w.shape)
    chunks = tuple(c if n == size else (1,)
                   for c, n, size in zip(x.chunks, w.shape, x.shape))
    w = w.rechunk(chunks) if is_dask_array(w) else da.from_array(w, chunks=chunks)
    return da.broadcast_to(w, x.shape, chunks=x.chunks)


# --- what runs on each chunk (module-level functions: workers unpickle them) ---

@contextlib.contextmanager
def _calling(context):
    """Run a chunk's function in the calling context (strategy, threads)
    captured when the call was made."""
    strategy, threads = context
    with strategy_context(strategy), num_threads(threads):
        yield


def _forward_block(block, mask=None, *, func, axis, dtype, scale, approx, context):
    """The public softmax/log_softmax of one chunk whose slices are whole."""
    with _calling(context):
        return func(block, axis=axis, dtype=dtype, where=mask, scale=scale, approx=approx)


def _stats_block(block, mask=None, *, axis, compute, scale, context):
    """The statistics of the parts of the slices in one chunk, packed."""
    with _calling(context):
        return _pack(slice_stats(block.astype(compute, copy=False), axis, where=mask,
                                 scale=scale))


def _normalise_block(block, stats, mask=None, *, axis, log, compute, result, scale, context):
    """One output chunk from its x chunk and its slices' statistics."""
    with _calling(context):
        y = normalise(block.astype(compute, copy=False), _unpack(stats), axis, log=log,
                      where=mask, scale=scale)
    return np.asarray(y).astype(result, copy=False)


def _combine_blocks(parts, axis=None, keepdims=None):
    """dask's combine and aggregate: the statistics of a nested list of
    chunks' statistics (nested once per reduced axis), combined."""
    flat = []

    def walk(p):
        if isinstance(p, (list, tuple)):
            for q in p:
                walk(q)
        else:
            flat.append(_unpack(p))

    walk(parts)
    return _pack(combine(flat, axis))


def _logsumexp_block(block, mask=None, *, func, axis, scale, context):
    """The public logsumexp of one chunk whose slices are whole (reduced
    axes kept)."""
    with _calling(context):
        return np.asarray(func(block, axis=axis, keepdims=True, where=mask, scale=scale))


def _log_sum_block(stats, *, dtype):
    """logsumexp of each slice from its statistics, in `dtype`."""
    with np.errstate(over="ignore"):
        return np.asarray(log_sum(_unpack(stats))).astype(dtype)


def _sign_of_log_sum(value, *, empty):
    """The sign of a sum of exponentials from its log: sign(exp(value)) (1,
    0 for -inf, NaN for NaN); -1 for an empty input (SciPy's)."""
    with np.errstate(over="ignore"):
        return np.sign(value if empty else np.exp(value))


def _pack(stats):
    packed = np.empty(np.shape(stats.m), STATS_DTYPE)
    for name, value in zip(SliceStats._fields, stats):
        packed[name] = value
    return packed


def _unpack(packed):
    return SliceStats(*(packed[name] for name in SliceStats._fields))
