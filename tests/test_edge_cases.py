"""Edge cases every strategy must get exactly right."""
import numpy as np
import pytest
import scipy.special
from conftest import refuses, run, spy_on_runs

import pysoftmax
from pysoftmax import log_softmax, softmax
from pysoftmax._execute import may_overlap_itself

inf, nan = np.inf, np.nan

SPECIAL_ROWS = [
    [nan, 1.0, 2.0],          # NaN anywhere: the slice is NaN
    [inf, 1.0, 2.0],          # +inf: NaN, as SciPy
    [inf, inf, 0.0],
    [-inf, 1.0, 2.0],         # -inf entries get probability 0
    [-inf, -inf, -inf],       # all -inf: NaN, as SciPy
    [-inf, -inf, 5.0],
    [1e30, -1e30, 0.0],
    [3.0, 3.0, 3.0],
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nonfinite_softmax_matches_scipy(strategy_name, dtype):
    x = np.array(SPECIAL_ROWS, dtype=dtype)
    with np.errstate(invalid="ignore"):
        expected = scipy.special.softmax(x, axis=-1)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    # the slices along the last axis, and the same slices along a non-last axis
    checked = 0
    for xs, axis, want in ((x, -1, expected), (x.T.copy(), 0, expected.T)):
        result = run(softmax, xs, strategy_name, axis=axis)   # None: declined clearly
        if result is not None:
            # NaN where SciPy has NaN, exact zeros where it has zeros (atol=0)
            np.testing.assert_allclose(result, want, rtol=rtol, atol=0)
            checked += 1
    if not checked:
        pytest.skip(f"{strategy_name} declines {np.dtype(dtype)} on either axis")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nonfinite_log_softmax(strategy_name, dtype):
    """As scipy.special.log_softmax, except that +inf makes the slice NaN, as it
    does in softmax (SciPy gives [nan, -inf] for [inf, 1]; log(softmax) is NaN).
    Finite but extreme entries stay finite (-2e30), never -inf."""
    x = np.array(SPECIAL_ROWS, dtype=dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = scipy.special.log_softmax(x.astype(np.float64), axis=-1)
    expected[np.isposinf(x).any(axis=-1)] = nan
    assert np.isfinite(expected[6]).all()
    checked = 0
    for xs, axis, want in ((x, -1, expected), (x.T.copy(), 0, expected.T)):
        result = run(log_softmax, xs, strategy_name, axis=axis)
        if result is not None:
            np.testing.assert_allclose(result, want, rtol=1e-6, atol=1e-6)
            checked += 1
    if not checked:
        pytest.skip(f"{strategy_name} declines log_softmax of {np.dtype(dtype)}")


@pytest.mark.parametrize("n", [7, 8, 17, 1000, 70000])
@pytest.mark.parametrize("value", [nan, inf])
@pytest.mark.parametrize("in_place", [False, True])
def test_nonfinite_anywhere_in_long_rows(strategy_name, n, value, in_place):
    """A NaN or +inf at the start, middle or end of a row (vector body or
    tail) makes that row all NaN, and only that row; so does a row of only
    -inf.  Computed in place too (the input is gone when the result is
    written)."""
    rng = np.random.default_rng(n)
    for pos in sorted({0, n // 2, n - 1}):
        x = rng.standard_normal((5, n)).astype(np.float32)
        x[1, pos] = value
        x[2, pos] = -inf                       # -inf: probability 0, row finite
        x[3] = -inf
        finite = [0, 2, 4]
        xs = x.copy()
        result = run(softmax, xs, strategy_name, out=xs if in_place else None)
        if result is None:
            pytest.skip(f"{strategy_name} declines float32 rows of {n}")
        assert np.isnan(result[[1, 3]]).all(), f"{value} at {pos}: {result[1][:8]}"
        np.testing.assert_allclose(result[finite],
                                   scipy.special.softmax(x[finite].astype(np.float64), axis=-1),
                                   rtol=1e-5, atol=1e-7)
        assert result[2, pos] == 0


@pytest.mark.parametrize("op", [softmax, log_softmax])
@pytest.mark.parametrize("shape, axis", [((0,), -1), ((3, 0), -1), ((0, 4), 1), ((0, 4), 0),
                                         ((2, 0, 3), 1), ((2, 0, 3), None), ((2, 0), (0, 1))])
def test_empty(strategy_name, op, shape, axis):
    x = np.ones(shape, dtype=np.float32)
    # empty inputs never reach a strategy, so every strategy returns them
    result = op(x, axis=axis, strategy=strategy_name)
    assert result.shape == shape and result.dtype == np.float32
    out = np.empty(shape, np.float32)
    assert op(x, axis=axis, out=out, strategy=strategy_name) is out


def test_zero_dimensional(strategy_name):
    if refuses(softmax, np.float64(3.0), strategy_name, axis=None):
        assert softmax(np.float32(3.0), axis=None, strategy=strategy_name) == 1.0
        return
    assert softmax(np.float64(3.0), axis=None, strategy=strategy_name) == 1.0
    assert softmax(2, axis=None, strategy=strategy_name) == 1.0
    assert log_softmax(np.array(7.0), axis=None, strategy=strategy_name) == 0.0
    assert softmax(np.float32(3.0), axis=(), strategy=strategy_name).dtype == np.float32
    with pytest.raises(np.exceptions.AxisError):
        softmax(np.float64(3.0), strategy=strategy_name)   # axis=-1 of a 0-d array


@pytest.mark.parametrize("shape, axis", [((5, 1), -1), ((1, 5), 0), ((4, 1, 3), 1)])
def test_length_one_axis(strategy_name, shape, axis):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if refuses(softmax, x, strategy_name, axis=axis):
        return
    np.testing.assert_array_equal(softmax(x, axis=axis, strategy=strategy_name), 1.0)
    if not refuses(log_softmax, x, strategy_name, axis=axis):
        np.testing.assert_array_equal(log_softmax(x, axis=axis, strategy=strategy_name), 0.0)


def test_empty_axis_tuple_means_each_element_alone(strategy_name):
    x = np.array([[1.0, nan], [-inf, 2.0]], dtype=np.float32)
    expected = np.array([[1.0, nan], [nan, 1.0]], dtype=np.float32)
    if refuses(softmax, x, strategy_name, axis=()):
        return
    np.testing.assert_array_equal(softmax(x, axis=(), strategy=strategy_name), expected)


def test_array_likes_and_integer_inputs(strategy_name):
    assert softmax(np.arange(4), dtype=np.float32, strategy=strategy_name).dtype == np.float32
    if refuses(softmax, [1, 2, 3], strategy_name):
        return
    np.testing.assert_allclose(softmax([1, 2, 3], strategy=strategy_name),
                               scipy.special.softmax([1.0, 2.0, 3.0]), rtol=1e-14)
    assert softmax([True, False], strategy=strategy_name).dtype == np.float64
    assert softmax(np.arange(4, dtype=np.uint8), strategy=strategy_name).dtype == np.float64


def test_float16_in_and_out(strategy_name):
    x = np.linspace(-4, 4, 50).astype(np.float16)
    result = softmax(x, strategy=strategy_name)
    assert result.dtype == np.float16
    np.testing.assert_allclose(result, scipy.special.softmax(x.astype(np.float64)), rtol=1e-3,
                               atol=1e-7)
    if not refuses(softmax, x, strategy_name, dtype=np.float64):
        assert softmax(x, dtype=np.float64, strategy=strategy_name).dtype == np.float64


@pytest.mark.parametrize("op", [softmax, log_softmax])
@pytest.mark.parametrize("axis", [-1, 0])
def test_in_place(strategy_name, op, axis):
    x = np.random.default_rng(3).standard_normal((40, 50)).astype(np.float32)
    if refuses(op, x, strategy_name, axis=axis, out=x):
        return
    expected = op(x, axis=axis, strategy=strategy_name)
    assert op(x, axis=axis, out=x, strategy=strategy_name) is x
    np.testing.assert_array_equal(x, expected)


def test_in_place_float16(strategy_name):
    x = np.linspace(-2, 2, 30).astype(np.float16)
    expected = softmax(x, strategy=strategy_name)
    softmax(x, out=x, strategy=strategy_name)
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("op", [softmax, log_softmax])
@pytest.mark.parametrize("shift", [1, -1, 3])
def test_partial_overlap(strategy_name, op, shift):
    """out overlaps x shifted by a few elements, ahead of it or behind it."""
    base = np.random.default_rng(4).standard_normal(110).astype(np.float32)
    x = base[5 + shift:5 + shift + 100]
    out = base[5:105]
    if refuses(op, x, strategy_name):
        return
    expected = op(x.copy(), strategy=strategy_name)
    op(x, out=out, strategy=strategy_name)
    np.testing.assert_array_equal(out, expected)


def test_out_non_contiguous_writes_only_its_elements(strategy_name):
    x = np.random.default_rng(5).standard_normal((6, 7)).astype(np.float32)
    big = np.full((6, 14), 42.0, dtype=np.float32)
    out = big[:, ::2]
    assert softmax(x, out=out, strategy=strategy_name) is out
    np.testing.assert_array_equal(out, softmax(x, strategy=strategy_name))
    np.testing.assert_array_equal(big[:, 1::2], 42.0)


def test_out_with_transposed_axes(strategy_name):
    x = np.random.default_rng(6).standard_normal((3, 4, 5)).astype(np.float32)
    out = np.empty((3, 4, 5), dtype=np.float32)
    softmax(x, axis=(0, 2), out=out, strategy=strategy_name)
    np.testing.assert_array_equal(out, softmax(x, axis=(0, 2), strategy=strategy_name))
    np.testing.assert_allclose(out.sum(axis=(0, 2), dtype=np.float64), 1.0, rtol=1e-6)


def test_input_is_not_modified(strategy_name):
    x = np.random.default_rng(7).standard_normal((9, 9)).astype(np.float32)
    before = x.copy()
    if not refuses(softmax, x, strategy_name, axis=0):
        softmax(x, axis=0, strategy=strategy_name)
    if not refuses(log_softmax, x, strategy_name):
        log_softmax(x, strategy=strategy_name)
    np.testing.assert_array_equal(x, before)


def test_broadcast_readonly_input(strategy_name):
    x = np.broadcast_to(np.arange(5.0, dtype=np.float32), (4, 5))
    np.testing.assert_allclose(softmax(x, strategy=strategy_name),
                               np.broadcast_to(scipy.special.softmax(np.arange(5.0)), (4, 5)),
                               rtol=1e-6)


def test_strategy_argument_overrides_context(monkeypatch):
    """strategy= beats the context's strategy: the strategy it names runs."""
    from pysoftmax import dispatch

    ran = spy_on_runs(monkeypatch)
    x = np.arange(3.0)
    with pysoftmax.strategy("reference"):
        np.testing.assert_allclose(softmax(x, strategy="vectorized"), scipy.special.softmax(x),
                                   rtol=1e-15)
        assert ran == ["vectorized"]
        e = dispatch.explain(x, strategy="vectorized")
        assert (e.strategy, e.source) == ("vectorized", "explicit")
        softmax(x)                                      # the context, for contrast
        assert ran == ["vectorized", "reference"]


# ---- issue 12, items 8 and 9 --------------------------------------------

@pytest.mark.parametrize("n", [7, 100])
def test_in_place_on_an_internally_overlapping_array(strategy_name, n):
    """out=x where x's rows share memory (a zero stride): computed through a
    copy, as NumPy's ufuncs do, so every row is the softmax of the row."""
    from numpy.lib.stride_tricks import as_strided
    row = np.random.default_rng(3).standard_normal(n).astype(np.float32)
    x = as_strided(row.copy(), (8, n), (0, 4), writeable=True)
    expected = scipy.special.softmax(row.astype(np.float64))
    result = softmax(x, out=x, strategy=strategy_name)
    assert result is x
    np.testing.assert_allclose(x, np.broadcast_to(expected, (8, n)), rtol=1e-5, atol=1e-7)


def test_internal_overlap_is_detected():
    from numpy.lib.stride_tricks import as_strided
    base = np.zeros(64)
    assert may_overlap_itself(as_strided(base, (8, 4), (0, 8)))
    assert may_overlap_itself(as_strided(base, (4, 4), (8, 8)))
    for a in (base.reshape(8, 8), base.reshape(8, 8).T, base.reshape(8, 8)[::2, ::-3],
              base[:1].reshape(1, 1), base.reshape(2, 4, 8).transpose(1, 2, 0)):
        assert not may_overlap_itself(a)


@pytest.mark.parametrize("func", [softmax, log_softmax])
def test_zero_dimensional_input_gives_a_scalar(func):
    """As SciPy's test_softmax_scalar: a NumPy scalar, not a 0-d array."""
    result = func(np.float64(1000.0), axis=None)
    assert type(result) is np.float64
    assert result == (1.0 if func is softmax else 0.0)
    assert type(func(np.float32(2.0), axis=())) is np.float32
    out = np.empty((), np.float64)
    assert func(3.0, axis=None, out=out) is out


def test_zero_dimensional_gradient_gives_a_scalar():
    assert type(pysoftmax.softmax_grad(np.float64(1.0), np.float64(2.0), axis=None)) is np.float64
