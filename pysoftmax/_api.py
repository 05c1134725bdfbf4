"""The public functions: softmax, log_softmax and their gradients.

Each call is planned (_plan: its arguments checked, the canonical problem),
then a strategy and thread count are selected for the problem (_select), then
the plan is executed with them (_execute).  The common call (a float32 or
float64 array, the last axis, no other argument but a plain `out`) first
tries the fast path (_fast), which runs the same decision and kernel with
none of those steps.

Arrays of other libraries (PyTorch, the array API) take the general path
through _interop, which views them as NumPy arrays or computes them with
their own namespace, and returns the caller's array type; Dask arrays give
lazy Dask arrays (_dask).

Imports: _plan, _context, _select, _execute, _fast, _interop, _dask (which
imports Dask only when given a Dask array).
"""
from __future__ import annotations

from typing import Any, overload

import numpy as np
import numpy.typing as npt

from . import _dask
from ._context import effective_threads, requested_strategy
from ._execute import execute
from ._fast import common_call
from ._interop import accepts_arrays, namespace_forward, namespace_grad
from ._plan import check_out, plan_forward, plan_grad
from ._select import select
from ._typing import ArrayT, Axis, FloatArray, RealScalar


# NumPy arrays and array-likes give NumPy arrays; an array of another library
# (DLPack, the array API) gives its own type.
@overload
def softmax(x: npt.NDArray[Any], axis: Axis = ..., *, out: Any = ..., dtype: Any = ...,
            where: Any = ..., scale: RealScalar | None = ..., approx: bool = ...,
            strategy: str | None = ...) -> FloatArray: ...
@overload
def softmax(x: ArrayT, axis: Axis = ..., *, out: Any = ..., dtype: Any = ...,
            where: Any = ..., scale: RealScalar | None = ..., approx: bool = ...,
            strategy: str | None = ...) -> ArrayT: ...
@overload
def softmax(x: npt.ArrayLike, axis: Axis = ..., *, out: Any = ..., dtype: Any = ...,
            where: Any = ..., scale: RealScalar | None = ..., approx: bool = ...,
            strategy: str | None = ...) -> FloatArray: ...


def softmax(x: Any, axis: Axis = -1, *, out: Any = None, dtype: Any = None,
            where: Any = None, scale: RealScalar | None = None, approx: bool = False,
            strategy: str | None = None) -> Any:
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
        dtype, bool and integers in float64 (as SciPy).  An array of another
        library (a PyTorch tensor, an array-API array) gives a result of its
        own type and device (docs/contract.md, "Arrays of other libraries").
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
    ndarray or scalar (or the type of `x`)
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
    y = common_call(x, axis, out, dtype, where, scale, approx, strategy, False)
    if y is None:
        y = _forward("softmax", x, axis, out, dtype, where, scale, approx, strategy)
    return y


# NumPy arrays and array-likes give NumPy arrays; an array of another library
# (DLPack, the array API) gives its own type.
@overload
def log_softmax(x: npt.NDArray[Any], axis: Axis = ..., *, out: Any = ..., dtype: Any = ...,
                where: Any = ..., scale: RealScalar | None = ..., approx: bool = ...,
                strategy: str | None = ...) -> FloatArray: ...
@overload
def log_softmax(x: ArrayT, axis: Axis = ..., *, out: Any = ..., dtype: Any = ...,
                where: Any = ..., scale: RealScalar | None = ..., approx: bool = ...,
                strategy: str | None = ...) -> ArrayT: ...
@overload
def log_softmax(x: npt.ArrayLike, axis: Axis = ..., *, out: Any = ..., dtype: Any = ...,
                where: Any = ..., scale: RealScalar | None = ..., approx: bool = ...,
                strategy: str | None = ...) -> FloatArray: ...


def log_softmax(x: Any, axis: Axis = -1, *, out: Any = None, dtype: Any = None,
                where: Any = None, scale: RealScalar | None = None, approx: bool = False,
                strategy: str | None = None) -> Any:
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
    y = common_call(x, axis, out, dtype, where, scale, approx, strategy, True)
    if y is None:
        y = _forward("log_softmax", x, axis, out, dtype, where, scale, approx, strategy)
    return y


@overload
def softmax_grad(y: npt.NDArray[Any], dy: npt.ArrayLike, axis: Axis = ..., *,
                 out: Any = ...) -> FloatArray: ...
@overload
def softmax_grad(y: ArrayT, dy: Any, axis: Axis = ..., *,
                 out: Any = ...) -> ArrayT: ...
@overload
def softmax_grad(y: npt.ArrayLike, dy: npt.ArrayLike, axis: Axis = ..., *,
                 out: Any = ...) -> FloatArray: ...


def softmax_grad(y: Any, dy: Any, axis: Axis = -1, *, out: Any = None) -> Any:
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
    return _backward("softmax_grad", y, dy, axis, out)


@overload
def log_softmax_grad(y: npt.NDArray[Any], dy: npt.ArrayLike, axis: Axis = ..., *,
                     out: Any = ...) -> FloatArray: ...
@overload
def log_softmax_grad(y: ArrayT, dy: Any, axis: Axis = ..., *,
                     out: Any = ...) -> ArrayT: ...
@overload
def log_softmax_grad(y: npt.ArrayLike, dy: npt.ArrayLike, axis: Axis = ..., *,
                     out: Any = ...) -> FloatArray: ...


def log_softmax_grad(y: Any, dy: Any, axis: Axis = -1, *, out: Any = None) -> Any:
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
    return _backward("log_softmax_grad", y, dy, axis, out)


@accepts_arrays(namespace_forward, ("x",), ("where",))
def _forward(op, x, axis, out, dtype, where, scale, approx, strategy):
    """softmax or log_softmax (`op`); lazily for a Dask array (_dask)."""
    if _dask.is_dask_array(x):
        return _dask.forward(log_softmax if op == "log_softmax" else softmax, x, axis,
                             log=op == "log_softmax", out=out, dtype=dtype, where=where,
                             scale=scale, approx=approx, strategy=strategy)
    return _run(plan_forward(op, x, axis, dtype, where, scale, approx), out, strategy)


@accepts_arrays(namespace_grad, ("y", "dy"), dtype=None)
def _backward(op, y, dy, axis, out):
    """softmax_grad or log_softmax_grad (`op`)."""
    return _run(plan_grad(op, y, dy, axis), out, None)


def _run(plan, out, strategy):
    """A checked call: select its strategy, execute it into `out` (or a new
    array; a NumPy scalar for a 0-d result)."""
    check_out(out, plan.shape, plan.result_dtype)
    requested = requested_strategy(strategy)
    if plan.problem is None:
        return out if out is not None else np.empty(plan.shape, plan.result_dtype)
    choice = select(plan.problem, requested, effective_threads())
    result = execute(plan, choice, out)
    return result if out is not None or result.ndim else result[()]
