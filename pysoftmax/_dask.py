"""Dask arrays: softmax, log_softmax and logsumexp of a dask.array.Array, lazily.

A call with a Dask array returns a Dask array: nothing is computed until the
caller computes it, chunk by chunk, on whatever scheduler they use (threads,
processes, a dask.distributed cluster), so an array larger than memory is
computed out of core.  The result has x's chunks.

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
  statistics (`normalise`; logsumexp: `log_sum`).  No rechunking.  The split
  (m, r, ones, others) is kept to the end, so log_softmax and logsumexp stay
  accurate at the max.  x is read twice: the second pass reads a copy of
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
chunk.  With the axes split, `approx` and the strategy are not used
(the statistics and normalisation are exact, within the bounds of approx).

This module never imports Dask at import time: `is_dask_array` looks at
sys.modules, and Dask is imported only to build the graph of a Dask array.

Imports: _plan, _context, _slices (and dask, when called with a Dask array).
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

# The statistics of a chunk's slices, as one array (the fields of SliceStats).
STATS_DTYPE = np.dtype([(name, np.float64) for name in SliceStats._fields])


def is_dask_array(x):
    """True if `x` is a dask.array.Array.  Never imports Dask: a Dask array
    can only exist once dask.array has been imported."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(x, module.Array)


# --- the public entry points (called by _api with a Dask array) ---

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


def logsumexp_stats(a, axis, *, keepdims=False, return_sign=False, where=None,
                    scale=None):
    """logsumexp of the Dask array `a` (without weights), lazily: a Dask
    array, and its sign (1.0 where the sum is positive, 0.0 where it is 0,
    NaN where it is NaN) if `return_sign`."""
    import dask.array as da

    call = _Call(a, axis, None, None, where, scale, None)
    stats = call.statistics("logsumexp")
    dtype = call.result_dtype
    meta = np.empty((0,) * a.ndim, dtype)
    value = da.map_blocks(functools.partial(_log_sum_block, dtype=dtype), stats,
                          dtype=dtype, meta=meta, token="logsumexp")
    results = [value]
    if return_sign:
        results.append(da.map_blocks(functools.partial(_sign_block, dtype=dtype), stats,
                                     dtype=dtype, meta=meta, token="logsumexp-sign"))
    if not keepdims:
        results = [r.squeeze(axis=call.axes) for r in results]
    return tuple(results) if return_sign else results[0]


# --- the call, checked, and its graph ---

class _Call:
    """A checked call on a Dask array: its dtypes, axes, where= aligned to x
    (as a list of 0 or 1 Dask arrays), scale checked, and `context`: what the
    chunks' functions take of the calling context, (the strategy: the call's
    own or the context's, the thread count set for the context)."""

    def __init__(self, x, axis, out, dtype, where, scale, strategy):
        if out is not None:
            raise TypeError("out= is not supported with a Dask array x: the result is a "
                            "new lazy Dask array (store it with dask.array.store or "
                            "compute it)")
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


def _log_sum_block(stats, *, dtype):
    with np.errstate(over="ignore"):
        return np.asarray(log_sum(_unpack(stats))).astype(dtype)


def _sign_block(stats, *, dtype):
    s = stats["ones"] + stats["others"]
    return np.sign(s).astype(dtype)


def _pack(stats):
    packed = np.empty(np.shape(stats.m), STATS_DTYPE)
    for name, value in zip(SliceStats._fields, stats):
        packed[name] = value
    return packed


def _unpack(packed):
    return SliceStats(*(packed[name] for name in SliceStats._fields))
