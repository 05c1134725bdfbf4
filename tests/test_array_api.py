"""Arrays of other libraries in, the same kind out (pysoftmax/_interop.py).

array_api_strict arrays (the test extra installs it) on the CPU are computed
by our kernels on DLPack views (the bits of the NumPy path) and come back as
the caller's type, device and dtype.  Arrays on another device
(array_api_strict's "device1") are computed by their own namespace there,
never moved; a namespace that cannot is refused with an error naming the
device.  PyTorch tensors: test_array_api_torch.py.
"""
import subprocess
import sys
import tempfile
import types

import numpy as np
import pytest
from conftest import assert_same_bits

from pysoftmax import _interop, log_softmax, log_softmax_grad, softmax, softmax_grad

xs = pytest.importorskip("array_api_strict")

FORWARD = [softmax, log_softmax]
GRADS = [softmax_grad, log_softmax_grad]
DEVICE1 = xs.Device("device1")


def _np(a):
    """An array_api_strict array, on any device, as a NumPy array (moved by the
    test, never by pysoftmax)."""
    return np.asarray(xs.asarray(a, device=xs.Device("CPU_DEVICE")), copy=True)


@pytest.fixture
def rng():
    return np.random.default_rng(14)


# -- array_api_strict: the CPU device by our kernels, others by the namespace ----------

@pytest.mark.parametrize("f", FORWARD)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_strict_cpuassert_same_bits(f, dtype, rng):
    x0 = rng.standard_normal((4, 6)).astype(dtype)
    x = xs.asarray(x0)
    y = f(x, axis=0)
    assert type(y) is type(x) and y.dtype == getattr(xs, dtype) and y.device == x.device
    assert_same_bits(np.from_dlpack(y), f(x0, axis=0))
    i = f(xs.asarray([[1, 2], [3, 4]]))
    assert i.dtype == xs.float64
    assert_same_bits(np.from_dlpack(i), f(np.array([[1, 2], [3, 4]])))


def test_strict_cpu_input_is_not_copied(kernel_inputs, rng):
    x0 = rng.standard_normal((5, 6))
    x = xs.asarray(x0)
    y = log_softmax(x, axis=0)
    (a,) = kernel_inputs[-1]
    assert a.ctypes.data == np.from_dlpack(x).ctypes.data
    assert_same_bits(np.from_dlpack(y), log_softmax(x0, axis=0))


def test_strict_cpu_out_and_grad(rng):
    y0, dy0 = rng.random((3, 4)), rng.standard_normal((3, 4))
    out = xs.empty((3, 4), dtype=xs.float64)
    assert softmax_grad(xs.asarray(y0), xs.asarray(dy0), out=out) is out
    assert_same_bits(np.from_dlpack(out), softmax_grad(y0, dy0))


@pytest.mark.parametrize("f", FORWARD)
@pytest.mark.parametrize("axis", [-1, 0, None, ()])
def test_strict_other_device_computed_there(f, axis, rng):
    x0 = rng.standard_normal((3, 5)) * 30
    x = xs.asarray(x0, device=DEVICE1)
    y = f(x, axis=axis)
    assert y.device == DEVICE1 and y.dtype == xs.float64
    got = np.asarray(xs.asarray(y, device=xs.Device("CPU_DEVICE")))   # moved by the test only
    # the contract's float64 bounds (SciPy's formulas: log_softmax near 0 is
    # accurate in absolute terms only)
    np.testing.assert_allclose(got, f(x0, axis=axis), rtol=1e-13,
                               atol=1e-13 if f is log_softmax else 1e-300)


@pytest.mark.parametrize("f", FORWARD)
def test_strict_other_device_mask_and_scale(f, rng):
    x0 = rng.standard_normal((4, 5))
    x0[1, 2] = np.nan                     # masked out: no effect
    keep = rng.random((4, 5)) < 0.5
    keep[1, 2] = False
    keep[3] = False                       # a slice with nothing selected
    x = xs.asarray(x0, device=DEVICE1)
    y = f(x, where=xs.asarray(keep, device=DEVICE1), scale=2.0, dtype=xs.float32)
    assert y.device == DEVICE1 and y.dtype == xs.float32
    got = np.asarray(xs.asarray(y, device=xs.Device("CPU_DEVICE")))
    want = f(x0, where=keep, scale=2.0, dtype=np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert_same_bits(got[3], want[3])           # 0 (log: -inf), never NaN


def test_strict_other_device_out_and_grad(rng):
    y0, dy0 = rng.random((3, 4)), rng.standard_normal((3, 4))
    y, dy = xs.asarray(y0, device=DEVICE1), xs.asarray(dy0, device=DEVICE1)
    for f in GRADS:
        out = xs.empty((3, 4), dtype=xs.float64, device=DEVICE1)
        assert f(y, dy, out=out) is out
        got = np.asarray(xs.asarray(out, device=xs.Device("CPU_DEVICE")))
        np.testing.assert_allclose(got, f(y0, dy0), rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match="device1.*CPU_DEVICE|never moves"):
        softmax(xs.asarray(y0, device=DEVICE1), out=xs.empty((3, 4), dtype=xs.float64))


def test_strict_other_device_strategy_refused():
    x = xs.asarray([1.0, 2.0], device=DEVICE1)
    with pytest.raises(ValueError, match="device1"):
        softmax(x, strategy="reference")


class _Lacking:
    """A namespace of a device library that has no exp."""
    __name__ = "lacking"

    @staticmethod
    def from_dlpack(a):
        raise AssertionError("never imported")

    max = sum = any = log = where = astype = asarray = broadcast_to = staticmethod(
        lambda *a, **k: None)


class _GpuArray:
    """An array on a CUDA device (DLPack device type 2)."""
    shape, ndim, dtype, device = (3,), 1, np.dtype(np.float32), "cuda:0"

    def __array_namespace__(self, api_version=None):
        return _Lacking

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, **kwargs):
        raise BufferError("on the GPU")


def test_a_device_namespace_lacking_functions_is_refused():
    with pytest.raises(TypeError, match=r"device cuda:0 .*lacks exp"):
        softmax(_GpuArray())


def test_dlpack_only_object_without_namespace_is_refused():
    class Opaque:
        def __dlpack__(self, **kwargs):
            return np.zeros(3).__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return (1, 0)

    Opaque.__module__ = "no_such_library_here"
    with pytest.raises(TypeError, match="no array namespace"):
        softmax(Opaque())


# -- NumPy calls never reach _interop; importing pysoftmax imports none of them --------

def test_numpy_calls_do_not_reach_interop(monkeypatch, rng):
    def fail(*args, **kwargs):
        raise AssertionError("a NumPy call went through _interop")

    monkeypatch.setattr(_interop, "_call", fail)
    x = rng.standard_normal((3, 4))
    softmax(x)
    softmax(x, axis=0, where=x > 0, out=np.empty_like(x))
    softmax_grad(x, x)
    softmax([1.0, 2.0])


def test_is_foreign():
    assert _interop.is_foreign(xs.asarray([1.0]))
    for v in (np.zeros(1), np.float64(1), np.ma.masked_array([1.0]), [1.0], 1.0, None,
              types.SimpleNamespace()):
        assert not _interop.is_foreign(v)


def test_import_imports_no_array_library():
    code = ("import sys, pysoftmax; import numpy as np; pysoftmax.softmax(np.zeros(3));"
            "bad = [m for m in ('torch', 'dask', 'array_api_strict', 'jax', 'cupy')"
            " if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=tempfile.gettempdir(), check=True)


def test_dtype_names_of_namespaces():
    assert _interop.numpy_dtype(xs.float64) == np.float64
    assert _interop.numpy_dtype("float16") == np.float16
    with pytest.raises(TypeError):
        _interop.numpy_dtype(type(xs.float64))


# -- logsumexp's namespace path (the public function is on branch 'lse') -------------

@pytest.mark.parametrize("axis", [None, -1, 0, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("weights", [False, True])
def test_namespace_logsumexp_as_scipy(axis, keepdims, weights, rng):
    special = pytest.importorskip("scipy.special")
    a0 = rng.standard_normal((3, 4, 5)) * 20
    a0[0, 0, :] = -np.inf
    a0[1, 1, 2] = np.inf
    a0[2, 3, 1] = -40.0 + a0[2, 3].max() - 40      # far below the max
    b0 = rng.standard_normal((3, 4, 5)) if weights else None
    ops = _interop.Ops(_interop.Namespace.of(xs.asarray(a0, device=DEVICE1)), DEVICE1)
    a = xs.asarray(a0, device=DEVICE1)
    b = None if b0 is None else xs.asarray(b0, device=DEVICE1)
    with np.errstate(all="ignore"):
        r, sign = _interop.namespace_logsumexp(ops, a, axis, b, keepdims, True)
        want, want_sign = special.logsumexp(a0, axis=axis, b=b0, keepdims=keepdims,
                                            return_sign=True)
        plain = _interop.namespace_logsumexp(ops, a, axis, b, keepdims)
    assert r.device == DEVICE1 and r.dtype == xs.float64
    cpu = xs.Device("CPU_DEVICE")
    np.testing.assert_allclose(np.asarray(xs.asarray(r, device=cpu)), want, rtol=1e-13)
    np.testing.assert_array_equal(np.asarray(xs.asarray(sign, device=cpu)), want_sign)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(np.asarray(xs.asarray(plain, device=cpu)),
                                   np.where(want_sign < 0, np.nan, want), rtol=1e-13)


def test_namespace_logsumexp_accurate_at_the_max():
    ops = _interop.Ops(_interop.Namespace.of(xs.asarray(0.0)), DEVICE1)
    r = _interop.namespace_logsumexp(ops, xs.asarray([0.0, -40.0], device=DEVICE1))
    assert float(r) == pytest.approx(np.logaddexp(0.0, -40.0), rel=1e-15, abs=0)
    with np.errstate(divide="ignore"):               # log(0): -inf, as SciPy
        e = _interop.namespace_logsumexp(ops, xs.empty((0, 3), device=DEVICE1), axis=0)
    assert e.device == DEVICE1
    np.testing.assert_array_equal(_np(e), np.full(3, -np.inf))


# -- JAX (not in the test extra: skipped where it is not installed) ------------------

@pytest.mark.parametrize("f", FORWARD)
def test_jax_cpu_arrays(f, kernel_inputs, rng):
    jnp = pytest.importorskip("jax.numpy")
    x0 = rng.standard_normal((4, 6)).astype(np.float32)
    x = jnp.asarray(x0)
    y = f(x, axis=0)
    assert type(y) is type(x) and y.dtype == jnp.float32 and y.device == x.device
    (a,) = kernel_inputs[-1]
    assert a.ctypes.data == x.unsafe_buffer_pointer()          # not copied
    assert_same_bits(np.asarray(y), f(x0, axis=0))
    with pytest.raises(TypeError, match="read-only"):        # JAX arrays are immutable
        f(x, out=jnp.zeros((4, 6), jnp.float32))


def test_jax_traced_arrays_by_jax():
    """Under jax.jit and jax.grad the arrays are tracers (no memory to view):
    computed by jax.numpy, so JAX compiles and differentiates the call."""
    jax = pytest.importorskip("jax")
    x0 = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    y = jax.jit(lambda x: log_softmax(x, axis=None))(jax.numpy.asarray(x0))
    np.testing.assert_allclose(np.asarray(y), log_softmax(x0, axis=None), rtol=1e-5,
                               atol=1e-6)
    g = jax.grad(lambda x: softmax(x)[0, 0])(jax.numpy.asarray(x0))
    p = softmax(x0)
    dy = np.zeros_like(x0)
    dy[0, 0] = 1
    np.testing.assert_allclose(np.asarray(g), softmax_grad(p, dy), rtol=1e-5, atol=1e-7)


def test_numpy_input_takes_a_mask_of_another_library(rng):
    """The caller's type is x's: a NumPy x with an array_api_strict mask is
    the NumPy call (the mask read through NumPy), a NumPy result."""
    x = rng.standard_normal((3, 4))
    keep = x > 0
    y = softmax(x, where=xs.asarray(keep))
    assert type(y) is np.ndarray
    assert_same_bits(y, softmax(x, where=keep))
    with pytest.raises(TypeError, match="y is a numpy.ndarray but another argument"):
        softmax_grad(x, xs.asarray(x))


def test_strict_promotion_of_two_operands(rng):
    """array_api_strict does not promote float32 with int64: NumPy's rule
    (float64), on its CPU device and on another."""
    y0 = rng.random((2, 3)).astype(np.float32)
    dy0 = np.arange(6).reshape(2, 3)
    for device in (xs.Device("CPU_DEVICE"), DEVICE1):
        g = softmax_grad(xs.asarray(y0, device=device), xs.asarray(dy0, device=device))
        assert g.dtype == xs.float64 and g.device == device
        np.testing.assert_allclose(_np(g), softmax_grad(y0, dy0), rtol=1e-6)
