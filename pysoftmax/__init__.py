"""pysoftmax: fast, correct softmax, log_softmax and logsumexp of NumPy arrays on CPUs.

>>> import numpy as np
>>> from pysoftmax import softmax
>>> softmax(np.zeros(4, dtype=np.float32))
array([0.25, 0.25, 0.25, 0.25], dtype=float32)

The public API, gathered from the modules that define it: _api and _logsumexp (the
functions), _context and _config (the configuration), dispatch (the table).
"""


def _check_built():
    """A source tree (a checkout, no build) has no compiled modules: say so,
    and nothing else (an ImportError raised while importing one would come
    first, as a confusing 'circular import')."""
    import importlib.util
    import os

    if (os.path.exists(os.path.join(os.path.dirname(__file__), "meson.build"))
            and importlib.util.find_spec(f"{__name__}._openmp") is None):
        raise ImportError(
            "pysoftmax is being imported from its source tree, which has no compiled "
            "kernels: install it (pip install .) and run Python from another directory, "
            "or use the installed `pysoftmax` command")


_check_built()
from . import (
    _openmp,  # noqa: F401  (compiled: absent from the source tree)
    dispatch,
)
from ._api import log_softmax, log_softmax_grad, softmax, softmax_grad
from ._config import available_strategies, get_config, set_result_pool
from ._context import num_threads, set_num_threads, set_strategy, strategy
from ._logsumexp import logsumexp
from ._version import __version__ as __version__

__all__ = [
    "softmax", "log_softmax", "softmax_grad", "log_softmax_grad", "logsumexp", "dispatch",
    "set_strategy", "strategy", "available_strategies", "get_config",
    "set_num_threads", "num_threads", "set_result_pool",
]
