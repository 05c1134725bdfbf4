"""What is in force here: get_config(), available_strategies(), and the one
process-wide setting, set_result_pool().

Assembled from the layers below: the calling context (_context), the
strategies and the dispatch table in force (_select), the result pool
(_pool), as scikit-learn's get_config reports its settings.

Imports: _version, _openmp, _pool, strategies, _context, _select.
"""
from __future__ import annotations

from typing import Any

import numpy

from . import _openmp, _pool
from ._context import effective_threads, requested_strategy
from ._select import active
from ._version import __version__
from .strategies import Status, library_versions, status, vectorized


def available_strategies() -> dict[str, Status]:
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


def get_config() -> dict[str, Any]:
    """The configuration in force for this thread, and library facts.

    Returns
    -------
    dict
        ``strategy`` ("auto" or a name), ``threads`` (used by the next call),
        ``approx`` (the default of the `approx` argument: False, exact exp),
        ``openmp`` (built with OpenMP), ``isa`` (instruction set of our C
        kernels, which every strategy's compiled code calls),
        ``dispatch`` (where the dispatch rules come from),
        ``result_pool`` (the bytes of freed large results kept for reuse, 0
        when off: `set_result_pool`), ``versions`` (pysoftmax, numpy, and
        where loaded: ``mkl`` with ``mkl_cpu_path``, the code path MKL chose
        for this CPU, and ``mkl_vml_mode``; ``onednn``).
    """
    versions = {"pysoftmax": __version__, "numpy": numpy.__version__, **library_versions()}
    return {
        "strategy": requested_strategy(None) or "auto",
        "threads": effective_threads(),
        "approx": False,
        "openmp": _openmp.openmp_enabled(),
        "isa": vectorized.ISA,
        "dispatch": active().source,
        "result_pool": _pool.stats()["limit"],
        "versions": versions,
    }


def set_result_pool(max_bytes: int) -> int:
    """Keep up to `max_bytes` of freed large results for reuse; 0 turns the
    pool off.  Returns the previous limit.

    A new result of at least 4 MiB (a call without `out=`) is written into a
    block of pysoftmax's result pool: when the last array or view of it dies,
    the block is kept for the next result of about its size, whose pages are
    then already mapped (no page faults, no zeroing by the kernel: a fresh
    4096x4096 float32 result costs what writing into `out=` does).  Blocks
    idle for a second are freed at the next call that uses the pool, the
    oldest first when the idle blocks would exceed `max_bytes`.  Such a
    result's ``base`` is the pool's buffer, so ``result.resize()`` refuses
    (as for any view).  The default is 256 MiB, or the environment variable
    ``PYSOFTMAX_RESULT_POOL`` (bytes) read at import; this setting is
    process-wide, not per thread.

    Examples
    --------
    >>> import pysoftmax
    >>> previous = pysoftmax.set_result_pool(0)       # off: plain NumPy arrays
    >>> pysoftmax.get_config()["result_pool"]
    0
    >>> _ = pysoftmax.set_result_pool(previous)
    """
    return _pool.set_limit(max_bytes)
