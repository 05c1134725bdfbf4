"""logsumexp with weights `b`, written once in array-API operations.

`logsumexp_weighted(xp, a, b, ...)` computes log(sum(b * exp(a))) with the
functions of the array namespace `xp` only (numpy here; dask.array, torch or
array_api_strict for the layers that take those arrays), with the results of
`scipy.special.logsumexp` on real input, whose algorithm it follows:
elements with weight 0 take no part (even an infinite or NaN a); the
largest a is shifted out and its weights summed apart from the others, so
the result is accurate at the max (log(w) + log1p(others / w)); a negative
sum gives NaN, or its log magnitude with sign -1 when `return_sign`; a zero
sum gives -inf with sign 0; where that formula is not finite (infinite or
NaN a or b, all -inf), the direct log(sum(b * exp(a))) decides, as the C
standard's exp and log do.  Empty input gives -inf (sign -1, as SciPy).

Imports: _plan (its check of `axis`; numpy, nothing heavy).
"""
import math

import numpy as np

from ._plan import _normalize_axes

__all__ = ["logsumexp_weighted"]


def _is_dtype(xp, dtype, kind):
    """xp.isdtype(dtype, kind), for namespaces that have it, else NumPy's view."""
    isdtype = getattr(xp, "isdtype", None)
    if isdtype is not None:
        try:
            return isdtype(dtype, kind)
        except (TypeError, ValueError):
            pass
    np_kind = {"complex floating": "c", "real floating": "f"}[kind]
    return np.dtype(dtype).kind == np_kind


def _promote(xp, a, b):
    """a and b broadcast to one shape (at least 1-d), in their common
    floating dtype (float64 for integers and bool); TypeError for complex."""
    dtype = xp.result_type(a, b)
    if _is_dtype(xp, dtype, "complex floating"):
        raise TypeError(f"logsumexp of complex input (dtype {dtype}) is not supported")
    if not _is_dtype(xp, dtype, "real floating"):
        dtype = xp.float64
    a, b = xp.astype(a, dtype), xp.astype(b, dtype)
    a, b = xp.broadcast_arrays(a, b)
    if a.ndim == 0:
        a, b = xp.reshape(a, (1,)), xp.reshape(b, (1,))
    return a, b


def _shifted(xp, a, b, axes, return_sign):
    """(log magnitude, sign) with the max shifted out: accurate, but not
    finite where a or b is not (the direct formula decides there)."""
    a = xp.where(b == 0, -xp.inf, a)     # weight 0: no part, whatever a is
    top = xp.max(a, axis=axes, keepdims=True)
    at_top = a == top
    zero = xp.zeros_like(a)
    w_top = xp.sum(xp.where(at_top, b, zero), axis=axes, keepdims=True)
    rest = xp.sum(xp.where(at_top, zero, b * xp.exp(a - top)), axis=axes, keepdims=True)
    s = xp.where(rest == 0, rest, rest / w_top)    # the others relative to the max's weight
    sign = xp.sign(s + 1) * xp.sign(w_top)         # of w_top * (1 + s)
    s = xp.where(s < -1, -s - 2, s)                # |1 + s| - 1
    out = xp.log1p(s) + xp.log(xp.abs(w_top)) + top
    if not return_sign:
        out = xp.where(sign < 0, xp.asarray(xp.nan, dtype=out.dtype), out)
    return out, sign


def logsumexp_weighted(xp, a, b, axis=None, keepdims=False, return_sign=False):
    """log(sum(b * exp(a))) over `axis` (None: all; an int or a tuple), with
    the results of `scipy.special.logsumexp(a, axis, b, keepdims,
    return_sign)` on real input; a and b arrays of namespace `xp`,
    broadcastable.  Returns the result, or (result, sign) if `return_sign`;
    a 0-d result is indexed with () (a NumPy scalar for numpy).

    >>> import numpy as np
    >>> float(logsumexp_weighted(np, np.array([1.0, 2.0]), np.array([1.0, 1.0])))
    2.313261687518223
    >>> logsumexp_weighted(np, np.array([1.0, 2.0]), np.array([1.0, -1.0]), return_sign=True)
    (np.float64(1.5413248546129181), np.float64(-1.0))
    >>> float(logsumexp_weighted(np, np.array([1.0, 2.0]), np.array([1.0, -1.0])))
    nan
    """
    a, b = _promote(xp, a, b)
    axes = _normalize_axes(axis, a.ndim)
    size = math.prod(a.shape)
    with np.errstate(all="ignore"):
        if size == 0:
            shape = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
            out = xp.full(shape, -xp.inf, dtype=a.dtype)
            sign = xp.sign(out)
        else:
            out, sign = _shifted(xp, a, b, axes, return_sign)
            total = xp.sum(b * xp.exp(a), axis=axes, keepdims=True)
            direct = xp.log(xp.abs(total) if return_sign else total)
            finite = xp.isfinite(out)
            out = xp.where(finite, out, direct)
            sign = xp.where(finite, sign, xp.sign(total))
    if not keepdims:
        out, sign = xp.squeeze(out, axis=axes), xp.squeeze(sign, axis=axes)
    if out.ndim == 0:
        out, sign = out[()], sign[()]
    return (out, sign) if return_sign else out
