"""softmax and log_softmax per strategy, and the memcpy of the same bytes.

Shapes: classification (64x1000), BERT attention rows (12288x128), a
language-model vocabulary (32x32000), a large matrix (4096x4096) and a
channel softmax ((4,21,16384) along axis 1).
"""
import numpy as np

import pysoftmax

SHAPES = {
    "64x1000": ((64, 1000), -1),
    "12288x128": ((12288, 128), -1),
    "32x32000": ((32, 32000), -1),
    "4096x4096": ((4096, 4096), -1),
    "4x21x16384-axis1": ((4, 21, 16384), 1),
}


class Softmax:
    params = (["auto"] + sorted(pysoftmax.available_strategies()), list(SHAPES),
              ["float32", "float64"], [1, 2])
    param_names = ["strategy", "shape", "dtype", "threads"]

    def setup(self, strategy, shape, dtype, threads):
        size, self.axis = SHAPES[shape]
        self.x = np.random.default_rng(0).standard_normal(size).astype(dtype)
        self.out = np.empty_like(self.x)
        self.strategy = None if strategy == "auto" else strategy
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
    params = (list(SHAPES), ["float32", "float64"])
    param_names = ["shape", "dtype"]

    def setup(self, shape, dtype):
        self.x = np.random.default_rng(0).standard_normal(SHAPES[shape][0]).astype(dtype)
        self.out = np.empty_like(self.x)

    def time_copyto(self, shape, dtype):
        np.copyto(self.out, self.x)
