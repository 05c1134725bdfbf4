"""The cols kernel of `vectorized` (a non-last axis; src/softmax_body.h): runs
of whole strips of PSM_STRIP columns go through a pipeline (one pass
exponentiates a strip, takes the next one's max and finishes the previous
one), the other columns (a run's tail, strips too tall for the cache, strips
with a wide column) through separate passes.  A column gets the same bits
either way, whatever run of columns (thread) it is in, and every path meets
the contract: short and tall columns, tails, in place, scale=, approx=,
non-finite and wide columns inside a pipeline, both instruction sets."""
import numpy as np
import pytest
from conftest import assert_accurate, oracle

import pysoftmax
from pysoftmax import log_softmax, softmax
from pysoftmax.strategies import _vectorized

STRIP = 64   # PSM_STRIP (src/kernels.h)
OPS = {"softmax": softmax, "log_softmax": log_softmax}


def cols(x, log, scale=1, approx=False, threads=1, out=None):
    """The driver on a C-contiguous (outer, n, inner) array."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x) if out is None else out
    _vectorized.cols(x, y, log, threads, scale, approx)
    return y


# n: one row; a few; SSD's 21 and 81 classes; float32 columns too tall for a
# pipelined strip (300 * 64 * 4 bytes > PSM_STRIP_CACHE); float64 ones (200).
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype, n", [(np.float32, 1), (np.float32, 2), (np.float32, 21),
                                      (np.float32, 81), (np.float32, 300),
                                      (np.float64, 21), (np.float64, 200)])
@pytest.mark.parametrize("scale, approx", [(1, False), (0.37, False), (-2.0, False), (1, True)])
def test_a_column_has_the_same_bits_in_any_run(isa, log, dtype, n, scale, approx):
    """Each run of columns, pipelined or not, aligned to a strip or not,
    gives every column the bits it gets in the whole slab, on any number
    of threads."""
    inner = 5 * STRIP + 13
    x = (np.random.default_rng(n).standard_normal((2, n, inner)) * 8).astype(dtype)
    expected = cols(x, log, scale, approx)
    for threads in (2, 3):
        np.testing.assert_array_equal(cols(x, log, scale, approx, threads), expected)
    for a, b in [(0, STRIP), (0, 2 * STRIP), (STRIP, inner), (13, 13 + 3 * STRIP), (5, 150),
                 (2 * STRIP, 2 * STRIP + 1), (100, inner)]:
        np.testing.assert_array_equal(cols(x[:, :, a:b], log, scale, approx),
                                      expected[:, :, a:b], err_msg=f"columns [{a}, {b})")


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 21, 8 * STRIP + 5), (1, 81, 3 * STRIP), (1, 300, 130),
                                   (3, 1, 200), (1, 2, 2 * STRIP + 1), (2, 40, 70)])
@pytest.mark.parametrize("scale", [None, 0.3, -1.5])
def test_every_path_meets_the_bounds(isa, op, dtype, shape, scale):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 20).astype(dtype)
    x[:, :, ::7] -= 60                      # peaked and flat columns
    x[:, 0, ::5] = 40
    x[:, :, 3] = 1.5                        # ties: n terms equal to 1, or three
    x[:, :3, 4] = 100
    result = OPS[op](x, axis=1, scale=scale, strategy="vectorized")
    truth = x if scale is None else x.astype(np.longdouble) * scale
    assert_accurate(op, result, truth, 1)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 4.0, 3.0, -4.0])
def test_special_columns_inside_a_pipeline(isa, op, dtype, scale):
    """NaN, +inf, -inf and wide columns (scale*x beyond the dtype's range)
    in the middle strip of a run: they get the contract's results, and no
    other column changes a bit."""
    big = np.finfo(dtype).max / 2
    n, inner = 21, 6 * STRIP + 9
    clean = np.random.default_rng(7).standard_normal((1, n, inner)).astype(dtype)
    x = clean.copy()
    up = np.inf if scale > 0 else -np.inf   # the x whose product with the scale is +inf
    special = {130: "nan", 140: "+inf", 150: "all -inf", 160: "one -inf", 170: "wide",
               171: "wide", 190: "+inf and -inf"}
    x[0, 5, 130] = np.nan
    x[0, 3, 140] = up
    x[0, :, 150] = -up
    x[0, 2, 160] = -up
    x[0, :, 170] = np.linspace(-big, big, n)
    x[0, :, 171] = big
    x[0, 4, 171] = big * 0.75
    x[0, 7:9, 190] = up, -up
    y = OPS[op](x, axis=1, scale=scale, strategy="vectorized")
    nan_cols = [130, 140, 150, 190]      # a NaN, a product +inf, only -inf: all NaN
    assert np.isnan(y[0][:, nan_cols]).all()
    wide = [170, 171]                    # log_softmax beyond the dtype's range: -inf
    fine = [k for k in range(inner) if k not in nan_cols + wide]
    assert_accurate(op, y[:, :, fine], x[:, :, fine].astype(np.longdouble) * scale, 1)
    with np.errstate(over="ignore"):
        expected = oracle(op, x[:, :, wide].astype(np.longdouble) * scale, 1).astype(dtype)
    np.testing.assert_allclose(y[:, :, wide], expected, rtol=1e-6, atol=1e-6)
    plain = OPS[op](clean, axis=1, scale=scale, strategy="vectorized")
    others = [k for k in range(inner) if k not in special]
    np.testing.assert_array_equal(y[:, :, others], plain[:, :, others])


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype, n", [(np.float32, 21), (np.float32, 300), (np.float64, 81)])
@pytest.mark.parametrize("scale", [1, 0.5, 0.3])
def test_in_place(isa, log, dtype, n, scale):
    """y == x: the same bits as into another array, on every path."""
    x = (np.random.default_rng(11).standard_normal((2, n, 4 * STRIP + 7)) * 10).astype(dtype)
    expected = cols(x, log, scale)
    for threads in (1, 2):
        y = x.copy()
        cols(y, log, scale, threads=threads, out=y)
        np.testing.assert_array_equal(y, expected)
    y = x.copy()
    op = log_softmax if log else softmax
    with pysoftmax.num_threads(2):
        op(y, axis=1, scale=scale, out=y, strategy="vectorized")
    np.testing.assert_array_equal(y, expected)
