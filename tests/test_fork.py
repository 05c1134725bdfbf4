"""A forked child computes softmax (issue 12): GNU libgomp's thread pool does
not survive fork(), and fork is multiprocessing's default start method on
Linux (PyTorch's DataLoader workers use it).  After a fork pysoftmax runs on
one thread and never enters an OpenMP parallel region; oneDNN, whose own
parallel regions hang there even on one thread, declines."""
import multiprocessing

import numpy as np
import pytest
from conftest import assert_accurate, assert_same, declined

import pysoftmax

TIMEOUT = 30          # seconds; the child needs well under one

CASES = {             # op, shape, axis: each parallel loop of the drivers
    "rows": ("softmax", (4096, 512), -1),
    "log rows": ("log_softmax", (4096, 512), -1),
    "columns": ("softmax", (64, 512, 8), 1),
    "short rows": ("softmax", (8192, 40), -1),
}


def _in_child(op, x, axis, strategy):
    """What the child computes and on how many threads it says it runs."""
    try:
        y = getattr(pysoftmax, op)(x, axis=axis, strategy=strategy)
    except ValueError as exc:
        return None, str(exc), pysoftmax.get_config()["threads"]
    return y, None, pysoftmax.get_config()["threads"]


def _fork_and_call(*args):
    pool = multiprocessing.get_context("fork").Pool(1)
    try:
        return pool.apply_async(_in_child, args).get(timeout=TIMEOUT)
    finally:
        pool.terminate()
        pool.join()


@pytest.mark.parametrize("parent_threads", [2, 1])
@pytest.mark.parametrize("case", CASES)
def test_forked_child_finishes(strategy_name, case, parent_threads):
    """The parent runs the strategy (on 2 threads: a parallel region; on 1:
    oneDNN hung even so), then a forked child calls it: the child finishes
    with the right values on one thread, or declines clearly (onednn)."""
    op, shape, axis = CASES[case]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if declined(strategy_name, getattr(pysoftmax, op), x, axis) is not None:
        pytest.skip(f"{strategy_name} declines {case} in the parent already")
    with pysoftmax.num_threads(parent_threads):
        pysoftmax.softmax(np.ones((4096, 512), np.float32), strategy="vectorized")
        expected = getattr(pysoftmax, op)(x, axis=axis, strategy=strategy_name)
    y, error, threads = _fork_and_call(op, x, axis, strategy_name)
    assert threads == 1
    if strategy_name == "onednn":
        assert y is None and "does not survive fork()" in error, error
    else:
        assert error is None, error
        assert_accurate(op, y, x, axis)
        assert_same(y, expected, strategy_name)


@pytest.mark.parametrize("case", CASES)
def test_forked_child_auto(case):
    """Whatever the parent used, auto in a child computes on one thread."""
    op, shape, axis = CASES[case]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with pysoftmax.num_threads(2):
        for name, status in pysoftmax.available_strategies().items():
            if status.available and declined(name, getattr(pysoftmax, op), x, axis) is None:
                getattr(pysoftmax, op)(x, axis=axis, strategy=name)
        getattr(pysoftmax, op)(x, axis=axis)
    y, error, threads = _fork_and_call(op, x, axis, None)
    assert error is None and threads == 1
    assert_accurate(op, y, x, axis)


def test_forked_child_ignores_an_explicit_thread_count():
    """set_num_threads/num_threads inside the child cannot bring back threads."""
    pysoftmax.softmax(np.ones((4096, 512), np.float32), strategy="vectorized")
    x = np.random.default_rng(2).standard_normal((4096, 512)).astype(np.float32)
    with pysoftmax.num_threads(2):
        y, error, threads = _fork_and_call("softmax", x, -1, "vectorized")
    assert error is None and threads == 1
    assert_accurate("softmax", y, x, -1)
