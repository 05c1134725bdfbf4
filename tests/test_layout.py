"""Results do not depend on memory layout, address or thread count: bit for bit
for our own strategies, to a few ulp for the vendor libraries (conftest.BITWISE)."""
import numpy as np
import pytest
from conftest import LAYOUTS, assert_same, refuses, with_layout

import pysoftmax
from pysoftmax import log_softmax, softmax

CASES = [((13, 77), -1), ((13, 77), 0), ((5, 6, 7), 1), ((5, 6, 7), (0, 2)),
         ((4, 300), None), ((3, 4, 5, 6), (1, 2)), ((600,), 0)]


@pytest.mark.parametrize("op", [softmax, log_softmax])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, axis", CASES)
def test_every_layout_gives_identical_bits(strategy_name, op, dtype, shape, axis):
    x = (np.random.default_rng(0).standard_normal(shape) * 20).astype(dtype)
    if refuses(op, x, strategy_name, axis=axis):
        return
    expected = op(x, axis=axis, strategy=strategy_name)
    for layout in LAYOUTS:
        result = op(with_layout(x, layout), axis=axis, strategy=strategy_name)
        assert_same(result, expected, strategy_name, err_msg=layout)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_result_does_not_depend_on_its_address(strategy_name, dtype):
    """Rows used in place at every offset of a 64-byte line give the same bits."""
    row = np.random.default_rng(1).standard_normal(1000).astype(dtype)
    if refuses(softmax, row, strategy_name):
        return
    expected = softmax(row, strategy=strategy_name)
    buffer = np.zeros(1100, dtype=dtype)
    for offset in range(64 // buffer.itemsize):
        view = buffer[offset:offset + 1000]
        view[...] = row
        assert_same(softmax(view, strategy=strategy_name), expected, strategy_name)


@pytest.mark.parametrize("op", [softmax, log_softmax])
@pytest.mark.parametrize("shape, axis", [((64, 2000), -1), ((8, 30, 600), 1)])
def test_thread_count_does_not_change_bits(strategy_name, op, shape, axis):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    if refuses(op, x, strategy_name, axis=axis):
        return
    with pysoftmax.num_threads(1):
        one = op(x, axis=axis, strategy=strategy_name)
    with pysoftmax.num_threads(2):
        two = op(x, axis=axis, strategy=strategy_name)
    with pysoftmax.num_threads(3):   # more threads than cores is allowed
        three = op(x, axis=axis, strategy=strategy_name)
    assert_same(two, one, strategy_name)
    assert_same(three, one, strategy_name)


@pytest.mark.parametrize("shape", [(3, 500), (64, 2000), (1000, 40)])
def test_concurrent_parallel_calls_give_the_same_bits(shape):
    """Rows on several threads (vectorized's psm_parallel_for: one call at a
    time has its workers, the others run on their callers) from several
    Python threads at once: every call's bits as when run alone."""
    import threading
    xs = [np.random.default_rng(i).standard_normal(shape).astype(np.float32) for i in range(6)]
    with pysoftmax.num_threads(1):
        expected = [softmax(x, strategy="vectorized") for x in xs]
    results = [None] * len(xs)
    barrier = threading.Barrier(len(xs))

    def worker(i):
        barrier.wait()
        with pysoftmax.num_threads(3):
            for _ in range(20):
                results[i] = softmax(xs[i], strategy="vectorized")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for result, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(result, want)


def test_out_in_other_layouts(strategy_name):
    x = np.random.default_rng(3).standard_normal((7, 9)).astype(np.float32)
    expected = softmax(x, strategy=strategy_name)
    for layout in ("F", "strided", "reversed", "unaligned", "transposed"):
        out = with_layout(np.zeros_like(x), layout)
        assert softmax(x, out=out, strategy=strategy_name) is out
        assert_same(out, expected, strategy_name, err_msg=layout)


@pytest.mark.parametrize("op", [softmax, log_softmax])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 3001), (70, 50), (40, 7)])
def test_a_row_alone_equals_the_row_in_a_batch(strategy_name, op, dtype, shape):
    """The row kernels pipeline consecutive long rows and take short rows in
    tiles of 32; first, middle and last rows of a batch or tile, a row on its
    own, and the batch computed in place, still get identical bits."""
    x = (np.random.default_rng(4).standard_normal(shape) * 8).astype(dtype)
    if refuses(op, x, strategy_name):
        return
    batch = op(x, strategy=strategy_name)
    in_place = x.copy()
    assert op(in_place, out=in_place, strategy=strategy_name) is in_place
    assert_same(in_place, batch, strategy_name)
    for i in (0, 1, 31, 32, 33, len(x) - 2, len(x) - 1):
        i = min(i, len(x) - 1)
        assert_same(op(x[i], strategy=strategy_name), batch[i], strategy_name)
        assert_same(op(x[i:i + 2], strategy=strategy_name)[0], batch[i], strategy_name)
