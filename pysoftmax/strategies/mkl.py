"""Strategy `mkl`: Intel MKL's vector math (VML) and CBLAS, after Intel's
softmax study: our SIMD max and shift, then v?Exp, cblas_?asum (over blocks
of 128, added in double: one asum over a long row is not accurate enough),
cblas_?scal (for log_softmax the log of the sum by our psm_log_sum, accurate at the max);
a column variant for a non-last axis.  MKL's sequential layer, rows in
parallel with our OpenMP.  float32 and float64, the plain forward pass:
it declines where=, scale=, approx=True and the gradients.  The kernels are
in _mkl.pyx.
"""
from ._common import float_dtype_reason, load_failure_reason, plain_forward_reason

NAME = "mkl"
CONTIGUOUS = False   # rows with their own strides are fine

_MKL_INT_MAX = 2**31 - 1   # LP64 interface: lengths are C ints

try:
    from . import _mkl
except ImportError as exc:   # not built (_build_info says why), or no mkl wheel
    _mkl = None
    _import_error = load_failure_reason(NAME, "MKL", exc)
else:
    _import_error = None



def unavailable_reason():
    """Why this strategy cannot run here, or None when it can."""
    return _import_error


def decline_reason(problem):
    """Why this strategy does not compute `problem`, or None when it does."""
    reason = float_dtype_reason(problem) or plain_forward_reason(problem)
    if reason is not None:
        return reason
    if problem.kind == "last":
        length = problem.shape[1]
    else:
        length = problem.shape[1] * problem.shape[2] + 3 * problem.shape[2] + problem.shape[1]
    if length > _MKL_INT_MAX:
        return "a slice longer than MKL's 32-bit (LP64) lengths allow"
    return None


def run(problem, x, y, n_threads):
    log = problem.op == "log_softmax"
    if problem.kind == "last":
        _mkl.rows(x, y, log, n_threads)
    else:
        _mkl.cols(x, y, log, n_threads)


def versions():
    """MKL's version and the instruction-set path it chose on this CPU."""
    if _mkl is None:
        return {}
    version, cpu_path = _mkl.version()
    return {"mkl": version, "mkl_cpu_path": cpu_path, "mkl_vml_mode": _mkl.VML_MODE}
