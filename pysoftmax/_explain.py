"""`explain`: the strategy and thread count a call would use, and why.

It takes the arguments of the call it explains and goes the call's way
(plan, then select), so it names the strategy that call runs.

Imports: _plan, _context, _table, _select.
"""
from collections import namedtuple

from ._context import effective_threads, requested_strategy
from ._plan import plan_forward
from ._select import active, select
from ._table import KEY_FIELDS


class Explanation(namedtuple("Explanation", "strategy threads source problem row table note",
                              defaults=(None,))):
    """What `explain` found: the strategy a call would use and why."""

    def __str__(self):
        p = self.problem
        if p is None:
            return "empty input: nothing to compute"
        shape = "x".join(map(str, p.shape))
        features = [name for name, asked in (("where=", p.masked), ("scale=", p.scaled),
                                             ("approx=True", p.approx)) if asked]
        with_ = f", with {', '.join(features)}" if features else ""
        lines = [f"{p.op} of {p.dtype} {p.kind}-axis slices, canonical shape {shape}{with_}",
                 f"-> strategy {self.strategy!r} on {self.threads} thread(s) ({self.source})"]
        if self.row is not None:
            lines.append(f"   table {self.table}: row {self.row}")
        if self.note is not None:
            lines.append(f"   table {self.table}: {self.note}")
        return "\n".join(lines)


def explain(x, axis=-1, *, op="softmax", dtype=None, where=None, scale=None, approx=False,
            strategy=None):
    """The strategy and thread count a call would use, and the table row that chose them.

    ``explain(x, axis, op="log_softmax", where=w)`` explains
    ``log_softmax(x, axis, where=w)``: the same arguments, checked the same
    way (a call that would raise raises the same error here, a strategy that
    declines the call is refused), and the strategy named is the one that
    call runs.

    Parameters
    ----------
    x, axis, dtype, where, scale, approx, strategy
        As for `pysoftmax.softmax`.
    op : {'softmax', 'log_softmax', 'logsumexp'}
        The function whose call is explained (logsumexp: its `axis`, `where`
        and `scale`; pass axis=None for its default).

    Returns
    -------
    Explanation
        ``strategy`` (name), ``threads``, ``source`` ('explicit', 'table' or
        'fallback'), ``problem`` (the canonical problem), ``row`` (the table
        row as a dict, or None), ``table`` (where the table came from) and
        ``note`` (why the table's rows are not used on this CPU, or None).

    Examples
    --------
    >>> import numpy as np, pysoftmax
    >>> from pysoftmax import dispatch
    >>> with pysoftmax.num_threads(16):
    ...     dispatch.explain(np.zeros((4096, 4096), np.float32)).threads
    16
    """
    if op not in ("softmax", "log_softmax", "logsumexp"):
        raise ValueError(f"op must be 'softmax', 'log_softmax' or 'logsumexp', not {op!r}")
    problem = plan_forward(op, x, axis, dtype, where, scale, approx).problem
    requested = requested_strategy(strategy)
    table = active()
    note = None if table.foreign is None else f"its rows are not used here: {table.foreign}"
    if problem is None:
        return Explanation(None, 0, "empty", None, None, table.source, note)
    choice = select(problem, requested, effective_threads())
    row = None
    if choice.key is not None and choice.key in table.rules:
        r = table.rules[choice.key]
        row = dict(zip(KEY_FIELDS, choice.key), strategy=r.strategy, use_threads=r.use_threads)
        row["n_band"] = table.band("n", choice.key.n_band)
        row["rows_band"] = table.band("rows", choice.key.rows_band)
    return Explanation(choice.strategy.NAME, choice.threads, choice.source, problem, row,
                       table.source, note)
