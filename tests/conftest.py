"""Shared fixtures: every strategy, the float64 oracle, array layouts.

The tests run against the installed package (README: `pytest tests`), never
the source tree: the compiled kernels exist only in the installed copy.
"""
import os
import threading

import numpy as np
import pytest
import scipy.special
from hypothesis import HealthCheck, settings

import pysoftmax
from pysoftmax._plan import plan_forward
from pysoftmax.strategies import STRATEGIES, vectorized

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("default", deadline=None, max_examples=120,
                          suppress_health_check=_SLOW_OK)
settings.register_profile("ci", deadline=None, max_examples=200, derandomize=True,
                          suppress_health_check=_SLOW_OK)
settings.load_profile("ci" if os.environ.get("CI") else "default")

# Every strategy the package defines (vectorized on the best instruction set
# of this CPU), plus the vectorized kernels forced onto each other set the
# CPU supports ("vectorized-generic", "vectorized-avx2").
ISAS = vectorized.supported_isas()
STRATEGY_NAMES = sorted(pysoftmax.available_strategies())
STRATEGY_PARAMS = STRATEGY_NAMES + [
    f"vectorized-{isa}" for isa in ISAS if isa != vectorized.BEST_ISA]


def expected_strategies():
    """The strategies this run requires to be available: PYSOFTMAX_EXPECT_STRATEGIES,
    "all" (CI's default build: a broken MKL or oneDNN build fails) or names
    separated by commas (CI's build with -Dmkl=disabled -Donednn=disabled:
    "reference,vectorized"); unset, only those two, which every build has.
    The tests of an expected strategy that is unavailable fail; those of
    another unavailable strategy are skipped with its reason."""
    value = os.environ.get("PYSOFTMAX_EXPECT_STRATEGIES", "reference,vectorized")
    names = set(STRATEGY_NAMES) if value.strip() == "all" else {
        name.strip() for name in value.split(",") if name.strip()}
    unknown = names - set(STRATEGY_NAMES)
    assert not unknown, f"PYSOFTMAX_EXPECT_STRATEGIES names no strategy {sorted(unknown)}"
    return names


def require_strategy(name):
    """Skip the calling test, with the reason, if strategy `name` is unavailable
    here and not expected (expected_strategies: then it fails)."""
    status = pysoftmax.available_strategies()[name]
    if status.available:
        return
    assert name not in expected_strategies(), (
        f"strategy {name!r} unavailable: {status.reason} (PYSOFTMAX_EXPECT_STRATEGIES "
        "requires it)")
    pytest.skip(f"strategy {name!r} unavailable: {status.reason}")


@pytest.fixture(params=STRATEGY_PARAMS)
def strategy_name(request):
    """The name of a strategy, checked to be available (require_strategy)."""
    name, _, isa = request.param.partition("-")
    require_strategy(name)
    if isa:
        assert vectorized.set_isa(isa) == isa
    try:
        yield name
    finally:
        if isa:
            vectorized.set_isa()


@pytest.fixture(params=ISAS)
def isa(request):
    """Each instruction set of the vectorized kernels that this CPU supports,
    switched on for the test."""
    assert vectorized.set_isa(request.param) == request.param
    try:
        yield request.param
    finally:
        vectorized.set_isa()


def problem_of(op, x, axis=-1, dtype=None, where=None, scale=None, approx=False):
    """The canonical Problem of the call op(x, axis, ...) (`op` a name such as
    "softmax"), or None for an empty x."""
    return plan_forward(op, x, axis, dtype, where, scale, approx).problem


def declined(strategy, op, x, axis=-1, dtype=None, where=None, scale=None, approx=False,
             **_):
    """The reason `strategy` declines this call, or None if it computes it."""
    problem = problem_of(op.__name__, x, axis, dtype, where, scale, approx)
    return None if problem is None else STRATEGIES[strategy].decline_reason(problem)


def run(op, x, strategy, axis=-1, **kwargs):
    """op(x, axis=axis, strategy=strategy, **kwargs), or None when the strategy
    declines the call: then the request must fail with a clear ValueError
    naming the reason (and touch nothing)."""
    reason = declined(strategy, op, x, axis, **kwargs)
    if reason is None:
        return op(x, axis=axis, strategy=strategy, **kwargs)
    out = kwargs.get("out")
    before = None if out is None else out.copy()
    with pytest.raises(ValueError, match="cannot compute this call"):
        op(x, axis=axis, strategy=strategy, **kwargs)
    if out is not None:
        np.testing.assert_array_equal(out, before)
    return None


def refuses(op, x, strategy, axis=-1, **kwargs):
    """True if `strategy` declines this call (after checking the clear error)."""
    if declined(strategy, op, x, axis, **kwargs) is None:
        return False
    run(op, x, strategy, axis=axis, **kwargs)      # asserts the clear ValueError
    return True


def oracle(op, x, axis):
    """softmax/log_softmax of x in long double (SciPy's formula): the truth."""
    x = np.asarray(x).astype(np.longdouble)
    with np.errstate(invalid="ignore", divide="ignore"):
        if op == "softmax":
            return scipy.special.softmax(x, axis=axis)
        return scipy.special.log_softmax(x, axis=axis)


def assert_accurate(op, result, x, axis):
    """The accuracy bounds of docs/contract.md, for the dtype of `result`."""
    expected = oracle(op, x, axis)
    assert result.shape == expected.shape
    if result.dtype == np.float16:
        # what float16 can hold: beyond its range the true answer is +-inf
        with np.errstate(over="ignore"):
            expected = expected.astype(np.float16).astype(np.longdouble)
    got = result.astype(np.longdouble)
    with np.errstate(invalid="ignore"):
        err = np.where(got == expected, 0, np.abs(got - expected))
    bound = accuracy_bound(op, result.dtype, expected)
    bad = ~(err <= bound)
    assert not bad.any(), (
        f"{op} {result.dtype}: {bad.sum()} of {bad.size} outside the bound; worst at "
        f"{np.unravel_index(np.argmax(np.where(bad, err / bound, 0)), bad.shape)}: "
        f"got {got[bad][:3]}, expected {expected[bad][:3]}")


def accuracy_bound(op, dtype, expected):
    """The largest error docs/contract.md allows each result of `op`
    ("softmax" or "log_softmax") in `dtype`, whose true values are `expected`."""
    if op == "softmax":
        if dtype == np.float16:
            return 1e-7 + 1e-3 * expected
        if dtype == np.float32:
            return np.where(expected >= 1e-30, np.minimum(1e-6, 1e-5 * expected), 1e-6)
        return np.where(expected >= 1e-300, 1e-13 * expected, 1e-300)
    if dtype == np.float16:
        return 2e-3 + 1e-3 * np.abs(expected)
    if dtype == np.float32:
        # the softmax bound (relative 1e-5) seen in log space
        return 1e-5 + 1e-6 * np.abs(expected)
    return 1e-13 * (1 + np.abs(expected))


LAYOUTS = ("C", "F", "strided", "reversed", "unaligned", "readonly", "transposed")

# Strategies whose results are bit-identical whatever the layout, the address
# of the data and the thread count.  MKL's and oneDNN's internal reductions
# can depend on the address (measured: cblas_dasum), so for them "the same"
# means within a few ulp.
BITWISE = {"reference", "vectorized"}


def assert_same(result, expected, strategy, err_msg=""):
    """Identical bits for BITWISE strategies, else equal to 4 ulp."""
    if strategy in BITWISE:
        np.testing.assert_array_equal(result, expected, err_msg=err_msg)
    else:
        eps = np.finfo(result.dtype).eps
        np.testing.assert_allclose(result, expected, rtol=4 * eps,
                                   atol=4 * np.finfo(result.dtype).tiny, err_msg=err_msg)


def with_layout(x, layout):
    """An array equal to x (same values, shape, dtype) in the given layout."""
    x = np.ascontiguousarray(x)
    if layout == "C":
        return x
    if layout == "F":
        return np.asfortranarray(x)
    if layout == "strided":
        big = np.zeros(tuple(2 * s for s in x.shape), dtype=x.dtype)
        view = big[tuple(slice(None, None, 2) for _ in x.shape)]
        view[...] = x
        return view
    if layout == "reversed":
        base = np.ascontiguousarray(x[tuple(slice(None, None, -1) for _ in x.shape)])
        return base[tuple(slice(None, None, -1) for _ in x.shape)]
    if layout == "unaligned":
        raw = np.zeros(x.nbytes + x.itemsize + 1, dtype=np.uint8)
        view = raw[1:1 + x.nbytes].view(x.dtype).reshape(x.shape)
        view[...] = x
        return view
    if layout == "readonly":
        y = x.copy()
        y.setflags(write=False)
        return y
    if layout == "transposed":
        return np.ascontiguousarray(x.T).T
    raise ValueError(layout)


def spy_on_runs(monkeypatch):
    """A list that gets the name of each strategy whose run() is called from
    now on (the calls still compute)."""
    ran = []
    for name, module in STRATEGIES.items():
        def spy(*args, _name=name, _run=module.run, **kwargs):
            ran.append(_name)
            return _run(*args, **kwargs)
        monkeypatch.setattr(module, "run", spy)
    return ran


@pytest.fixture
def kernel_inputs(monkeypatch):
    """A list that gets the operands (plan.arrays) our strategies are handed
    by each call of the general path from now on (the calls still compute)."""
    from pysoftmax import _api
    seen = []
    execute = _api.execute

    def spy(plan, choice, out):
        seen.append(plan.arrays)
        return execute(plan, choice, out)

    monkeypatch.setattr(_api, "execute", spy)
    return seen


def assert_same_bits(a, b):
    """a and b (array-likes) have the same dtype, shape and bytes."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), (a, b)


def run_in_threads(worker, count):
    """worker(i) for i < count, each on a thread of its own; returns when all
    have finished (the worker collects its own errors)."""
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
