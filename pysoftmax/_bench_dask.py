"""`pysoftmax bench --dask`: softmax of a Dask array larger than memory allows.

An array bigger than a quarter of the memory available here (MemAvailable of
/proc/meminfo; or --dask-gb) is generated chunk by chunk (dask.array.random,
a fixed seed, chunks of 64 MB, smaller for a small array) and never held
whole.  Its softmax along the last axis whole in each chunk (one pass, our
kernels on each chunk), along the last axis split across 4 chunks, and along
the first axis, split across every chunk (two passes: each chunk's
statistics, then the normalisation, the input generated again for the
second), is reduced to a sum as it is computed, on Dask's threaded
scheduler; so is its logsumexp along the first axis (one pass).  Reported
for each: the time, the peak resident memory of the process while it ran
(psutil, sampled; else getrusage's peak over the process's life), and, for
comparison, the time of generating and summing the same array with no
softmax, and the time per GiB of the in-memory NumPy path (softmax of a
NumPy array of --dask-numpy-gb) on the same axes.  The sum of a softmax is
the number of its slices: printed as a check of the results.

Imports: _api, _logsumexp, _timing (and dask, psutil when there).
"""
import math
import os
import resource
import sys
import threading
import time

import numpy as np

from ._api import log_softmax, softmax
from ._logsumexp import logsumexp
from ._timing import best_of_rounds

CHUNK_BYTES = 64 << 20
COLUMNS = 8192          # the length of each row; a chunk holds whole rows
SPLIT = 4               # or a quarter of a row


def available_memory():
    """Bytes of memory available here (MemAvailable, else MemFree, of
    /proc/meminfo), or None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
    except OSError:
        return None
    for key in ("MemAvailable", "MemFree"):
        if key in fields:
            return int(fields[key].split()[0]) * 1024
    return None


class PeakMemory:
    """The peak resident memory of this process while the ``with`` block
    runs: psutil sampled every 20 ms if importable, else getrusage's peak
    (which covers the whole life of the process: `whole_life` is then
    True)."""

    def __init__(self):
        try:
            import psutil
            self._process = psutil.Process()
        except ImportError:
            self._process = None
        self.whole_life = self._process is None
        self.peak = 0

    def _rss(self):
        if self._process is None:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return self._process.memory_info().rss

    def _sample(self):
        while not self._done.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self.peak = self._rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def dask_bench(gb=None, numpy_gb=0.5, dtype="float64", op="softmax", progress=sys.stderr):
    """Run the out-of-core cases; returns a dict (sizes, and per case its
    seconds, peak bytes and check)."""
    import dask
    import dask.array as da
    from dask.diagnostics import ProgressBar

    dtype = np.dtype(dtype)
    free = available_memory()
    if gb is None:
        if free is None:
            raise RuntimeError("cannot read the memory available (/proc/meminfo): give --dask-gb")
        target = free / 4 * 1.1
    else:
        target = gb * 2**30
    chunk_bytes = min(CHUNK_BYTES, target / 8)      # at least 8 chunks
    rows_per_chunk = max(1, int(chunk_bytes // (COLUMNS * dtype.itemsize)))
    chunks_count = max(2, math.ceil(target / (rows_per_chunk * COLUMNS * dtype.itemsize)))
    shape = (rows_per_chunk * chunks_count, COLUMNS)
    nbytes = math.prod(shape) * dtype.itemsize
    fn = softmax if op == "softmax" else log_softmax

    def array(split=1):
        """x, in chunks of whole rows, or of 1/split of a row (as many bytes)."""
        rng = da.random.default_rng(2026)
        return rng.random(shape, chunks=(rows_per_chunk * split, COLUMNS // split),
                          dtype=dtype)

    result = {"shape": list(shape), "chunks": [rows_per_chunk, COLUMNS], "dtype": dtype.name,
              "op": op, "bytes": nbytes, "available": free, "cases": {}}
    say = (lambda text: print(text, file=progress, flush=True)) if progress else (
        lambda text: None)
    say(f"{op} of a {dtype.name} Dask array {shape[0]}x{shape[1]} = {nbytes / 2**30:.2f} GiB "
        f"in {chunks_count} chunks of {rows_per_chunk}x{COLUMNS} "
        f"({rows_per_chunk * COLUMNS * dtype.itemsize / 2**20:.0f} MiB); memory available: "
        + (f"{free / 2**30:.2f} GiB" if free else "unknown"))
    cases = {   # name: (the array, the computation, the number of slices)
        "generate+sum (no softmax)": (array(), lambda x: x, None),
        "axis=-1 (whole in each chunk)": (array(), lambda x: fn(x, axis=-1), shape[0]),
        f"axis=-1 (split across {SPLIT} chunks)": (array(SPLIT), lambda x: fn(x, axis=-1),
                                                   shape[0]),
        "axis=0 (split across every chunk)": (array(), lambda x: fn(x, axis=0), shape[1]),
        "logsumexp, axis=0 (split)": (array(), lambda x: logsumexp(x, axis=0), None),
    }
    for name, (x, make, slices) in cases.items():
        say(f"{name}:")
        total = make(x).sum(dtype=np.float64)
        with PeakMemory() as peak, dask.config.set(scheduler="threads"):
            start = time.perf_counter()
            if progress:
                with ProgressBar(out=progress, dt=1.0):
                    value = float(total.compute())
            else:
                value = float(total.compute())
            seconds = time.perf_counter() - start
        case = {"seconds": seconds, "peak_rss": peak.peak, "peak_whole_life": peak.whole_life,
                "sum": value}
        if op == "softmax" and slices:
            case["check"] = abs(value - slices) / slices
        result["cases"][name] = case
    result["numpy"] = _numpy_per_gb(fn, numpy_gb, dtype)
    return result


def _numpy_per_gb(fn, gb, dtype, rounds=3):
    """Seconds per GiB of fn(x, axis) on an in-memory NumPy array of `gb`
    GiB, for axis -1 and 0 (the median of `rounds` rounds)."""
    rows = max(2, int(gb * 2**30 / (COLUMNS * dtype.itemsize)))
    x = np.random.default_rng(2026).standard_normal((rows, COLUMNS), dtype=dtype)
    out = np.empty_like(x)
    gib = x.nbytes / 2**30
    times = best_of_rounds({"axis=-1": lambda: fn(x, axis=-1, out=out),
                            "axis=0": lambda: fn(x, axis=0, out=out)}, rounds=rounds)
    return {"bytes": x.nbytes, "seconds_per_gib": {k: t / gib for k, t in times.items()}}


def format_report(r):
    """The bench's result as text."""
    gib = r["bytes"] / 2**30
    lines = [f"{r['op']} of a {r['dtype']} Dask array of {r['shape'][0]}x{r['shape'][1]} "
             f"({gib:.2f} GiB, chunks {r['chunks'][0]}x{r['chunks'][1]}), threaded scheduler "
             f"({os.cpu_count()} CPUs); memory available at the start: "
             + (f"{r['available'] / 2**30:.2f} GiB" if r["available"] else "unknown"), ""]
    head = ["case", "seconds", "s/GiB", "peak RSS MiB", "check"]
    rows = [head]
    for name, c in r["cases"].items():
        rows.append([name, f"{c['seconds']:.1f}", f"{c['seconds'] / gib:.2f}",
                     f"{c['peak_rss'] / 2**20:.0f}" + (" (life)" if c["peak_whole_life"] else ""),
                     f"{c['check']:.1e}" if "check" in c else "-"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines += ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    n = r["numpy"]
    lines += ["", f"in-memory NumPy path ({n['bytes'] / 2**30:.2f} GiB array, out=): "
              + ", ".join(f"{k} {v:.2f} s/GiB" for k, v in n["seconds_per_gib"].items()),
              "check: |sum of the softmax - number of slices| / number of slices"]
    return "\n".join(lines)
