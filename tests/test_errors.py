"""Bad calls raise a clear exception and leave x and out untouched."""
import datetime

import numpy as np
import pytest

import pysoftmax
from pysoftmax import log_softmax, softmax


def _x():
    return np.arange(12, dtype=np.float64).reshape(3, 4)


BAD_CALLS = [
    # (description, args, kwargs, exception, message fragment)
    ("complex input", (np.ones(3, np.complex128),), {}, TypeError, "complex128"),
    ("object input", (np.array([1.0, None], dtype=object),), {}, TypeError, "object"),
    ("string input", (np.array(["a", "b"]),), {}, TypeError, "<U1"),
    ("datetime input", (np.array([datetime.datetime(2020, 1, 1)], dtype="M8[s]"),), {},
     TypeError, "datetime64"),
    ("masked array", (np.ma.masked_array([1.0, 2.0], mask=[0, 1]),), {}, TypeError, "masked"),
    ("axis too large", (_x(),), {"axis": 2}, np.exceptions.AxisError, "axis 2"),
    ("axis too small", (_x(),), {"axis": -3}, np.exceptions.AxisError, "axis -3"),
    ("axis tuple out of range", (_x(),), {"axis": (0, 5)}, np.exceptions.AxisError, "axis 5"),
    ("repeated axis", (_x(),), {"axis": (1, -1)}, ValueError, "repeated axis"),
    ("float axis", (_x(),), {"axis": 1.0}, TypeError, "float"),
    ("integer dtype", (_x(),), {"dtype": np.int64}, TypeError, "floating-point"),
    ("complex dtype", (_x(),), {"dtype": np.complex64}, TypeError, "floating-point"),
    ("unknown strategy", (_x(),), {"strategy": "magic"}, ValueError, "unknown strategy"),
    ("strategy without longdouble", (np.ones(3, np.longdouble),), {"strategy": "vectorized"},
     ValueError, "float32 and float64 only"),
]

BAD_OUTS = [
    ("wrong shape", np.zeros((4, 3)), ValueError, "shape"),
    ("wrong dtype", np.zeros((3, 4), np.float32), TypeError, "dtype"),
    ("read-only", np.zeros((3, 4)), ValueError, "read-only"),
    ("not an array", [[0.0] * 4] * 3, TypeError, "numpy.ndarray"),
]


@pytest.mark.parametrize("op", [softmax, log_softmax])
@pytest.mark.parametrize("what, args, kwargs, exc, fragment", BAD_CALLS,
                         ids=[c[0] for c in BAD_CALLS])
def test_bad_call(op, what, args, kwargs, exc, fragment):
    before = [np.array(a, copy=True) for a in args]
    with pytest.raises(exc, match=fragment):
        op(*args, **kwargs)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(np.asarray(a), b)


@pytest.mark.parametrize("op", [softmax, log_softmax])
@pytest.mark.parametrize("what, out, exc, fragment", BAD_OUTS, ids=[c[0] for c in BAD_OUTS])
def test_bad_out(strategy_name, op, what, out, exc, fragment):
    x = _x()
    if isinstance(out, np.ndarray):
        out = out.copy()
        if what == "read-only":
            out.setflags(write=False)
    out_before = np.array(out, copy=True)
    with pytest.raises(exc, match=fragment):
        op(x, out=out, strategy=strategy_name)
    np.testing.assert_array_equal(x, _x())
    np.testing.assert_array_equal(np.asarray(out), out_before)


def test_bad_out_with_bad_axis_leaves_out_untouched():
    out = np.full((3, 4), 7.0)
    with pytest.raises(np.exceptions.AxisError):
        softmax(_x(), axis=3, out=out)
    np.testing.assert_array_equal(out, 7.0)


@pytest.mark.parametrize("name", ["magic", "", "AUTO "])
def test_set_strategy_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="unknown strategy"):
        pysoftmax.set_strategy(name)
    assert pysoftmax.get_config()["strategy"] == "auto"


@pytest.mark.parametrize("n", [0, -1])
def test_bad_thread_counts(n):
    with pytest.raises(ValueError, match="at least 1"):
        pysoftmax.set_num_threads(n)
    with pytest.raises(TypeError):
        pysoftmax.set_num_threads(1.5)
