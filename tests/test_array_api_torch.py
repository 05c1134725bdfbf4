"""PyTorch tensors in, tensors out (pysoftmax/_interop.py; skipped without
PyTorch, which the test extra does not install: a CPU build is in the
development venv).

CPU tensors are computed by our kernels on DLPack views: the bits of the
NumPy path, no copy of the input (contiguous or strided), `out=` written in
place.  Tensors that require grad, bfloat16 tensors and tensors on another
device ("meta" here; CUDA where there is one) are computed by torch itself.
"""
import numpy as np
import pytest
from conftest import assert_same_bits

import pysoftmax
from pysoftmax import _interop, log_softmax, log_softmax_grad, softmax, softmax_grad

torch = pytest.importorskip("torch")

FORWARD = [softmax, log_softmax]
GRADS = [softmax_grad, log_softmax_grad]


@pytest.fixture
def rng():
    return np.random.default_rng(14)


# -- PyTorch on the CPU: our kernels -------------------------------------------------

@pytest.mark.parametrize("f", FORWARD)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("axis", [-1, 0, None, (0, 2)])
def test_torch_same_bits_as_numpy(f, dtype, axis, rng):
    x = torch.from_numpy(rng.standard_normal((3, 5, 7)) * 10).to(dtype)
    y = f(x, axis=axis)
    assert type(y) is torch.Tensor and y.dtype == dtype and y.device == x.device
    assert_same_bits(y.numpy(), f(x.numpy(), axis=axis))


@pytest.mark.parametrize("f", FORWARD)
def test_torch_arguments_carried(f, rng):
    x = torch.from_numpy(rng.standard_normal((4, 9)).astype(np.float32))
    keep = rng.random(9) < 0.6
    y = f(x, where=torch.from_numpy(keep), scale=0.3, dtype=torch.float64)
    assert y.dtype == torch.float64
    assert_same_bits(y.numpy(), f(x.numpy(), where=keep, scale=0.3, dtype=np.float64))
    assert_same_bits(f(x, where=keep, scale=0.3, dtype="float64").numpy(), y.numpy())  # NumPy mask


@pytest.mark.parametrize("f", FORWARD)
@pytest.mark.parametrize("dtype,expected", [(torch.int64, torch.float64),
                                            (torch.int32, torch.float64),
                                            (torch.bool, torch.float64),
                                            (torch.float16, torch.float16)])
def test_torch_dtype_rules(f, dtype, expected):
    x = torch.arange(6).reshape(2, 3).to(dtype)
    y = f(x)
    assert y.dtype == expected
    assert_same_bits(y.numpy(), f(x.numpy()))


def test_torch_input_is_not_copied(kernel_inputs, rng):
    base = torch.from_numpy(rng.standard_normal((6, 8)))
    for x in (base, base.T, base[::2, 1:]):          # contiguous, transposed, strided
        kernel_inputs.clear()
        y = softmax(x, axis=0)
        (a,) = kernel_inputs[-1]
        assert a.ctypes.data == x.data_ptr() and a.strides == tuple(
            s * x.element_size() for s in x.stride())
        assert_same_bits(y.numpy(), softmax(x.numpy(), axis=0))


def test_torch_result_shares_our_buffer():
    """The result comes back through DLPack: a tensor over our result's memory,
    which stays alive as long as the tensor (the result pool's blocks too)."""
    x = torch.zeros(1024, 1024)          # 4 MiB: from the result pool
    y = softmax(x)
    del x
    assert y.is_contiguous() and float(y.sum()) == pytest.approx(1024.0)


def test_torch_out_written_in_place(kernel_inputs, rng):
    x = torch.from_numpy(rng.standard_normal((5, 6)).astype(np.float32))
    out = torch.empty_like(x)
    assert softmax(x, out=out) is out
    assert_same_bits(out.numpy(), softmax(x.numpy()))
    x2 = x.clone()
    assert log_softmax(x2, out=x2) is x2                     # in place
    assert_same_bits(x2.numpy(), log_softmax(x.numpy()))
    strided = torch.empty(5, 12)[:, ::2]
    softmax(x, out=strided)
    assert_same_bits(strided.numpy(), softmax(x.numpy()))


def test_torch_out_errors(rng):
    x = torch.from_numpy(rng.standard_normal((2, 3)))
    with pytest.raises(TypeError, match="out has dtype float32, expected float64"):
        softmax(x, out=torch.empty(2, 3, dtype=torch.float32))
    with pytest.raises(TypeError, match="out must be a torch.Tensor"):
        softmax(x, out=np.empty((2, 3)))
    with pytest.raises(TypeError, match="x is a numpy.ndarray but another argument is a "
                                        "torch.Tensor"):
        softmax(x.numpy(), out=torch.empty(2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="cannot be written in place"):
        softmax(x, out=torch.empty(2, 3, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize("f", GRADS)
def test_torch_gradients(f, rng):
    y = torch.from_numpy(rng.random((4, 7)).astype(np.float32))
    dy = torch.from_numpy(rng.standard_normal((4, 7)).astype(np.float32))
    g = f(y, dy, axis=0)
    assert type(g) is torch.Tensor and g.dtype == torch.float32
    assert_same_bits(g.numpy(), f(y.numpy(), dy.numpy(), axis=0))
    out = torch.empty_like(y)
    assert f(y, dy, out=out) is out
    with pytest.raises(TypeError, match="dy is a numpy.ndarray but y is a torch.Tensor"):
        f(y, dy.numpy())
    assert_same_bits(f(y, dy.numpy().tolist()).numpy(), f(y.numpy(), dy.numpy().tolist()))


def test_torch_empty_and_0d():
    e = softmax(torch.empty(0, 3))
    assert type(e) is torch.Tensor and tuple(e.shape) == (0, 3)
    s = softmax(torch.tensor(2.5), axis=None)
    assert type(s) is torch.Tensor and s.ndim == 0 and float(s) == 1.0


def test_torch_requires_grad_computed_by_torch(rng):
    """A tensor that requires grad is computed by torch's own functions, so
    autograd records the call (our kernels cannot be differentiated through)."""
    x0 = rng.standard_normal((3, 5))
    x = torch.tensor(x0, requires_grad=True)
    y = softmax(x)
    assert y.grad_fn is not None
    np.testing.assert_allclose(y.detach().numpy(), softmax(x0), rtol=1e-13)
    dy = rng.standard_normal((3, 5))
    y.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(x.grad.numpy(), softmax_grad(softmax(x0), dy), rtol=1e-12,
                               atol=1e-15)


def test_torch_bfloat16_by_torch():
    """bfloat16 tensors: NumPy cannot take them through DLPack, torch computes."""
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.bfloat16)
    y = softmax(x)
    assert y.dtype == torch.bfloat16
    np.testing.assert_allclose(y.float().numpy(), softmax(np.array([1.0, 2.0, 3.0])),
                               rtol=1e-2)


def test_torch_meta_device_stays_there():
    x = torch.empty(3, 4, device="meta")
    y = log_softmax(x, axis=0)
    assert y.device.type == "meta" and tuple(y.shape) == (3, 4)
    with pytest.raises(ValueError, match="device meta"):
        softmax(x, strategy="vectorized")


def test_torch_is_foreign_and_its_dtypes():
    assert _interop.is_foreign(torch.zeros(1))
    assert _interop.numpy_dtype(torch.float32) == np.float32
    with pytest.raises(TypeError):
        _interop.numpy_dtype(type(torch.float32))
    assert pysoftmax.softmax(torch.zeros(2), dtype=np.float64).dtype == torch.float64


def test_torch_subclasses_are_torch(rng):
    """A Parameter (a Tensor subclass that requires grad) with a Tensor dy."""
    y = torch.nn.Parameter(torch.from_numpy(rng.random((2, 3))))
    dy = torch.from_numpy(rng.standard_normal((2, 3)))
    g = softmax_grad(y, dy)
    np.testing.assert_allclose(g.detach().numpy(), softmax_grad(y.detach().numpy(),
                                                                dy.numpy()), rtol=1e-13)


@pytest.mark.parametrize("f", GRADS)
def test_torch_promotion_of_two_operands(f, rng):
    """y and dy of different dtypes promote as torch does (float32 with int64
    is float32; NumPy would give float64), on the CPU and on another device."""
    y = torch.from_numpy(rng.random((3, 4)).astype(np.float32))
    dy = torch.arange(12).reshape(3, 4)
    assert (y + dy).dtype == torch.float32
    g = f(y, dy)
    assert g.dtype == torch.float32
    assert_same_bits(g.numpy(), f(y.numpy(), dy.numpy().astype(np.float32)))
    assert f(y.to("meta"), dy.to("meta")).dtype == torch.float32
    assert f(y.double(), dy).dtype == torch.float64
