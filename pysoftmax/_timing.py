"""Timing: rounds of best-of-n, candidates interleaved (for bench and tune).

Candidates are interleaved round by round so that the machine's drift hits
them alike, and each round keeps its best time per call.

Imports nothing of pysoftmax.
"""
import statistics
import time


def best_of_rounds(functions, rounds=5, round_time=0.05):
    """Median over `rounds` of each function's best time per call (seconds).

    functions: name -> callable.  Each round runs every function for about
    `round_time` seconds, in turn.
    """
    return {name: statistics.median(times)
            for name, times in round_bests(functions, rounds, round_time).items()}


SETTLE = 0.005   # seconds between candidates: other libraries' threads stop spinning


def round_bests(functions, rounds=5, round_time=0.05):
    """name -> list of each round's best time per call (seconds).

    OpenMP runtimes (ours, PyTorch's) and ONNX Runtime's pool keep their
    threads spinning for a while after a call; on a machine with few cores
    they would slow whatever runs next, so candidates are separated by a
    short pause."""
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
            time.sleep(SETTLE)
            b = float("inf")
            for _ in range(reps[name]):
                start = time.perf_counter()
                f()
                b = min(b, time.perf_counter() - start)
            best[name].append(b)
    return best
