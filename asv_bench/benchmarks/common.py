"""Shapes and helpers shared by the suites (not a benchmark module)."""
import numpy as np

# The cases of `pysoftmax bench` (pysoftmax._bench.DEFAULT_CASES, repeated here
# so that old commits, which lack some of them, run the same cases).
SHAPES = {
    "14400x50": ((14400, 50), -1),
    "64x1000": ((64, 1000), -1),
    "12288x128": ((12288, 128), -1),
    "32x32000": ((32, 32000), -1),
    "8x128256": ((8, 128256), -1),
    "4096x4096": ((4096, 4096), -1),
    "65536x32": ((65536, 32), -1),
    "1x21x8732/1": ((1, 21, 8732), 1),
    "4x21x128x128/1": ((4, 21, 128, 128), 1),
    "4x21x16384/1": ((4, 21, 16384), 1),
    "32x81x8732/1": ((32, 81, 8732), 1),
}
STRATEGIES = ["auto", "reference", "vectorized", "mkl", "onednn"]
PEERS = ["numpy", "scipy", "torch", "onnxruntime"]
DTYPES = ["float32", "float64"]
THREADS = [1, 2]


def make_input(shape, dtype):
    size, axis = SHAPES[shape]
    return np.random.default_rng(0).standard_normal(size).astype(dtype), axis


def require_strategy(name, x, axis):
    """Skip (NotImplementedError) when this commit cannot run `name` here."""
    import pysoftmax
    if name == "auto":
        return None
    status = pysoftmax.available_strategies().get(name)
    if status is None or not status.available:
        raise NotImplementedError(f"strategy {name} not available at this commit")
    try:
        pysoftmax.softmax(x[:1] if x.ndim > 1 else x, axis=axis, strategy=name)
    except ValueError as exc:          # the strategy declines this case
        raise NotImplementedError(str(exc)) from None
    return name


def peer_function(name, op, x, axis, threads):
    """The peer's softmax as a callable, via pysoftmax's own bench harness
    (one definition of what each peer runs); NotImplementedError if this
    commit or this environment cannot run it."""
    try:
        from pysoftmax import _bench
        made = _bench.peer(name, op, x, axis, threads)
    except (ImportError, AttributeError):
        raise NotImplementedError("pysoftmax._bench.peer is not in this commit") from None
    if isinstance(made, str):
        raise NotImplementedError(f"{name}: {made}")
    return made
