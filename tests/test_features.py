"""where=, scale=, approx=, the gradients, half precision and log_softmax at
the max: for every strategy that accepts each feature (the others must
decline it with a clear error), and through automatic dispatch."""
import itertools

import ml_dtypes
import numpy as np
import pytest
from conftest import LAYOUTS, STRATEGY_NAMES, require_strategy, run, with_layout
from hypothesis import given
from hypothesis import strategies as st
from numpy.exceptions import AxisError

import pysoftmax
from pysoftmax import log_softmax, log_softmax_grad, softmax, softmax_grad
from pysoftmax._plan import plan_grad
from pysoftmax.strategies import STRATEGIES, _vectorized

OPS = {"softmax": softmax, "log_softmax": log_softmax}
GRADS = {"softmax": softmax_grad, "log_softmax": log_softmax_grad}
BF16 = np.dtype(ml_dtypes.bfloat16)


def masked_oracle(op, x, axis, where, scale=None):
    """op of scale*x over the selected elements, in long double."""
    x = np.asarray(x).astype(np.longdouble)
    if scale is not None:
        x = x * np.longdouble(scale)
    where = np.broadcast_to(where, x.shape)
    xm = np.where(where, x, -np.inf)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m = np.max(xm, axis=axis, keepdims=True)
        m = np.where(np.isneginf(m), 0, m)
        e = np.where(where, np.exp(xm - m), 0)
        s = np.sum(e, axis=axis, keepdims=True)
        if op == "softmax":
            return np.where(s > 0, e / np.where(s > 0, s, 1), 0)
        return np.where(where, xm - m - np.log(s), -np.inf)


def check(op, result, expected, dtype, approx=False):
    """The documented bounds (docs/contract.md; approx's with approx) of result against expected."""
    got = result.astype(np.longdouble)
    with np.errstate(invalid="ignore"):
        err = np.where(got == expected, 0, np.abs(got - expected))
    if approx:
        rel = 1e-4 if dtype == np.float32 else 1e-9
        tiny = 1e-30 if dtype == np.float32 else 1e-300
        bound = (np.maximum(rel * expected, tiny) if op == "softmax"
                 else rel * (1 + np.abs(expected)))
    elif op == "softmax":
        bound = (np.where(expected >= 1e-30, np.minimum(1e-6, 1e-5 * expected), 1e-6)
                 if dtype == np.float32 else np.where(expected >= 1e-300, 1e-13 * expected, 1e-300))
    else:
        bound = (1e-5 + 1e-6 * np.abs(expected) if dtype == np.float32
                 else 1e-13 * (1 + np.abs(expected)))
    bad = ~(err <= bound)
    assert not bad.any(), (f"{bad.sum()} outside the bound: got {got[bad][:4]}, "
                           f"expected {expected[bad][:4]}")


# ---- where= and scale= ---------------------------------------------------

def shape_rng_dtype(draw, longest):
    """A random shape of 1-3 axes (up to `longest` elements in 1-D), a seeded
    generator and float32 or float64."""
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, {1: longest, 2: 40, 3: 10}[ndim]),
                                min_size=ndim, max_size=ndim)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return shape, rng, draw(st.sampled_from([np.float32, np.float64]))


@st.composite
def masked_calls(draw):
    shape, rng, dtype = shape_rng_dtype(draw, 200)
    x = (rng.standard_normal(shape) * draw(st.sampled_from([1.0, 30.0]))).astype(dtype)
    # masks of the full shape or broadcast from size-1 axes, sparse or dense
    mshape = tuple(1 if draw(st.booleans()) else s for s in shape)
    where = rng.random(mshape) < draw(st.sampled_from([0.05, 0.5, 0.95]))
    axis = draw(st.sampled_from([-1, 0, None]))
    scale = draw(st.sampled_from([None, 0.125, -2.0, 0.0]))
    return with_layout(x, draw(st.sampled_from(LAYOUTS))), axis, where, scale


@pytest.mark.parametrize("op", OPS)
@given(call=masked_calls())
def test_where_and_scale_match_oracle(strategy_name, op, call):
    x, axis, where, scale = call
    result = run(OPS[op], x, strategy_name, axis=axis, where=where, scale=scale)
    if result is None:
        return
    check(op, result, masked_oracle(op, x, axis, where, scale), x.dtype)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("n", [7, 50, 64, 65, 300, 3001])
def test_where_rows_with_nothing_selected_are_zero_never_nan(strategy_name, op, n):
    x = np.random.default_rng(0).standard_normal((40, n)).astype(np.float32)
    where = np.random.default_rng(1).random((40, n)) < 0.5
    where[::3] = False                          # every third row: nothing selected
    x[~where] = np.nan                          # masked-out values are ignored
    x[1, ~where[1]] = np.inf
    result = run(OPS[op], x, strategy_name, where=where)
    if result is None:
        return
    assert not np.isnan(result).any()
    fill = 0.0 if op == "softmax" else -np.inf
    assert (result[~where] == fill).all()
    check(op, result, masked_oracle(op, np.where(where, x, 0), -1, where), np.float32)


def test_where_is_fused_and_x_is_not_copied(monkeypatch):
    """The row kernel reads x itself (no masked copy) for contiguous rows."""
    x = np.random.default_rng(0).standard_normal((64, 128)).astype(np.float32)
    where = np.random.default_rng(1).random((1, 128)) < 0.7
    seen = {}
    real = _vectorized.rows

    def spy(xin, y, *args):
        seen["x"] = xin
        return real(xin, y, *args)

    monkeypatch.setattr(_vectorized, "rows", spy)
    softmax(x, where=where, strategy="vectorized")
    assert np.shares_memory(seen["x"], x)


def test_where_and_scale_errors():
    x = np.ones((3, 4))
    with pytest.raises(TypeError, match="boolean"):
        softmax(x, where=np.ones((3, 4)))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        softmax(x, where=np.ones((2, 4), bool))
    with pytest.raises(TypeError, match="real scalar"):
        softmax(x, scale=np.ones(2))
    with pytest.raises(TypeError, match="real scalar"):
        softmax(x, scale=1j)
    with pytest.raises(TypeError, match="approx"):
        softmax(x, approx="yes")


def test_scale_is_softmax_of_scaled_input(strategy_name):
    x = np.random.default_rng(2).standard_normal((30, 500)).astype(np.float32)
    result = run(softmax, x, strategy_name, scale=0.088)
    if result is not None:
        check("softmax", result, masked_oracle("softmax", x, -1, True, np.float32(0.088)),
              np.float32)


# ---- approx ----------------------------------------------------------------

@pytest.mark.parametrize("dtype, rel", [(np.float32, 6e-6), (np.float64, 5e-11)])
def test_approx_exp2_over_its_whole_domain(isa, dtype, rel):
    """2^t of the approximate kernels, t <= 0, every binade down to underflow."""
    lo = -126 if dtype == np.float32 else -1022
    t = np.concatenate([np.linspace(lo, 0, 2_000_001),
                        -np.logspace(-40, np.log10(-lo), 100_001),
                        [0.0, -0.5, 0.5 - 1, lo + 0.25]]).astype(dtype)
    y = np.empty_like(t)
    _vectorized.exp(t, y, True)
    expected = np.exp2(t.astype(np.longdouble))
    assert np.max(np.abs(y / expected - 1)) <= rel
    assert y[t == 0][0] == 1.0
    specials = np.array([-np.inf, np.nan, lo - 2, lo - 1000], dtype)
    _vectorized.exp(specials, out := np.empty_like(specials), True)
    assert out[0] == 0 and np.isnan(out[1]) and out[2] == 0 and out[3] == 0


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, axis", [((64, 1000), -1), ((500, 40), -1), ((8, 3000), -1),
                                          ((4, 21, 300), 1), ((3, 70000), -1)])
def test_approx_meets_its_bound(strategy_name, op, dtype, shape, axis):
    x = (np.random.default_rng(3).standard_normal(shape) * 20).astype(dtype)
    x.flat[::97] = -80.0                        # deep in the exp range too
    result = run(OPS[op], x, strategy_name, axis=axis, approx=True)
    if result is None:
        return
    check(op, result, masked_oracle(op, x, axis, True), dtype, approx=True)


def test_approx_is_not_exact():
    """approx=True really takes the other exp (so the speed-up is real)."""
    x = np.random.default_rng(4).standard_normal((16, 1000)).astype(np.float32)
    assert not np.array_equal(softmax(x, approx=True, strategy="vectorized"),
                              softmax(x, strategy="vectorized"))


# ---- log_softmax at the max -----------------------------------------------

@pytest.mark.parametrize("dtype, gap", [(np.float32, 40.0), (np.float32, 80.0),
                                        (np.float64, 60.0), (np.float64, 700.0)])
@pytest.mark.parametrize("shape, axis", [((3,), -1), ((5, 40), -1), ((5, 1000), -1),
                                          ((40, 5), 0), ((2, 30, 7), 1), ((2, 21, 200), 1)])
@pytest.mark.parametrize("features", [{}, {"scale": 2.0}, {"where": True}, {"approx": True}])
def test_log_softmax_at_the_max_is_minus_log1p_of_the_rest(strategy_name, dtype, gap, shape,
                                                           axis, features):
    """Not rounded to 0 when the other terms are tiny (scipy gives 0).  (The
    gaps keep the results normal numbers: subnormals have no relative accuracy.)"""
    x = np.full(shape, -gap, dtype=dtype)
    x = x - np.arange(x.size, dtype=dtype).reshape(shape) % 3   # -gap, -gap-1, -gap-2
    index = [slice(None)] * x.ndim
    index[axis] = 0
    x[tuple(index)] = 0                                           # the max of each slice
    s = features.get("scale", 1.0)
    if "scale" in features:
        x = x / dtype(s)
    result = run(log_softmax, x, strategy_name, axis=axis, **features)
    if result is None:
        return
    terms = np.exp(s * x.astype(np.longdouble))
    rest = np.sum(np.where(x == 0, 0, terms), axis=axis, keepdims=True)
    expected = -np.log1p(rest)
    got = result[tuple(index)]
    assert (got < 0).all()
    rel = 1e-4 if features.get("approx") else 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got.astype(np.longdouble), np.squeeze(expected, axis), rtol=rel)


# ---- gradients -------------------------------------------------------------

def grad_oracle(op, y, dy, axis):
    y, dy = y.astype(np.longdouble), dy.astype(np.longdouble)
    if op == "softmax":
        return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))
    return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)


def assert_grad_accurate(op, g, y, dy, axis, rel):
    """|g - truth| <= rel * (the size of the terms), per element."""
    expected = grad_oracle(op, y, dy, axis)
    yl, dyl = y.astype(np.longdouble), dy.astype(np.longdouble)
    if op == "softmax":
        size = np.abs(yl) * (np.abs(dyl) + np.sum(np.abs(dyl * yl), axis=axis, keepdims=True))
    else:
        size = np.abs(dyl) + np.exp(yl) * np.sum(np.abs(dyl), axis=axis, keepdims=True)
    err = np.abs(g.astype(np.longdouble) - expected)
    bad = ~(err <= rel * size + np.finfo(g.dtype).tiny)
    assert not bad.any(), f"{bad.sum()} bad: got {g[bad][:3]}, expected {expected[bad][:3]}"


def run_grad(op, y, dy, strategy, axis=-1, **kwargs):
    problem = plan_grad(f"{op}_grad", y, dy, axis).problem
    with pysoftmax.strategy(strategy):
        if STRATEGIES[strategy].decline_reason(problem) is not None:
            with pytest.raises(ValueError, match="cannot compute this call"):
                GRADS[op](y, dy, axis=axis, **kwargs)
            return None
        return GRADS[op](y, dy, axis=axis, **kwargs)


@st.composite
def grad_calls(draw):
    shape, rng, dtype = shape_rng_dtype(draw, 300)
    axis = draw(st.sampled_from([-1, 0, None, (0, -1)]))
    x = rng.standard_normal(shape) * 3
    dy = rng.standard_normal(shape).astype(dtype)
    layout = draw(st.sampled_from(LAYOUTS))
    return x, with_layout(dy, layout), axis, dtype, layout


@pytest.mark.parametrize("op", OPS)
@given(call=grad_calls())
def test_grad_matches_float64_reference(strategy_name, op, call):
    x, dy, axis, dtype, layout = call
    if isinstance(axis, tuple) and x.ndim == 1:
        axis = -1
    y = with_layout(OPS[op](x, axis=axis).astype(dtype), layout)
    g = run_grad(op, y, dy, strategy_name, axis=axis)
    if g is None:
        return
    assert g.dtype == dtype and g.shape == y.shape
    assert_grad_accurate(op, g, y, dy, axis, 1e-5 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape, axis", [((3, 7), -1), ((4, 5, 6), 1), ((30,), 0)])
def test_grad_matches_finite_differences(strategy_name, op, shape, axis):
    """d/dx of sum(w * op(x)) by central differences, in float64."""
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(shape), rng.standard_normal(shape)
    y = OPS[op](x, axis=axis)
    g = run_grad(op, y, w, strategy_name, axis=axis)
    if g is None:
        return
    h = 1e-6
    numeric = np.empty_like(x)
    for i in itertools.product(*map(range, shape)):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        numeric[i] = (np.sum(w * OPS[op](xp, axis=axis))
                      - np.sum(w * OPS[op](xm, axis=axis))) / (2 * h)
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("target", ["y", "dy", "new"])
def test_grad_out_and_in_place(strategy_name, op, target):
    rng = np.random.default_rng(6)
    y = OPS[op](rng.standard_normal((20, 300)).astype(np.float32))
    dy = rng.standard_normal((20, 300)).astype(np.float32)
    expected = run_grad(op, y.copy(), dy.copy(), strategy_name)
    if expected is None:
        return
    out = {"y": y, "dy": dy, "new": np.empty_like(y)}[target]
    assert run_grad(op, y, dy, strategy_name, out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_grad_errors():
    y = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match="same shape"):
        softmax_grad(y, np.ones((2, 4)))
    with pytest.raises(AxisError):
        softmax_grad(y, np.ones((2, 3)), axis=2)
    with pytest.raises(TypeError, match="dtype"):
        log_softmax_grad(y, np.ones((2, 3), complex))
    with pytest.raises(TypeError, match="out has dtype"):
        softmax_grad(y, np.ones((2, 3)), out=np.empty((2, 3), np.float32))
    assert softmax_grad(np.ones((0, 3)), np.ones((0, 3))).shape == (0, 3)


def test_log_softmax_grad_of_positive_y_uses_exact_exp():
    """y > 0 is no log-probability, but the formula still holds."""
    y, dy = np.array([[0.5, -1.0, 3.0]]), np.array([[1.0, 2.0, 3.0]])
    for strategy in ("reference", "vectorized"):
        with pysoftmax.strategy(strategy):
            np.testing.assert_allclose(log_softmax_grad(y, dy), dy - np.exp(y) * 6, rtol=1e-15)


# ---- half precision ----------------------------------------------------------

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype, rel", [(np.float16, 2.0**-11), (BF16, 2.0**-8)])
def test_half_precision_in_and_out(strategy_name, op, dtype, rel):
    x = (np.random.default_rng(7).standard_normal((30, 200)) * 4).astype(dtype)
    result = run(OPS[op], x, strategy_name)
    if result is None:
        return
    assert result.dtype == dtype
    expected = masked_oracle(op, x.astype(np.float64), -1, True)
    got = result.astype(np.longdouble)
    tiny = float(np.finfo(np.float16).smallest_subnormal) if dtype == np.float16 else 1e-38
    floor = tiny if op == "softmax" else 0
    assert (np.abs(got - expected) <= rel * 1.01 * np.abs(expected) + floor).all()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.float16, BF16])
def test_half_precision_gradients(strategy_name, op, dtype):
    rng = np.random.default_rng(8)
    y = OPS[op](rng.standard_normal((10, 100)).astype(np.float32)).astype(dtype)
    dy = rng.standard_normal((10, 100)).astype(dtype)
    g = run_grad(op, y, dy, strategy_name)
    if g is None:
        return
    assert g.dtype == dtype
    expected = grad_oracle(op, y.astype(np.float64), dy.astype(np.float64), -1)
    rel = 2.0**-8 if dtype == BF16 else 2.0**-11
    assert_grad_accurate(op, g.astype(np.float64), y.astype(np.float64), dy.astype(np.float64),
                         -1, 2 * rel)
    np.testing.assert_allclose(g.astype(np.float64), expected.astype(np.float64),
                               rtol=4 * rel, atol=4 * rel * float(np.abs(expected).max()))


def test_bfloat16_dtype_argument():
    x = np.array([1.0, 2.0, 3.0])
    result = softmax(x, dtype=BF16)
    assert result.dtype == BF16
    np.testing.assert_allclose(result.astype(np.float64), softmax(x), rtol=2.0**-8)


# ---- routing ---------------------------------------------------------------------

FEATURES = {"plain": {}, "where": {"where": True}, "scale": {"scale": 0.5},
            "approx": {"approx": True}}
# The forward ops with every feature; the gradients take none.
COMBINATIONS = ([pytest.param(op, feature, id=f"{op}-{feature}")
                 for op in OPS for feature in FEATURES]
                + [pytest.param(f"{op}_grad", "plain", id=f"{op}_grad") for op in OPS])


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
@pytest.mark.parametrize("op, feature", COMBINATIONS)
@pytest.mark.parametrize("kind", ["last", "inner"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_combination_is_computed_or_declined(strategy, op, feature, kind, dtype):
    """Each strategy computes a combination or declines it, and automatic
    dispatch always finds one that computes it, correctly."""
    require_strategy(strategy)
    extra = FEATURES[feature]
    x = np.random.default_rng(9).standard_normal((6, 50, 3 if kind == "inner" else 1))
    x = np.squeeze(x, -1) if kind == "last" else x
    x = x.astype(dtype)
    axis = -1 if kind == "last" else 1
    if op.endswith("_grad"):
        base = op[:-len("_grad")]
        y = OPS[base](x, axis=axis)
        dy = x[::-1].copy()
        g = run_grad(base, y, dy, strategy, axis=axis)
        auto = GRADS[base](y, dy, axis=axis)
        assert_grad_accurate(base, auto, y, dy, axis, 1e-5 if dtype == np.float32 else 1e-13)
        if g is not None:
            assert_grad_accurate(base, g, y, dy, axis, 1e-5 if dtype == np.float32 else 1e-13)
    else:
        kwargs = dict(extra)
        if "where" in extra:
            kwargs["where"] = np.arange(x.size).reshape(x.shape) % 4 != 0
        expected = masked_oracle(op, x, axis, kwargs.get("where", True), kwargs.get("scale"))
        result = run(OPS[op], x, strategy, axis=axis, **kwargs)
        for r in (result, OPS[op](x, axis=axis, **kwargs)):
            if r is not None:
                check(op, r, expected, dtype, approx=extra.get("approx", False))
