"""`logsumexp`: the log of the sum of the exponentials of each slice.

A drop-in for `scipy.special.logsumexp` on real input.  Without weights it
is the statistics of each slice (_slices: through dispatch, op 'logsumexp',
our kernels reading the input once, no output written) and their log
(`log_sum`).  With weights `b` it is the array-API formula of _weighted,
on NumPy.  A Dask array (`a` or `b`) gives a lazy Dask array (_dask).

Arrays of other libraries (PyTorch, the array API) go through _interop, as
for softmax: viewed by our kernels on the CPU, else their own namespace.

Imports: _plan, _slices, _weighted, _interop, _dask (which imports Dask only
when given a Dask array).
"""
import numpy as np

from . import _dask
from ._interop import accepts_arrays, namespace_logsumexp
from ._plan import _as_array, _as_mask, _normalize_axes, _result_dtype, check_out, work_dtype
from ._slices import log_sums, stats_of
from ._weighted import logsumexp_weighted

__all__ = ["logsumexp"]


@accepts_arrays(namespace_logsumexp, ("a", "b"), ("where",), dtype=None)
def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, *, where=None,
              scale=None, out=None):
    r"""The log of the sum of the exponentials of the elements of `a`.

    .. math:: \log \sum_i b_i e^{s a_i}

    over the elements along `axis` (`s` is `scale`, 1 by default; `b` the
    weights, 1 by default), computed from the largest term so that nothing
    overflows, and accurate at it: ``logsumexp([0, -40])`` is 4.2e-18, not
    0.  A drop-in for `scipy.special.logsumexp` on real input: the same
    arguments, defaults, results and result dtypes.

    Parameters
    ----------
    a : array_like
        Input, real. float32 and float64 are computed natively, float16
        and bfloat16 in float32 with the result in their dtype, bool and
        integers in float64.  Complex input raises TypeError.
    axis : int, tuple of ints or None, optional
        Axis or axes to sum over; None (the default, as SciPy): all elements.
    b : array_like, optional
        Weights of the terms, broadcastable with `a`; may be negative (then
        see `return_sign`) or zero (an element of weight 0 takes no part,
        even if it is infinite or NaN).
    keepdims : bool, optional
        Keep the reduced axes, with size 1.
    return_sign : bool, optional
        Also return the sign of the sum (+1, -1, or 0 for a zero sum); the
        result is then the log of its magnitude.  Without it, a negative
        sum gives NaN.
    where : array_like of bool, optional
        Mask broadcastable to `a`: only the elements where it is True take
        part (a slice with none selected sums to 0: -inf).
    scale : real scalar, optional
        Multiply `a` by this first, in the same pass and from the exact
        products (with `b`: the rounded products).
    out : ndarray, optional
        Where to write the result; the shape and dtype of the result.

    Returns
    -------
    ndarray or scalar
        The reduced result (a NumPy scalar for a 0-d result, as SciPy), or
        ``(result, sign)`` if `return_sign`.

    Notes
    -----
    Non-finite values as SciPy: a NaN gives NaN, a ``+inf`` gives ``+inf``,
    a slice of only ``-inf`` gives ``-inf``; empty input gives ``-inf``.
    Without `b`, one read of the input by the kernels of the `vectorized`
    strategy (`reference` computes it with NumPy; `mkl` and `onednn`
    decline it).  Accuracy, against a long-double reference: at most
    1e-5 + 1e-6 |y| in float32 and 1e-13 (1 + |y|) in float64 (the
    bounds of `log_softmax`).

    Examples
    --------
    >>> import numpy as np
    >>> from pysoftmax import logsumexp
    >>> logsumexp(np.arange(10))
    np.float64(9.45862974442671)
    >>> logsumexp(np.array([0.0, -40.0]))
    np.float64(4.248354255291589e-18)
    >>> logsumexp([[1.0, 2.0], [3.0, 4.0]], axis=1, keepdims=True)
    array([[2.31326169],
           [4.31326169]])
    >>> logsumexp([1, 2], b=[1, -1], return_sign=True)
    (np.float64(1.5413248546129181), np.float64(-1.0))
    >>> logsumexp(np.array([1.0, 2.0, 3.0]), where=np.array([True, True, False]), scale=2.0)
    np.float64(4.126928011042972)
    """
    if _dask.is_dask_array(a) or _dask.is_dask_array(b):
        return _dask.logsumexp(logsumexp, a, axis, b, keepdims, return_sign, where=where,
                               scale=scale, out=out)
    x = _as_array(a)
    if x.dtype.kind == "c":
        raise TypeError(f"logsumexp of complex input (dtype {x.dtype}) is not supported")
    x = np.atleast_1d(x)                 # as SciPy: a 0-d input is a 1-d one
    if b is not None:
        return _weighted(x, axis, b, keepdims, return_sign, where, scale, out)
    result_dtype = _result_dtype(x.dtype, None)
    axes = _normalize_axes(axis, x.ndim)
    stats, kept = stats_of(x, axis, where, scale)
    with np.errstate(over="ignore"):
        result = log_sums(stats).reshape(kept).astype(result_dtype)
    sign = None
    if return_sign:
        sign = np.sign(result) if x.size == 0 else _sign_of_sum(result)
    return _finish(result, sign, axes, keepdims, out)


def _sign_of_sum(result):
    """The sign of a sum of exponentials from its log: 0 for -inf (a zero
    sum), NaN for NaN, else 1."""
    sign = np.ones_like(result)
    sign[result == -np.inf] = 0
    sign[np.isnan(result)] = np.nan
    return sign


def _finish(result, sign, axes, keepdims, out):
    """The reduced axes dropped unless keepdims, into out, 0-d as a scalar;
    with the sign if there is one."""
    if not keepdims:
        result = np.squeeze(result, axis=axes)
        sign = None if sign is None else np.squeeze(sign, axis=axes)
    if out is not None:
        check_out(out, result.shape, result.dtype)
        out[...] = result
        result = out
    elif result.ndim == 0:
        result = result[()]
    if sign is not None and sign.ndim == 0:
        sign = sign[()]
    return result if sign is None else (result, sign)


def _weighted(x, axis, b, keepdims, return_sign, where, scale, out):
    """logsumexp with weights (_weighted, on NumPy): where= as zero weights,
    scale= multiplied in; float16 and bfloat16 computed in float32."""
    w = np.asarray(b)
    if w.dtype.kind == "c":
        raise TypeError(f"logsumexp of complex weights (dtype {w.dtype}) is not supported")
    try:
        common = np.result_type(x.dtype, w.dtype)
    except TypeError:                    # bfloat16 with another dtype: a's
        common = x.dtype
    result_dtype = _result_dtype(common, None)
    compute = work_dtype(result_dtype)
    x = x.astype(compute, copy=False)
    w = w.astype(compute, copy=False)
    if where is not None:
        shape = np.broadcast_shapes(x.shape, w.shape)
        w = np.where(_as_mask(where, shape), w, compute.type(0))
    if scale is not None:
        x = x * compute.type(scale)
    result = logsumexp_weighted(np, x, w, axis, True, return_sign)
    result, sign = result if return_sign else (result, None)
    axes = _normalize_axes(axis, result.ndim)
    with np.errstate(over="ignore"):
        result = np.asarray(result).astype(result_dtype)
        sign = None if sign is None else np.asarray(sign).astype(result_dtype)
    return _finish(result, sign, axes, keepdims, out)
