"""softmax, log_softmax and their gradients: argument checking and normalisation.

Design: every call is checked completely before anything is written (so a bad
call leaves `x` and `out` untouched), then reduced to a canonical problem (see
strategies/__init__.py): the reduced axes become one axis of length n, with
the axes before it flattened into `rows`/`outer` and the axes after it into
`inner`.  Axes that are not adjacent are first moved to the end, and so are
the axes of masked calls and gradients (their kernels are row kernels).  The input
is used in place when its layout already fits the kernels and copied into the
compute dtype otherwise; `out` is written directly when it fits, else through
a temporary.  The canonical form depends only on the shape and axes, never on
the memory layout, so our own kernels give bit-identical results for every
layout.  A `where` mask is broadcast and brought to the same canonical shape
(a copy of the mask, 1 byte per element, only when its layout needs it; x is
not copied for it when the axis is already last).  float16 and bfloat16 are computed in float32.
"""
import math
import operator

import numpy as np
from numpy.exceptions import AxisError

from . import _config, dispatch
from ._problem import Problem

_FLOAT16 = np.dtype(np.float16)
_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)


def softmax(x, axis=-1, *, out=None, dtype=None, where=None, scale=None, approx=False,
            strategy=None):
    r"""Softmax of `x` along `axis`.

    .. math:: \sigma(x)_i = \frac{e^{s x_i - m}}{\sum_j e^{s x_j - m}},
              \qquad m = \max_j s x_j

    computed over the elements of each slice along `axis` (`s` is `scale`,
    1 by default).

    Parameters
    ----------
    x : array_like
        Input. float32 and float64 are computed natively, float16 and
        bfloat16 (``ml_dtypes``) in float32 with the result in the input
        dtype, bool and integers in float64 (as SciPy).
    axis : int, tuple of ints or None, optional
        Axis or axes over which each softmax is taken (jointly for a tuple;
        all elements for None). Default -1.
    out : ndarray, optional
        Where to write the result; same shape as `x` and the result dtype.
        May be `x` itself (in place).
    dtype : dtype, optional
        Floating-point dtype of the result and of the computation (float16,
        bfloat16: computed in float32).
    where : array_like of bool, optional
        Mask broadcastable to `x`: only the elements where it is True take
        part. The others get 0, and a slice with none selected is all 0
        (never NaN). Masked-out elements of `x` may hold anything.
    scale : real scalar, optional
        Multiply `x` by this before the softmax (an inverse temperature,
        e.g. ``1/sqrt(d)`` in attention), in the same pass.  The exponents
        come from the exact products, so the accuracy holds for any
        magnitude of ``scale * x``.
    approx : bool, optional
        Use a faster polynomial exp. Relative error of the outputs at most
        1e-4 in float32 (7e-6 measured) and 1e-9 in float64, for outputs of
        at least 1e-30 (1e-300); absolute error below 1e-30 (1e-300) for
        smaller ones. Strategies without a fast exp compute exactly or
        decline (see `available_strategies`).
    strategy : str, optional
        Force a strategy for this call (see `available_strategies`); default:
        the one set by `set_strategy`/`strategy`, else chosen automatically.

    Returns
    -------
    ndarray or scalar
        Same shape as `x`; each slice along `axis` is non-negative and sums
        to 1 (or is all 0 where `where` selects nothing).  A NumPy scalar for
        0-d input, unless `out` is given.

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
    >>> softmax([[1.0, 2.0, 3.0]], where=[[True, True, False]], scale=2.0)
    array([[0.11920292, 0.88079708, 0.        ]])
    """
    return _compute("softmax", x, axis, out, dtype, strategy,
                    where=where, scale=scale, approx=approx)


def log_softmax(x, axis=-1, *, out=None, dtype=None, where=None, scale=None, approx=False,
                strategy=None):
    r"""Logarithm of the softmax of `x` along `axis`, computed directly.

    .. math:: \log\sigma(x)_i = (s x_i - m) - \log \sum_j e^{s x_j - m},
              \qquad m = \max_j s x_j

    Never ``log(softmax(x))``, so probabilities far below the smallest
    float stay finite. At the largest element the result is
    ``-log1p(sum of the other terms)``: not rounded to 0 when the others are
    tiny (`scipy.special.log_softmax` gives 0 there).

    Parameters
    ----------
    x, axis, out, dtype, where, scale, approx, strategy
        As for `softmax`. Elements masked out by `where` get ``-inf``, and
        so does every element of a slice with none selected. With `approx`,
        the absolute error is at most 1e-4 (1 + |y|) in float32 and 1e-9
        (1 + |y|) in float64.

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
    >>> log_softmax(np.array([0.0, -40.0]))
    array([-4.24835426e-18, -4.00000000e+01])
    """
    return _compute("log_softmax", x, axis, out, dtype, strategy,
                    where=where, scale=scale, approx=approx)


def softmax_grad(y, dy, axis=-1, *, out=None):
    r"""Backward pass of `softmax`: the gradient with respect to its input.

    .. math:: \frac{\partial L}{\partial x_i} = y_i \Big(dy_i - \sum_j dy_j\, y_j\Big)

    Parameters
    ----------
    y : array_like
        The output of ``softmax(x, axis)``.
    dy : array_like
        The gradient of the loss with respect to `y`; same shape as `y`.
    axis : int, tuple of ints or None, optional
        The `axis` the softmax was taken over. Default -1.
    out : ndarray, optional
        Where to write the result; may be `y` or `dy` (in place).

    Returns
    -------
    ndarray
        Same shape as `y`, in the dtype of ``y + dy`` (float16 and bfloat16
        computed in float32; integers and bool in float64).

    Examples
    --------
    >>> import numpy as np
    >>> from pysoftmax import softmax, softmax_grad
    >>> y = softmax(np.array([0.0, 0.0]))
    >>> softmax_grad(y, np.array([1.0, 0.0]))
    array([ 0.25, -0.25])
    """
    return _compute_grad("softmax_grad", y, dy, axis, out)


def log_softmax_grad(y, dy, axis=-1, *, out=None):
    r"""Backward pass of `log_softmax`: the gradient with respect to its input.

    .. math:: \frac{\partial L}{\partial x_i} = dy_i - e^{y_i} \sum_j dy_j

    Parameters
    ----------
    y : array_like
        The output of ``log_softmax(x, axis)``.
    dy, axis, out
        As for `softmax_grad`.

    Returns
    -------
    ndarray
        Same shape and dtype rules as `softmax_grad`.

    Examples
    --------
    >>> import numpy as np
    >>> from pysoftmax import log_softmax, log_softmax_grad
    >>> y = log_softmax(np.array([0.0, 0.0]))
    >>> log_softmax_grad(y, np.array([1.0, 0.0]))
    array([ 0.5, -0.5])
    """
    return _compute_grad("log_softmax_grad", y, dy, axis, out)


def _plan(op, x, axis, dtype, where=None, scale=None, approx=False):
    """Check a call's arguments.

    Returns (x as an array, result dtype, perm, problem, mask, scale): problem
    is None for an empty array (nothing to compute); mask is `where` broadcast
    to x's shape (or None); scale a scalar of the compute dtype (or None).
    """
    x = _as_array(x)
    result_dtype = _result_dtype(x.dtype, dtype)
    work_dtype = _work_dtype(result_dtype)
    axes = _normalize_axes(axis, x.ndim)
    mask = None if where is None else _as_mask(where, x.shape)
    s = None if scale is None else _as_scale(scale, work_dtype)
    if not isinstance(approx, (bool, np.bool_)):
        raise TypeError(f"approx must be True or False, got {type(approx).__name__}")
    if x.size == 0:
        return x, result_dtype, None, None, mask, s
    perm, kind, shape = _canonical(x.shape, axes, last=mask is not None)
    problem = Problem(op, work_dtype, kind, shape, masked=mask is not None,
                      scaled=s is not None, approx=bool(approx))
    return x, result_dtype, perm, problem, mask, s


def _compute(op, x, axis, out, dtype, strategy, choice=None, where=None, scale=None,
             approx=False):
    """The whole forward call; `choice` (a dispatch.Choice) overrides dispatch (tuning)."""
    x, result_dtype, perm, problem, mask, s = _plan(op, x, axis, dtype, where, scale, approx)
    _check_out(out, x.shape, result_dtype)
    requested = _config.requested_strategy(strategy)
    if problem is None:
        return out if out is not None else np.empty(x.shape, result_dtype)
    result = _execute(problem, perm, [x], out, result_dtype, requested, choice, mask, s)
    return result if out is not None or result.ndim else result[()]


def _plan_grad(op, y, dy, axis):
    """Check a backward call's arguments; return (y, dy, result dtype, perm,
    problem), problem None for empty arrays."""
    y, dy = _as_array(y), _as_array(dy)
    if y.shape != dy.shape:
        raise ValueError(f"y and dy must have the same shape, got {y.shape} and {dy.shape}")
    _check_input_dtype(y.dtype)
    _check_input_dtype(dy.dtype)
    result_dtype = _result_dtype(_promote(y.dtype, dy.dtype), None)
    axes = _normalize_axes(axis, y.ndim)
    if y.size == 0:
        return y, dy, result_dtype, None, None
    perm, kind, shape = _canonical(y.shape, axes, last=True)
    return y, dy, result_dtype, perm, Problem(op, _work_dtype(result_dtype), kind, shape)


def _compute_grad(op, y, dy, axis, out):
    """The whole backward call."""
    y, dy, result_dtype, perm, problem = _plan_grad(op, y, dy, axis)
    _check_out(out, y.shape, result_dtype)
    requested = _config.requested_strategy(None)
    if problem is None:
        return out if out is not None else np.empty(y.shape, result_dtype)
    result = _execute(problem, perm, [y, dy], out, result_dtype, requested)
    return result if out is not None or result.ndim else result[()]


def _execute(problem, perm, arrays, out, result_dtype, requested, choice=None, mask=None,
             scale=None):
    """Run `problem` on `arrays` ([x], or [y, dy] for a gradient) into `out`."""
    if choice is None:
        choice = dispatch.select(problem, requested, _config.effective_threads())
    impl = choice.strategy
    views = [a if perm is None else a.transpose(perm) for a in arrays]
    dense = impl.CONTIGUOUS             # the strategy wants dense rows
    ins = [_kernel_array(v, problem, dense) for v in views]
    y = None
    if (out is not None and perm is None and out.dtype == problem.dtype
            and not _may_overlap_itself(out)):
        y = _kernel_view(out, problem, dense)
    direct = y is not None              # the kernel writes into out itself
    if not direct:
        y = np.empty(problem.shape, problem.dtype)
    else:                               # partial overlap: read from a copy
        ins = [a.copy() if np.may_share_memory(a, y) and not _same_view(a, y) else a
               for a in ins]
    inputs = {}                         # what strategies.__init__ calls **inputs
    if mask is not None:
        inputs["where"] = _kernel_mask(mask, perm, problem, y)
    if scale is not None:
        inputs["scale"] = scale
    if len(ins) > 1:
        inputs["dy"] = ins[1]

    impl.run(problem, ins[0], y, choice.threads, **inputs)

    if direct:
        return out
    result = y.reshape(views[0].shape)
    if perm is not None:
        result = result.transpose(np.argsort(perm))
    if out is None and result.dtype == result_dtype:
        return result                   # the common call: no errstate (2 us)
    with np.errstate(over="ignore"):    # to float16: beyond its range is +-inf
        if out is None:
            return result.astype(result_dtype)
        out[...] = result
        return out


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


def _work_dtype(result_dtype):
    """The compute dtype: float32 for the half-precision types."""
    if result_dtype == _FLOAT16 or _is_bfloat16(result_dtype):
        return _FLOAT32
    return result_dtype


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


def _as_scale(scale, work_dtype):
    """`scale` as a scalar of the compute dtype; TypeError unless a real scalar."""
    if type(scale) in (float, int) and abs(scale) < 1e38:    # the common call, fast
        return work_dtype.type(scale)
    s = np.asarray(scale)
    if s.ndim != 0 or s.dtype.kind not in "iuf":
        raise TypeError(f"scale must be a real scalar, got {scale!r}")
    with np.errstate(over="ignore"):
        return work_dtype.type(s)


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


def _canonical(shape, axes, last=False):
    """(perm, kind, canonical shape) for reducing `shape` over `axes`.

    perm is None when the axes are adjacent, else the transpose that moves
    them last; `last` moves them last whenever they are not (kind "last"
    only: the masked and gradient kernels are row kernels).
    """
    ndim, k = len(shape), len(axes)
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


def _may_overlap_itself(a):
    """True unless no two elements of `a` can share memory (as NumPy's ufuncs
    check `out`): with the axes sorted by stride, each stride must step past
    all the elements of the axes with smaller strides."""
    reach = a.itemsize
    for stride, n in sorted((abs(st), n) for n, st in zip(a.shape, a.strides) if n > 1):
        if stride < reach:
            return True
        reach = stride * (n - 1) + reach
    return False


def _same_view(a, b):
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides)
