"""Timing harness behind `pysoftmax bench`.

Each case is timed for every strategy and for a copy of the same bytes
(`numpy.copyto`, the memory-bound limit), all in one process: candidates are
interleaved round by round so that the machine's drift hits them alike, each
round keeps its best time per call, and the result is the median over rounds.
Ratios are what to read: absolute times on a shared machine vary from run to
run.
"""
import statistics
import sys
import time

import numpy as np

from . import _api, _config
from .strategies import STRATEGIES

# name -> (shape, axis): classification, BERT-base attention rows (8 x 12 heads
# x 128 rows of 128), a language-model vocabulary, a large matrix, and a
# channel softmax (NCHW, 21 classes).
DEFAULT_CASES = {
    "64x1000": ((64, 1000), -1),
    "12288x128": ((12288, 128), -1),
    "32x32000": ((32, 32000), -1),
    "4096x4096": ((4096, 4096), -1),
    "4x21x16384/1": ((4, 21, 16384), 1),
}


def best_of_rounds(functions, rounds=5, round_time=0.05):
    """Median over `rounds` of each function's best time per call (seconds).

    functions: name -> callable.  Each round runs every function for about
    `round_time` seconds, in turn.
    """
    reps = {}
    for name, f in functions.items():           # warm up and size the rounds
        f()
        start = time.perf_counter()
        f()
        once = max(time.perf_counter() - start, 1e-7)
        reps[name] = max(1, min(1000, int(round_time / once)))
    best = {name: [] for name in functions}
    for _ in range(rounds):
        for name, f in functions.items():
            b = float("inf")
            for _ in range(reps[name]):
                start = time.perf_counter()
                f()
                b = min(b, time.perf_counter() - start)
            best[name].append(b)
    return {name: statistics.median(times) for name, times in best.items()}


def candidates(op, x, axis, strategies):
    """name -> callable for each usable strategy (and 'auto'); name -> reason
    for each strategy that declines."""
    fn = _api.softmax if op == "softmax" else _api.log_softmax
    out = np.empty(x.shape, x.dtype)
    problem = _api._plan(op, x, axis, None)[3]
    calls, declined = {}, {}
    for name in strategies:
        module = STRATEGIES.get(name)
        reason = None if name == "auto" else (module.availability() or module.is_usable_for(problem))
        if reason:
            declined[name] = reason
        else:
            calls[name] = (lambda s=(None if name == "auto" else name):
                           fn(x, axis=axis, out=out, strategy=s))
    copy_out = np.empty_like(x)
    calls["memcpy"] = lambda: np.copyto(copy_out, x)
    return calls, declined


def bench(cases=None, dtype="float32", threads=1, op="softmax", strategies=None,
          rounds=5, progress=sys.stderr):
    """Time every case; returns a list of dicts (one per case)."""
    cases = DEFAULT_CASES if cases is None else cases
    strategies = ["auto"] + [n for n, s in _config.available_strategies().items() if s.available] \
        if strategies is None else strategies
    rng = np.random.default_rng(0)
    results = []
    with _config.num_threads(threads):
        for i, (name, (shape, axis)) in enumerate(cases.items()):
            if progress:
                print(f"[{i + 1}/{len(cases)}] {name} {dtype} {op}, {threads} thread(s)",
                      file=progress, flush=True)
            x = rng.standard_normal(shape).astype(dtype)
            calls, declined = candidates(op, x, axis, strategies)
            times = best_of_rounds(calls, rounds=rounds)
            results.append({"case": name, "shape": shape, "axis": axis, "dtype": dtype,
                            "threads": threads, "op": op, "seconds": times,
                            "declined": declined})
    return results


def format_table(results, strategies):
    """A text table: memcpy time, then each strategy's time / memcpy's."""
    head = ["case", "memcpy us"] + [f"{s}/memcpy" for s in strategies] + ["fastest"]
    rows = [head]
    for r in results:
        t = r["seconds"]
        ratios = {s: t[s] / t["memcpy"] for s in strategies if s in t}
        fastest = min((s for s in ratios if s != "auto"), key=ratios.get, default="-")
        rows.append([r["case"], f"{t['memcpy'] * 1e6:.1f}"]
                    + [f"{ratios[s]:.2f}" if s in ratios else "declined" for s in strategies]
                    + [fastest])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
