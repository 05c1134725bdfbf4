"""Selection: which strategy, on how many threads, computes a problem.

Holds the table in force (`load`, `active`) and a cache of decisions, and
`select`s a `Choice` for each problem: an explicitly requested strategy is
honoured or refused with its reason (never a silent fallback); otherwise the
table's row, if the table applies on this CPU and the row's strategy is
available and accepts the problem, else the first of FALLBACK that does.
The thread count: one, or all the call may use (a row's 'all', and where no
row decides) but at most one per MIN_ELEMENTS_PER_THREAD elements
(`threads_to_use`).  dispatch.py describes the table.

Imports: _typing, strategies, _table.
"""
from __future__ import annotations

import os
import threading
import warnings
from collections import namedtuple

from . import _table
from ._typing import PathLike
from .strategies import STRATEGIES, Problem

FALLBACK = ("vectorized", "onednn", "mkl", "reference")
MIN_ELEMENTS_PER_THREAD = 1 << 14     # each thread of a call gets at least this many elements
PARALLEL_MIN_SIZE = 2 * MIN_ELEMENTS_PER_THREAD   # so smaller problems run on one thread


class DispatchTableWarning(UserWarning):
    """A dispatch table was ignored (the built-in table is used instead)."""


_active = None
_lock = threading.Lock()


def load(path: PathLike | None = None) -> _table.Table:
    """Load and activate the table in force; returns it.

    `path`, else PYSOFTMAX_TABLE, else the user table if there is one, else
    the built-in table.  A table that cannot be used here is ignored with one
    DispatchTableWarning, and the built-in table is used.  (The built-in
    table's rows apply only on a CPU like the one it was measured on;
    elsewhere every call takes FALLBACK, silently: Table.foreign says why.)
    """
    global _active
    table, failure = _table.builtin(), None
    candidate = path or os.environ.get("PYSOFTMAX_TABLE")
    if candidate is None and _table.user_table_path().exists():
        candidate = _table.user_table_path()
    if candidate is not None:
        try:
            table = _table.read(candidate)
        except (OSError, ValueError) as exc:
            failure = str(exc)
        except Exception as exc:        # whatever goes wrong, a bad table never breaks softmax
            failure = f"{type(exc).__name__}: {exc}"
    with _lock:
        _active = table
        _choices.clear()
    if failure is not None:             # after activating: a warning turned error cannot loop
        warnings.warn(f"pysoftmax: ignoring the dispatch table {candidate}: {failure}; "
                      "using the built-in table (re-run `pysoftmax tune`)",
                      DispatchTableWarning, stacklevel=2)
    return table


def active() -> _table.Table:
    """The table in force (loaded on first use)."""
    return _active if _active is not None else load()


Choice = namedtuple("Choice", "strategy threads source key")
Choice.__doc__ = """A dispatch decision: the strategy module, the thread count,
how it was decided ('explicit', 'table' or 'fallback') and the table's Key for
the problem (None if the table has no rows for the thread count, or does not
apply on this CPU)."""


def threads_to_use(use: str, problem: Problem, threads: int) -> int:
    """The thread count for `problem` when the call may use `threads`: 1 for
    use 'one'; for 'all' (a row's, or where no row decides) `threads`, but at
    most one per MIN_ELEMENTS_PER_THREAD elements (so one below PARALLEL_MIN_SIZE).

    Examples
    --------
    >>> import numpy as np
    >>> from pysoftmax._problem import Problem
    >>> big = Problem("softmax", np.dtype(np.float32), "last", (12288, 128))
    >>> threads_to_use("all", big, 16), threads_to_use("one", big, 16)
    (16, 1)
    """
    if use == "one":
        return 1
    return max(1, min(threads, problem.n * problem.rows // MIN_ELEMENTS_PER_THREAD))


# (problem, requested, threads) -> Choice; emptied by load().  _fast keeps the
# common call's decisions here too, under 5-tuples of ints, so that they are
# forgotten with these: emptied in place, never rebound.
_choices: dict = {}
_CHOICES_MAX = 4096
# and in a forked child, where the threads and strategies usable differ
os.register_at_fork(after_in_child=_choices.clear)


def select(problem: Problem, requested: str | None, threads: int) -> Choice:
    """The Choice for `problem` on `threads` threads (the count the call may
    use): `requested` a strategy name, or None (auto).  ValueError if the
    requested strategy declines the problem.

    Decisions are remembered (calls repeat their shapes), so dispatching a
    call already seen costs one dictionary lookup."""
    seen = (problem, requested, threads)
    choice = _choices.get(seen)
    if choice is None:
        choice = _decide(problem, requested, threads)
        if len(_choices) >= _CHOICES_MAX:
            _choices.clear()
        _choices[seen] = choice
    return choice


def _decide(problem, requested, threads):
    table = active()
    key = table.key(problem, threads) if table.foreign is None else None
    row = table.rules.get(key) if key is not None else None
    use = row.use_threads if row is not None else "all"
    if requested is not None:
        module = STRATEGIES[requested]
        reason = module.decline_reason(problem)
        if reason is not None:
            raise ValueError(f"strategy {requested!r} cannot compute this call: {reason}; "
                             "use strategy='auto' to let pysoftmax choose")
        return Choice(module, threads_to_use(use, problem, threads), "explicit", key)
    if row is not None:
        module = STRATEGIES[row.strategy]
        if module.unavailable_reason() is None and module.decline_reason(problem) is None:
            return Choice(module, threads_to_use(use, problem, threads), "table", key)
    for name in FALLBACK:
        module = STRATEGIES[name]
        if module.unavailable_reason() is None and module.decline_reason(problem) is None:
            return Choice(module, threads_to_use("all", problem, threads), "fallback", key)
    raise AssertionError("the reference strategy accepts every problem")

