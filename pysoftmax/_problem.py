"""`Problem`: one call reduced to a canonical form, the vocabulary shared by
the planning of a call, the strategies and the dispatch table.

Imports nothing of pysoftmax.
"""
from collections import namedtuple


class Problem(namedtuple("Problem", "op dtype kind shape masked scaled approx",
                         defaults=(False, False, False))):
    """One call, normalised: op ('softmax', 'log_softmax', 'softmax_grad',
    'log_softmax_grad' or 'logsumexp': the statistics of each slice), the
    compute dtype, kind ('last' or 'inner'), the canonical shape ((rows, n)
    for 'last', (outer, n, inner) for 'inner'), and the features asked for:
    masked (where=), scaled (scale=), approx (approx=True).

    >>> import numpy as np
    >>> p = Problem("softmax", np.dtype(np.float32), "inner", (4, 21, 300))
    >>> p.n, p.rows
    (21, 1200)
    """
    __slots__ = ()

    @property
    def n(self):
        """The length of each softmax slice."""
        return self.shape[1]

    @property
    def rows(self):
        """How many slices there are: rows for kind 'last', outer * inner for 'inner'."""
        shape = self.shape
        return shape[0] if self.kind == "last" else shape[0] * shape[2]
