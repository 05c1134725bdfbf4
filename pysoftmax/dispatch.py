"""The dispatch table: which strategy, on how many threads, computes a call.

Design: data, not code.  A table maps

    (op, dtype, kind, n band, rows band, threads) -> (strategy, threads to use)

where n is the length of each softmax slice, rows the number of slices (for a
non-last axis: outer * inner), both put in bands by the table's own edges, and
threads is the thread count the row was measured with: a call on one thread
uses the rows measured on one, a call on more the rows measured on more
(Table.key).  "threads to use" is 'one' or 'all': whether the problem wants
one thread or all that the call may use (the count set by num_threads, or
the default), never a count of the machine the table was made on; 'all'
gives each thread at least MIN_ELEMENTS_PER_THREAD elements.

Every table records the CPU it was measured on (cpu_fingerprint: machine,
vendor, family and model numbers, model name, instruction-set flags) and
applies only on a CPU equal in those that matter (cpu_mismatch).  The
built-in table ships with the package (dispatch_table.json); on another CPU
its rows are not used and every call takes the fallback (explain says so).
`tune()` measures every usable strategy on this machine and keeps the
built-in choice (if it applies here) unless another was measurably faster;
`save()` writes the user's table (PYSOFTMAX_TABLE, else <user config
dir>/pysoftmax/dispatch.json), which `load()` prefers.  A user table made on
another CPU, in an older format, unreadable, or malformed (every field's
type and range is checked), or whose loading fails in any other way, is
ignored with one warning, and the built-in table is used: a bad table never
breaks softmax.

Calls no row covers, and rows whose strategy cannot compute the call, fall
back to the first available strategy of FALLBACK that accepts it, on all the
call's threads, at most one per MIN_ELEMENTS_PER_THREAD elements (so one
below PARALLEL_MIN_SIZE).  An explicitly requested strategy is honoured or
refused with its reason; it never falls back silently.

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
from ._select import (
    FALLBACK,
    MIN_ELEMENTS_PER_THREAD,
    PARALLEL_MIN_SIZE,
    Choice,
    DispatchTableWarning,
    active,
    load,
    select,
    threads_to_use,
)
from ._table import (
    CPU_MATCH_FIELDS,
    FORMAT,
    ISA_FLAGS,
    KEY_FIELDS,
    TABLE_DTYPES,
    TABLE_KINDS,
    TABLE_OPS,
    THREAD_USES,
    Key,
    Row,
    Table,
    builtin,
    check_writable,
    cpu_fingerprint,
    cpu_mismatch,
    library_versions,
    read,
    save,
    user_table_path,
)
from ._tune import MAX_ELEMENTS, TUNE_BUDGET, TUNE_N_EDGES, TUNE_ROWS_EDGES, tune

__all__ = [
    "explain", "Explanation", "tune", "load", "active", "builtin", "read", "save",
    "check_writable", "user_table_path", "cpu_fingerprint", "cpu_mismatch", "library_versions",
    "select", "threads_to_use", "Choice", "Table", "Key", "Row", "DispatchTableWarning", "FORMAT",
    "FALLBACK", "PARALLEL_MIN_SIZE", "MIN_ELEMENTS_PER_THREAD", "ISA_FLAGS", "CPU_MATCH_FIELDS",
    "KEY_FIELDS", "THREAD_USES", "TABLE_OPS", "TABLE_DTYPES", "TABLE_KINDS",
    "TUNE_BUDGET", "TUNE_N_EDGES", "TUNE_ROWS_EDGES", "MAX_ELEMENTS",
]
