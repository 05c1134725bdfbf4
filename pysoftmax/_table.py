"""The dispatch table as data: its format, its JSON, its files.

A table maps a Key

    (op, dtype, kind, n band, rows band, threads) -> Row(strategy, use_threads, seconds)

(see dispatch.py for what the fields mean).  This module reads, checks and
writes tables, knows where the user's table lives, which CPU a table was
made on and whether that is this one (cpu_fingerprint, cpu_mismatch); which
table is in force, and what it selects, is _select.py's.

Imports: _typing, _version, strategies.
"""
from __future__ import annotations

import bisect
import errno
import functools
import importlib.resources
import json
import math
import os
import pathlib
import platform
import re
import tempfile
from collections import namedtuple
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._typing import PathLike
from ._version import __version__
from .strategies import STRATEGIES
from .strategies import library_versions as _strategy_library_versions

FORMAT = "pysoftmax-dispatch-2"
# Formats this version no longer reads, and why (a table in one is ignored
# with the usual warning: re-run `pysoftmax tune`).
OLD_FORMATS = {
    "pysoftmax-dispatch-1": "its rows give thread counts of the machine it was measured on, "
                            "and its CPU lacks vendor, family and model",
}
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl",
             "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "asimd", "sve")
# What must be equal for a table to apply on a CPU (cpu_mismatch): the
# instruction set architecture, the vendor, family and model numbers (the
# microarchitecture; not the model name, which differs between parts of one
# design) and the ISA_FLAGS present.  Where the OS gives no family and model,
# the model name must be equal instead.
CPU_MATCH_FIELDS = ("machine", "vendor", "family", "model", "flags")
KEY_FIELDS = ("op", "dtype", "kind", "n_band", "rows_band", "threads")
THREAD_USES = ("one", "all")

Key = namedtuple("Key", KEY_FIELDS)
Key.__doc__ = """The key of a table row: op, compute dtype name, kind, the index of
the band of n and of rows (by the table's edges), and the thread count the row
was measured with."""

Row = namedtuple("Row", "strategy use_threads seconds")
Row.__doc__ = """A table row: the strategy's name, the threads to use ('one', or 'all'
that the call may use: _select.threads_to_use), and the measured seconds per
call ('strategy@threads' -> seconds; may be empty)."""


class Table:
    """A dispatch table: bands, rows, and where and on what it was measured.

    `foreign` says why its rows do not apply on this CPU (None when they
    do): set for the built-in table, which applies only on the CPU it was
    measured on (a user table from another CPU is refused by `read`)."""

    def __init__(self, rules, n_edges, rows_edges, cpu, versions, source, foreign=None):
        self.rules = {Key._make(key): row for key, row in rules.items()}   # Key -> Row
        self.n_edges = list(n_edges)
        self.rows_edges = list(rows_edges)
        self.cpu = cpu
        self.versions = versions
        self.source = source
        self.foreign = foreign

    def key(self, problem, threads):
        """The Key of the row for `problem` on `threads` threads (None if there is none).

        One thread: the rows measured on one thread.  More: those measured on
        the largest count above 1 not above `threads`, else on the smallest
        above it, so that rows made on a small machine serve a big one (and
        their 'all' means all of its threads); rows measured on one thread
        only if there are no others."""
        measured = {key.threads for key in self.rules}
        many = [t for t in measured if t > 1]
        if threads == 1 or not many:
            count = 1 if 1 in measured else None
        else:
            count = max([t for t in many if t <= threads] or [min(many)])
        if count is None:
            return None
        return Key(problem.op, problem.dtype.name, problem.kind,
                   bisect.bisect_left(self.n_edges, problem.n),
                   bisect.bisect_left(self.rows_edges, problem.rows),
                   count)

    def band(self, which, index):
        """'n <= 256', '256 < n <= 4096', ... for band `index` of n or rows."""
        edges = self.n_edges if which == "n" else self.rows_edges
        lo = f"{edges[index - 1]} < " if index > 0 else ""
        hi = f" <= {edges[index]}" if index < len(edges) else ""
        return f"{lo}{which}{hi}"

    def to_json(self):
        """The table as JSON data (what `save` writes)."""
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
        if isinstance(data, dict) and data.get("format") in OLD_FORMATS:
            raise ValueError(f"a table of the older format {data['format']!r} "
                             f"({OLD_FORMATS[data['format']]}); this version reads {FORMAT!r}")
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
# gradients always take the fallback order, _select.FALLBACK); the dtypes are the compute dtypes
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
    """(Key, Row) of one rule of a table's JSON; ValueError if malformed."""
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
    if not _is_int(threads) or threads < 1:
        raise ValueError(f"threads must be a positive integer, not {_show(threads)}")
    if not isinstance(use, str) or use not in THREAD_USES:
        raise ValueError(f"use_threads must be 'one' or 'all' (not a count), not {_show(use)}")
    strategy = _known(rule, "strategy", tuple(STRATEGIES))
    seconds = rule.get("seconds", {})
    if not isinstance(seconds, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and v >= 0 for v in seconds.values()):
        raise ValueError("seconds must map 'strategy@threads' to times in seconds, not "
                         f"{_show(seconds)}")
    return Key(op, dtype, kind, *bands, threads), Row(strategy, use, dict(seconds))


# /proc/cpuinfo's fields (x86, then Arm) -> the fingerprint's, for the first processor
_CPUINFO = {"vendor_id": "vendor", "CPU implementer": "vendor", "cpu family": "family",
            "CPU architecture": "family", "model": "model", "CPU part": "model",
            "model name": "model_name", "flags": "flags", "Features": "flags"}


def cpu_fingerprint() -> dict[str, Any]:
    """This CPU: the instruction set architecture (`machine`), `vendor`,
    `family` and `model` numbers, `model_name`, and which of ISA_FLAGS it
    has.  From /proc/cpuinfo on Linux (on Arm: implementer, architecture and
    part); elsewhere what `platform` says (vendor, family and model from
    Windows' processor string; None where unknown).

    Examples
    --------
    >>> from pysoftmax import dispatch
    >>> sorted(dispatch.cpu_fingerprint())
    ['family', 'flags', 'machine', 'model', 'model_name', 'vendor']
    """
    cpu = _read_cpu()
    return dict(cpu, flags=list(cpu["flags"]))


@functools.cache
def _read_cpu():
    """cpu_fingerprint(), read once."""
    try:
        with open("/proc/cpuinfo") as f:
            found = _cpuinfo_fields(f)
    except OSError:
        found = {}
    processor = platform.processor()
    windows = re.search(r"Family (\d+) Model (\d+).*, (\w+)$", processor)   # e.g. Intel64 Family 6
    if not found and windows:
        found = {"family": windows[1], "model": windows[2], "vendor": windows[3]}
    return {"machine": platform.machine(), "vendor": found.get("vendor"),
            "family": _number(found.get("family")), "model": _number(found.get("model")),
            "model_name": found.get("model_name") or processor or platform.machine(),
            "flags": [f for f in ISA_FLAGS if f in found.get("flags", "").split()]}


def _cpuinfo_fields(lines):
    """The fingerprint's fields (_CPUINFO) of the first processor in the lines
    of /proc/cpuinfo, as text."""
    found = {}
    for line in lines:
        if not line.strip() and found:
            break
        name, _, value = line.partition(":")
        field = _CPUINFO.get(name.strip())
        if field is not None and field not in found:
            found[field] = value.strip()
    return found


def _number(text):
    """'25' or '0xd0c' as an int; None if absent or not a number."""
    try:
        return int(text, 0) if text is not None else None
    except ValueError:
        return None


def cpu_mismatch(recorded: Mapping[str, Any], here: Mapping[str, Any] | None = None
                 ) -> str | None:
    """Why a table measured on CPU `recorded` does not apply on `here` (default:
    this CPU), or None when it does: CPU_MATCH_FIELDS must be equal, and the
    model name where the family is unknown.

    Examples
    --------
    >>> from pysoftmax import dispatch
    >>> print(dispatch.cpu_mismatch(dispatch.cpu_fingerprint()))
    None
    """
    here = cpu_fingerprint() if here is None else here
    fields = CPU_MATCH_FIELDS + (("model_name",) if here.get("family") is None else ())
    differ = []
    for name in fields:
        theirs, ours = recorded.get(name), here.get(name)
        if theirs == ours:
            continue
        if name == "flags" and isinstance(theirs, list):
            differ.append("flags " + " ".join([f"+{f}" for f in ours if f not in theirs]
                                              + [f"-{f}" for f in theirs if f not in ours]))
        else:
            differ.append(f"{name} {_show(theirs, 40)}, here {_show(ours, 40)}")
    return None if not differ else f"made on another CPU ({'; '.join(differ)})"


def library_versions() -> dict[str, str]:
    """What a table records it was measured with: the versions of pysoftmax
    and of the libraries the strategies loaded."""
    return {"pysoftmax": __version__, **_strategy_library_versions()}


def user_table_path() -> pathlib.Path:
    """Where `save()` writes and `load()` looks: PYSOFTMAX_TABLE, else the
    user's config directory."""
    if os.environ.get("PYSOFTMAX_TABLE"):
        return pathlib.Path(os.environ["PYSOFTMAX_TABLE"])
    base = os.environ.get("XDG_CONFIG_HOME") or pathlib.Path.home() / ".config"
    return pathlib.Path(base) / "pysoftmax" / "dispatch.json"


def builtin() -> Table:
    """The table that ships with pysoftmax (`foreign` unless measured on a CPU like this one)."""
    text = importlib.resources.files("pysoftmax").joinpath("dispatch_table.json").read_text()
    table = Table.from_json(json.loads(text), "built-in")
    table.foreign = cpu_mismatch(table.cpu)
    return table


def read(path: PathLike) -> Table:
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
    mismatch = cpu_mismatch(table.cpu)
    if mismatch is not None:
        raise ValueError(mismatch)
    return table


def save(table: Table, path: PathLike | None = None) -> pathlib.Path:
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


def check_writable(path: PathLike | None = None) -> None:
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


