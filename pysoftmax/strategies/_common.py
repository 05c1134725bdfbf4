"""What the strategies with compiled drivers (vectorized, mkl) share."""
import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype_reason(problem):
    """Why a float32/float64-only strategy declines `problem`, or None."""
    if problem.dtype not in FLOAT_DTYPES:
        return f"computes float32 and float64 only, not {problem.dtype}"
    return None


def run_driver(driver, problem, x, y, n_threads):
    """Call driver.rows or driver.cols (the drivers' common interface)."""
    log = problem.op == "log_softmax"
    if problem.kind == "last":
        driver.rows(x, y, log, n_threads)
    else:
        driver.cols(x, y, log, n_threads)
