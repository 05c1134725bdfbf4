"""Property tests that draw *values*: every strategy, op, dtype, axis kind
and feature against an oracle of the exact products s*x.

The elements come from the whole float range: +-inf, NaN, zeros of both
signs, subnormals, the dtype's extremes, ties, and moderate values so that
results are not all one-hot; scales run from 1e-30 to 1e30, of both signs,
and 0.  The oracle (`exact_oracle`) computes each exponent s*x - max(s*x)
exactly with fractions, then the rest in long double, and follows the
documented semantics for non-finite values and masks; `check_bounds` holds
the result to the documented accuracy bounds (approx=True: its own).

A strategy that declines a (op, dtype, kind, feature) combination is
reported as a skip, after checking that forcing it raises the clear error.
"""
import fractions
import math

import numpy as np
import pytest
from conftest import declined, run
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pysoftmax import log_softmax, softmax
from pysoftmax._plan import work_dtype

OPS = {"softmax": softmax, "log_softmax": log_softmax}
FEATURES = ("plain", "scale", "where", "where+scale", "approx", "approx+scale")
KINDS = {"last": -1, "inner": 1, "all": None}


# ---- the oracle ---------------------------------------------------------

def _longdouble(q):
    """The Fraction q rounded to long double (via two float64 parts);
    -inf below -1e308 (beyond float64, where results round to -inf)."""
    if q < -1e308:
        return np.longdouble(-np.inf)
    hi = float(q)
    return np.longdouble(hi) + np.longdouble(float(q - fractions.Fraction(hi)))


def _oracle_row(op, x, keep, s):
    """op of the products s*x[keep] for one row, in long double."""
    n = len(x)
    fill = 0 if op == "softmax" else -np.inf
    out = np.full(n, fill, np.longdouble)
    sel = [j for j in range(n) if keep[j]]
    if not sel:
        return out
    products = {}
    for j in sel:
        v = float(x[j])
        exact = math.isfinite(v) and s != 0
        products[j] = fractions.Fraction(s) * fractions.Fraction(v) if exact else s * v
    finite = [p for p in products.values() if isinstance(p, fractions.Fraction) or math.isfinite(p)]
    if any(isinstance(p, float) and (math.isnan(p) or p == math.inf) for p in products.values()) \
            or not finite:
        out[sel] = np.nan          # a NaN or +inf product, or only -inf: the slice is NaN
        return out
    top = max(finite)
    d = {j: (np.longdouble(-np.inf) if isinstance(p, float) and p == -math.inf
             else _longdouble(fractions.Fraction(p) - top)) for j, p in products.items()}
    ones = sum(1 for v in d.values() if v == 0)
    others = sum((np.exp(v) for v in d.values() if v != 0), np.longdouble(0))
    log_sum = np.log(np.longdouble(ones)) + np.log1p(others / ones)
    for j, v in d.items():
        out[j] = np.exp(v - log_sum) if op == "softmax" else v - log_sum
    return out


def exact_oracle(op, x, axis, scale=None, where=None):
    """op(x, axis, scale=scale, where=where) from the exact products, in long double."""
    x = np.asarray(x)
    s = 1.0 if scale is None else float(work_dtype(x.dtype).type(scale))
    keep = np.ones(x.shape, bool) if where is None else np.broadcast_to(where, x.shape)
    axes = tuple(range(x.ndim)) if axis is None else (axis % x.ndim,)
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    perm = rest + axes
    xt, kt = x.transpose(perm), keep.transpose(perm)
    n = math.prod(x.shape[i] for i in axes)
    rows_x, rows_k = xt.reshape(-1, n), kt.reshape(-1, n)
    result = np.stack([_oracle_row(op, rx, rk, s) for rx, rk in zip(rows_x, rows_k)])
    return result.reshape(xt.shape).transpose(np.argsort(perm))


def check_bounds(op, result, expected, approx=False):
    """result within the documented bounds of expected (long double)."""
    dtype = result.dtype
    info = np.finfo(dtype)
    got = result.astype(np.longdouble)
    nan_got, nan_expected = np.isnan(got), np.isnan(expected)
    assert (nan_got == nan_expected).all(), (
        f"NaN where none is due (or none where due): got {got[nan_got != nan_expected][:4]}, "
        f"expected {expected[nan_got != nan_expected][:4]}")
    with np.errstate(over="ignore"):
        rounded = expected.astype(dtype).astype(np.longdouble)   # +-inf beyond the range
    e = np.where(nan_expected, 0, expected)
    g = np.where(nan_got, 0, got)
    beyond = np.isinf(rounded) | np.isinf(g)
    # past the largest finite value, rounding may land on either side of it;
    # approx log_softmax works in base 2 and saturates below -max * ln 2
    limit = info.max * (math.log(2) if approx and op == "log_softmax" else 1 - 4 * info.eps)
    edge = beyond & (np.abs(e) >= limit) & (np.sign(g) == np.sign(e))
    assert (~beyond | (g == rounded) | edge).all(), (
        f"infinite where not due: got {g[beyond][:4]}, expected {e[beyond][:4]}")
    finite = ~beyond
    with np.errstate(invalid="ignore"):
        err = np.where(finite & (g != e), np.abs(g - e), 0)
    single = dtype == np.float32
    if approx:
        rel, tiny = (1e-4, 1e-30) if single else (1e-9, 1e-300)
        bound = (np.where(e >= tiny, rel * e, tiny) if op == "softmax"
                 else rel * (1 + np.abs(e)))
    elif op == "softmax":
        bound = (np.where(e >= 1e-30, np.minimum(1e-6, 1e-5 * e), 1e-6) if single
                 else np.where(e >= 1e-300, 1e-13 * e, 1e-300))
    else:
        bound = 1e-5 + 1e-6 * np.abs(e) if single else 1e-13 * (1 + np.abs(e))
    bad = ~(err <= bound)
    assert not bad.any(), (
        f"{op} {dtype}: {bad.sum()} of {bad.size} outside the bound; got {g[bad][:4]}, "
        f"expected {e[bad][:4]}")


# ---- what the tests draw ------------------------------------------------

def _elements(dtype):
    info = np.finfo(dtype)
    width = 32 if dtype == np.float32 else 64
    special = st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, float(info.max),
                               -float(info.max), float(info.tiny), float(info.smallest_subnormal),
                               -float(info.smallest_subnormal), 1.0, -1.0])
    whole = st.floats(allow_nan=False, allow_infinity=False, width=width)
    moderate = st.floats(-100, 100, width=width)
    small_ints = st.integers(-8, 8).map(float)          # ties
    return st.one_of(whole, moderate, moderate, moderate, small_ints, special)


def _shape(kind):
    if kind == "inner":
        return st.tuples(st.integers(1, 2), st.integers(1, 40), st.integers(2, 5))
    return st.tuples(st.integers(1, 3), st.integers(1, 200))


_scales = st.one_of(
    st.sampled_from([1.0, -1.0, 0.0, 1e30, -1e30, 1e-30, 0.3, 1e9]),
    st.floats(1e-30, 1e30).flatmap(lambda v: st.sampled_from([v, -v])))


@st.composite
def calls(draw, dtype, kind, feature):
    """(x, axis, keyword arguments) for one call."""
    shape = draw(_shape(kind))
    x = draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))
    kwargs = {}
    if "scale" in feature:
        kwargs["scale"] = draw(_scales)
    if "where" in feature:
        mshape = tuple(1 if draw(st.booleans()) else n for n in shape)
        kwargs["where"] = draw(hnp.arrays(np.bool_, mshape))
    if "approx" in feature:
        kwargs["approx"] = True
    return x, KINDS[kind], kwargs


def _representative(dtype, kind, feature):
    """A small call of this dtype, kind and feature: (x, axis, kwargs)."""
    shape = (2, 5, 3) if kind == "inner" else (2, 5)
    kwargs = {"scale": 2.0} if "scale" in feature else {}
    if "where" in feature:
        kwargs["where"] = np.ones(shape, bool)
    if "approx" in feature:
        kwargs["approx"] = True
    return np.zeros(shape, dtype), KINDS[kind], kwargs


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_drawn_values_meet_the_bounds(strategy_name, op, dtype, kind, feature):
    x, axis, kwargs = _representative(dtype, kind, feature)
    if run(OPS[op], x, strategy_name, axis=axis, **kwargs) is None:   # the error is checked
        pytest.skip(f"declined: {declined(strategy_name, OPS[op], x, axis, **kwargs)}")

    @settings(max_examples=30)
    @given(calls(dtype, kind, feature))
    def drawn(call):
        x, axis, kwargs = call
        result = run(OPS[op], x, strategy_name, axis=axis, **kwargs)
        assume(result is not None)         # declined for its size (checked): not counted
        with np.errstate(all="ignore"):
            expected = exact_oracle(op, x, axis, kwargs.get("scale"), kwargs.get("where"))
        assert result.dtype == dtype
        check_bounds(op, result, expected, kwargs.get("approx", False))

    drawn()


# The reproducers of issue 12 (items 1 and 2): large |scale * x|, approx.
LARGE_PRODUCTS = [
    ("softmax", np.array([[-1e30, -1e30]], np.float32), {"scale": 0.3}),
    ("log_softmax", np.array([[1e30, -1e30, 0]]), {"scale": 0.3}),
    ("log_softmax", np.array([100, 0], np.float32), {"scale": 1e9}),
    ("softmax", np.array([1e10, 0], np.float32), {"approx": True}),
    ("log_softmax", np.array([[-1e30, -1e30]]), {"approx": True}),
    ("softmax", np.array([[3e38, 2.9e38, 1e38] * 30], np.float32), {"scale": 1e30}),
    ("log_softmax", np.array([[1e300, -1e300, 1e300 * (1 - 2**-52)]]), {"scale": -1e30}),
    ("softmax", np.array([[1234.5678, 1234.5679, 1000.1]] * 3, np.float32).T,
     {"scale": 0.7071, "axis": 0}),
    ("log_softmax", np.array([[1e20, 1e20 + 1e5, -3.0]] * 70, np.float32),
     {"scale": -3e-10, "where": np.array([True, True, False])}),
]


@pytest.mark.parametrize("op, x, kwargs", LARGE_PRODUCTS)
def test_large_products(strategy_name, op, x, kwargs):
    kwargs = dict(kwargs)
    axis = kwargs.pop("axis", -1)
    result = run(OPS[op], x, strategy_name, axis=axis, **kwargs)   # the error is checked
    if result is None:
        pytest.skip(f"declined: {declined(strategy_name, OPS[op], x, axis, **kwargs)}")
    with np.errstate(all="ignore"):
        expected = exact_oracle(op, x, axis, kwargs.get("scale"), kwargs.get("where"))
    check_bounds(op, result, expected, kwargs.get("approx", False))
