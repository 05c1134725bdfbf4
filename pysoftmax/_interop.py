"""Arrays that are not NumPy's: array-API and DLPack inputs, returned in kind.

An argument that is not a NumPy array but has ``__array_namespace__`` (the
array API: array_api_strict, JAX, CuPy) or ``__dlpack__`` (PyTorch tensors)
makes a call "foreign".  `accepts_arrays` wraps a public function's
NumPy-only implementation so that such a call is computed

- on the CPU, by our kernels: every array argument is viewed as a NumPy array
  through DLPack (`numpy.from_dlpack`: no copy, any strides), the NumPy
  implementation runs, and its result goes back through DLPack into the
  caller's namespace (``xp.from_dlpack``: no copy for PyTorch and
  array_api_strict).  An `out` of the caller's type is viewed the same way
  and written in place (one NumPy cannot write, e.g. a read-only JAX array,
  is refused);
- elsewhere, by the caller's own namespace, on the caller's device: an array
  on another device (a CUDA tensor, CuPy, array_api_strict's "device1"), or a
  CPU array DLPack cannot hand to NumPy (a tensor that requires grad, so
  autograd records the computation; a bfloat16 tensor; a JAX tracer under
  jax.jit or jax.grad) is computed by the
  namespace's own ``max``, ``exp``, ``sum``, ``log`` and ``where`` (as SciPy
  does), with the same dtype rules; never moved.  A namespace without them
  is refused with an error naming the device.

"On the CPU" means: DLPack reports the CPU (``__dlpack_device__``) and the
array is on the device its namespace gives an array imported from NumPy
(so array_api_strict's simulated devices count as other devices).

NumPy arrays never reach this module: the wrapper's first test sees that no
argument is foreign and calls the implementation directly, and the common
call's fast path (_fast) runs before the wrapper anyway.  Nothing here
imports PyTorch, JAX or array_api_strict: a foreign array's namespace comes
from the array itself (PyTorch's is the module of its type).

Imports: _plan.
"""
import functools
import inspect
import math
import sys

import numpy as np

from ._plan import _normalize_axes, _promote, _result_dtype, work_dtype

_KDL_CPU = 1            # DLPack's device type of host memory
_EXPORT_ERRORS = (BufferError, RuntimeError, TypeError, ValueError)


_foreign_types = {}          # type -> is_foreign's answer for its instances


def is_foreign(v):
    """True if `v` is an array of another library than NumPy: it has
    ``__array_namespace__`` or ``__dlpack__`` and is no NumPy array or scalar."""
    t = type(v)
    known = _foreign_types.get(t)
    if known is None:
        known = ((hasattr(t, "__array_namespace__") or hasattr(t, "__dlpack__"))
                 and not issubclass(t, (np.ndarray, np.generic)))
        if len(_foreign_types) < 256:
            _foreign_types[t] = known
    return known


def _any_foreign(args, kwargs):
    for v in args:
        if v is not None and type(v) is not np.ndarray and is_foreign(v):
            return True
    for v in kwargs.values():
        if v is not None and type(v) is not np.ndarray and is_foreign(v):
            return True
    return False


def accepts_arrays(namespace_impl, operands, masks=(), out="out", dtype="dtype"):
    """Decorator: make the NumPy implementation `fn` of a public function take
    the arrays of other libraries, returning the caller's array type.

    namespace_impl(ops, **arguments)
        the same computation written with an array namespace (`Ops`), for
        arrays our kernels cannot read (another device); its arguments are
        `fn`'s, bound by name, but `out`.  None: such arrays are refused.
    operands
        names of the array parameters whose type is the caller's (the first
        one, never None, sets it; the others must be of the same namespace,
        None, or plain Python data).
    masks
        names of the mask parameters: any array-like, or an array of the
        caller's namespace.
    out, dtype
        the names of the output and result-dtype parameters (None: none).

    NumPy calls cost one scan of the arguments' types.  Applying it to one
    more public function is one line above its NumPy implementation (after
    its fast path, if it has one), e.g. for logsumexp:
    ``@accepts_arrays(namespace_logsumexp, ("a", "b"), ("where",))``.
    """
    def decorate(fn):
        bind = _binder(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not _any_foreign(args, kwargs):
                return fn(*args, **kwargs)
            return _call(fn, namespace_impl, bind(args, kwargs), operands, masks, out, dtype)

        return wrapper
    return decorate


def _binder(fn):
    """bind(args, kwargs) -> {parameter name: value} for a call of `fn`, its
    defaults filled in (inspect's Signature.bind costs ~10 us; this ~1 us,
    and leaves the errors of a bad call to Signature.bind)."""
    signature = inspect.signature(fn)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    if any(p.kind not in kinds for p in signature.parameters.values()):
        raise TypeError(f"accepts_arrays: {fn.__name__} must have named parameters only")
    names = list(signature.parameters)
    known = set(names)
    positional = [p.name for p in signature.parameters.values()
                  if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD]
    defaults = {p.name: p.default for p in signature.parameters.values()
                if p.default is not inspect.Parameter.empty}

    def bind(args, kwargs):
        arguments = dict(zip(positional, args))
        if (len(args) <= len(positional) and arguments.keys().isdisjoint(kwargs)
                and known.issuperset(kwargs)):
            arguments.update(kwargs)
            missing = [n for n in names if n not in arguments]
            if all(n in defaults for n in missing):
                for n in missing:
                    arguments[n] = defaults[n]
                return arguments
        bound = signature.bind(*args, **kwargs)       # raises the TypeError of a bad call
        bound.apply_defaults()
        return dict(bound.arguments)

    return bind


def _call(fn, namespace_impl, arguments, operands, masks, out_name, dtype_name):
    """A call with a foreign array among `arguments` (a dict, changed here)."""
    primary = arguments[operands[0]]
    arrays = [arguments[name] for name in operands[1:]]
    out = arguments.get(out_name) if out_name else None
    if not is_foreign(primary):
        other = next((v for v in arrays + [out] if is_foreign(v)), None)
        if other is None:           # only a mask is foreign: the NumPy call, as ever
            return fn(**arguments)
        raise TypeError(f"{operands[0]} is a {_type_name(primary)} but another argument "
                        f"is a {_type_name(other)}: pass arrays of one library")
    ns = Namespace.of(primary)
    for name, v in zip(operands[1:], arrays):
        if v is not None and (isinstance(v, np.ndarray) or is_foreign(v)) \
                and not ns.owns(v):
            raise TypeError(f"{name} is a {_type_name(v)} but {operands[0]} is a "
                            f"{_type_name(primary)}: pass arrays of one library")
    if out is not None and not ns.owns(out):
        raise TypeError(f"out must be a {_type_name(primary)} like {operands[0]}, "
                        f"got {_type_name(out)}")
    if dtype_name and arguments.get(dtype_name) is not None:
        arguments[dtype_name] = numpy_dtype(arguments[dtype_name])

    device = ns.device(primary)
    on_cpu = ns.on_cpu(primary) and all(
        ns.on_cpu(v) for v in arrays + [out] if v is not None and is_foreign(v))
    if on_cpu:
        converted = _to_numpy(arguments, operands + tuple(masks))
        if converted is not None:
            _promote_as(ns, arguments, converted, operands)
            return _cpu_call(fn, ns, converted, out_name)
    for v in arrays + [out]:
        if v is not None and is_foreign(v) and ns.device(v) != device:
            raise ValueError(f"{operands[0]} is on device {device} but another array is on "
                             f"{ns.device(v)}: pysoftmax never moves arrays between devices")
    if namespace_impl is None:
        raise TypeError(f"{fn.__name__.lstrip('_')} of arrays on device {device} is not "
                        f"supported: pysoftmax computes on the CPU, and never moves arrays")
    return _namespace_call(namespace_impl, ns, device, arguments, operands + tuple(masks),
                           out_name)


def _promote_as(ns, arguments, converted, operands):
    """Two operands of different dtypes (y and dy, a and b) promote as in the
    caller's library (PyTorch: float32 with int64 is float32; NumPy would say
    float64): the NumPy views of the integer ones are cast to that dtype."""
    present = [name for name in operands if is_foreign(arguments.get(name))]
    if len(present) != 2:
        return
    a, b = (arguments[name] for name in present)
    target = common_dtype(ns, a, b)
    for name in present:
        if converted[name].dtype.kind in "biu" and target.kind == "f":
            converted[name] = converted[name].astype(target)


def common_dtype(ns, a, b):
    """The dtype of an operation on `a` and `b` by their library's promotion
    (as a NumPy dtype) where that is a floating dtype; else NumPy's rules
    (and ours: integers give float64), e.g. where array_api_strict refuses to
    promote float32 with int64."""
    da, db = numpy_dtype(a.dtype), numpy_dtype(b.dtype)
    if da == db:
        return da
    try:
        target = numpy_dtype(ns.xp.result_type(a, b))
    except Exception:               # no promotion between these kinds in the library
        target = None
    return target if target is not None and target.kind == "f" else _promote(da, db)


def _to_numpy(arguments, names):
    """`arguments` with the foreign arrays among `names` viewed as NumPy
    arrays (no copy), or None if DLPack cannot export one of them."""
    converted = dict(arguments)
    for name in names:
        v = arguments.get(name)
        if v is not None and is_foreign(v):
            try:
                converted[name] = np.from_dlpack(v)
            except _EXPORT_ERRORS:
                return None
    return converted


def _cpu_call(fn, ns, arguments, out_name):
    """Our kernels on NumPy views of the caller's arrays; the result in kind."""
    out = arguments.get(out_name) if out_name else None
    if out is not None:
        try:
            view = np.from_dlpack(out, copy=False)
        except _EXPORT_ERRORS as e:
            raise TypeError(f"out (a {_type_name(out)}) cannot be written in place "
                            f"through DLPack ({e}); omit out= and use the result") from None
        if not view.flags.writeable:
            raise TypeError(f"out (a {_type_name(out)}) is read-only through DLPack; "
                            "omit out= and use the result")
        arguments[out_name] = view
        fn(**arguments)
        return out
    result = fn(**arguments)
    if isinstance(result, tuple):
        return tuple(ns.from_numpy(r) for r in result)
    return ns.from_numpy(result)


def _namespace_call(namespace_impl, ns, device, arguments, arrays, out_name):
    """The computation by the caller's namespace, on its device (`arrays`:
    the names of the array arguments, made the namespace's arrays)."""
    ops = Ops(ns, device)
    out = arguments.pop(out_name, None) if out_name else None
    for name in arrays:
        v = arguments.get(name)
        if v is not None and not ns.owns(v):
            arguments[name] = ops.asarray(v)
    result = namespace_impl(ops, **arguments)
    if out is None:
        return result
    if tuple(out.shape) != tuple(result.shape) or out.dtype != result.dtype:
        raise ValueError(f"out has shape {tuple(out.shape)} and dtype {out.dtype}, "
                         f"expected {tuple(result.shape)} and {result.dtype}")
    try:
        out[...] = result
    except Exception as e:      # immutable arrays (JAX), tensors autograd guards
        raise TypeError(f"out (a {_type_name(out)} on {device}) cannot be written in "
                        f"place ({e}); omit out= and use the result") from None
    return out


def _type_name(v):
    t = type(v)
    return f"{t.__module__.partition('.')[0]}.{t.__qualname__}"


class Namespace:
    """A foreign array's library: its array-API namespace (PyTorch: the
    module `torch`), how it imports from NumPy, where its CPU is."""

    _cpu_devices: dict = {}     # namespace -> the device of an array imported from NumPy

    def __init__(self, xp):
        self.xp = xp
        self.name = getattr(xp, "__name__", type(xp).__name__)
        self.is_torch = self.name == "torch"

    @classmethod
    def of(cls, x):
        t = type(x)
        if hasattr(t, "__array_namespace__"):
            return cls(x.__array_namespace__())
        module = sys.modules.get(t.__module__.partition(".")[0])
        if module is None or not hasattr(module, "from_dlpack"):
            raise TypeError(f"{_type_name(x)} has __dlpack__ but no array namespace "
                            "(__array_namespace__) to return the result in: pass "
                            "numpy.from_dlpack(x)")
        return cls(module)

    def owns(self, v):
        """True if `v` is an array of this namespace (of any subtype: a
        torch.nn.Parameter with torch.Tensor)."""
        if not is_foreign(v):
            return False
        t = type(v)
        if hasattr(t, "__array_namespace__"):
            return v.__array_namespace__() is self.xp
        return sys.modules.get(t.__module__.partition(".")[0]) is self.xp

    def device(self, x):
        d = getattr(x, "device", None)
        return d() if callable(d) else d

    def on_cpu(self, x):
        """True if our kernels may read `x` where it is (see the module's doc)."""
        try:
            kind = x.__dlpack_device__()[0]
        except (AttributeError, *_EXPORT_ERRORS):      # e.g. a JAX tracer (jax.jit)
            return False
        if kind != _KDL_CPU:
            return False
        cpu = self._cpu_devices.get(self.xp)
        if cpu is None:
            cpu = self.device(self.xp.from_dlpack(np.empty(1)))
            self._cpu_devices[self.xp] = cpu
        return self.device(x) == cpu

    def from_numpy(self, r):
        """Our NumPy result as the caller's array (a 0-d array for a scalar)."""
        if not isinstance(r, np.ndarray):
            r = np.asarray(r)
        return self.xp.from_dlpack(r)


def numpy_dtype(dt):
    """A dtype of any namespace (numpy.float32, 'float32', torch.float32,
    array_api_strict.float32) as a NumPy dtype."""
    if isinstance(dt, (np.dtype, str)) or (isinstance(dt, type) and issubclass(dt, np.generic)):
        return np.dtype(dt)
    name = str(dt).rpartition(".")[2]
    if name == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    try:
        return np.dtype(name)
    except TypeError:
        raise TypeError(f"dtype must be a floating-point dtype, got {dt!r}") from None


# What the namespace path calls (PyTorch: under its own names where they differ).
_NAMESPACE_FUNCTIONS = ("max", "sum", "any", "exp", "log", "where", "astype", "asarray",
                        "broadcast_to", "broadcast_arrays", "squeeze", "isfinite", "sign",
                        "abs", "log1p", "zeros")


class Ops:
    """The few functions of an array namespace that the namespace path
    needs, on one device: the array API's, or PyTorch's under its own names."""

    def __init__(self, ns, device):
        self.ns, self.xp, self.device = ns, ns.xp, device
        if not ns.is_torch:
            missing = [f for f in _NAMESPACE_FUNCTIONS if not hasattr(self.xp, f)]
            if missing:
                raise TypeError(f"arrays on device {device} are computed with their own "
                                f"namespace ({ns.name}), which lacks {', '.join(missing)}")

    def dtype(self, np_dtype):
        """The namespace's dtype of this NumPy dtype's name."""
        return getattr(self.xp, np.dtype(np_dtype).name)

    def asarray(self, v, dtype=None):
        return self.xp.asarray(v, dtype=dtype, device=self.device)

    def astype(self, a, dtype):
        return a.to(dtype) if self.ns.is_torch else self.xp.astype(a, dtype)

    def _reduce(self, name, torch_name, a, axes):
        if not axes:                 # no axis: every element is its own slice
            return a
        if self.ns.is_torch:
            return getattr(self.xp, torch_name)(a, dim=axes, keepdim=True)
        return getattr(self.xp, name)(a, axis=axes, keepdims=True)

    def max(self, a, axes):
        return self._reduce("max", "amax", a, axes)

    def sum(self, a, axes):
        return self._reduce("sum", "sum", a, axes)

    def any(self, a, axes):
        return self._reduce("any", "any", a, axes)

    def exp(self, a):
        return self.xp.exp(a)

    def log(self, a):
        return self.xp.log(a)

    def elementwise(self, name, a):
        """isfinite, sign, abs, log1p: the same name in PyTorch and the array API."""
        return getattr(self.xp, name)(a)

    def squeeze(self, a, axes):
        if not axes:
            return a
        if self.ns.is_torch:
            return self.xp.squeeze(a, dim=axes)
        return self.xp.squeeze(a, axis=axes)

    def broadcast_arrays(self, a, b):
        if self.ns.is_torch:
            return self.xp.broadcast_tensors(a, b)
        return self.xp.broadcast_arrays(a, b)

    def zeros(self, shape, dtype):
        return self.xp.zeros(shape, dtype=dtype, device=self.device)

    def where(self, c, a, b):
        """where(c, a, b); Python numbers as 0-d arrays of the other's dtype."""
        if not hasattr(b, "shape"):
            b = self.asarray(b, dtype=a.dtype)
        if not hasattr(a, "shape"):
            a = self.asarray(a, dtype=b.dtype)
        return self.xp.where(c, a, b)

    def broadcast_to(self, a, shape):
        return self.xp.broadcast_to(a, shape)


def _compute_in(ops, a, result_dtype):
    """`a` in the compute dtype of `result_dtype` (float32 for half types)."""
    want = work_dtype(result_dtype)
    if numpy_dtype(a.dtype) != want:
        a = ops.astype(a, ops.dtype(want))
    return a


def _as_result(ops, a, result_dtype):
    if numpy_dtype(a.dtype) != result_dtype:
        a = ops.astype(a, _namespace_dtype(ops, result_dtype))
    return a


def _namespace_dtype(ops, dt):
    return getattr(ops.xp, dt.name)


def namespace_forward(ops, op, x, axis, dtype, where, scale, approx, strategy):
    """softmax or log_softmax (`op`) with the namespace's functions: the
    max-shifted formulas, masks and scale as our kernels (approx is exact)."""
    if strategy is not None and strategy != "auto":
        raise ValueError(f"strategy={strategy!r} chooses among pysoftmax's CPU kernels, "
                         f"but x is on device {ops.device} and is computed by {ops.ns.name}")
    result_dtype = _result_dtype(numpy_dtype(x.dtype), dtype)
    axes = _normalize_axes(axis, x.ndim)
    if math.prod(x.shape) == 0:
        return ops.astype(x, _namespace_dtype(ops, result_dtype))
    x = _compute_in(ops, x, result_dtype)
    if scale is not None:
        x = x * float(scale)
    log = op == "log_softmax"
    if where is None:
        m = ops.max(x, axes)
        d = x - m
        s = ops.sum(ops.exp(d), axes)
        y = d - ops.log(s) if log else ops.exp(d) / s
    else:
        mask = ops.broadcast_to(where, tuple(x.shape))
        m = ops.max(ops.where(mask, x, -math.inf), axes)
        m = ops.where(ops.any(mask, axes), m, 0.0)       # a slice with nothing selected
        d = x - m
        e = ops.where(mask, ops.exp(d), 0.0)
        s = ops.sum(e, axes)
        s = ops.where(s == 0.0, 1.0, s)                   # idem (no 0/0, no log(0))
        y = ops.where(mask, d - ops.log(s), -math.inf) if log else ops.where(mask, e / s, 0.0)
    return _as_result(ops, y, result_dtype)


def namespace_grad(ops, op, y, dy, axis):
    """softmax_grad or log_softmax_grad (`op`) with the namespace's functions."""
    if tuple(y.shape) != tuple(dy.shape):
        raise ValueError(f"y and dy must have the same shape, got {tuple(y.shape)} and "
                         f"{tuple(dy.shape)}")
    result_dtype = _result_dtype(common_dtype(ops.ns, y, dy), None)
    axes = _normalize_axes(axis, y.ndim)
    y, dy = _compute_in(ops, y, result_dtype), _compute_in(ops, dy, result_dtype)
    if op == "softmax_grad":
        g = y * (dy - ops.sum(dy * y, axes))
    else:
        g = dy - ops.exp(y) * ops.sum(dy, axes)
    return _as_result(ops, g, result_dtype)


def namespace_logsumexp(ops, a, axis=None, b=None, keepdims=False, return_sign=False,
                        where=None, scale=None):
    """logsumexp with the namespace's functions, as scipy.special.logsumexp
    for real input: ``log(sum(b * exp(a)))`` over `axis`, shifted by the
    largest element with a nonzero weight; a negative sum is NaN, or its
    log-magnitude and sign -1 with `return_sign`; an empty or fully masked
    slice gives -inf."""
    dt = numpy_dtype(a.dtype)
    if b is not None:
        dt = common_dtype(ops.ns, a, b)
    if dt.kind == "c":
        raise TypeError(f"logsumexp is defined for real input only, got {dt}")
    result_dtype = _result_dtype(dt, None)
    a = _compute_in(ops, a, result_dtype)
    if scale is not None:
        a = a * float(scale)
    if b is not None:
        a, b = ops.broadcast_arrays(a, _compute_in(ops, b, result_dtype))
    axes = _normalize_axes(axis, a.ndim)
    selected = None if b is None else b != 0.0
    if where is not None:
        mask = ops.broadcast_to(where, tuple(a.shape))
        selected = mask if selected is None else selected & mask
    if math.prod(a.shape[i] for i in axes) == 0:
        m = ops.zeros(tuple(1 if i in axes else n for i, n in enumerate(a.shape)), a.dtype)
    else:
        m = ops.max(a if selected is None else ops.where(selected, a, -math.inf), axes)
        m = ops.where(ops.elementwise("isfinite", m), m, 0.0)     # +-inf, or nothing selected
    e = ops.exp(a - m)
    if b is not None:
        e = e * b
    if selected is not None:
        e = ops.where(selected, e, 0.0)
    s = ops.sum(e, axes)
    sign = None
    if return_sign:
        sign = ops.elementwise("sign", s)
        s = ops.elementwise("abs", s)
    r = ops.log(s) + m                    # log of a negative sum: NaN
    if b is None:
        # accurate at the max, as SciPy: m + log(k) + log1p(others / k) for the
        # k elements equal to the max (where there is one: not for +-inf, NaN)
        at_max = a == m if selected is None else (a == m) & selected
        k = ops.sum(ops.where(at_max, 1.0, ops.zeros((), a.dtype)), axes)
        others = ops.sum(ops.where(at_max, 0.0, e), axes)
        k_safe = ops.where(k > 0.0, k, 1.0)
        near = m + ops.log(k_safe) + ops.elementwise("log1p", others / k_safe)
        r = ops.where(k > 0.0, near, r)
    if not keepdims:
        r = ops.squeeze(r, axes)
        sign = None if sign is None else ops.squeeze(sign, axes)
    r = _as_result(ops, r, result_dtype)
    return r if sign is None else (r, _as_result(ops, sign, result_dtype))
