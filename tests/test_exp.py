"""The vectorized kernels' own exp (src/psm_exp.h) over its whole domain, x <= 0,
for every instruction set this CPU supports (conftest's `isa`): against long
double, at most 2 ulp above the smallest normal number, +0 (or gradual
underflow) below it, NaN kept."""
import numpy as np
import pytest

from pysoftmax.strategies import _vectorized

TINY = {np.float32: np.finfo(np.float32).tiny, np.float64: np.finfo(np.float64).tiny}
ULP = {np.float32: 2.0**-23, np.float64: 2.0**-52}


def kernel_exp(x):
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _vectorized.exp(x, y)
    return y


def domain(dtype):
    """Dense samples of [-800, 0], every float near the edges, and specials."""
    finfo = np.finfo(dtype)
    lo = -110.0 if dtype == np.float32 else -760.0
    parts = [np.linspace(lo, 0.0, 2_000_001, dtype=dtype),
             -np.logspace(-45 if dtype == np.float32 else -320, 2, 100_001).astype(dtype),
             np.array([0.0, -0.0, -finfo.tiny, -finfo.eps, -np.log(2) / 2, -np.log(2)], dtype)]
    for edge in (np.log(finfo.tiny), -88.0 if dtype == np.float32 else -709.0):
        edge = dtype(edge)
        parts.append(np.array([edge], dtype))
        step = edge
        for _ in range(300):        # the floats on both sides of each edge
            step = np.nextafter(step, dtype(0))
            parts.append(np.array([step, 2 * edge - step], dtype))
    return np.concatenate(parts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_accuracy_over_domain(isa, dtype):
    x = domain(dtype)
    got = kernel_exp(x).astype(np.longdouble)
    true = np.exp(x.astype(np.longdouble))
    normal = true >= TINY[dtype]
    rel = np.abs(got[normal] / true[normal] - 1)
    worst = x[normal][np.argmax(rel)]
    assert rel.max() <= 2 * ULP[dtype], f"max relative error {rel.max():.3g} at x={worst!r}"
    # below the smallest normal: +0 or gradual underflow, never more than tiny off
    assert (np.abs(got[~normal] - true[~normal]) <= TINY[dtype]).all()
    assert (got >= 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_exact_points_and_specials(isa, dtype):
    x = np.array([0.0, -0.0, -np.inf, -1e30, np.nan], dtype=dtype)
    y = kernel_exp(x)
    assert y[0] == 1.0 and y[1] == 1.0
    assert y[2] == 0.0 and y[3] == 0.0
    assert np.isnan(y[4])


@pytest.mark.parametrize("bits", [0x7FC00000, 0xFFC00000, 0x7FC00001, 0xFFC12345, 0x7F800001,
                                  0x7FBFFFFF])
def test_every_float32_nan_stays_nan(isa, bits):
    """NaNs with any payload (quiet or signalling) give NaN, never a number."""
    x = np.array([bits] * 9, dtype=np.uint32).view(np.float32)
    assert np.isnan(kernel_exp(x)).all()


@pytest.mark.parametrize("bits", [0x7FF8000000000000, 0xFFF8000000000001, 0x7FF0000000000001,
                                  0x7FF80000DEADBEEF])
def test_every_float64_nan_stays_nan(isa, bits):
    x = np.array([bits] * 9, dtype=np.uint64).view(np.float64)
    assert np.isnan(kernel_exp(x)).all()
