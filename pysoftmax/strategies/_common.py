"""What the strategies with compiled drivers share.  Imports nothing of pysoftmax."""
import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
FORWARD_OPS = ("softmax", "log_softmax")


def float_dtype_reason(problem):
    """Why a float32/float64-only strategy declines `problem`, or None."""
    if problem.dtype not in FLOAT_DTYPES:
        return f"computes float32 and float64 only, not {problem.dtype}"
    return None


def plain_forward_reason(problem):
    """Why a strategy with only the plain forward pass declines `problem`, or None."""
    if problem.op == "logsumexp":
        return "has no logsumexp (per-slice statistics without an output)"
    if problem.op not in FORWARD_OPS:
        return f"has no {problem.op} (backward pass)"
    if problem.masked:
        return "has no where= mask"
    if problem.scaled:
        return "has no fused scale="
    if problem.approx:
        return "has no fast approximate exp (approx=True)"
    return None
