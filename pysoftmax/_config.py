"""What is in force here: get_config() and available_strategies().

Assembled from the layers below: the calling context (_context), the
strategies and the dispatch table in force (_select), as scikit-learn's
get_config reports its settings.

Imports: _version, _openmp, strategies, _context, _select.
"""
import numpy

from . import _openmp
from ._context import effective_threads, requested_strategy
from ._select import active
from ._version import __version__
from .strategies import library_versions, status, vectorized


def available_strategies():
    """Which strategies can run here, and why not.

    Returns
    -------
    dict
        name -> ``Status(available, reason)``; `reason` is None when available.

    Examples
    --------
    >>> import pysoftmax
    >>> pysoftmax.available_strategies()["reference"]
    Status(available=True, reason=None)
    """
    return status()


def get_config():
    """The configuration in force for this thread, and library facts.

    Returns
    -------
    dict
        ``strategy`` ("auto" or a name), ``threads`` (used by the next call),
        ``approx`` (the default of the `approx` argument: False, exact exp),
        ``openmp`` (built with OpenMP), ``isa`` (instruction set of our C
        kernels, which every strategy's compiled code calls),
        ``dispatch`` (where the dispatch rules come from),
        ``versions`` (pysoftmax, numpy, and where loaded: ``mkl`` with
        ``mkl_cpu_path``, the code path MKL chose for this CPU, and
        ``mkl_vml_mode``; ``onednn``).
    """
    versions = {"pysoftmax": __version__, "numpy": numpy.__version__, **library_versions()}
    return {
        "strategy": requested_strategy(None) or "auto",
        "threads": effective_threads(),
        "approx": False,
        "openmp": _openmp.openmp_enabled(),
        "isa": vectorized.ISA,
        "dispatch": active().source,
        "versions": versions,
    }
