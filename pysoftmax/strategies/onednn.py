"""Strategy `onednn`: oneDNN's softmax primitive (softmax_accurate and
softmax_log, forward inference) on float32 rows.

What oneDNN 3.2 handles well, and so what this strategy accepts: float32
softmax on the last axis, rows of at most max_row_length() elements (its
float sum; see TERMS_PER_LANE), and nothing in a forked child (GNU OpenMP's
thread pool does not survive fork(): oneDNN hangs there, even on one
thread).  It declines float64 (oneDNN has no f64 softmax on
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
import functools
import threading

import numpy as np

from .. import _openmp
from ._common import load_failure_reason, plain_forward_reason

NAME = "onednn"
CONTIGUOUS = True    # strided rows make oneDNN 3.2 fall back to ref:any (measured)
CACHE_SIZE = 64

# oneDNN 3.2 sums a row in one vector register of float lanes, so a row with
# one 0 and every other exp just below half an ulp of 1 loses the terms added
# to the lane holding the 1: n / lanes - 1 of them (measured: lanes = 16 with
# jit:avx512*, 8 with jit:avx2, 4 with jit:sse41; a row of 10^6 lost 3.5e-3
# with 16 lanes).  The bound allows an absolute error of 1e-6 at outputs near
# 1, about 16 ulp: measured worst 8.9e-7 with 16 terms per lane and 1.0e-6
# with 17, for each of the three ISAs.  Longer rows are declined; dispatch
# falls back to a strategy that sums in blocks added in double.
TERMS_PER_LANE = 16

try:
    from . import _onednn
except ImportError as exc:   # not built (_build_info says why), or no wheel
    _onednn = None
    _import_error = load_failure_reason(NAME, "oneDNN", exc)
else:
    _import_error = None

_cache = collections.OrderedDict()
_cache_lock = threading.Lock()


def unavailable_reason():
    """Why this strategy cannot run here, or None when it can."""
    return _import_error


def decline_reason(problem):
    """Why this strategy does not compute `problem`, or None when it does."""
    if _openmp.in_forked_child():   # its parallel regions hang there, even on one thread
        return "oneDNN's OpenMP thread pool does not survive fork()"
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
    if problem.shape[1] > max_row_length():
        return (f"rows longer than {max_row_length()}: oneDNN sums a row in "
                f"{max_row_length() // TERMS_PER_LANE} float lanes, and beyond "
                f"{TERMS_PER_LANE} terms a lane its error can exceed the accuracy bound")
    return None


@functools.lru_cache(maxsize=None)
def max_row_length():
    """The longest row oneDNN computes within the bound here: TERMS_PER_LANE
    times its float lanes, the vector width of the kernel it picks on this CPU
    (one lane, a term at a time, for anything but jit:avx512*, jit:avx*,
    jit:sse41)."""
    impl = _onednn.Primitive(1, 4096, 4096, 4096, False).implementation
    if not impl.startswith("jit:"):
        lanes = 1
    elif "avx512" in impl:
        lanes = 16
    elif "avx" in impl:
        lanes = 8
    elif "sse41" in impl:
        lanes = 4
    else:
        lanes = 1
    return TERMS_PER_LANE * lanes


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
