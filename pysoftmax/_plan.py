"""Planning a call: check its arguments and reduce it to a `Plan`.

Every call is checked completely before anything is written (so a bad call
leaves `x` and `out` untouched), then reduced to a canonical problem (see
strategies/__init__.py): the reduced axes become one axis of length n, with
the axes before it flattened into `rows`/`outer` and the axes after it into
`inner`.  Axes that are not adjacent are first moved to the end, and so are
the axes of masked calls and gradients (their kernels are row kernels).  The
canonical form depends only on the shape and axes, never on the memory
layout, so our own kernels give bit-identical results for every layout.  A
`where` mask is broadcast to the shape of x; float16 and bfloat16 are
computed in float32.

Imports: _problem.
"""
import math
import operator
from dataclasses import dataclass

import numpy as np
from numpy.exceptions import AxisError

from ._problem import Problem

_FLOAT16 = np.dtype(np.float16)
_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)


@dataclass(slots=True)
class Plan:
    """A checked call, ready to run.

    arrays        the operands as arrays: (x,), or (y, dy) for a gradient
    result_dtype  the dtype of the result
    perm          the transpose that brings the reduced axes last (or
                  together), or None when they need none
    problem       the canonical Problem, or None for an empty array (nothing
                  to compute)
    mask          `where` broadcast to the shape of x, or None
    scale         `scale` as a scalar of the compute dtype, or None
    """
    arrays: tuple
    result_dtype: np.dtype
    perm: tuple | None
    problem: Problem | None
    mask: np.ndarray | None = None
    scale: object = None

    @property
    def shape(self):
        """The shape of the operands, and of the result."""
        return self.arrays[0].shape


def plan_forward(op, x, axis, dtype, where=None, scale=None, approx=False, last=False):
    """The Plan of softmax or log_softmax (`op`; or 'logsumexp', the
    statistics of the slices) of `x`; TypeError, ValueError or AxisError for
    a bad argument.  last: bring the reduced axes last (kind "last"), as
    masked calls always are."""
    x = _as_array(x)
    result_dtype = _result_dtype(x.dtype, dtype)
    compute_dtype = work_dtype(result_dtype)
    axes = _normalize_axes(axis, x.ndim)
    mask = None if where is None else _as_mask(where, x.shape)
    s = None if scale is None else _as_scale(scale, compute_dtype)
    if not isinstance(approx, (bool, np.bool_)):
        raise TypeError(f"approx must be True or False, got {type(approx).__name__}")
    if x.size == 0:
        return Plan((x,), result_dtype, None, None, mask, s)
    last = last or mask is not None
    perm, kind, shape = _canonical(x.shape, axes, last=last)
    problem = Problem(op, compute_dtype, kind, shape, mask is not None, s is not None,
                      bool(approx))
    return Plan((x,), result_dtype, perm, problem, mask, s)


def plan_grad(op, y, dy, axis):
    """The Plan of a backward call (`op` 'softmax_grad' or 'log_softmax_grad')."""
    y, dy = _as_array(y), _as_array(dy)
    if y.shape != dy.shape:
        raise ValueError(f"y and dy must have the same shape, got {y.shape} and {dy.shape}")
    _check_input_dtype(y.dtype)
    _check_input_dtype(dy.dtype)
    result_dtype = _result_dtype(_promote(y.dtype, dy.dtype), None)
    axes = _normalize_axes(axis, y.ndim)
    if y.size == 0:
        return Plan((y, dy), result_dtype, None, None)
    perm, kind, shape = _canonical(y.shape, axes, last=True)
    return Plan((y, dy), result_dtype, perm, Problem(op, work_dtype(result_dtype), kind, shape))


def check_out(out, shape, dtype):
    """TypeError or ValueError unless `out` is None or an array the result
    (of this shape and dtype) can be written to."""
    if out is None:
        return
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")
    if out.dtype != dtype:
        raise TypeError(f"out has dtype {out.dtype}, expected {dtype}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")


def work_dtype(result_dtype):
    """The compute dtype: float32 for the half-precision types."""
    if result_dtype == _FLOAT16 or _is_bfloat16(result_dtype):
        return _FLOAT32
    return result_dtype


def _as_array(x):
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError("masked arrays are not supported: pass x.filled(-numpy.inf) "
                        "to give masked entries probability 0")
    return np.asarray(x)


def _is_bfloat16(dt):
    return dt.kind == "V" and dt.name == "bfloat16"    # ml_dtypes.bfloat16


def _check_input_dtype(dt):
    if dt.kind not in "biuf" and not _is_bfloat16(dt):
        raise TypeError(f"softmax is not defined for input of dtype {dt}: "
                        "expected a floating-point, integer or bool array")


def _result_dtype(input_dtype, dtype):
    """The dtype of the result: `dtype`, or the input's (float64 for ints and bool)."""
    _check_input_dtype(input_dtype)
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt.kind != "f" and not _is_bfloat16(dt):
            raise TypeError(f"dtype must be a floating-point dtype, got {dt}")
        return dt
    if input_dtype.kind in "biu":
        return _FLOAT64
    return input_dtype


def _promote(a, b):
    """The common dtype of y and dy (bfloat16 with itself stays bfloat16)."""
    if a == b:
        return a
    if _is_bfloat16(a) or _is_bfloat16(b):
        return _FLOAT64 if _FLOAT64 in (a, b) else _FLOAT32
    return np.promote_types(a, b)


def _as_mask(where, shape):
    """`where` as a boolean array broadcast to `shape`."""
    w = np.asarray(where)
    if w.dtype != np.bool_:
        raise TypeError(f"where must be a boolean array, got dtype {w.dtype}")
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(f"where of shape {w.shape} cannot be broadcast to the shape "
                         f"{shape} of x") from None


def _as_scale(scale, compute_dtype):
    """`scale` as a scalar of the compute dtype; TypeError unless a real scalar."""
    if type(scale) in (float, int) and abs(scale) < 1e38:    # the common call, fast
        return compute_dtype.type(scale)
    s = np.asarray(scale)
    if s.ndim != 0 or s.dtype.kind not in "iuf":
        raise TypeError(f"scale must be a real scalar, got {scale!r}")
    with np.errstate(over="ignore"):
        return compute_dtype.type(s)


def _normalize_axes(axis, ndim):
    """Sorted tuple of non-negative axes; AxisError/ValueError as NumPy."""
    if axis is None:
        return tuple(range(ndim))
    if axis == -1 and type(axis) is int and ndim > 0:   # the common call, fast
        return (ndim - 1,)
    axes = tuple(axis) if isinstance(axis, tuple) else (axis,)
    result = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise AxisError(a, ndim)
        result.append(a % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(sorted(result))


def _canonical(shape, axes, last=False):
    """(perm, kind, canonical shape) for reducing `shape` over `axes`.

    perm is None when the axes are adjacent, else the transpose that moves
    them last; `last` moves them last whenever they are not (kind "last"
    only: the masked and gradient kernels are row kernels).
    """
    ndim, k = len(shape), len(axes)
    if k == 1 and axes[0] == ndim - 1:   # the last axis (the common call), fast
        return None, "last", (math.prod(shape[:-1]), shape[-1])
    if k == 0:                       # no axis: every element is its own slice
        return None, "last", (math.prod(shape), 1)
    perm = None
    if axes[-1] - axes[0] + 1 != k or (last and math.prod(shape[axes[-1] + 1:]) > 1):
        perm = tuple(i for i in range(ndim) if i not in axes) + axes
        shape = tuple(shape[i] for i in perm)
        axes = tuple(range(ndim - k, ndim))
    first, last = axes[0], axes[-1]
    outer = math.prod(shape[:first])
    n = math.prod(shape[first:last + 1])
    inner = math.prod(shape[last + 1:])
    if inner == 1:
        return perm, "last", (outer, n)
    return perm, "inner", (outer, n, inner)
