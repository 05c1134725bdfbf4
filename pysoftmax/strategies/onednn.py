"""Strategy `onednn`: oneDNN's softmax primitive (softmax_accurate and
softmax_log, forward inference) on float32 rows.

What oneDNN 3.2 handles well, and so what this strategy accepts: float32
softmax on the last axis.  It declines float64 (oneDNN has no f64 softmax on
CPUs), a non-last axis (oneDNN 3.2 runs it with its reference implementation,
`ref:any`, about 1000x slower than a memcpy), log_softmax (softmax_log rounds
the result at the largest element to 0 when the other terms are tiny: its
sum is in float), and where=, scale=, approx=True and the gradients, which
the primitive does not have.  Primitives are cached by (rows, n, row
strides, algorithm), at most CACHE_SIZE of them, least recently used dropped.

oneDNN leaves a NaN only at a NaN or +inf of the input and 0 elsewhere in
its row; Primitive.run makes such rows all NaN (the contract).
"""
import collections
import threading

import numpy as np

from ._common import plain_forward_reason

NAME = "onednn"
CONTIGUOUS = True    # strided rows make oneDNN 3.2 fall back to ref:any (measured)
CACHE_SIZE = 64

try:
    from . import _onednn
except ImportError as exc:   # built without oneDNN, or the wheel is missing
    _onednn = None
    _import_error = f"cannot load oneDNN: {exc}"
else:
    _import_error = None

_cache = collections.OrderedDict()
_cache_lock = threading.Lock()


def availability():
    return _import_error


def is_usable_for(problem):
    reason = plain_forward_reason(problem)
    if reason is not None:
        return reason
    if problem.op == "log_softmax":
        return ("oneDNN's softmax_log rounds the largest element's result to 0 when "
                "the others are tiny (its sum is in float)")
    if problem.dtype != np.float32:
        return f"oneDNN's CPU softmax computes float32 here, not {problem.dtype}"
    if problem.kind != "last":
        return ("oneDNN 3.2 computes a non-last axis with its reference implementation "
                "(ref:any, about 1000x slower than a memcpy)")
    return None


def primitive(problem, ldx, ldy):
    """The cached primitive for `problem` with these row strides (elements)."""
    rows, n = problem.shape
    key = (rows, n, ldx, ldy, problem.op)
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    made = _onednn.Primitive(rows, n, ldx, ldy, problem.op == "log_softmax")
    with _cache_lock:
        _cache[key] = made
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return made


def run(problem, x, y, n_threads):
    prim = primitive(problem, x.strides[0] // x.itemsize, y.strides[0] // y.itemsize)
    prim.run(x, y, n_threads)


def versions():
    return {} if _onednn is None else {"onednn": _onednn.version()}
