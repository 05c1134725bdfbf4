"""`tune`: measure the strategies on this machine and make a dispatch Table.

Each candidate is timed as the call itself less the selection: the call's
plan, executed with the candidate's Choice.  A row records the strategy and
whether the problem wants one thread or all of them ('one' if one thread won,
'all' if the multi-threaded count did), never the count of this machine.

Imports: _context, _plan, _execute, _table, _select, _timing, strategies.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from collections import namedtuple
from collections.abc import Sequence
from typing import TextIO

import numpy as np

from ._context import effective_threads
from ._execute import execute
from ._plan import plan_forward
from ._select import Choice, select
from ._table import Key, Row, Table, builtin, cpu_fingerprint, library_versions
from ._timing import round_bests
from .strategies import STRATEGIES

TUNE_N_EDGES = (256, 4096, 65536)          # slice length bands
TUNE_ROWS_EDGES = (16, 1024)               # slice count bands
_N_SAMPLES = (64, 1024, 16384, 131072)     # one length inside each band
_ROWS_SAMPLES = (4, 128, 8192)             # one count inside each band
MAX_ELEMENTS = 1 << 21                     # larger samples are not measured
TUNE_BUDGET = 90.0                         # seconds tune() measures at most, by default

Candidate = namedtuple("Candidate", "strategy threads")   # a strategy's name, threads to use


def busy_warning():
    """A warning if this machine is busy (load average above half its cores),
    else None: other processes' threads make ours wait, so a busy machine
    measures 'one' thread faster than 'all' where an idle one would not."""
    try:
        load, cores = os.getloadavg()[0], len(os.sched_getaffinity(0))
    except (AttributeError, OSError):      # not on Linux
        return None
    if load <= cores / 2:
        return None
    return (f"warning: this machine is busy (load average {load:.1f} on {cores} cores): "
            "the measurements on more than one thread suffer most; tune on an idle machine")


def _sample(kind, n, rows):
    """A shape with `rows` slices of length n for the given kind."""
    if kind == "last":
        return (rows, n), -1
    inner = min(rows, 4096)
    return (rows // inner, n, inner), 1


def tune(budget: float = TUNE_BUDGET, ops: Sequence[str] = ("softmax", "log_softmax"),
         dtypes: Sequence[str] = ("float32", "float64"), kinds: Sequence[str] = ("last", "inner"),
         threads: int | None = None, margin: float = 0.10, base: Table | None = None,
         progress: TextIO | None = sys.stderr) -> Table:
    """Measure the strategies on this machine and return a new Table.

    For every cell (op, dtype, kind, n band, rows band, thread count) one
    sample shape is timed with every usable strategy (the reference only if
    nothing else accepts it), on one thread and on `threads`, in 5 rounds.  A
    cell keeps the choice of `base` (the built-in table by default, if it
    applies on this CPU; where it has no row, what the table in force selects)
    unless another (strategy, threads) was faster by more than `margin` in the
    median and faster in every round: noise does not change decisions.  Cells
    not reached within `budget` seconds keep base's rows (none if base was
    measured on another CPU).  The table is stamped with this CPU, and its
    rows say 'one' or 'all' threads.

    Parameters
    ----------
    budget : float
        Seconds to spend measuring, at most (about; default TUNE_BUDGET).
    ops, dtypes, kinds : sequences
        What to measure.
    threads : int, optional
        The multi-threaded count to measure besides 1 (default: the current
        effective thread count).
    margin : float
        Relative speed-up needed to change base's choice.
    base : Table, optional
    progress : file or None
        Where to draw the progress bar.
    """
    base = builtin() if base is None else base
    threads = effective_threads() if threads is None else int(threads)
    thread_counts = sorted({1, threads})
    base_rules = base.rules if base.foreign is None else {}    # another CPU's: not a base
    cells = [Key(op, dt, kind, i, j, t)
             for op in ops for dt in dtypes for kind in kinds for t in thread_counts
             for i, n in enumerate(_N_SAMPLES) for j, rows in enumerate(_ROWS_SAMPLES)
             if n * rows <= MAX_ELEMENTS]
    same_bands = base.n_edges == list(TUNE_N_EDGES) and base.rows_edges == list(TUNE_ROWS_EDGES)
    table = Table(dict(base_rules) if same_bands else {}, TUNE_N_EDGES, TUNE_ROWS_EDGES,
                  cpu_fingerprint(), library_versions(), "tuned")
    busy = busy_warning()
    if progress and busy:
        print(busy, file=progress)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for done, key in enumerate(cells):
        if time.perf_counter() - start > budget:
            if progress:
                kept = "keep the base table's rows" if base_rules else "have no row (fallback)"
                print(f"\nbudget of {budget:.0f}s spent: {len(cells) - done} cells {kept}",
                      file=progress)
            break
        op, t = key.op, key.threads
        shape, axis = _sample(key.kind, _N_SAMPLES[key.n_band], _ROWS_SAMPLES[key.rows_band])
        x = rng.standard_normal(shape).astype(key.dtype)
        problem = plan_forward(op, x, axis, None).problem
        usable = [name for name, m in STRATEGIES.items()
                  if m.unavailable_reason() is None and m.decline_reason(problem) is None]
        if len(usable) > 1 and "reference" in usable:
            usable.remove("reference")
        out = np.empty_like(x)
        calls = {}
        for name in usable:
            for use in sorted({1, t}):
                forced = Choice(STRATEGIES[name], use, "tune", key)
                calls[Candidate(name, use)] = (    # the call, less the selection
                    lambda c=forced, op=op, x=x, axis=axis, out=out:
                    execute(plan_forward(op, x, axis, None), c, out))
        rounds = round_bests(calls, rounds=5, round_time=0.02)
        seconds = {c: statistics.median(r) for c, r in rounds.items()}
        current = base_rules.get(key)
        if current is not None:
            current = Candidate(current.strategy, 1 if current.use_threads == "one" else t)
        if current not in seconds:      # no base row: what the table in force does
            choice = select(problem, None, t)
            current = Candidate(choice.strategy.NAME, 1 if choice.threads == 1 else t)
            if current not in seconds:
                current = min(seconds, key=seconds.get)
        fastest = min(seconds, key=seconds.get)
        # A measured difference: faster by more than `margin`, and in every round.
        better = (seconds[fastest] < (1 - margin) * seconds[current]
                  and max(rounds[fastest]) < min(rounds[current]))
        chosen = fastest if better else current
        table.rules[key] = Row(chosen.strategy, "one" if chosen.threads == 1 else "all",
                               {f"{c.strategy}@{c.threads}": round(v, 9)
                                for c, v in seconds.items()})
        if progress:
            bar = "#" * (30 * (done + 1) // len(cells))
            line = (f"\r[{bar:<30}] {done + 1}/{len(cells)} {op} {key.dtype} {key.kind} "
                    f"{'x'.join(map(str, shape))} t={t} -> {chosen.strategy}@{chosen.threads}")
            print(line.ljust(100), end="", file=progress, flush=True)
    if progress:
        print(file=progress)
    return table
