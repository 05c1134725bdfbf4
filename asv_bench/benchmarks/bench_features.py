"""The features of the API against a plain call (`pysoftmax bench --features`):
approx=, scale=, where= on in-cache rows and the attention shape, float32."""
import inspect

import numpy as np

import pysoftmax

CASES = {"64x1000": (64, 1000), "16x4000": (16, 4000), "12288x128": (12288, 128)}
FEATURES = ["plain", "approx", "scale", "where", "where-row"]


class Features:
    params = (FEATURES, list(CASES), ["softmax", "log_softmax"])
    param_names = ["feature", "shape", "op"]

    def setup(self, feature, shape, op):
        if "where" not in inspect.signature(pysoftmax.softmax).parameters:
            raise NotImplementedError("this commit has no where=, scale=, approx=")
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal(CASES[shape]).astype(np.float32)
        self.out = np.empty_like(self.x)
        mask = rng.random(self.x.shape) < 0.9
        self.kwargs = {"plain": {}, "approx": {"approx": True}, "scale": {"scale": 0.088},
                       "where": {"where": mask}, "where-row": {"where": mask[:1]}}[feature]
        self.fn = getattr(pysoftmax, op)

    def time_feature(self, feature, shape, op):
        with pysoftmax.num_threads(1):
            self.fn(self.x, out=self.out, **self.kwargs)
