"""Executing a call: run a `Plan` with the strategy and threads of a `Choice`.

The operands are used in place when their layout already fits the kernels
and copied into the compute dtype otherwise; `out` is written directly when
it fits, else through a temporary (and read from a copy where it partly
overlaps an operand).  The mask is brought to the canonical shape too (a copy,
1 byte per element, only when its layout needs it).  New results (and
temporaries) come from the result pool (_pool), which reuses the memory of
large ones.

Imports: _pool (the plan and the choice bring the rest).
"""
import numpy as np

from ._pool import empty


def execute(plan, choice, out):
    """Compute `plan` (a _plan.Plan with a problem) with `choice` (a
    _select.Choice: the strategy module and its thread count) into `out`, or
    into a new array when `out` is None; returns the result."""
    problem, perm = plan.problem, plan.perm
    impl = choice.strategy
    views = [a if perm is None else a.transpose(perm) for a in plan.arrays]
    dense = impl.CONTIGUOUS             # the strategy wants dense rows
    ins = [_kernel_array(v, problem, dense) for v in views]
    y = None
    if (out is not None and perm is None and out.dtype == problem.dtype
            and not may_overlap_itself(out)):
        y = _kernel_view(out, problem, dense)
    direct = y is not None              # the kernel writes into out itself
    if not direct:
        y = empty(problem.shape, problem.dtype)
    else:                               # partial overlap: read from a copy
        ins = [a.copy() if np.may_share_memory(a, y) and not _same_view(a, y) else a
               for a in ins]
    inputs = {}                         # what strategies.__init__ calls **inputs
    if plan.mask is not None:
        inputs["where"] = _kernel_mask(plan.mask, perm, problem, y)
    if plan.scale is not None:
        inputs["scale"] = plan.scale
    if len(ins) > 1:
        inputs["dy"] = ins[1]

    impl.run(problem, ins[0], y, choice.threads, **inputs)

    if direct:
        return out
    result = y if y.shape == views[0].shape else y.reshape(views[0].shape)
    if perm is not None:
        result = result.transpose(np.argsort(perm))
    result_dtype = plan.result_dtype
    if out is None and result.dtype == result_dtype:
        return result                   # the common call: no errstate (2 us)
    with np.errstate(over="ignore"):    # to float16: beyond its range is +-inf
        if out is None:
            return result.astype(result_dtype)
        out[...] = result
        return out


def may_overlap_itself(a):
    """True unless no two elements of `a` can share memory (as NumPy's ufuncs
    check `out`): with the axes sorted by stride, each stride must step past
    all the elements of the axes with smaller strides."""
    reach = a.itemsize
    for stride, n in sorted((abs(st), n) for n, st in zip(a.shape, a.strides) if n > 1):
        if stride < reach:
            return True
        reach = stride * (n - 1) + reach
    return False


def _fits(a, problem, dense):
    """True if the kernels can use array `a` (canonical shape) as it is:
    C-contiguous for the "inner" kind or when `dense`, else rows contiguous."""
    if a.dtype != problem.dtype or not a.flags.aligned:
        return False
    if problem.kind == "inner" or dense:
        return a.flags.c_contiguous
    return a.shape[1] <= 1 or a.strides[1] == a.itemsize


def _kernel_array(x, problem, dense):
    """x in the canonical shape, dtype and layout: a view if possible."""
    a = x.reshape(problem.shape)
    return a if _fits(a, problem, dense) else np.ascontiguousarray(a, dtype=problem.dtype)


def _kernel_view(out, problem, dense):
    """A canonical view of `out` the kernels can write, or None."""
    a = out.reshape(problem.shape)
    if not np.may_share_memory(a, out):   # reshape had to copy
        return None
    return a if _fits(a, problem, dense) else None


def _kernel_mask(mask, perm, problem, y):
    """The mask in the canonical shape; each row contiguous for the "last" kind."""
    m = mask if perm is None else mask.transpose(perm)
    m = m.reshape(problem.shape)
    if problem.kind == "last" and m.shape[1] > 1 and m.strides[1] != 1:
        m = np.ascontiguousarray(m)
    if np.may_share_memory(m, y):
        m = m.copy()
    return m


def _same_view(a, b):
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides)
