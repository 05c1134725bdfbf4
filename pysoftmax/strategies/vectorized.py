"""Strategy `vectorized`: fused, SIMD, multithreaded kernels of our own.

One pass structure per row while it is in cache (max; exp and sum, storing
exp; scale), rows in parallel with OpenMP; a column-blocked kernel for a
non-last axis.  The C kernels are in src/, owned by _kernels.pyx (which
every strategy's compiled code calls), their Cython driver in
_vectorized.pyx.  float32 and float64.  Everything of the API: scale= and
approx= on every kernel, where= fused into the row kernel (last axis), and
the gradients (which, like where=, the Python layer always brings to the
last axis).

PYSOFTMAX_ISA=generic forces the portable kernels instead of the best ones
this CPU supports (AVX2+FMA on x86-64), so tests can cover both.
"""
import os
import warnings

from ._common import float_dtype_reason

NAME = "vectorized"
CONTIGUOUS = False   # rows with their own strides are fine


try:
    from . import _kernels, _vectorized
except ImportError as exc:   # a broken build: say why, keep the rest working
    _vectorized = None
    _import_error = f"cannot import the compiled kernels: {exc}"
    ISA = None
else:
    _import_error = None
    _isa_request = os.environ.get("PYSOFTMAX_ISA", "auto").strip().lower()
    if _isa_request not in ("auto", "generic", ""):
        warnings.warn(f"PYSOFTMAX_ISA={_isa_request!r} is not 'auto' or 'generic'; using 'auto'",
                      RuntimeWarning, stacklevel=2)
    ISA = _kernels.init(_isa_request == "generic")


def set_isa(generic):
    """Use the portable kernels (generic=True) or the best for this CPU.

    For tests: it switches the kernels of the whole process, those the other
    strategies call too (one owner: _kernels.pyx). Returns the instruction
    set now in use.
    """
    global ISA
    ISA = _kernels.init(bool(generic))
    return ISA


def unavailable_reason():
    """Why this strategy cannot run here, or None when it can."""
    return _import_error


def decline_reason(problem):
    """Why this strategy does not compute `problem`, or None when it does."""
    return float_dtype_reason(problem)


def run(problem, x, y, n_threads, where=None, scale=1, dy=None):
    log = problem.op.startswith("log")
    if problem.op.endswith("_grad"):
        _vectorized.grad_rows(x, dy, y, log, n_threads)
    elif problem.kind == "last":
        mask = None if where is None else where.view("u1")
        _vectorized.rows(x, y, log, n_threads, scale, problem.approx, mask)
    else:
        _vectorized.cols(x, y, log, n_threads, scale, problem.approx)
