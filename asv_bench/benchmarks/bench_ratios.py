"""Distance to the limits, as numbers the dashboard can plot directly:
pysoftmax (auto) time / memcpy time of the same bytes, and pysoftmax time /
the fastest installed peer's time.  Measured inside one process with
pysoftmax's own harness (interleaved rounds, median of per-round bests)."""
import numpy as np

import pysoftmax

from .common import DTYPES, PEERS, SHAPES, THREADS, make_input, peer_function


class Ratios:
    params = (list(SHAPES), DTYPES, THREADS)
    param_names = ["shape", "dtype", "threads"]
    unit = "ratio"
    timeout = 300

    def setup(self, shape, dtype, threads):
        try:
            from pysoftmax import _bench
        except ImportError:
            raise NotImplementedError("pysoftmax._bench is not in this commit") from None
        x, axis = make_input(shape, dtype)
        out, copy = np.empty_like(x), np.empty_like(x)

        def ours():
            pysoftmax.softmax(x, axis=axis, out=out)

        calls = {"pysoftmax": ours, "memcpy": lambda: np.copyto(copy, x)}
        for name in PEERS:
            try:
                calls[name] = peer_function(name, "softmax", x, axis, threads)
            except NotImplementedError:
                pass
        with pysoftmax.num_threads(threads):
            self.seconds = _bench.best_of_rounds(calls, rounds=3, round_time=0.02)

    def track_ratio_to_memcpy(self, shape, dtype, threads):
        return self.seconds["pysoftmax"] / self.seconds["memcpy"]

    def track_ratio_to_fastest_peer(self, shape, dtype, threads):
        peers = [t for name, t in self.seconds.items() if name in PEERS]
        return self.seconds["pysoftmax"] / min(peers)
