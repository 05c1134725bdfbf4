"""Strategy `reference`: the generic NumPy op sequence.

max, subtract, exp, sum, divide (log_softmax: subtract log of the sum), each a
separate pass with its own temporary: simple, always available, any float
dtype (including longdouble), and the baseline every other strategy must beat.
Sums are accumulated in at least float64 so that the accuracy bounds hold for
long non-contiguous reductions too.
"""
import numpy as np

NAME = "reference"


def availability():
    return None


def is_usable_for(problem):
    return None


def run(problem, x, y, n_threads):
    """y = softmax(x) along axis 1 (n_threads is ignored: NumPy is serial)."""
    acc = np.promote_types(x.dtype, np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        shifted = x - np.max(x, axis=1, keepdims=True)
        e = np.exp(shifted)
        s = np.sum(e, axis=1, keepdims=True, dtype=acc)
        if problem.op == "softmax":
            np.divide(e, s.astype(x.dtype), out=y)
        else:
            np.subtract(shifted, np.log(s).astype(x.dtype), out=y)
