"""The strategies: one module each, all with the same small interface.

    NAME                          the name users pass to set_strategy()
    unavailable_reason() -> str | None
                                  why the strategy cannot run here, or None
                                  when it can
    decline_reason(problem) -> str | None
                                  why it cannot compute `problem`, or None
                                  when it can
    run(problem, x, y, n_threads, **inputs)
                                  compute y from x (canonical arrays, below) on
                                  n_threads threads (_select.py decides);
                                  inputs: where= (the mask, canonical shape,
                                  bool; rows contiguous for kind "last") if
                                  problem.masked, scale= (a scalar of the
                                  compute dtype) if problem.scaled, dy= (the
                                  second operand) for a gradient
    CONTIGUOUS                    True: give it C-contiguous arrays only
    versions() (optional)         library versions for get_config()

The Python layer turns every call into a `Problem` (_problem.py: op, compute
dtype, kind, shape, features; `n` and `rows`; made by _plan.py) and hands the
strategy arrays (_execute.py) of one of two canonical shapes, already in the
compute dtype and a layout the kernels accept:
    kind "last":  x, y of shape (rows, n), each row contiguous; the softmax of
                  every row.
    kind "inner": x, y of shape (outer, n, inner), C-contiguous; the softmax
                  along axis 1 (a non-last axis, e.g. the channels of NCHW).
y may be the very same array as x (in place); it never overlaps x otherwise.
For the gradients (ops "softmax_grad", "log_softmax_grad") x is the forward
output and dy the incoming gradient, both in the same canonical form.
For op "logsumexp" y is a float64 array (4, rows) that gets each slice's
statistics m, r, ones, others (pysoftmax/_slices.py; rows in the order of
the canonical shape without n: o * inner + k for kind "inner"); the
strategies that compute it (reference, vectorized) also offer
normalise(x, y, stats, log, n_threads, where=, scale=): the softmax of
each row from given statistics.
Masked problems and gradients always come as kind "last" (the Python layer
moves the axis last, copying if need be).

A strategy declines (decline_reason) what it does not implement: the features
(masked, scaled, approx) and ops it lacks, so that dispatch routes the call
to one that has them.  `approx` permits an error up to its documented bound;
computing exactly meets it too.

Imports: _problem and the strategy modules.
"""
from collections import namedtuple

from .._problem import Problem
from . import mkl, onednn, reference, vectorized

Status = namedtuple("Status", "available reason")
Status.__doc__ = """Whether a strategy can run here, and if not, why."""

__all__ = ["Problem", "STRATEGIES", "Status", "status", "library_versions"]

STRATEGIES = {module.NAME: module for module in (reference, vectorized, mkl, onednn)}


def status():
    """name -> Status(available, reason) for every strategy."""
    result = {}
    for name, module in STRATEGIES.items():
        reason = module.unavailable_reason()
        result[name] = Status(reason is None, reason)
    return result


def library_versions():
    """The versions of the libraries the strategies loaded (mkl, onednn, ...)."""
    versions = {}
    for module in STRATEGIES.values():
        versions.update(getattr(module, "versions", dict)())
    return versions
