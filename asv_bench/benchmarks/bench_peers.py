"""The peers on the same cases: the NumPy op sequence, scipy.special, and
PyTorch and ONNX Runtime when installed (skipped in setup otherwise; the
params are the same either way)."""
from .common import DTYPES, PEERS, SHAPES, THREADS, make_input, peer_function


class Peers:
    params = (PEERS, list(SHAPES), DTYPES, THREADS)
    param_names = ["peer", "shape", "dtype", "threads"]
    timeout = 120

    def setup(self, peer, shape, dtype, threads):
        x, axis = make_input(shape, dtype)
        self.softmax = peer_function(peer, "softmax", x, axis, threads)
        self.log_softmax = peer_function(peer, "log_softmax", x, axis, threads)

    def time_softmax(self, peer, shape, dtype, threads):
        self.softmax()

    def time_log_softmax(self, peer, shape, dtype, threads):
        self.log_softmax()
