"""pysoftmax._slices: per-slice statistics, their combination and the
softmax from them, the building blocks of logsumexp and of the Dask layer.

The property: for any split of the reduced axis into pieces,
normalise(x, combine([slice_stats(piece) ...])) meets the bounds of
docs/contract.md against the exact oracle of tests/test_properties.py, and
so does log_sum against a long-double logsumexp of the exact products.
"""
import fractions
import math

import numpy as np
import pytest
from conftest import ISAS
from hypothesis import given, settings
from hypothesis import strategies as st
from test_properties import calls, check_bounds, exact_oracle

import pysoftmax
from pysoftmax import _slices
from pysoftmax._plan import work_dtype
from pysoftmax._slices import SliceStats, combine, log_sum, normalise, slice_stats
from pysoftmax.strategies import vectorized

KINDS = ("last", "inner", "all")


@pytest.fixture(params=[f"vectorized-{isa}" for isa in ISAS] + ["reference"])
def backend(request):
    """The kernels of each instruction set, and the reference strategy's NumPy."""
    name, _, isa = request.param.partition("-")
    if isa:
        assert vectorized.set_isa(isa) == isa
        try:
            yield request.param
        finally:
            vectorized.set_isa()
    else:
        with pysoftmax.strategy(name):
            yield name
FEATURES = ("plain", "scale", "where", "where+scale")


def lse_oracle(x, axis, scale=None, where=None):
    """logsumexp of the products scale*x along `axis` (an int), in long double:
    the largest product (exact) less its element's exact log_softmax."""
    x = np.asarray(x)
    s = 1.0 if scale is None else float(work_dtype(x.dtype).type(scale))
    keep = np.ones(x.shape, bool) if where is None else np.broadcast_to(where, x.shape)
    with np.errstate(all="ignore"):
        log_p = np.moveaxis(exact_oracle("log_softmax", x, axis, scale, where), axis, -1)
    xs, ks = np.moveaxis(x, axis, -1), np.moveaxis(keep, axis, -1)
    result = np.empty(xs.shape[:-1], np.longdouble)
    for i in np.ndindex(result.shape):
        products = {}
        for j in np.flatnonzero(ks[i]):
            v = float(xs[i][j])
            exact = math.isfinite(v) and s != 0
            products[j] = fractions.Fraction(s) * fractions.Fraction(v) if exact else s * v
        floats = [p for p in products.values() if isinstance(p, float)]
        finite = {j: p for j, p in products.items() if not isinstance(p, float)}
        finite.update({j: p for j, p in products.items()
                       if isinstance(p, float) and math.isfinite(p)})
        if any(math.isnan(p) for p in floats):
            result[i] = np.nan
        elif any(p == math.inf for p in floats):
            result[i] = np.inf
        elif not finite:
            result[i] = -np.inf
        else:
            j = max(finite, key=lambda k: finite[k])
            top = fractions.Fraction(finite[j])
            hi = float(top)
            result[i] = (np.longdouble(hi) + np.longdouble(float(top - fractions.Fraction(hi)))
                         - log_p[i][j])
    return result


def check_lse(got, expected, dtype):
    """logsumexp's bound for compute dtype `dtype`: log_softmax's at the max;
    NaN and infinities exactly (as rounded to the result's dtype)."""
    got = np.asarray(got)
    info = np.finfo(got.dtype)
    with np.errstate(over="ignore"):
        rounded = expected.astype(got.dtype)
    g = got.astype(np.longdouble)
    nan_e = np.isnan(rounded)
    assert (np.isnan(g) == nan_e).all(), f"NaN mismatch: got {g}, expected {expected}"
    big = ~nan_e & (np.abs(np.where(nan_e, 0, expected)) >= info.max * (1 - 4 * info.eps))
    inf_e = np.isinf(rounded) & ~big
    assert (g[inf_e] == rounded[inf_e]).all(), f"got {g[inf_e]}, expected {rounded[inf_e]}"
    finite = ~nan_e & ~inf_e & ~big
    e, g = expected[finite], g[finite]
    single = np.dtype(dtype).itemsize <= 4
    bound = 1e-5 + 1e-6 * np.abs(e) if single else 1e-13 * (1 + np.abs(e))
    bad = ~(np.abs(g - e) <= bound)
    assert not bad.any(), f"{bad.sum()} outside the bound: got {g[bad][:4]}, expected {e[bad][:4]}"


def _in_range(x, scale):
    """x with the finite elements whose product scale*x leaves float64's
    range (not supported by the statistics: the module docstring) set to 1."""
    if not scale:
        return x
    with np.errstate(over="ignore"):
        big = np.isfinite(x) & (np.abs(x.astype(np.float64)) * abs(scale) >= 1e307)
    return np.where(big, x.dtype.type(1), x)


def _pieces(draw, length):
    """Cut points of an axis of this length into 1 to 4 pieces."""
    cuts = sorted(draw(st.lists(st.integers(0, length), max_size=3)))
    return [0] + cuts + [length]


def _split_stats(x, axis, kwargs, bounds):
    """combine() of slice_stats of the pieces of x along `axis` (None: the
    flattened array, cut along it)."""
    where = kwargs.get("where")
    keep = None if where is None else np.broadcast_to(where, x.shape)
    parts = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        index = [slice(None)] * x.ndim
        index[axis] = slice(a, b)
        piece = x[tuple(index)]
        if piece.size == 0 and piece.shape[axis] == 0:
            continue
        w = None if keep is None else keep[tuple(index)]
        parts.append(slice_stats(piece, axis, where=w, scale=kwargs.get("scale")))
    if not parts:
        return slice_stats(x, axis, **kwargs)
    return combine(parts, axis)


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_split_slices_meet_the_bounds(backend, log, dtype, kind, feature):
    op = "log_softmax" if log else "softmax"

    @settings(max_examples=25)
    @given(calls(dtype, kind, feature), st.data())
    def drawn(call, data):
        x, axis, kwargs = call
        x = _in_range(x, kwargs.get("scale"))
        if axis is None:                 # all elements: cut the flattened array
            if "where" in kwargs:
                kwargs["where"] = np.broadcast_to(kwargs["where"], x.shape).ravel()
            x, axis = x.ravel(), 0
        bounds = _pieces(data.draw, x.shape[axis])
        stats = _split_stats(x, axis, kwargs, bounds)
        result = normalise(x, stats, axis, log=log, **kwargs)
        with np.errstate(all="ignore"):
            expected = exact_oracle(op, x, axis, kwargs.get("scale"), kwargs.get("where"))
        assert result.dtype == dtype
        check_bounds(op, result, expected)
        # logsumexp from the same statistics
        got = np.squeeze(log_sum(stats), axis)
        check_lse(got, lse_oracle(x, axis, kwargs.get("scale"), kwargs.get("where")), dtype)

    drawn()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_normal_values_in_pieces(backend, dtype, axis):
    x = np.random.default_rng(3).normal(scale=3, size=(6, 301)).astype(dtype)
    x = x if axis != 0 else x.T.copy()
    for bounds in ([0, 1, 150, 301], [0, 300, 301], [0, 17, 64, 200, 301]):
        stats = _split_stats(x, axis, {}, bounds)
        for log in (False, True):
            op = "log_softmax" if log else "softmax"
            check_bounds(op, normalise(x, stats, axis, log=log), exact_oracle(op, x, axis))
        check_lse(np.squeeze(log_sum(stats), axis), lse_oracle(x, axis), dtype)


def test_accurate_at_the_max(backend):
    assert float(log_sum(slice_stats(np.array([0.0, -40.0]), 0))[0]) == \
        pytest.approx(4.248354255291589e-18, rel=1e-12, abs=0)
    y = normalise(np.array([0.0, -40.0]), slice_stats(np.array([0.0, -40.0]), 0), 0, log=True)
    assert y[0] == pytest.approx(-4.248354255291589e-18, rel=1e-12, abs=0)


@pytest.mark.parametrize("x, expected", [
    ([np.inf, 1.0], np.inf), ([-np.inf, -np.inf], -np.inf), ([np.nan, 1.0], np.nan),
    ([np.inf, np.nan], np.nan), ([-np.inf, 2.0], 2.0), ([np.inf, -np.inf], np.inf),
])
def test_non_finite_log_sum(backend, x, expected):
    x = np.array(x)
    for bounds in ([0, 2], [0, 1, 2]):
        stats = _split_stats(x, 0, {}, bounds)
        np.testing.assert_equal(log_sum(stats)[0], expected)


def test_where_selects_nothing(backend):
    x = np.array([[1.0, np.nan], [2.0, 3.0]])
    where = np.array([[False, False], [True, False]])
    stats = slice_stats(x, 1, where=where)
    np.testing.assert_equal(stats.m.ravel(), [-np.inf, 2.0])
    np.testing.assert_equal(stats.ones.ravel(), [0, 1])
    np.testing.assert_equal(log_sum(stats).ravel(), [-np.inf, 2.0])
    np.testing.assert_equal(normalise(x, stats, 1, log=False, where=where), [[0, 0], [1, 0]])
    np.testing.assert_equal(normalise(x, stats, 1, log=True, where=where),
                            [[-np.inf, -np.inf], [0, -np.inf]])


def test_stats_shapes_and_tuple_axes():
    x = np.arange(24.0).reshape(2, 3, 4)
    stats = slice_stats(x, (0, 2))
    assert isinstance(stats, SliceStats)
    assert all(v.shape == (1, 3, 1) and v.dtype == np.float64 for v in stats)
    y = normalise(x, stats, (0, 2), log=False)
    np.testing.assert_allclose(y.sum(axis=(0, 2)), 1)
    out = np.empty_like(x)
    assert normalise(x, stats, (0, 2), log=True, out=out) is out


def test_scale_residual_keeps_the_max_exact(backend):
    x = np.array([1234.5678, 1234.5679, 1000.1], np.float32)
    stats = slice_stats(x, 0, scale=0.7071)
    exact = np.float64(np.float32(0.7071)) * np.float64(x[1])
    assert stats.m[0] + stats.r[0] == exact
    x64 = np.array([1e300, 3.0])
    stats = slice_stats(x64, 0, scale=1 / 3)
    assert stats.r[0] != 0 and stats.ones[0] == 1


def test_module_is_documented():
    assert "combine" in _slices.__doc__ and _slices.__all__
