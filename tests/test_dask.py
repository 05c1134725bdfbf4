"""softmax, log_softmax and logsumexp of Dask arrays (pysoftmax/_dask.py).

Each result is a lazy Dask array with x's chunks, computed by the threaded
scheduler here and by a LocalCluster of two worker processes at the end,
against the NumPy results of our own functions: bit-identical where each
slice lies in one chunk (the same kernels on each chunk), within twice the
contract's bounds (both within the bound of the truth) where the reduced axes
are split across chunks (the two-level reduction).
"""
import faulthandler
import subprocess
import sys

import numpy as np
import pytest
import scipy.special
from conftest import accuracy_bound, spy_on_runs
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.exceptions import AxisError

import pysoftmax
from pysoftmax import _bench_dask, _dask, log_softmax, softmax

da = pytest.importorskip("dask.array")

OPS = {"softmax": softmax, "log_softmax": log_softmax}

# (shape, chunks, axis, split): 1-D to 3-D, the reduced axes whole in each
# chunk or split across chunks, irregular chunks and an empty chunk.
CASES = [
    ((17,), (17,), -1, False),
    ((17,), (5,), -1, True),
    ((17,), (4,), None, True),
    ((6, 9), (2, 9), -1, False),
    ((6, 9), (6, 4), -1, True),
    ((6, 9), (6, 4), 0, False),
    ((6, 9), (2, 4), 0, True),
    ((6, 9), (2, 4), None, True),
    ((6, 9), (6, 9), None, False),
    ((5, 6, 7), (5, 2, 7), (0, 2), False),
    ((5, 6, 7), (2, 6, 3), (0, 2), True),
    ((5, 6, 7), (2, 3, 4), 1, True),
    ((5, 6, 7), (5, 3, 4), (0, -1), True),
    ((5, 6, 7), (2, 3, 4), None, True),
    ((10, 7), ((3, 0, 7), (7,)), 0, True),
    ((10, 7), ((3, 0, 7), (4, 3)), -1, True),
]
IDS = [f"{'x'.join(map(str, s))}-{c}-axis{a}" for s, c, a, _ in CASES]


def data(shape, dtype=np.float64, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 4).astype(dtype)


def assert_matches(op, got, expected):
    """`got` within twice the contract's bound of our NumPy result `expected`
    (the same shape and dtype, NaN where it has NaN, the same infinities)."""
    assert got.shape == expected.shape and got.dtype == expected.dtype
    g, e = got.astype(np.longdouble), expected.astype(np.longdouble)
    with np.errstate(invalid="ignore"):
        err = np.where((g == e) | np.isnan(g) & np.isnan(e), 0, np.abs(g - e))
    bound = 2 * accuracy_bound(op, got.dtype, np.where(np.isfinite(e), np.abs(e), 0))
    bad = ~(err <= bound)
    assert not bad.any(), f"{bad.sum()} of {bad.size} outside: got {g[bad][:3]}, " \
                          f"expected {e[bad][:3]}"


def check_lazy_result(y, x, dtype):
    """A Dask array with x's shape and chunks, and the right dtype and meta."""
    assert isinstance(y, da.Array)
    assert y.shape == x.shape and y.chunks == x.chunks
    assert y.dtype == dtype and y._meta.dtype == dtype and isinstance(y._meta, np.ndarray)


def test_importing_pysoftmax_does_not_import_dask(tmp_path):
    code = ("import sys, numpy, pysoftmax\n"
            "pysoftmax.softmax(numpy.zeros(3))\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
            "assert not bad, bad\n"
            "assert not pysoftmax._dask.is_dask_array(numpy.zeros(3))\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, timeout=120)


def test_is_dask_array():
    x = da.zeros(3)
    assert _dask.is_dask_array(x) and not _dask.is_dask_array(np.zeros(3))
    assert not _dask.is_dask_array([1.0])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, chunks, axis, split", CASES, ids=IDS)
def test_matches_numpy(op, dtype, shape, chunks, axis, split):
    xn = data(shape, dtype)
    x = da.from_array(xn, chunks=chunks)
    assert _dask._Call(x, axis, None, None, None, None, None).split == split
    y = OPS[op](x, axis=axis)
    check_lazy_result(y, x, np.dtype(dtype))
    got = y.compute(scheduler="threads")
    expected = OPS[op](xn, axis=axis)
    assert_matches(op, got, expected)
    if not split:
        with pysoftmax.strategy("vectorized"):
            y = OPS[op](x, axis=axis)      # the strategy of the calling context, captured
        np.testing.assert_array_equal(y.compute(scheduler="threads"), chunk_by_chunk(
            OPS[op], xn, x.chunks, axis=axis, strategy="vectorized"))


def chunk_by_chunk(f, xn, chunks, **kwargs):
    """f of each chunk of xn (NumPy; array arguments, of xn's shape, cut
    alike), assembled.  Bit-identical to f(xn)
    where the reduced axes are the last ones (row kernels); the column
    kernels' result for a column can depend on the number of columns beside
    it (vector lanes or the tail: an ulp)."""
    result = None
    edges = [np.cumsum((0,) + c) for c in chunks]
    for index in np.ndindex(*(len(c) for c in chunks)):
        where = tuple(slice(e[i], e[i + 1]) for e, i in zip(edges, index))
        y = f(xn[where], **{k: v[where] if isinstance(v, np.ndarray) else v
                            for k, v in kwargs.items()})
        if result is None:
            result = np.empty(xn.shape, y.dtype)
        result[where] = y
    return result


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.float32])
@pytest.mark.parametrize("result", [None, np.float32, np.float64])
@pytest.mark.parametrize("chunks", [(3, 9), (3, 4)])
def test_dtypes(op, dtype, result, chunks):
    xn = data((6, 9), dtype)
    y = OPS[op](da.from_array(xn, chunks=chunks), dtype=result)
    expected = OPS[op](xn, dtype=result)
    assert y.dtype == expected.dtype
    assert_matches(op, y.compute(), expected)


@st.composite
def chunked_calls(draw):
    """(x, chunks, axis, where, scale): 1-D to 3-D, any chunking, any axes,
    values far apart or close, a mask broadcast or not, a scale or not."""
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 12), min_size=ndim, max_size=ndim)))
    chunks = tuple(draw(st.integers(1, n)) for n in shape)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    x = (rng.standard_normal(shape) * draw(st.sampled_from([1.0, 30.0, 1e3]))).astype(dtype)
    axes = draw(st.sampled_from([None, "one", "several"]))
    if axes == "one":
        axis = draw(st.integers(-ndim, ndim - 1))
    elif axes == "several":
        axis = tuple(draw(st.sets(st.integers(0, ndim - 1), min_size=1)))
    else:
        axis = None
    where = None
    if draw(st.booleans()):
        mshape = tuple(1 if draw(st.booleans()) else n for n in shape)
        where = rng.random(mshape) < draw(st.sampled_from([0.2, 0.9]))
    scale = draw(st.sampled_from([None, 0.125, -3.0]))
    return x, chunks, axis, where, scale


@settings(max_examples=60)
@given(call=chunked_calls(), op=st.sampled_from(sorted(OPS)))
def test_any_chunking_matches_numpy(call, op):
    x, chunks, axis, where, scale = call
    y = OPS[op](da.from_array(x, chunks=chunks), axis=axis, where=where, scale=scale)
    assert_matches(op, y.compute(scheduler="sync"), OPS[op](x, axis=axis, where=where,
                                                          scale=scale))


MASKS = {
    "numpy-full": lambda rng, shape: rng.random(shape) < 0.6,
    "numpy-row": lambda rng, shape: rng.random(shape[-1]) < 0.6,     # broadcast
    "numpy-column": lambda rng, shape: rng.random(shape[:-1] + (1,)) < 0.6,
    "dask-full": lambda rng, shape: da.from_array(rng.random(shape) < 0.6, chunks=2),
    "dask-row": lambda rng, shape: da.from_array(rng.random(shape[-1]) < 0.6, chunks=3),
}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("mask", [None, *MASKS])
@pytest.mark.parametrize("scale", [None, 0.3, -2.5])
@pytest.mark.parametrize("shape, chunks, axis, split", [CASES[i] for i in (4, 6, 7, 9, 11)],
                         ids=[IDS[i] for i in (4, 6, 7, 9, 11)])
def test_where_and_scale(op, mask, scale, shape, chunks, axis, split):
    rng = np.random.default_rng(3)
    xn = data(shape, np.float32)
    where = None if mask is None else MASKS[mask](rng, shape)
    y = OPS[op](da.from_array(xn, chunks=chunks), axis=axis, where=where, scale=scale)
    wn = where.compute() if isinstance(where, da.Array) else where
    expected = OPS[op](xn, axis=axis, where=wn, scale=scale)
    got = y.compute(scheduler="threads")
    assert_matches(op, got, expected)
    if not split:
        np.testing.assert_array_equal(got, chunk_by_chunk(
            OPS[op], xn, y.chunks, axis=axis, where=np.broadcast_to(wn, shape) if mask else None,
            scale=scale))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("chunks", [(4, 9), (4, 3)], ids=["whole", "split"])
def test_non_finite_and_empty_slices(op, chunks):
    xn = data((8, 9))
    xn[0, 4] = np.nan                   # a NaN: the slice is NaN
    xn[1, 7] = np.inf                   # +inf: NaN too
    xn[2] = -np.inf                     # only -inf: NaN
    xn[3, :5] = -np.inf                 # some -inf: 0 (log: -inf)
    xn[4, 8] = 1e300                    # far apart: 0s and a 1
    where = np.ones((8, 9), bool)
    where[5] = False                    # nothing selected: 0 (log: -inf), never NaN
    xn[5, 2] = np.nan                   # ... whatever it holds
    where[6, :8] = False
    xn[6, :8] = np.nan                  # masked-out NaN: ignored
    x = da.from_array(xn, chunks=chunks)
    for kwargs in ({}, {"where": where}):
        with np.errstate(invalid="ignore"):
            expected = OPS[op](xn, **kwargs)
            got = OPS[op](x, **kwargs).compute()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        assert_matches(op, got, expected)


def test_zero_size_and_zero_dimensional():
    x = da.from_array(np.zeros((0, 5)), chunks=(1, 2))
    y = softmax(x, axis=None)
    check_lazy_result(y, x, np.dtype(np.float64))
    assert y.compute().shape == (0, 5)
    y = log_softmax(da.from_array(np.float32(3.0)), axis=None)
    assert y.shape == () and y.dtype == np.float32
    assert y.compute() == 0


def counted(calls):
    """A block function that counts its calls (the identity)."""
    def block(b):
        calls.append(b.shape)
        return b
    return block


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("chunks", [(2, 9), (2, 4)], ids=["whole", "split"])
def test_nothing_is_computed_until_compute(op, chunks):
    calls = []
    xn = data((6, 9), np.float32)
    x = da.from_array(xn, chunks=chunks).map_blocks(counted(calls), dtype=np.float32,
                                                    meta=np.empty((0, 0), np.float32))
    where = da.from_array(np.ones((6, 9), bool), chunks=3).map_blocks(
        counted(calls), dtype=bool, meta=np.empty((0, 0), bool))
    y = OPS[op](x, axis=-1, where=where, scale=0.5)
    assert calls == []
    assert y.dtype == np.float32
    got = y.compute(scheduler="threads")
    assert calls
    np.testing.assert_allclose(got, OPS[op](xn, scale=0.5), rtol=1e-5, atol=1e-6)


def test_the_split_pass_reads_x_again_after_the_statistics():
    """No chunk of x is held between the two passes: the second reads a
    copy of x's graph that depends on every statistic."""
    calls = []
    x = da.from_array(data((6, 9)), chunks=(2, 9)).map_blocks(
        counted(calls), dtype=np.float64, meta=np.empty((0, 0)))
    softmax(x, axis=0).compute(scheduler="sync")
    assert len(calls) == 2 * x.npartitions
    calls.clear()
    softmax(x, axis=-1).compute(scheduler="sync")      # not split: one pass
    assert len(calls) == x.npartitions


@pytest.mark.parametrize("chunks", [(2, 9), (2, 4)], ids=["whole", "split"])
def test_strategy_is_captured_at_call_time(monkeypatch, chunks):
    ran = spy_on_runs(monkeypatch)
    x = da.from_array(data((6, 9)), chunks=chunks)
    with pysoftmax.strategy("reference"):
        y = softmax(x)
    y.compute(scheduler="threads")
    assert ran and set(ran) == {"reference"}
    ran.clear()
    softmax(x, strategy="reference").compute(scheduler="threads")
    assert ran and set(ran) == {"reference"}
    ran.clear()
    softmax(x).compute(scheduler="threads")
    assert "reference" not in ran


def test_thread_count_is_captured_at_call_time(monkeypatch):
    threads = []

    def spy(problem, requested, n, _select=pysoftmax._api.select):
        threads.append(n)
        return _select(problem, requested, n)
    monkeypatch.setattr(pysoftmax._api, "select", spy)
    x = da.from_array(data((6, 9)), chunks=(2, 9))
    with pysoftmax.num_threads(3):
        y = softmax(x, scale=0.5)
    y.compute(scheduler="threads")
    assert threads == [3, 3, 3]


def test_errors_are_raised_at_call_time():
    x = da.from_array(data((6, 9)), chunks=(2, 4))
    with pytest.raises(TypeError, match="out= is not supported with a Dask array"):
        softmax(x, out=np.empty((6, 9)))
    with pytest.raises(TypeError, match="out= is not supported with a Dask array"):
        log_softmax(x, out=da.zeros((6, 9)))
    with pytest.raises(AxisError):
        softmax(x, axis=2)
    with pytest.raises(ValueError, match="repeated axis"):
        softmax(x, axis=(0, 0))
    with pytest.raises(TypeError, match="not defined for input of dtype complex128"):
        softmax(x.astype(complex))
    with pytest.raises(TypeError, match="dtype must be a floating-point dtype"):
        softmax(x, dtype=np.int32)
    with pytest.raises(TypeError, match="scale must be a real scalar"):
        softmax(x, scale=[1.0, 2.0])
    with pytest.raises(TypeError, match="where must be a boolean array"):
        softmax(x, where=np.ones((6, 9)))
    with pytest.raises(ValueError, match=r"where of shape \(5,\) cannot be broadcast"):
        softmax(x, where=da.ones(5, dtype=bool))
    with pytest.raises(TypeError, match="approx must be True or False"):
        softmax(x, approx=None)
    with pytest.raises(ValueError, match="unknown strategy"):
        softmax(x, strategy="nope")


def test_unknown_chunk_sizes():
    xn = data((6, 9))
    x = da.from_array(xn, chunks=(2, 4))
    rows = xn[:, 0] > 0
    y = x[da.from_array(rows, chunks=2)]         # chunks of unknown sizes (NaN)
    assert np.isnan(y.shape[0])
    for axis in (-1, 0):
        assert_matches("softmax", softmax(y, axis=axis).compute(), softmax(xn[rows], axis=axis))
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        softmax(y, where=np.ones(9, bool))


def test_approx_is_carried_to_the_chunks():
    xn = data((6, 9), np.float32)
    y = softmax(da.from_array(xn, chunks=(2, 9)), approx=True, strategy="vectorized")
    np.testing.assert_array_equal(y.compute(), softmax(xn, approx=True, strategy="vectorized"))


# --- logsumexp ---

def logsumexp(*args, **kwargs):
    return pysoftmax.logsumexp(*args, **kwargs)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, chunks, axis, split", CASES, ids=IDS)
def test_logsumexp_matches_numpy_and_scipy(shape, chunks, axis, split, dtype, keepdims):
    xn = data(shape, dtype)
    xn.flat[0] = 80                     # one term dominates: accurate at the max
    x = da.from_array(xn, chunks=chunks)
    calls = []
    counted_x = x.map_blocks(counted(calls), dtype=x.dtype, meta=np.empty((0,) * x.ndim))
    value, sign = logsumexp(counted_x, axis, keepdims=keepdims, return_sign=True)
    assert calls == []
    expected, expected_sign = logsumexp(xn, axis=axis, keepdims=keepdims, return_sign=True)
    assert value.shape == np.shape(expected) and value.dtype == expected.dtype
    assert isinstance(value._meta, np.ndarray) and value._meta.dtype == dtype
    got, got_sign = value.compute(scheduler="threads"), sign.compute(scheduler="threads")
    if split:
        assert_matches("log_softmax", got, np.asarray(expected))   # the log bounds
    else:                               # the same row kernels on each chunk
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got_sign, expected_sign)
    reference = scipy.special.logsumexp(xn.astype(np.float64), axis=axis, keepdims=keepdims)
    assert_matches("log_softmax", got, np.asarray(reference).astype(dtype))


@pytest.mark.parametrize("chunks", [(3, 9), (3, 4)], ids=["whole", "split"])
def test_logsumexp_where_scale_and_non_finite(chunks):
    xn = data((8, 9), np.float32)
    xn[0, 3] = np.nan
    xn[1] = -np.inf
    xn[2, 5] = np.inf
    xn[4, 1] = -np.inf
    where = np.random.default_rng(1).random((8, 9)) < 0.7
    where[3] = False
    x = da.from_array(xn, chunks=chunks)
    for kwargs in ({}, {"where": where, "scale": 0.5}, {"where": da.from_array(where, 4)}):
        got, sign = logsumexp(x, -1, return_sign=True, **kwargs)
        kwargs = {k: where if k == "where" else v for k, v in kwargs.items()}
        expected, expected_sign = logsumexp(xn, -1, return_sign=True, **kwargs)
        assert got.dtype == np.float32
        assert_matches("log_softmax", got.compute(), expected)
        np.testing.assert_array_equal(sign.compute(), expected_sign)


# _weighted's errstate covers the building of the graph, not its computing:
# the formula's 0/0 and log(0) of zero weights and negative sums warn then.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("weights", ["numpy", "dask"])
@pytest.mark.parametrize("chunks", [(3, 9), (3, 4)], ids=["whole", "split"])
def test_logsumexp_weights(weights, chunks):
    rng = np.random.default_rng(2)
    xn = data((6, 9))
    bn = rng.standard_normal((6, 9))
    bn[0] = np.abs(bn[0])
    bn[1, :] = 0
    where = rng.random(9) < 0.8
    x = da.from_array(xn, chunks=chunks)
    b = bn if weights == "numpy" else da.from_array(bn, chunks=(2, 5))
    for kwargs in ({}, {"where": where, "scale": 1.5}):
        for axis in (-1, 0, None):
            got, sign = logsumexp(x, axis, b=b, return_sign=True, **kwargs)
            assert isinstance(got, da.Array) and isinstance(sign, da.Array)
            expected, expected_sign = logsumexp(xn, axis, b=bn, return_sign=True, **kwargs)
            np.testing.assert_allclose(got.compute(), expected, rtol=1e-12)
            np.testing.assert_array_equal(sign.compute(), expected_sign)
    got = logsumexp(x, -1, b=b).compute()          # a negative sum: NaN, as SciPy
    np.testing.assert_array_equal(got, scipy.special.logsumexp(xn, -1, b=bn))
    # a Dask b with a NumPy a gives a Dask result too
    assert isinstance(logsumexp(xn, -1, b=da.from_array(bn, chunks=3)), da.Array)


def test_logsumexp_errors_and_zero_dimensional():
    x = da.from_array(data((6, 9)), chunks=(2, 4))
    with pytest.raises(TypeError, match="out= is not supported with a Dask array"):
        logsumexp(x, -1, out=np.empty(6))
    with pytest.raises(TypeError, match="complex"):
        logsumexp(x.astype(complex))
    with pytest.raises(AxisError):
        logsumexp(x, 2)
    value = logsumexp(da.from_array(np.float64(3.0)))
    assert value.shape == () and value.compute() == 3.0
    value, sign = logsumexp(da.zeros((0, 3), chunks=2), axis=0, return_sign=True)
    expected, expected_sign = logsumexp(np.zeros((0, 3)), axis=0, return_sign=True)
    np.testing.assert_array_equal(value.compute(), expected)      # -inf
    np.testing.assert_array_equal(sign.compute(), expected_sign)  # -1, as SciPy


@pytest.mark.parametrize("chunks, split", [((2, 9), False), ((2, 4), True)])
def test_one_pass_when_each_slice_is_in_one_chunk(chunks, split):
    """No statistics, no combining tree where the chunks hold whole slices."""
    x = da.from_array(data((6, 9)), chunks=chunks)
    for y in (softmax(x), log_softmax(x, where=np.ones(9, bool)), logsumexp(x, -1)):
        combining = [name for name in y.dask.layers if "-combine" in name]
        assert bool(combining) == split


# --- a real cluster: two worker processes on loopback ---

CLUSTER_TIMEOUT = 120       # seconds: a hung start, compute or close fails the run


@pytest.fixture(scope="module")
def client():
    """A dask.distributed Client of a LocalCluster of two worker processes
    (one thread each), on 127.0.0.1 with no dashboard; closed at the end.
    If starting or closing hangs, faulthandler ends the run (with every
    thread's traceback) after CLUSTER_TIMEOUT seconds: CI never hangs."""
    distributed = pytest.importorskip("distributed")
    import dask

    faulthandler.dump_traceback_later(CLUSTER_TIMEOUT, exit=True)
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": "60s"}):
            cluster = distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, worker_dashboard_address=None, silence_logs=40)
            client = distributed.Client(cluster, timeout=60)
    finally:
        faulthandler.cancel_dump_traceback_later()
    try:
        yield client
    finally:
        faulthandler.dump_traceback_later(CLUSTER_TIMEOUT, exit=True)
        try:
            client.close(timeout=30)
            cluster.close(timeout=30)
        finally:
            faulthandler.cancel_dump_traceback_later()


def compute_on(client, *arrays):
    futures = client.compute(list(arrays))
    return [f.result(timeout=CLUSTER_TIMEOUT) for f in futures]


@pytest.mark.parametrize("op", OPS)
def test_distributed_cluster(client, op):
    rng = np.random.default_rng(5)
    xn = data((40, 30), np.float32)
    wn = rng.random((40, 30)) < 0.8
    x = da.from_array(xn, chunks=(10, 12)).persist()
    where = da.from_array(wn, chunks=(20, 5))
    cases = [(-1, {}), (0, {}), (None, {"scale": 0.7}), (0, {"where": where, "scale": -1.5})]
    results = compute_on(client, *(OPS[op](x, axis=a, **kw) for a, kw in cases))
    for (axis, kwargs), got in zip(cases, results):
        kwargs = {k: wn if k == "where" else v for k, v in kwargs.items()}
        assert_matches(op, got, OPS[op](xn, axis=axis, **kwargs))
    lse, = compute_on(client, logsumexp(x, 0, where=where))
    assert_matches("log_softmax", lse, logsumexp(xn, 0, where=wn))
    # the chunks were computed by the workers, which imported pysoftmax
    assert all(client.run(lambda: "pysoftmax._dask" in sys.modules).values())


def test_bench_dask_command(tmp_path):
    """`pysoftmax bench --dask` on a small array: every case, checked sums."""
    import json

    run = subprocess.run([sys.executable, "-m", "pysoftmax", "bench", "--dask", "--dask-gb",
                          "0.02", "--dask-numpy-gb", "0.01", "--json"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["bytes"] >= 0.02 * 2**30
    assert len(result["cases"]) == 5
    for case in result["cases"].values():
        assert case["seconds"] > 0 and case["peak_rss"] > 0
        assert case.get("check", 0) < 1e-6
    assert set(result["numpy"]["seconds_per_gib"]) == {"axis=-1", "axis=0"}
    text = _bench_dask.format_report(result)
    assert "axis=0 (split across every chunk)" in text and "peak RSS" in text
