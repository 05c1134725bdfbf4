"""Time and peak memory of softmax and log_softmax, per strategy (auto
included), shape, dtype and thread count."""
import numpy as np

import pysoftmax

from .common import DTYPES, SHAPES, STRATEGIES, THREADS, make_input, require_strategy


class Softmax:
    params = (STRATEGIES, list(SHAPES), DTYPES, THREADS)
    param_names = ["strategy", "shape", "dtype", "threads"]
    timeout = 120

    def setup(self, strategy, shape, dtype, threads):
        self.x, self.axis = make_input(shape, dtype)
        self.strategy = require_strategy(strategy, self.x, self.axis)
        self.out = np.empty_like(self.x)
        self.threads = threads

    def time_softmax(self, strategy, shape, dtype, threads):
        with pysoftmax.num_threads(self.threads):
            pysoftmax.softmax(self.x, axis=self.axis, out=self.out, strategy=self.strategy)

    def time_log_softmax(self, strategy, shape, dtype, threads):
        with pysoftmax.num_threads(self.threads):
            pysoftmax.log_softmax(self.x, axis=self.axis, out=self.out, strategy=self.strategy)

    def peakmem_softmax(self, strategy, shape, dtype, threads):
        with pysoftmax.num_threads(self.threads):
            pysoftmax.softmax(self.x, axis=self.axis, strategy=self.strategy)


class Memcpy:
    """The memory-bound limit: copying the same bytes."""
    params = (list(SHAPES), DTYPES)
    param_names = ["shape", "dtype"]

    def setup(self, shape, dtype):
        self.x, _ = make_input(shape, dtype)
        self.out = np.empty_like(self.x)

    def time_copyto(self, shape, dtype):
        np.copyto(self.out, self.x)
