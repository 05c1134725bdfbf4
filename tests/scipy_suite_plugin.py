"""pytest plugin: SciPy's own tests of softmax, log_softmax and logsumexp,
run on pysoftmax's functions.

Loaded by tests/test_scipy_suite.py into a pytest of SciPy's installed
``scipy/special/tests/test_logsumexp.py`` (``-p scipy_suite_plugin``, with
this directory on PYTHONPATH).  It

- replaces ``softmax``, ``log_softmax`` and ``logsumexp`` in that test
  module's namespace by wrappers of pysoftmax's that keep SciPy's signature
  and default ``axis=None`` and carry SciPy's lazy-backend tags (so JAX runs
  them under jax.jit, Dask checks they compute nothing), and checks before
  every test that they are still the ones it runs (a test that ran SciPy's
  own would prove nothing);
- keeps only the classes TestSoftmax, TestLogSoftmax and TestLogSumExp, and
  deselects what the environment variable PYSOFTMAX_SCIPY_DESELECT lists
  (JSON: [test class or function name or "*", regular expression searched in
  the parameter id or null for all, reason]); a rule that deselects nothing is an error, so the
  list cannot go stale;
- writes each test's outcome, per backend, to PYSOFTMAX_SCIPY_REPORT (JSON).

PYSOFTMAX_SCIPY_BROKEN=1 replaces softmax by a wrong one (outputs times
1.001): the run must then fail, which shows the replacement is what runs.
"""
import json
import os
import re
import sys

import pytest

import pysoftmax

TEST_MODULE = "scipy.special.tests.test_logsumexp"
CLASSES = ("TestSoftmax", "TestLogSoftmax", "TestLogSumExp")


def softmax(x, axis=None):
    return pysoftmax.softmax(x, axis=axis)


def log_softmax(x, axis=None):
    return pysoftmax.log_softmax(x, axis=axis)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    return pysoftmax.logsumexp(a, axis=axis, b=b, keepdims=keepdims,
                               return_sign=return_sign)


def broken_softmax(x, axis=None):
    return pysoftmax.softmax(x, axis=axis) * 1.001


def _replacements():
    found = {"softmax": softmax, "log_softmax": log_softmax}
    if os.environ.get("PYSOFTMAX_SCIPY_BROKEN"):
        found["softmax"] = broken_softmax
    if hasattr(pysoftmax, "logsumexp"):
        found["logsumexp"] = logsumexp
    return found


REPLACED = _replacements()
_outcomes = {}
_deselected = []


def _unwrapped(f):
    """`f` without the wrappers SciPy's fixtures may put around it (its lazy
    backends wrap the tested functions to check they compute nothing)."""
    while hasattr(f, "__wrapped__"):
        f = f.__wrapped__
    return f


def _backend(item):
    """The `xp` parameter's id, or 'none' for a test without one."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or "xp" not in callspec.params:
        return "none"
    return callspec.id.split("-")[0] if callspec.id else "none"


def _deselect_reason(item, rules):
    """The reason of the first rule that matches `item` (every matching rule
    counts as used)."""
    names = ("*", item.cls.__name__, getattr(item, "originalname", item.name))
    param_id = item.callspec.id if hasattr(item, "callspec") else ""
    reasons = []
    for test, pattern, reason in rules:
        if test in names and (pattern is None or re.search(pattern, param_id)):
            _rule_hits[(test, pattern)] += 1
            reasons.append(reason)
    return reasons[0] if reasons else None


_rule_hits = {}


def pytest_collection_modifyitems(config, items):
    module = sys.modules[TEST_MODULE]
    for name, fn in REPLACED.items():
        # SciPy's tags (xpx.testing.lazy_xp_function): its fixtures then run
        # ours as they run its own, under jax.jit, and on Dask checking that
        # nothing is computed
        tags = getattr(getattr(module, name), "_lazy_xp_function", None)
        if tags is not None:
            fn._lazy_xp_function = tags
        setattr(module, name, fn)
    rules = json.loads(os.environ.get("PYSOFTMAX_SCIPY_DESELECT", "[]"))
    for test, pattern, _ in rules:
        _rule_hits[(test, pattern)] = 0
    keep, drop = [], []
    for item in items:
        cls = item.cls.__name__ if item.cls is not None else None
        reason = ("not a test of softmax, log_softmax or logsumexp" if cls not in CLASSES
                  else _deselect_reason(item, rules))
        if reason is None:
            keep.append(item)
        else:
            drop.append(item)
            _deselected.append((item.nodeid, reason))
    stale = [rule for rule, hits in _rule_hits.items() if hits == 0]
    if stale:
        raise pytest.UsageError(f"deselection rules that match no test: {stale}")
    if "logsumexp" not in REPLACED and any(i.cls.__name__ == "TestLogSumExp" for i in keep):
        raise pytest.UsageError("pysoftmax has no logsumexp: deselect TestLogSumExp")
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    """The test module must run our functions, nothing else."""
    module = sys.modules[TEST_MODULE]
    for name, fn in REPLACED.items():
        assert _unwrapped(getattr(module, name)) is fn, \
            f"{TEST_MODULE}.{name} is not pysoftmax's wrapper"


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        _outcomes[report.nodeid] = outcome


def pytest_collection_finish(session):
    session.config._scipy_items = {i.nodeid: _backend(i) for i in session.items}


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("PYSOFTMAX_SCIPY_REPORT")
    if not path:
        return
    backends = getattr(session.config, "_scipy_items", {})
    per_backend = {}
    for nodeid, outcome in _outcomes.items():
        counts = per_backend.setdefault(backends.get(nodeid, "none"), {})
        counts[outcome] = counts.get(outcome, 0) + 1
    with open(path, "w") as f:
        json.dump({"per_backend": per_backend, "deselected": _deselected,
                   "replaced": sorted(REPLACED), "exitstatus": int(exitstatus)}, f, indent=1)
