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

This module is the public face of the layers that do the work: the table's
format and files (_table), the table in force and the selection (_select),
`explain` (_explain) and `tune` (_tune).

Imports: _table, _select, _explain, _tune.
"""
from ._explain import Explanation, explain
from ._select import FALLBACK, PARALLEL_MIN_SIZE, Choice, DispatchTableWarning, active, load, select
from ._table import (
    FORMAT,
    ISA_FLAGS,
    KEY_FIELDS,
    TABLE_DTYPES,
    TABLE_KINDS,
    TABLE_OPS,
    Key,
    Row,
    Table,
    builtin,
    check_writable,
    cpu_fingerprint,
    library_versions,
    read,
    save,
    user_table_path,
)
from ._tune import MAX_ELEMENTS, TUNE_BUDGET, TUNE_N_EDGES, TUNE_ROWS_EDGES, tune

__all__ = [
    "explain", "Explanation", "tune", "load", "active", "builtin", "read", "save",
    "check_writable", "user_table_path", "cpu_fingerprint", "library_versions", "select",
    "Choice", "Table", "Key", "Row", "DispatchTableWarning", "FORMAT", "FALLBACK",
    "PARALLEL_MIN_SIZE", "ISA_FLAGS", "KEY_FIELDS", "TABLE_OPS", "TABLE_DTYPES", "TABLE_KINDS",
    "TUNE_BUDGET", "TUNE_N_EDGES", "TUNE_ROWS_EDGES", "MAX_ELEMENTS",
]
