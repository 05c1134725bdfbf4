"""Configuration of the calling context: the strategy and the thread count.

Both live in contextvars, so they are thread-local (each new thread starts
with the defaults: strategy "auto", threads from OpenMP), follow asyncio tasks,
and the context managers nest and restore the previous value on exit, even on
an exception.  (get_config, which also reports the dispatch table in force,
is assembled higher up, in _config.py.)

Imports: _openmp, strategies.
"""
from __future__ import annotations

import contextlib
import contextvars
import operator
from collections.abc import Iterator

from . import _openmp
from .strategies import STRATEGIES

# Read directly (without the functions below) by the common call's fast path,
# _fast.pyx, which applies the rules of requested_strategy and effective_threads.
_strategy = contextvars.ContextVar("pysoftmax_strategy", default=None)
_threads = contextvars.ContextVar("pysoftmax_threads", default=None)


def _check_strategy(name):
    """The strategy name to store: None for automatic, else an available name."""
    if name is None or name == "auto":
        return None
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose 'auto' or one of "
                         f"{sorted(STRATEGIES)}")
    reason = STRATEGIES[name].unavailable_reason()
    if reason is not None:
        raise ValueError(f"strategy {name!r} is not available: {reason}")
    return name


def requested_strategy(name: str | None) -> str | None:
    """The strategy a call should use: its own argument (checked), else the
    context's; None for automatic."""
    if name is None:
        return _strategy.get()
    return _check_strategy(name)


def set_strategy(name: str | None) -> None:
    """Use strategy `name` for softmax calls of this thread from now on.

    Parameters
    ----------
    name : str or None
        ``None`` or ``"auto"`` lets the dispatch table choose for each call;
        otherwise one of the available names of `available_strategies`.

    Examples
    --------
    >>> import pysoftmax
    >>> pysoftmax.set_strategy("reference")
    >>> pysoftmax.get_config()["strategy"]
    'reference'
    >>> pysoftmax.set_strategy(None)
    """
    _strategy.set(_check_strategy(name))


@contextlib.contextmanager
def strategy(name: str | None) -> Iterator[None]:
    """Context manager: use strategy `name` inside the ``with`` block.

    Examples
    --------
    >>> import numpy as np, pysoftmax
    >>> with pysoftmax.strategy("reference"):
    ...     pysoftmax.softmax(np.zeros(2))
    array([0.5, 0.5])
    """
    token = _strategy.set(_check_strategy(name))
    try:
        yield
    finally:
        _strategy.reset(token)


def _check_threads(n):
    if n is None:
        return None
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"the number of threads must be at least 1, got {n}")
    return n


def set_num_threads(n: int | None) -> None:
    """Use `n` OpenMP threads in our kernels from now on (None: the default).

    The default is what OpenMP would use (``OMP_NUM_THREADS`` if set, else
    the cores available to the process; threadpoolctl limits it too), but at
    most the cores available to the process.  An explicit `n` is used as
    given, even above the cores.

    In a process forked from the one that imported pysoftmax (multiprocessing's
    default start method on Linux, e.g. PyTorch's DataLoader workers) every
    call runs on one thread, whatever `n`: GNU OpenMP's thread pool does not
    survive fork().  (The ``spawn`` and ``forkserver`` start methods are not
    affected.)
    """
    _threads.set(_check_threads(n))


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    """Context manager: use `n` threads inside the ``with`` block (one thread
    in a forked child whatever `n`, see `set_num_threads`).

    Examples
    --------
    >>> import pysoftmax
    >>> with pysoftmax.num_threads(1):
    ...     pysoftmax.get_config()["threads"]
    1
    """
    token = _threads.set(_check_threads(n))
    try:
        yield
    finally:
        _threads.reset(token)


def requested_threads() -> int | None:
    """The thread count set for this context (`set_num_threads`,
    `num_threads`), or None for the default."""
    return _threads.get()


def effective_threads() -> int:
    """The thread count a call made now will use: 1 in a forked child, else
    the one set for this context, else the default (`set_num_threads`)."""
    n = _threads.get()
    if n is None or _openmp.in_forked_child():
        return _openmp.default_threads()
    return n
