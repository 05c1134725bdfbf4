"""Strategy `reference`: the generic NumPy op sequence.

max, subtract, exp, sum, divide (log_softmax: subtract log of the sum), each a
separate pass with its own temporary: simple, always available, any float
dtype (including longdouble), every feature (where=, scale=, the gradients;
approx=True computes exactly, which meets its bound), and the baseline every
other strategy must beat.  Sums are accumulated in at least float64 so that
the accuracy bounds hold for long non-contiguous reductions too.
"""
import numpy as np

NAME = "reference"
CONTIGUOUS = False   # rows with their own strides are fine


def availability():
    return None


def is_usable_for(problem):
    return None


def run(problem, x, y, n_threads, where=None, scale=None, dy=None):
    """y = op(x) along axis 1 (n_threads is ignored: NumPy is serial)."""
    acc = np.promote_types(x.dtype, np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if problem.op == "softmax_grad":
            s = np.sum(dy * x, axis=1, keepdims=True, dtype=acc).astype(x.dtype)
            np.multiply(x, dy - s, out=y)
            return
        if problem.op == "log_softmax_grad":
            s = np.sum(dy, axis=1, keepdims=True, dtype=acc).astype(x.dtype)
            np.subtract(dy, np.exp(x) * s, out=y)
            return
        if scale is not None:
            x = x * scale
        if where is None:
            shifted = x - np.max(x, axis=1, keepdims=True)
            e = np.exp(shifted)
        else:
            m = np.max(np.where(where, x, -np.inf), axis=1, keepdims=True)
            shifted = x - np.where(np.isneginf(m), 0, m)
            e = np.where(where, np.exp(shifted), 0)
        if problem.op == "softmax":
            s = np.sum(e, axis=1, keepdims=True, dtype=acc)
            if where is not None:
                s[s == 0] = 1                   # nothing selected: all 0
            np.divide(e, s.astype(x.dtype), out=y)
        else:
            np.subtract(shifted, _log_sum(e, acc).astype(x.dtype), out=y)
            if where is not None:
                y[~np.broadcast_to(where, y.shape)] = -np.inf


def _log_sum(e, acc):
    """log of the sum of each row of e (the exp of x - max), accurate near 1:
    the terms equal to 1 (the max) are counted apart, and for one of them
    the log is log1p of the others."""
    ones = np.sum(e == 1, axis=1, keepdims=True, dtype=acc)
    others = np.sum(np.where(e == 1, 0, e), axis=1, keepdims=True, dtype=acc)
    k = np.maximum(ones, 1)             # no log(0) in the branch not taken
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ones > 0, np.log(k) + np.log1p(others / k), np.log(others))
