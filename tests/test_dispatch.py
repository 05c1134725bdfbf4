"""The dispatch table: data round-trip, bad tables ignored with one warning,
explain, tuning, and that auto follows the table."""
import json
import warnings

import numpy as np
import pytest

import pysoftmax
from pysoftmax import dispatch
from pysoftmax.strategies import STRATEGIES


@pytest.fixture(autouse=True)
def fresh_table(monkeypatch, tmp_path):
    """Each test starts from the built-in table, with no user table around."""
    monkeypatch.delenv("PYSOFTMAX_TABLE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    dispatch.load()
    yield
    monkeypatch.undo()
    dispatch.load()


def test_builtin_table_is_valid_and_covers_the_default_shapes():
    table = dispatch.builtin()
    assert table.source == "built-in"
    assert len(table.rules) >= 100
    assert {row.strategy for row in table.rules.values()} <= set(STRATEGIES)
    for shape, axis in [((64, 1000), -1), ((12288, 128), -1), ((4, 21, 16384), 1)]:
        for threads in (1, 2):
            with pysoftmax.num_threads(threads):
                e = dispatch.explain(np.zeros(shape, np.float32), axis=axis)
            assert e.source == "table" and e.row is not None, e


def test_round_trip(tmp_path):
    table = dispatch.builtin()
    path = dispatch.save(table, tmp_path / "t.json")
    again = dispatch.read(path)
    assert again.rules == table.rules
    assert again.to_json() == table.to_json()
    assert dispatch.load(path).source == str(path)


def _table_json(**changes):
    data = dispatch.builtin().to_json()
    data["cpu"] = dispatch.cpu_fingerprint()
    data.update(changes)
    return data


def _bad_tables():
    other_cpu = _table_json(cpu={"model": "Imaginary CPU 9000", "flags": ["avx512f"]})
    unknown = _table_json()
    unknown["rules"][0]["strategy"] = "gpu-magic"
    threads = _table_json()
    threads["rules"][0]["use_threads"] = 99
    missing = _table_json()
    del missing["rules"][0]["kind"]
    return {
        "another CPU": (json.dumps(other_cpu), "another CPU"),
        "not JSON": ("{not json", "not valid JSON"),
        "wrong format": (json.dumps({"format": "something else"}), "not a pysoftmax dispatch table"),
        "unknown strategy": (json.dumps(unknown), "unknown strategy 'gpu-magic'"),
        "bad thread count": (json.dumps(threads), "use_threads 99"),
        "missing field": (json.dumps(missing), "malformed table"),
        "a list": ("[1, 2, 3]", "not a pysoftmax dispatch table"),
    }


@pytest.mark.parametrize("case", list(_bad_tables()))
def test_bad_table_is_ignored_with_one_warning(tmp_path, monkeypatch, case):
    text, message = _bad_tables()[case]
    path = tmp_path / "table.json"
    path.write_text(text)
    monkeypatch.setenv("PYSOFTMAX_TABLE", str(path))
    with pytest.warns(dispatch.DispatchTableWarning, match=message) as record:
        table = dispatch.load()
    assert len(record) == 1
    assert table.source == "built-in"
    x = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # no further warnings per call
        np.testing.assert_allclose(pysoftmax.softmax(x), pysoftmax.softmax(x, strategy="reference"),
                                   rtol=1e-6)


def test_unreadable_table_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("PYSOFTMAX_TABLE", str(tmp_path / "missing.json"))
    with pytest.warns(dispatch.DispatchTableWarning, match="missing.json"):
        assert dispatch.load().source == "built-in"
    directory = tmp_path / "a_directory.json"
    directory.mkdir()
    with pytest.warns(dispatch.DispatchTableWarning):
        assert dispatch.load(directory).source == "built-in"


def test_user_table_in_config_dir_is_preferred(tmp_path):
    table = dispatch.builtin()
    table.cpu = dispatch.cpu_fingerprint()
    path = dispatch.save(table)                  # the default user path
    assert path == tmp_path / "config" / "pysoftmax" / "dispatch.json"
    assert dispatch.load().source == str(path)
    assert pysoftmax.get_config()["dispatch"] == str(path)


def test_auto_follows_the_table(tmp_path):
    """A table that sends every call to the reference strategy is obeyed."""
    table = dispatch.builtin()
    table.cpu = dispatch.cpu_fingerprint()
    for key, row in table.rules.items():
        table.rules[key] = dispatch.Row("reference", 1, {})
    dispatch.load(dispatch.save(table, tmp_path / "ref.json"))
    e = dispatch.explain(np.zeros((64, 1000), np.float32))
    assert (e.strategy, e.threads, e.source) == ("reference", 1, "table")
    assert "reference" in str(e)


def test_rows_whose_strategy_declines_fall_back(tmp_path):
    table = dispatch.builtin()
    table.cpu = dispatch.cpu_fingerprint()
    for key in table.rules:
        table.rules[key] = dispatch.Row("onednn", 1, {})
    dispatch.load(dispatch.save(table, tmp_path / "onednn.json"))
    assert dispatch.explain(np.zeros((8, 100), np.float32)).strategy == "onednn"
    e = dispatch.explain(np.zeros((8, 100)))              # float64: oneDNN declines
    assert e.source == "fallback" and e.strategy == "vectorized"
    # rows too long for oneDNN's float sum to stay within the bound (issue 12)
    from pysoftmax.strategies import onednn
    n = onednn.max_row_length()
    assert dispatch.explain(np.zeros((8, n), np.float32)).strategy == "onednn"
    x = np.random.default_rng(0).standard_normal((3, n + 1)).astype(np.float32)
    e = dispatch.explain(x)
    assert e.source == "fallback" and e.strategy == "vectorized"
    np.testing.assert_array_equal(pysoftmax.softmax(x), pysoftmax.softmax(x, strategy="vectorized"))


def test_explain():
    x = np.zeros((4, 21, 300), np.float32)
    e = dispatch.explain(x, axis=1)
    assert e.problem.kind == "inner" and e.problem.shape == (4, 21, 300)
    assert e.row["n_band"] == "n <= 256"
    assert e.strategy in STRATEGIES
    assert dispatch.explain(x, axis=1, strategy="mkl").source == "explicit"
    with pysoftmax.strategy("reference"):
        assert dispatch.explain(x).strategy == "reference"
    assert dispatch.explain(np.zeros((0, 3))).problem is None
    with pytest.raises(ValueError, match="op must be"):
        dispatch.explain(x, op="logsumexp")
    with pytest.raises(ValueError, match="cannot compute"):
        dispatch.explain(x, axis=1, strategy="onednn")


def test_small_problems_stay_single_threaded():
    with pysoftmax.num_threads(2):
        assert dispatch.explain(np.zeros((1, 8), np.float32)).threads == 1
        assert dispatch.explain(np.zeros((1, 8), np.longdouble)).threads == 1   # fallback


def test_tune_changes_only_what_it_measured(tmp_path):
    base = dispatch.builtin()
    table = dispatch.tune(budget=3, ops=("softmax",), dtypes=("float32",), kinds=("last",),
                          threads=2, progress=None)
    assert table.cpu == dispatch.cpu_fingerprint()
    measured = [key for key, row in table.rules.items() if row.seconds and key[0] == "softmax"
                and row is not base.rules.get(key)]
    assert measured, "the budget allowed no measurement"
    for key, row in table.rules.items():
        if key not in measured:
            assert row == base.rules[key]          # unmeasured rows are the built-in's
        else:
            chosen, before = f"{row.strategy}@{row.use_threads}", base.rules[key]
            previous = f"{before.strategy}@{before.use_threads}"
            assert chosen in row.seconds
            if chosen != previous:                  # changed only on a measured difference
                assert row.seconds[chosen] < 0.9 * row.seconds[previous]
    assert dispatch.read(dispatch.save(table, tmp_path / "tuned.json")).rules == table.rules
