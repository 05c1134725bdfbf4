"""The dispatch table: which strategy, on how many threads, computes a call.

Design: data, not code.  A table maps

    (op, dtype, kind, n band, rows band, threads) -> (strategy, threads to use)

where n is the length of each softmax slice, rows the number of slices (for a
non-last axis: outer * inner), both put in bands by the table's own edges, and
threads is the thread count the row was measured with: a call uses the row of
the largest measured count not above its own.  "threads to use" is the
measured thread cut-off: small problems stay on one thread.

The built-in table ships with the package (dispatch_table.json, measured on
our machines).  `tune()` measures every usable strategy on this machine and
keeps the built-in choice unless another was measurably faster; `save()`
writes the user's table (PYSOFTMAX_TABLE, else <user config dir>/pysoftmax/
dispatch.json), which `load()` prefers.  A user table made on another CPU,
unreadable, or malformed (every field's type and range is checked), or whose
loading fails in any other way, is ignored with one warning, and the built-in
table is used: a bad table never breaks softmax.

Calls no row covers, and rows whose strategy cannot compute the call, fall
back to the first available strategy of FALLBACK that accepts it, on one
thread below PARALLEL_MIN_SIZE elements.  An explicitly requested strategy is
honoured or refused with its reason; it never falls back silently.

Examples
--------
>>> import numpy as np
>>> from pysoftmax import dispatch
>>> dispatch.explain(np.zeros((64, 1000), np.float32)).strategy in dispatch.FALLBACK
True
"""
import bisect
import errno
import importlib.resources
import json
import math
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections import namedtuple

import numpy as np

from . import _config
from ._execute import execute
from ._plan import plan_forward
from .strategies import STRATEGIES

FORMAT = "pysoftmax-dispatch-1"
FALLBACK = ("vectorized", "onednn", "mkl", "reference")
PARALLEL_MIN_SIZE = 1 << 15
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
             "avx512_bf16", "avx512_fp16", "amx_tile", "asimd", "sve")
KEY_FIELDS = ("op", "dtype", "kind", "n_band", "rows_band", "threads")


class DispatchTableWarning(UserWarning):
    """A dispatch table was ignored (the built-in table is used instead)."""


Row = namedtuple("Row", "strategy use_threads seconds")


class Table:
    """A dispatch table: bands, rows, and where and on what it was measured."""

    def __init__(self, rules, n_edges, rows_edges, cpu, versions, source):
        self.rules = rules              # key tuple (KEY_FIELDS) -> Row
        self.n_edges = list(n_edges)
        self.rows_edges = list(rows_edges)
        self.cpu = cpu
        self.versions = versions
        self.source = source

    def key(self, problem, threads):
        """The key of the row for `problem` on `threads` threads (or None)."""
        measured = sorted({key[5] for key in self.rules if key[5] <= threads})
        if not measured:
            return None
        return (problem.op, problem.dtype.name, problem.kind,
                bisect.bisect_left(self.n_edges, problem.n),
                bisect.bisect_left(self.rows_edges, problem.rows),
                measured[-1])

    def band(self, which, index):
        """'n <= 256', '256 < n <= 4096', ... for band `index` of n or rows."""
        edges = self.n_edges if which == "n" else self.rows_edges
        lo = f"{edges[index - 1]} < " if index > 0 else ""
        hi = f" <= {edges[index]}" if index < len(edges) else ""
        return f"{lo}{which}{hi}"

    def to_json(self):
        return {
            "format": FORMAT, "cpu": self.cpu, "versions": self.versions,
            "bands": {"n": self.n_edges, "rows": self.rows_edges},
            "rules": [dict(zip(KEY_FIELDS, key), strategy=row.strategy,
                           use_threads=row.use_threads, seconds=row.seconds)
                      for key, row in sorted(self.rules.items())],
        }

    @classmethod
    def from_json(cls, data, source):
        """A Table from parsed JSON; ValueError saying what is wrong.

        Every field is checked (type and range), so that a table that loads
        can be used by every call."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a pysoftmax dispatch table (format {FORMAT!r} expected)")
        try:
            bands = _field(data, "bands", dict)
            n_edges, rows_edges = _edges(bands, "n"), _edges(bands, "rows")
            cpu = _field(data, "cpu", dict)
            versions = data.get("versions", {})
            if not isinstance(versions, dict):
                raise ValueError(f"versions must be an object, not {_show(versions)}")
            rules = {}
            for i, rule in enumerate(_field(data, "rules", list)):
                try:
                    key, row = _rule(rule, len(n_edges), len(rows_edges))
                    if key in rules:
                        raise ValueError(f"duplicate rule for {dict(zip(KEY_FIELDS, key))}")
                except ValueError as exc:
                    raise ValueError(f"rule {i}: {exc}") from None
                rules[key] = row
        except ValueError as exc:
            raise ValueError(f"malformed table: {exc}") from None
        return cls(rules, n_edges, rows_edges, dict(cpu), dict(versions), source)


# What a table's rules may name.  Only the plain calls have rows (the
# gradients always take the FALLBACK order); the dtypes are the compute dtypes
# (float16 and bfloat16 are computed in float32; long double is float128 on
# x86-64 Linux).
TABLE_OPS = ("softmax", "log_softmax")
TABLE_DTYPES = tuple(dict.fromkeys(["float32", "float64", np.dtype(np.longdouble).name]))
TABLE_KINDS = ("last", "inner")


def _show(value, width=60):
    """repr(value), cut to `width` characters for messages."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _field(data, name, kind):
    if name not in data:
        raise ValueError(f"missing field {name!r}")
    value = data[name]
    if not isinstance(value, kind):
        what = {dict: "an object", list: "a list"}[kind]
        raise ValueError(f"{name} must be {what}, not {_show(value)}")
    return value


def _edges(bands, name):
    """The band edges bands[name]: a strictly increasing list of positive ints."""
    edges = bands.get(name)
    if (not isinstance(edges, list) or not all(_is_int(e) and e >= 1 for e in edges)
            or any(a >= b for a, b in zip(edges, edges[1:]))):
        raise ValueError(f"band edges {name!r} must be a strictly increasing list of positive "
                         f"integers, not {_show(edges)}")
    return edges


def _known(rule, name, known):
    value = rule[name]
    if not isinstance(value, str) or value not in known:
        raise ValueError(f"unknown {name} {_show(value)} (known: {', '.join(known)})")
    return value


def _rule(rule, n_bands, rows_bands):
    """(key, Row) of one rule of a table's JSON; ValueError if malformed."""
    if not isinstance(rule, dict):
        raise ValueError(f"not an object but {_show(rule)}")
    for name in (*KEY_FIELDS, "strategy", "use_threads"):
        if name not in rule:
            raise ValueError(f"missing field {name!r}")
    op = _known(rule, "op", TABLE_OPS)
    dtype = _known(rule, "dtype", TABLE_DTYPES)
    kind = _known(rule, "kind", TABLE_KINDS)
    bands = []
    for name, top in (("n_band", n_bands), ("rows_band", rows_bands)):
        value = rule[name]
        if not _is_int(value) or not 0 <= value <= top:
            raise ValueError(f"{name} must be an integer in 0..{top}, not {_show(value)}")
        bands.append(value)
    threads, use = rule["threads"], rule["use_threads"]
    for name, value in (("threads", threads), ("use_threads", use)):
        if not _is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {_show(value)}")
    if use > threads:
        raise ValueError(f"use_threads {use} outside 1..{threads}")
    strategy = _known(rule, "strategy", tuple(STRATEGIES))
    seconds = rule.get("seconds", {})
    if not isinstance(seconds, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and v >= 0 for v in seconds.values()):
        raise ValueError("seconds must map 'strategy@threads' to times in seconds, not "
                         f"{_show(seconds)}")
    return (op, dtype, kind, *bands, threads), Row(strategy, use, dict(seconds))


def cpu_fingerprint():
    """This CPU's model and instruction-set flags (those that matter here)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine()):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith(("flags", "Features")) and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {"model": model, "machine": platform.machine(),
            "flags": [f for f in ISA_FLAGS if f in flags]}


def library_versions():
    versions = dict(_config.get_config()["versions"])
    versions.pop("numpy", None)
    return versions


def user_table_path():
    """Where `save()` writes and `load()` looks: PYSOFTMAX_TABLE, else the
    user's config directory."""
    if os.environ.get("PYSOFTMAX_TABLE"):
        return pathlib.Path(os.environ["PYSOFTMAX_TABLE"])
    base = os.environ.get("XDG_CONFIG_HOME") or pathlib.Path.home() / ".config"
    return pathlib.Path(base) / "pysoftmax" / "dispatch.json"


def builtin():
    """The table that ships with pysoftmax."""
    text = importlib.resources.files("pysoftmax").joinpath("dispatch_table.json").read_text()
    return Table.from_json(json.loads(text), "built-in")


def read(path):
    """The table in file `path` (OSError, ValueError if it cannot be used here)."""
    path = pathlib.Path(path)
    text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError("not a dispatch table (its JSON is nested too deeply)") from None
    table = Table.from_json(data, str(path))
    here = cpu_fingerprint()
    if table.cpu.get("model") != here["model"] or table.cpu.get("flags") != here["flags"]:
        raise ValueError(f"made on another CPU ({table.cpu.get('model')!r}, "
                         f"{table.cpu.get('flags')}), this is {here['model']!r} {here['flags']}")
    return table


_active = None
_lock = threading.Lock()


def load(path=None):
    """Load and activate the table in force; returns it.

    `path`, else PYSOFTMAX_TABLE, else the user table if there is one, else
    the built-in table.  A table that cannot be used here is ignored with one
    DispatchTableWarning, and the built-in table is used.
    """
    global _active
    table, problem = builtin(), None
    candidate = path or os.environ.get("PYSOFTMAX_TABLE")
    if candidate is None and user_table_path().exists():
        candidate = user_table_path()
    if candidate is not None:
        try:
            table = read(candidate)
        except (OSError, ValueError) as exc:
            problem = str(exc)
        except Exception as exc:        # whatever goes wrong, a bad table never breaks softmax
            problem = f"{type(exc).__name__}: {exc}"
    with _lock:
        _active = table
        _choices.clear()
    if problem is not None:             # after activating: a warning turned error cannot loop
        warnings.warn(f"pysoftmax: ignoring the dispatch table {candidate}: {problem}; "
                      "using the built-in table (re-run `pysoftmax tune`)",
                      DispatchTableWarning, stacklevel=2)
    return table


def active():
    """The table in force (loaded on first use)."""
    return _active if _active is not None else load()


def save(table, path=None):
    """Write `table` as JSON to `path` (default: user_table_path()); returns the path.

    Written to a temporary file beside `path`, then renamed over it; on
    failure the temporary file is removed, and the OSError names `path`."""
    path = pathlib.Path(path) if path is not None else user_table_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(json.dumps(table.to_json(), indent=1) + "\n")
        tmp.replace(path)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None:
            raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
        raise
    return path


def check_writable(path=None):
    """Raise OSError (naming what is in the way) unless `save()` can write a
    table at `path` (default: user_table_path()).

    Creates the missing directories, then a file beside `path`, and removes
    that file: as `save()` does, so that the check holds for root too (whom
    permission bits do not stop) and on read-only file systems."""
    path = pathlib.Path(path) if path is not None else user_table_path()
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, str(path.parent)) from None


Choice = namedtuple("Choice", "strategy threads source key")
Choice.__doc__ = """A dispatch decision: the strategy module, the thread count,
how it was decided ('explicit', 'table' or 'fallback') and the table key."""


def _fallback_threads(problem, threads):
    return 1 if problem.n * problem.rows < PARALLEL_MIN_SIZE else threads


_choices = {}            # (problem, requested, threads) -> Choice; emptied by load()
_CHOICES_MAX = 4096
# and in a forked child, where the threads and strategies usable differ
os.register_at_fork(after_in_child=_choices.clear)


def select(problem, requested, threads):
    """The Choice for `problem`: `requested` strategy name or None (auto).

    Decisions are remembered (calls repeat their shapes), so dispatching a
    call already seen costs one dictionary lookup."""
    key = (problem, requested, threads)
    choice = _choices.get(key)
    if choice is None:
        choice = _decide(problem, requested, threads)
        if len(_choices) >= _CHOICES_MAX:
            _choices.clear()
        _choices[key] = choice
    return choice


def _decide(problem, requested, threads):
    table = active()
    key = table.key(problem, threads)
    row = table.rules.get(key) if key is not None else None
    if requested is not None:
        module = STRATEGIES[requested]
        reason = module.decline_reason(problem)
        if reason is not None:
            raise ValueError(f"strategy {requested!r} cannot compute this call: {reason}; "
                             "use strategy='auto' to let pysoftmax choose")
        use = row.use_threads if row is not None else _fallback_threads(problem, threads)
        return Choice(module, use, "explicit", key)
    if row is not None:
        module = STRATEGIES[row.strategy]
        if module.unavailable_reason() is None and module.decline_reason(problem) is None:
            return Choice(module, row.use_threads, "table", key)
    for name in FALLBACK:
        module = STRATEGIES[name]
        if module.unavailable_reason() is None and module.decline_reason(problem) is None:
            return Choice(module, _fallback_threads(problem, threads), "fallback", key)
    raise AssertionError("the reference strategy accepts every problem")


class Explanation(namedtuple("Explanation", "strategy threads source problem row table")):
    """What `explain` found: the strategy a call would use and why."""

    def __str__(self):
        p = self.problem
        if p is None:
            return "empty input: nothing to compute"
        shape = "x".join(map(str, p.shape))
        lines = [f"{p.op} of {p.dtype} {p.kind}-axis slices, canonical shape {shape}",
                 f"-> strategy {self.strategy!r} on {self.threads} thread(s) ({self.source})"]
        if self.row is not None:
            lines.append(f"   table {self.table}: row {self.row}")
        return "\n".join(lines)


def explain(x, axis=-1, *, op="softmax", dtype=None, strategy=None):
    """The strategy and thread count a call would use, and the table row that chose them.

    Parameters
    ----------
    x, axis, dtype, strategy
        As for `pysoftmax.softmax`.
    op : {'softmax', 'log_softmax'}

    Returns
    -------
    Explanation
        ``strategy`` (name), ``threads``, ``source`` ('explicit', 'table' or
        'fallback'), ``problem`` (the canonical problem), ``row`` (the table
        row as a dict, or None) and ``table`` (where the table came from).
    """
    if op not in ("softmax", "log_softmax"):
        raise ValueError(f"op must be 'softmax' or 'log_softmax', not {op!r}")
    problem = plan_forward(op, x, axis, dtype).problem
    table = active()
    if problem is None:
        return Explanation(None, 0, "empty", None, None, table.source)
    choice = select(problem, _config.requested_strategy(strategy), _config.effective_threads())
    row = None
    if choice.key is not None and choice.key in table.rules:
        r = table.rules[choice.key]
        row = dict(zip(KEY_FIELDS, choice.key), strategy=r.strategy, use_threads=r.use_threads)
        row["n_band"] = table.band("n", choice.key[3])
        row["rows_band"] = table.band("rows", choice.key[4])
    return Explanation(choice.strategy.NAME, choice.threads, choice.source, problem, row,
                       table.source)


# ---------------------------------------------------------------- tuning

TUNE_N_EDGES = (256, 4096, 65536)          # slice length bands
TUNE_ROWS_EDGES = (16, 1024)               # slice count bands
_N_SAMPLES = (64, 1024, 16384, 131072)     # one length inside each band
_ROWS_SAMPLES = (4, 128, 8192)             # one count inside each band
MAX_ELEMENTS = 1 << 21                     # larger samples are not measured
TUNE_BUDGET = 90.0                         # seconds tune() measures at most, by default


def _sample(kind, n, rows):
    """A shape with `rows` slices of length n for the given kind."""
    if kind == "last":
        return (rows, n), -1
    inner = min(rows, 4096)
    return (rows // inner, n, inner), 1


def tune(budget=TUNE_BUDGET, ops=("softmax", "log_softmax"), dtypes=("float32", "float64"),
         kinds=("last", "inner"), threads=None, margin=0.10, base=None, progress=sys.stderr):
    """Measure the strategies on this machine and return a new Table.

    For every cell (op, dtype, kind, n band, rows band, thread count) one
    sample shape is timed with every usable strategy (the reference only if
    nothing else accepts it), on one thread and on `threads`, in 5 rounds.  A
    cell keeps the choice of `base` (the built-in table by default; FALLBACK
    where it has no row) unless another (strategy, threads) was faster by
    more than `margin` in the median and faster in every round: noise does not
    change decisions.  Cells not reached within
    `budget` seconds keep base's rows.

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
    import numpy as np

    from . import _bench

    base = builtin() if base is None else base
    threads = _config.effective_threads() if threads is None else int(threads)
    thread_counts = sorted({1, threads})
    cells = [(op, dt, kind, i, j, t)
             for op in ops for dt in dtypes for kind in kinds for t in thread_counts
             for i, n in enumerate(_N_SAMPLES) for j, rows in enumerate(_ROWS_SAMPLES)
             if n * rows <= MAX_ELEMENTS]
    same_bands = base.n_edges == list(TUNE_N_EDGES) and base.rows_edges == list(TUNE_ROWS_EDGES)
    table = Table(dict(base.rules) if same_bands else {}, TUNE_N_EDGES, TUNE_ROWS_EDGES, cpu_fingerprint(), library_versions(),
                  "tuned")
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for done, (op, dt, kind, i, j, t) in enumerate(cells):
        if time.perf_counter() - start > budget:
            if progress:
                print(f"\nbudget of {budget:.0f}s spent: {len(cells) - done} cells keep the "
                      "built-in choice", file=progress)
            break
        shape, axis = _sample(kind, _N_SAMPLES[i], _ROWS_SAMPLES[j])
        x = rng.standard_normal(shape).astype(dt)
        problem = plan_forward(op, x, axis, None).problem
        key = (op, dt, kind, i, j, t)
        usable = [name for name, m in STRATEGIES.items()
                  if m.unavailable_reason() is None and m.decline_reason(problem) is None]
        if len(usable) > 1 and "reference" in usable:
            usable.remove("reference")
        out = np.empty_like(x)
        calls = {}
        for name in usable:
            for use in sorted({1, t}):
                chosen = Choice(STRATEGIES[name], use, "tune", key)
                calls[(name, use)] = (lambda c=chosen:    # the call, less selection
                                      execute(plan_forward(op, x, axis, None), c, out))
        rounds = _bench.round_bests(calls, rounds=5, round_time=0.02)
        seconds = {c: statistics.median(r) for c, r in rounds.items()}
        current = base.rules.get(key)
        current = (current.strategy, current.use_threads) if current else None
        if current not in seconds:      # no base row: what the fallback would do
            choice = select(problem, None, t)
            current = (choice.strategy.NAME, choice.threads)
            if current not in seconds:
                current = min(seconds, key=seconds.get)
        fastest = min(seconds, key=seconds.get)
        # A measured difference: faster by more than `margin`, and in every round.
        better = (seconds[fastest] < (1 - margin) * seconds[current]
                  and max(rounds[fastest]) < min(rounds[current]))
        chosen = fastest if better else current
        table.rules[key] = Row(chosen[0], chosen[1],
                               {f"{s}@{u}": round(v, 9) for (s, u), v in seconds.items()})
        if progress:
            bar = "#" * (30 * (done + 1) // len(cells))
            print(f"\r[{bar:<30}] {done + 1}/{len(cells)} {op} {dt} {kind} "
                  f"{'x'.join(map(str, shape))} t={t} -> {chosen[0]}@{chosen[1]}".ljust(100),
                  end="", file=progress, flush=True)
    if progress:
        print(file=progress)
    return table
