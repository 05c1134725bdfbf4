"""softmax and log_softmax: argument checking and normalisation.

Design: every call is checked completely before anything is written (so a bad
call leaves `x` and `out` untouched), then reduced to a canonical problem (see
strategies/__init__.py): the reduced axes become one axis of length n, with
the axes before it flattened into `rows`/`outer` and the axes after it into
`inner`.  Axes that are not adjacent are first moved to the end.  The input
is used in place when its layout already fits the kernels and copied into the
compute dtype otherwise; `out` is written directly when it fits, else through
a temporary.  The canonical form depends only on the shape and axes, never on
the memory layout, so our own kernels give bit-identical results for every
layout.
"""
import math
import operator

import numpy as np
from numpy.exceptions import AxisError

from . import _config, dispatch
from .strategies import Problem

_FLOAT16 = np.dtype(np.float16)
_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)


def softmax(x, axis=-1, *, out=None, dtype=None, strategy=None):
    r"""Softmax of `x` along `axis`.

    .. math:: \sigma(x)_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}},
              \qquad m = \max_j x_j

    computed over the elements of each slice along `axis`.

    Parameters
    ----------
    x : array_like
        Input. float32 and float64 are computed natively, float16 in float32
        (result in float16), bool and integers in float64 (as SciPy).
    axis : int, tuple of ints or None, optional
        Axis or axes over which each softmax is taken (jointly for a tuple;
        all elements for None). Default -1.
    out : ndarray, optional
        Where to write the result; same shape as `x` and the result dtype.
        May be `x` itself (in place).
    dtype : dtype, optional
        Floating-point dtype of the result and of the computation (float16:
        computed in float32).
    strategy : str, optional
        Force a strategy for this call (see `available_strategies`); default:
        the one set by `set_strategy`/`strategy`, else chosen automatically.

    Returns
    -------
    ndarray
        Same shape as `x`; each slice along `axis` is non-negative and sums
        to 1.

    Notes
    -----
    Like `scipy.special.softmax`: a NaN in a slice makes the whole slice NaN,
    a ``+inf`` does too (``[inf, 1] -> [nan, nan]``), ``-inf`` entries get 0
    and a slice of only ``-inf`` is NaN. Empty inputs give empty results.
    Accuracy: float32 absolute error at most 1e-6 and relative error at most
    1e-5 for outputs of at least 1e-30; float64 relative error at most 1e-13.

    Examples
    --------
    >>> import numpy as np
    >>> from pysoftmax import softmax
    >>> softmax(np.array([1.0, 2.0, 3.0]))
    array([0.09003057, 0.24472847, 0.66524096])
    >>> softmax([[1, 1], [0, 1000]], axis=0)
    array([[0.73105858, 0.        ],
           [0.26894142, 1.        ]])
    """
    return _compute("softmax", x, axis, out, dtype, strategy)


def log_softmax(x, axis=-1, *, out=None, dtype=None, strategy=None):
    r"""Logarithm of the softmax of `x` along `axis`, computed directly.

    .. math:: \log\sigma(x)_i = (x_i - m) - \log \sum_j e^{x_j - m},
              \qquad m = \max_j x_j

    Never ``log(softmax(x))``, so probabilities far below the smallest
    float stay finite.

    Parameters
    ----------
    x, axis, out, dtype, strategy
        As for `softmax`.

    Returns
    -------
    ndarray
        Same shape as `x`.

    Notes
    -----
    Non-finite input gives ``log(softmax(x))``: a NaN or ``+inf`` makes the
    slice NaN, ``-inf`` entries give ``-inf``. (`scipy.special.log_softmax`
    differs for ``+inf``: it gives ``[nan, -inf]`` for ``[inf, 1]``.)
    Accuracy: absolute error at most 1e-5 + 1e-6 |y| in float32 (the
    softmax bound, relative 1e-5, seen in log space) and 1e-13 (1 + |y|) in
    float64.

    Examples
    --------
    >>> import numpy as np
    >>> from pysoftmax import log_softmax
    >>> log_softmax(np.array([0.0, 1000.0]))
    array([-1000.,     0.])
    """
    return _compute("log_softmax", x, axis, out, dtype, strategy)


def _plan(op, x, axis, dtype):
    """Check a call's arguments; return (x as an array, result dtype, perm, problem).

    problem is None for an empty array (nothing to compute).
    """
    x = _as_array(x)
    result_dtype = _result_dtype(x.dtype, dtype)
    work_dtype = _FLOAT32 if result_dtype == _FLOAT16 else result_dtype
    axes = _normalize_axes(axis, x.ndim)
    if x.size == 0:
        return x, result_dtype, None, None
    perm, kind, shape = _canonical(x.shape, axes)
    return x, result_dtype, perm, Problem(op, work_dtype, kind, shape)


def _compute(op, x, axis, out, dtype, strategy, choice=None):
    """The whole call; `choice` (a dispatch.Choice) overrides dispatch (tuning)."""
    x, result_dtype, perm, problem = _plan(op, x, axis, dtype)
    _check_out(out, x.shape, result_dtype)
    requested = _config.requested_strategy(strategy)
    if problem is None:
        return out if out is not None else np.empty(x.shape, result_dtype)
    if choice is None:
        choice = dispatch.select(problem, requested, _config.effective_threads())
    impl = choice.strategy
    work_dtype, shape = problem.dtype, problem.shape

    xv = x if perm is None else x.transpose(perm)
    dense = getattr(impl, "CONTIGUOUS", False)   # the strategy wants dense rows
    xin = _kernel_array(xv, problem, dense)
    y = None
    if out is not None and perm is None and out.dtype == work_dtype:
        y = _kernel_view(out, problem, dense)
    direct = y is not None              # the kernel writes into out itself
    if not direct:
        y = np.empty(shape, work_dtype)
    elif np.may_share_memory(xin, y) and not _same_view(xin, y):
        xin = xin.copy()                # partial overlap: read from a copy

    impl.run(problem, xin, y, choice.threads)

    if direct:
        return out
    result = y.reshape(xv.shape)
    if perm is not None:
        result = result.transpose(np.argsort(perm))
    if out is not None:
        np.copyto(out, result)
        return out
    return result.astype(result_dtype, copy=False)


def _as_array(x):
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError("masked arrays are not supported: pass x.filled(-numpy.inf) "
                        "to give masked entries probability 0")
    return np.asarray(x)


def _check_input_dtype(dt):
    if dt.kind not in "biuf":
        raise TypeError(f"softmax is not defined for input of dtype {dt}: "
                        "expected a floating-point, integer or bool array")


def _result_dtype(input_dtype, dtype):
    """The dtype of the result (the compute dtype, except float16 -> float32)."""
    _check_input_dtype(input_dtype)
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"dtype must be a floating-point dtype, got {dt}")
        return dt
    if input_dtype.kind in "biu":
        return _FLOAT64
    return input_dtype


def _normalize_axes(axis, ndim):
    """Sorted tuple of non-negative axes; AxisError/ValueError as NumPy."""
    if axis is None:
        return tuple(range(ndim))
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


def _check_out(out, shape, dtype):
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


def _canonical(shape, axes):
    """(perm, kind, canonical shape) for reducing `shape` over `axes`.

    perm is None when the axes are adjacent, else the transpose that moves
    them last.
    """
    ndim, k = len(shape), len(axes)
    if k == 0:                       # no axis: every element is its own slice
        return None, "last", (math.prod(shape), 1)
    perm = None
    if axes[-1] - axes[0] + 1 != k:
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


def _same_view(a, b):
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides)
