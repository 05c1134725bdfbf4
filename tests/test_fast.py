"""The common call's fast path (issue 13, item 3): softmax(x) and
log_softmax(x) of a float32/float64 ndarray along the last axis go straight
to the kernel with a remembered decision; bit-identical to the general path,
and every other call (and every other input) keeps its behaviour."""
import multiprocessing
import warnings

import numpy as np
import pytest
from conftest import spy_on_runs
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from threadpoolctl import threadpool_limits

import pysoftmax
from pysoftmax import _fast, dispatch

OPS = {"softmax": pysoftmax.softmax, "log_softmax": pysoftmax.log_softmax}


def general(op, x, **kwargs):
    """op(x) computed by the general path."""
    previous = _fast.set_enabled(False)
    try:
        return OPS[op](x, **kwargs)
    finally:
        _fast.set_enabled(previous)


def assert_bits_equal(a, b):
    assert type(a) is type(b) and a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(np.asarray(a).view(f"u{a.dtype.itemsize}"),
                                  np.asarray(b).view(f"u{b.dtype.itemsize}"))


def _rng_array(shape, dtype, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 10).astype(dtype)


def _inputs(dtype):
    """name -> (x, taken): the fast path takes x (True) or leaves it (False)."""
    base = _rng_array((64, 301), dtype)
    special = base[:4, :8].copy()
    special[0, 1], special[1, 2], special[2, :] = np.nan, np.inf, -np.inf
    readonly = base.copy()
    readonly.flags.writeable = False
    swapped = base.astype(base.dtype.newbyteorder())
    unaligned = np.frombuffer(b"\0" + base.tobytes(), dtype, base.size, 1).reshape(base.shape)
    return {
        "1-D": (base[0], True),
        "1x8": (base[:1, :8].copy(), True),
        "3-D": (base.reshape(4, 16, 301), True),
        "n=1": (base[:, :1].copy(), True),
        "rows strided": (base[:, :100], True),
        "rows reversed": (base[::-1], True),
        "rows broadcast": (np.broadcast_to(base[0], (5, 301)), True),
        "read-only": (readonly, True),
        "non-finite": (special, True),
        "large": (_rng_array((1024, 1100), dtype), True),        # threads, pool
        "columns strided": (base[:, ::2], False),
        "Fortran order": (np.asfortranarray(base), False),
        "3-D strided": (base.reshape(4, 16, 301)[:, ::2], False),
        "swapped bytes": (swapped, False),
        "unaligned": (unaligned, False),
        "0-d": (base[0, 0].reshape(()), False),
        "empty rows": (base[:0], False),
        "empty slices": (base[:, :0], False),
    }


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS)
def test_same_bits_as_the_general_path(op, dtype, threads):
    with pysoftmax.num_threads(threads):
        for name, (x, taken) in _inputs(dtype).items():
            assert (_fast.planned_threads(x, op == "log_softmax") is not None) == taken, name
            if x.ndim == 0:                       # no last axis: the general path's error
                with pytest.raises(np.exceptions.AxisError):
                    OPS[op](x)
                continue
            y = OPS[op](x)
            assert_bits_equal(y, general(op, x))
            if y.ndim:
                assert y.flags.c_contiguous and y.flags.writeable and not np.shares_memory(y, x)
            if taken:                             # into out=, and in place
                out = np.empty(x.shape, x.dtype)
                assert OPS[op](x, out=out) is out
                assert_bits_equal(out, y)
                inplace = x.copy()
                assert OPS[op](inplace, out=inplace) is inplace
                assert_bits_equal(inplace, y)


@given(x=hnp.arrays(st.sampled_from([np.float32, np.float64]),
                    hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=40),
                    elements=st.floats(width=32)),
       op=st.sampled_from(list(OPS)))
def test_same_bits_as_the_general_path_for_any_values(x, op):
    assert _fast.planned_threads(x) is not None
    assert_bits_equal(OPS[op](x), general(op, x))


def test_subclasses_keep_their_behaviour():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        m = np.matrix([[1.0, 2.0], [3.0, 5.0]])
    assert _fast.planned_threads(m) is None
    assert_bits_equal(pysoftmax.softmax(m), general("softmax", m))
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(TypeError, match="masked arrays are not supported"):
        pysoftmax.softmax(masked)


def test_only_the_common_call_takes_it(monkeypatch):
    """Any argument besides x (but an out= the kernel can write directly)
    sends the call the general way (the spy sees vectorized.run), and so
    does a strategy set for the context."""
    ran = spy_on_runs(monkeypatch)
    x = _rng_array((8, 16), np.float32)
    expected = general("softmax", x)
    ran.clear()
    pysoftmax.softmax(x)
    pysoftmax.softmax(x, -1)
    assert ran == []
    out = np.empty_like(x)
    assert pysoftmax.softmax(x, out=out) is out and ran == []
    assert_bits_equal(out, expected)
    for kwargs in [{"axis": 1}, {"axis": (1,)}, {"axis": np.int64(-1)},
                   {"dtype": np.float32}, {"where": np.ones(16, bool)}, {"scale": 1.0},
                   {"approx": np.False_}, {"strategy": "vectorized"},
                   {"out": np.empty((8, 32), np.float32)[:, ::2]},
                   {"out": np.empty_like(x).view(np.recarray)}]:
        ran.clear()
        assert_bits_equal(pysoftmax.softmax(x, **kwargs)[...].view(np.ndarray), expected)
        assert ran == ["vectorized"], kwargs
    rows = np.concatenate([x, x[-1:]])            # x, and an out= one row further on
    ran.clear()
    pysoftmax.softmax(rows[:-1], out=rows[1:])    # partial overlap: x read from a copy
    assert ran == ["vectorized"]
    assert_bits_equal(rows[1:], expected)
    for bad, error in [(np.empty((8, 15), np.float32), ValueError),
                       (np.empty((8, 16), np.float64), TypeError)]:
        with pytest.raises(error):
            pysoftmax.softmax(x, out=bad)
    for name in ("reference", "auto"):
        with pysoftmax.strategy(name):
            ran.clear()
            pysoftmax.log_softmax(x)
            assert ran == ([] if name == "auto" else [name])


def test_the_thread_count_follows_the_context():
    x = _rng_array((1024, 1024), np.float32)        # big enough for threads
    for threads in (1, 2, 3):
        with pysoftmax.num_threads(threads):
            assert _fast.planned_threads(x) == dispatch.explain(x).threads
    with pysoftmax.num_threads(2), threadpool_limits(1, user_api="openmp"):
        assert _fast.planned_threads(x) == 2             # an explicit count wins
    with threadpool_limits(1, user_api="openmp"):
        assert _fast.planned_threads(x) == 1 == dispatch.explain(x).threads


def _in_child(x):
    with pysoftmax.num_threads(2):
        return _fast.planned_threads(x), pysoftmax.softmax(x)


def test_a_forked_child_runs_on_one_thread():
    x = _rng_array((1024, 1024), np.float32)
    with pysoftmax.num_threads(2):
        assert _fast.planned_threads(x) == 2
        pysoftmax.softmax(x)                              # remembered in the parent
    pool = multiprocessing.get_context("fork").Pool(1)
    try:
        threads, y = pool.apply_async(_in_child, (x,)).get(timeout=60)
    finally:
        pool.terminate()
        pool.join()
    assert threads == 1
    assert_bits_equal(y, pysoftmax.softmax(x))
