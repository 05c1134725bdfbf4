"""Which strategy computes a call.

An explicit request is honoured or refused with the strategy's reason; it never
falls back silently.  Otherwise the first strategy in PREFERENCE that is
available and usable for the problem runs (most specialised first, reference
last, as oneDNN's implementation lists).  The measured, tunable table that
refines this order by shape and thread count is issue #4.
"""
from .strategies import STRATEGIES

PREFERENCE = ("vectorized", "onednn", "mkl", "reference")

_AVAILABLE = tuple(STRATEGIES[name] for name in PREFERENCE
                   if STRATEGIES[name].availability() is None)


def select(problem, requested):
    """The strategy module that computes `problem`."""
    if requested is not None:
        module = STRATEGIES[requested]
        reason = module.is_usable_for(problem)
        if reason is not None:
            raise ValueError(f"strategy {requested!r} cannot compute this call: {reason}; "
                             "use strategy='auto' to let pysoftmax choose")
        return module
    for module in _AVAILABLE:
        if module.is_usable_for(problem) is None:
            return module
    raise AssertionError("the reference strategy accepts every problem")
