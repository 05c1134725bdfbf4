"""Strategy `vectorized`: fused, SIMD, multithreaded kernels of our own.

One pass structure per row while it is in cache (max; exp and sum, storing
exp; scale), rows in parallel (a small thread pool); a column-blocked kernel for a
non-last axis.  The C kernels are in src/, owned by _kernels.pyx (which
every strategy's compiled code calls), their Cython driver in
_vectorized.pyx.  float32 and float64.  Everything of the API: scale= and
approx= on every kernel, where= fused into the row kernel (last axis), and
the gradients (which, like where=, the Python layer always brings to the
last axis); logsumexp's statistics (op 'logsumexp': a rows and a columns
kernel) and `normalise` (rows only), the softmax from given statistics
(pysoftmax/_slices.py).

PYSOFTMAX_ISA names the instruction set of the kernels: auto (the default:
the best this CPU supports), generic (portable C), avx2 (AVX2+FMA) or avx512
(AVX-512 F/BW/DQ/VL), capped by what the CPU supports, so tests can cover
every set the machine has (supported_isas()).
"""
import os
import warnings

from ._common import float_dtype_reason

NAME = "vectorized"
ISAS = ("generic", "avx2", "avx512")   # the instruction sets of the kernels, worst first
CONTIGUOUS = False   # rows with their own strides are fine


try:
    from . import _kernels, _vectorized
except ImportError as exc:   # a broken build: say why, keep the rest working
    _vectorized = None
    _import_error = f"cannot import the compiled kernels: {exc}"
    ISA = BEST_ISA = None
else:
    _import_error = None
    _isa_request = os.environ.get("PYSOFTMAX_ISA", "auto").strip().lower() or "auto"
    ISA = _kernels.init(_isa_request)
    if ISA is None:
        warnings.warn(f"PYSOFTMAX_ISA={_isa_request!r} is not one of {ISAS + ('auto',)}; "
                      "using 'auto'", RuntimeWarning, stacklevel=2)
        ISA = _kernels.init("auto")
    BEST_ISA = _kernels.init("auto")
    _kernels.init(ISA)


def set_isa(isa="auto"):
    """Use the kernels of instruction set `isa` (one of ISAS, or "auto" for the
    best this CPU supports), capped by what the CPU supports.

    For tests: it switches the kernels of the whole process, those the other
    strategies call too (one owner: _kernels.pyx). Returns the instruction
    set now in use.

    >>> set_isa("generic")
    'generic'
    >>> set_isa() == BEST_ISA
    True
    """
    global ISA
    chosen = _kernels.init(isa)
    if chosen is None:
        raise ValueError(f"unknown instruction set {isa!r}: not one of {ISAS + ('auto',)}")
    ISA = chosen
    return ISA


def supported_isas():
    """The instruction sets of ISAS that this CPU runs, worst first.

    >>> supported_isas()[0]
    'generic'
    """
    return ISAS[:ISAS.index(BEST_ISA) + 1] if BEST_ISA else ()


def unavailable_reason():
    """Why this strategy cannot run here, or None when it can."""
    return _import_error


def decline_reason(problem):
    """Why this strategy does not compute `problem`, or None when it does."""
    return float_dtype_reason(problem)


def run(problem, x, y, n_threads, where=None, scale=1, dy=None):
    log = problem.op.startswith("log")
    if problem.op == "logsumexp":       # y (float64, (4, rows)): each slice's statistics
        if problem.kind == "inner":
            _vectorized.col_stats(x, y, n_threads, scale)
        else:
            mask = None if where is None else where.view("u1")
            _vectorized.row_stats(x, y, n_threads, scale, mask)
    elif problem.op.endswith("_grad"):
        _vectorized.grad_rows(x, dy, y, log, n_threads)
    elif problem.kind == "last":
        mask = None if where is None else where.view("u1")
        _vectorized.rows(x, y, log, n_threads, scale, problem.approx, mask)
    else:
        _vectorized.cols(x, y, log, n_threads, scale, problem.approx)


def normalise(x, y, stats, log, n_threads, where=None, scale=1):
    """y = softmax (log_softmax if log) of each row of x (rows, n) from the
    statistics stats (float64, (4, rows)) of its slice (pysoftmax/_slices.py)."""
    mask = None if where is None else where.view("u1")
    _vectorized.row_normalise(x, y, stats, log, n_threads, scale, mask)
