"""The result pool (issue 13): large new results reuse the blocks of dead
ones, never a block some array or view still points into; bounded, trimmed,
switched off by set_result_pool(0) or PYSOFTMAX_RESULT_POOL=0; safe with
threads and fork()."""
import multiprocessing
import pickle
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pytest
from conftest import run_in_threads

import pysoftmax
from pysoftmax import _pool

SHAPE = (1024, 2048)          # 8 MiB of float32: pooled (at least _pool.MIN_BYTES)


def _x(seed=0, shape=SHAPE, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _owner(a):
    """What holds the memory of `a`: the first base that is not an array."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a


def _address(a):
    return a.__array_interface__["data"][0]


@pytest.fixture(autouse=True)
def pool_on():
    """Each test starts with the default limit and no idle blocks."""
    previous = pysoftmax.set_result_pool(_pool.DEFAULT_LIMIT)
    _pool.trim()
    yield
    pysoftmax.set_result_pool(previous)
    _pool.trim()


@pytest.mark.parametrize("op", [pysoftmax.softmax, pysoftmax.log_softmax])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooled_result_is_an_ordinary_array_with_the_same_values(op, dtype):
    x = _x(dtype=dtype)
    y = op(x)
    assert isinstance(_owner(op(x[None])), _pool.PoolBuffer)
    assert isinstance(_owner(y), _pool.PoolBuffer) and _owner(y).nbytes >= y.nbytes
    assert type(y) is np.ndarray and y.dtype == dtype and y.shape == x.shape
    assert y.flags.c_contiguous and y.flags.writeable and y.flags.aligned
    assert _address(y) % 64 == 0
    out = np.empty_like(x)
    op(x, out=out)
    np.testing.assert_array_equal(y, out)
    y[0, 0] = 7                           # writeable indeed
    assert pickle.loads(pickle.dumps(y))[0, 0] == 7


def test_an_idle_block_serves_a_somewhat_smaller_result():
    in_use = _pool.stats()["in_use_bytes"]
    big = _pool.empty((10 << 20,), np.uint8)
    address, size = _address(big), big.base.nbytes
    del big
    smaller = _pool.empty((9 << 20,), np.uint8)        # at least 4/5 of the block
    assert (_address(smaller), smaller.base.nbytes) == (address, size)
    assert _pool.stats()["in_use_bytes"] == in_use + size
    del smaller
    assert _pool.stats()["in_use_bytes"] == in_use
    assert _pool.empty((6 << 20,), np.uint8).base.nbytes == 6 << 20     # less: a new block


def test_small_results_and_the_pool_off_are_plain_numpy_arrays():
    assert pysoftmax.softmax(_x(shape=(4, 8))).base is None
    assert pysoftmax.set_result_pool(0) == _pool.DEFAULT_LIMIT
    assert pysoftmax.get_config()["result_pool"] == 0
    y = pysoftmax.softmax(_x())
    assert y.base is None and y.flags.owndata
    np.testing.assert_array_equal(y, pysoftmax.softmax(_x(), strategy="vectorized"))


def test_a_block_is_not_reused_while_a_view_of_it_lives():
    x1, x2 = _x(1), _x(2)
    in_use = _pool.stats()["in_use_blocks"]        # other tests' live results
    view = pysoftmax.softmax(x1)[3:5]     # the result itself dies at once
    expected = view.copy()
    z = pysoftmax.softmax(x2)
    assert not np.shares_memory(view, z)
    np.testing.assert_array_equal(view, expected)
    assert _pool.stats()["in_use_blocks"] == in_use + 2


def test_a_dead_result_gives_its_block_to_the_next():
    x = _x()
    y = pysoftmax.softmax(x)
    address = _address(y)
    del y
    assert _pool.stats()["idle_blocks"] == 1
    assert _address(pysoftmax.softmax(x)) == address        # same pages, no faults
    # a temporary of the general path (a strided out=) comes from the pool too
    out = np.empty((SHAPE[0], 2 * SHAPE[1]), np.float32)[:, ::2]
    pysoftmax.softmax(x, out=out)
    np.testing.assert_array_equal(out, pysoftmax.softmax(x))


def test_the_idle_blocks_are_bounded_and_trimmed():
    size = _x().nbytes
    in_use = _pool.stats()["in_use_blocks"]
    results = [pysoftmax.softmax(_x(i)) for i in range(4)]
    pysoftmax.set_result_pool(2 * size)
    del results
    stats = _pool.stats()
    assert stats["idle_bytes"] <= 2 * size and stats["idle_blocks"] == 2
    previous = _pool._set_idle_seconds(0)
    try:
        y = pysoftmax.softmax(_x(shape=(SHAPE[0] // 2, SHAPE[1])))   # any pool call trims
        assert _pool.stats()["idle_blocks"] == 0
        assert _pool.stats()["in_use_blocks"] == in_use + 1
        del y
    finally:
        _pool._set_idle_seconds(previous)
    with pytest.raises(ValueError, match="at least 0"):
        pysoftmax.set_result_pool(-1)
    with pytest.raises(TypeError):
        pysoftmax.set_result_pool(1.5)


def test_threads_calling_at_once_get_blocks_of_their_own():
    barrier = threading.Barrier(8)
    results, errors = {}, []

    def worker(i):
        x = _x(i, shape=(512 + 16 * i, 2048))      # sizes that share blocks, or not
        try:
            barrier.wait()
            for _ in range(5):
                y = pysoftmax.softmax(x)
            results[i] = (x, y)
        except Exception as exc:                   # pragma: no cover - reported below
            errors.append(exc)

    run_in_threads(worker, 8)
    assert not errors
    for i, (x, y) in results.items():
        np.testing.assert_array_equal(y, pysoftmax.softmax(x, strategy="vectorized"))
        for j, (_, other) in results.items():
            assert i == j or not np.shares_memory(y, other)


def _child_result(seed):
    y = pysoftmax.softmax(_x(seed))
    return y, _pool.stats()["idle_blocks"]


def test_a_forked_child_starts_with_no_idle_blocks():
    kept = pysoftmax.softmax(_x(1))          # in use across the fork
    pysoftmax.softmax(_x(2))                 # idle across the fork
    assert _pool.stats()["idle_blocks"] == 1
    pool = multiprocessing.get_context("fork").Pool(1)
    try:
        y, idle = pool.apply_async(_child_result, (3,)).get(timeout=60)
    finally:
        pool.terminate()
        pool.join()
    assert idle == 0
    np.testing.assert_array_equal(y, pysoftmax.softmax(_x(3)))
    assert _pool.stats()["idle_blocks"] >= 1 and _owner(kept).nbytes >= kept.nbytes


def _run(code, **env):
    """Run `code` in a new interpreter, outside the source tree (whose
    pysoftmax/ directory would shadow the installed package)."""
    import os
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tempfile.gettempdir(), timeout=120, env={**os.environ, **env})


def test_environment_variable_sets_the_limit():
    code = "import pysoftmax; print(pysoftmax.get_config()['result_pool'])"
    assert _run(code, PYSOFTMAX_RESULT_POOL="0").stdout.strip() == "0"
    assert _run(code, PYSOFTMAX_RESULT_POOL="1048576").stdout.strip() == "1048576"
    bad = _run(code, PYSOFTMAX_RESULT_POOL="lots")
    assert bad.stdout.strip() == str(_pool.DEFAULT_LIMIT)
    assert "PYSOFTMAX_RESULT_POOL='lots'" in bad.stderr


def test_exit_frees_idle_blocks_and_later_releases():
    code = """if True:
        import numpy as np, pysoftmax
        from pysoftmax import _pool
        x = np.ones((1024, 2048), np.float32)
        kept = pysoftmax.softmax(x)
        pysoftmax.softmax(x)
        assert _pool.stats()["idle_blocks"] == 1
        _pool._at_exit()
        assert _pool.stats()["idle_blocks"] == 0
        del kept
        assert _pool.stats() == dict(_pool.stats(), idle_blocks=0, in_use_blocks=0)
        held = pysoftmax.softmax(x)      # still alive when the interpreter exits
        print("ok")
    """
    result = _run(code)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
