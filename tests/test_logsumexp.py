"""pysoftmax.logsumexp: a drop-in for scipy.special.logsumexp on real input,
computed by our kernels, accurate at the max.

Edge cases against SciPy itself (the same values, types, dtypes and
shapes); drawn values over the whole float range against the long-double
oracle of tests/test_slices.py, for every strategy (declined: skipped, after
checking the clear error) and instruction set, where=, scale=, every kind of
axis, out=.
"""
import re

import ml_dtypes
import numpy as np
import pytest
import scipy.special
from conftest import STRATEGY_PARAMS, require_strategy
from hypothesis import given, settings
from test_properties import calls
from test_slices import _in_range, check_lse, lse_oracle

import pysoftmax
from pysoftmax import dispatch, logsumexp
from pysoftmax._plan import plan_forward
from pysoftmax._weighted import logsumexp_weighted
from pysoftmax.strategies import STRATEGIES, vectorized

inf, nan = np.inf, np.nan

SCIPY_CASES = [
    ([0.0, -40.0], {}),
    (np.arange(10), {}),
    (np.arange(10, dtype=np.int32).reshape(2, 5), {"axis": 1}),
    ([[1.0, 2.0], [3.0, 4.0]], {"axis": 0, "keepdims": True}),
    (np.arange(24.0).reshape(2, 3, 4), {"axis": (0, 2)}),
    (np.arange(24.0).reshape(2, 3, 4), {"axis": (-1, -3), "keepdims": True}),
    (np.arange(24.0).reshape(2, 3, 4), {"axis": 1}),
    (np.float32([1, 2, 3]), {}),
    (np.float16([1, 2, 3]), {}),
    (np.array([True, False]), {}),
    (3.0, {}),
    (3.0, {"keepdims": True}),
    (np.float64(3.0), {"axis": 0}),
    ([], {}),
    (np.zeros((0, 3)), {"axis": 0}),
    (np.zeros((3, 0)), {"axis": 1}),
    (np.zeros((0, 3)), {"axis": 1}),
    ([inf, 1.0], {}),
    ([-inf, -inf], {}),
    ([nan, 1.0], {}),
    ([inf, nan], {}),
    ([inf, -inf], {}),
    ([-inf, 2.0], {}),
    ([1e308, 1e308], {}),
    ([-1e308, 1e308], {}),
    ([[1e10, 1e-10], [-1e10, -inf]], {"axis": -1}),
    ([1.0, 2.0], {"return_sign": True}),
    ([-inf, -inf], {"return_sign": True}),
    ([nan], {"return_sign": True}),
    ([], {"return_sign": True}),
    ([1.0, 2.0], {"b": [1, -1]}),
    ([1.0, 2.0], {"b": [1, -1], "return_sign": True}),
    ([1.0, 2.0], {"b": [-1, 0.5], "return_sign": True}),
    ([1.0, 1.0], {"b": [1, -1], "return_sign": True}),
    ([1.0, 1.0], {"b": [1, -1]}),
    ([inf, 1.0], {"b": [0, 1]}),
    ([nan, 1.0], {"b": [0, 2]}),
    ([inf, inf], {"b": [1, -1], "return_sign": True}),
    (np.arange(10.0), {"b": np.arange(10, 0, -1)}),
    (np.arange(6.0).reshape(2, 3), {"b": [[1], [2]], "axis": 1, "keepdims": True}),
    (np.arange(6.0).reshape(2, 3), {"b": [1.0, -2.0, 0.5], "axis": 0, "return_sign": True}),
    (np.float32([1, 2]), {"b": np.float32([1, 2])}),
    (np.float32([1, 2]), {"b": np.float64([1, 2])}),
    (np.float16([1, 2]), {"b": np.float16([1, -0.5]), "return_sign": True}),
    (np.arange(3), {"b": np.arange(3)}),
    (np.zeros((0, 2)), {"b": np.ones(2), "axis": 0, "return_sign": True}),
    (3.0, {"b": 2.0}),
    (np.ones(4), {"b": np.ones((2, 4)), "axis": -1}),
]


def _same(got, expected, rtol):
    """Same type (NumPy scalar or array), dtype, shape, and values to rtol."""
    assert type(got) is type(expected), (type(got), type(expected))
    assert got.dtype == expected.dtype
    assert np.shape(got) == np.shape(expected)
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(expected, np.float64),
                               rtol=rtol, atol=0, equal_nan=True)


def _scipy_half_in_float32(a, kwargs):
    """SciPy's result for float16 input computed in float32 (as we compute
    it: SciPy's own float16 arithmetic is less accurate), in float16."""
    wide = {k: (np.asarray(v, np.float32) if k == "b" else v) for k, v in kwargs.items()}
    result = scipy.special.logsumexp(np.asarray(a, np.float32), **wide)
    if isinstance(result, tuple):
        return tuple(np.asarray(v).astype(np.float16)[()] for v in result)
    return np.asarray(result).astype(np.float16)[()]


@pytest.mark.parametrize("a, kwargs", SCIPY_CASES)
def test_as_scipy(a, kwargs):
    dtype = np.result_type(*(np.asarray(v) for v in (a, kwargs.get("b", a))))
    with np.errstate(all="ignore"):
        if dtype == np.float16:
            expected = _scipy_half_in_float32(a, kwargs)
        else:
            expected = scipy.special.logsumexp(a, **kwargs)
    got = logsumexp(a, **kwargs)
    rtol = {2: 1e-3, 4: 2e-6}.get(dtype.itemsize, 1e-14)
    if kwargs.get("return_sign"):
        assert isinstance(got, tuple) and len(got) == 2
        for g, e in zip(got, expected):
            _same(g, e, rtol)
    else:
        _same(got, expected, rtol)


def test_accurate_at_the_max():
    assert logsumexp(np.array([0.0, -40.0])) == pytest.approx(4.248354255291589e-18,
                                                              rel=1e-14, abs=0)
    assert logsumexp(np.float32([0.0, -40.0])) > 0
    assert logsumexp([0.0, -40.0], b=[1.0, 1.0]) == pytest.approx(4.248354255291589e-18,
                                                                  rel=1e-14, abs=0)


def test_complex_is_a_type_error():
    with pytest.raises(TypeError, match="complex"):
        logsumexp(np.array([1 + 1j]))
    with pytest.raises(TypeError, match="complex"):
        logsumexp([1.0], b=np.array([1j]))


def test_bfloat16_like_softmax():
    x = np.array([1.0, 2.0, 3.0], ml_dtypes.bfloat16)
    got = logsumexp(x)
    assert got.dtype == ml_dtypes.bfloat16
    assert float(got) == pytest.approx(3.4076, rel=1e-2)


def test_out_and_keepdims():
    x = np.random.default_rng(1).normal(size=(3, 4, 5))
    out = np.empty((3, 5))
    assert logsumexp(x, axis=1, out=out) is out
    np.testing.assert_allclose(out, scipy.special.logsumexp(x, axis=1), rtol=1e-14)
    out = np.empty((1, 4, 1), np.float32)
    r, s = logsumexp(x.astype(np.float32), axis=(0, 2), keepdims=True, out=out,
                     return_sign=True)
    assert r is out and s.shape == (1, 4, 1)
    with pytest.raises(ValueError, match="shape"):
        logsumexp(x, axis=1, out=np.empty((3, 4)))
    with pytest.raises(TypeError, match="dtype"):
        logsumexp(x, axis=1, out=np.empty((3, 5), np.float32))


def test_where_and_scale():
    x = np.array([[1.0, 2.0, 3.0], [nan, 4.0, inf]])
    where = np.array([[True, True, False], [False, True, False]])
    np.testing.assert_allclose(logsumexp(x, axis=1, where=where, scale=2.0),
                               [np.log(np.exp(2) + np.exp(4)), 8.0], rtol=1e-15)
    assert logsumexp(x, where=np.zeros_like(where)) == -inf
    # the same through weights: where= as zero weights, scale= multiplied in
    np.testing.assert_allclose(logsumexp(x, axis=1, b=np.ones(3), where=where, scale=2.0),
                               [np.log(np.exp(2) + np.exp(4)), 8.0], rtol=1e-15)


def test_explain():
    x = np.zeros((8, 100), np.float32)
    e = dispatch.explain(x, None, op="logsumexp")
    assert e.strategy == "vectorized" and e.problem.op == "logsumexp"
    assert "logsumexp" in str(e)


@pytest.mark.parametrize("name", ["mkl", "onednn"])
def test_mkl_and_onednn_decline(name):
    require_strategy(name)
    x = np.zeros((8, 100), np.float32)
    problem = plan_forward("logsumexp", x, -1, None).problem
    assert STRATEGIES[name].decline_reason(problem)   # a reason: it declines
    with pysoftmax.strategy(name), pytest.raises(ValueError, match="cannot compute"):
        logsumexp(x)


def test_weighted_formula_is_namespace_generic():
    """logsumexp_weighted uses only the namespace it is given: a namespace
    that counts its calls (and forbids NumPy's own functions) works."""
    class Counting:
        def __init__(self):
            self.calls = set()

        def __getattr__(self, name):
            self.calls.add(name)
            return getattr(np, name)

    xp = Counting()
    got = logsumexp_weighted(xp, np.array([1.0, 2.0]), np.array([1.0, -1.0]), None, False, True)
    assert got == scipy.special.logsumexp([1.0, 2.0], b=[1.0, -1.0], return_sign=True)
    assert {"exp", "log", "log1p", "sum", "max", "where"} <= xp.calls


# ---- drawn values against the long-double oracle ------------------------

KINDS = {"last": -1, "inner": 1, "all": None}
FEATURES = ("plain", "scale", "where", "where+scale")


@pytest.fixture(params=STRATEGY_PARAMS)
def strategy_name(request):
    """Each strategy (vectorized on each instruction set), or a skip when it
    declines logsumexp (after checking the clear error)."""
    name, _, isa = request.param.partition("-")
    require_strategy(name)
    reason = STRATEGIES[name].decline_reason(
        plan_forward("logsumexp", np.zeros((2, 3)), -1, None).problem)
    if reason is not None:
        with pysoftmax.strategy(name), pytest.raises(ValueError, match=re.escape(reason)):
            logsumexp(np.zeros((2, 3)))
        pytest.skip(f"declined: {reason}")
    if isa:
        assert vectorized.set_isa(isa) == isa
    try:
        with pysoftmax.strategy(name):
            yield name
    finally:
        if isa:
            vectorized.set_isa()


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_drawn_values_meet_the_bound(strategy_name, dtype, kind, feature):
    @settings(max_examples=30)
    @given(calls(dtype, kind, feature))
    def drawn(call):
        x, axis, kwargs = call
        x = _in_range(x, kwargs.get("scale"))
        result = logsumexp(x, axis=axis, **kwargs)
        assert result.dtype == dtype
        if axis is None:
            where = kwargs.get("where")
            where = None if where is None else np.broadcast_to(where, x.shape).ravel()
            expected = lse_oracle(x.ravel(), 0, kwargs.get("scale"), where)
        else:
            expected = lse_oracle(x, axis, kwargs.get("scale"), kwargs.get("where"))
        check_lse(result, expected, dtype)
        if axis is not None:             # the same through out=, keeping the dims
            out = np.empty(np.shape(np.expand_dims(result, axis)), dtype)
            assert logsumexp(x, axis=axis, keepdims=True, out=out, **kwargs) is out
            np.testing.assert_array_equal(np.squeeze(out, axis), result)

    drawn()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, axis", [((7, 1000), -1), ((3, 50, 40), 1), ((5, 6, 7), (0, 2)),
                                         ((4000,), None), ((2, 3, 4), ())])
def test_shapes_against_scipy(isa, dtype, shape, axis):
    x = np.random.default_rng(7).normal(scale=20, size=shape).astype(dtype)
    got = logsumexp(x, axis=axis)
    expected = scipy.special.logsumexp(x.astype(np.longdouble), axis=axis)
    np.testing.assert_allclose(np.asarray(got, np.longdouble), expected,
                               rtol=1e-6 if dtype == np.float32 else 1e-14)
