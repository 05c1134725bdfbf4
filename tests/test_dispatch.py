"""The dispatch table: data round-trip, bad tables ignored with one warning,
explain, tuning, and that auto follows the table."""
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pytest

import pysoftmax
from pysoftmax import _fast, _table, dispatch
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
    table.cpu = dispatch.cpu_fingerprint()       # read() refuses a table from another CPU
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

    def rule(field, value):
        """The built-in table (stamped with this CPU) with one field of rule 0 changed."""
        data = _table_json()
        data["rules"][0][field] = value
        return json.dumps(data)

    def bands(n=None, rows=None):
        data = _table_json()
        if n is not None:
            data["bands"]["n"] = n
        if rows is not None:
            data["bands"]["rows"] = rows
        return json.dumps(data)

    duplicate = _table_json()
    duplicate["rules"].append(dict(duplicate["rules"][0]))
    return {
        "another CPU": (json.dumps(other_cpu), "another CPU"),
        "not JSON": ("{not json", "not valid JSON"),
        "wrong format": (json.dumps({"format": "something else"}),
                         "not a pysoftmax dispatch table"),
        "unknown strategy": (json.dumps(unknown), "unknown strategy 'gpu-magic'"),
        "bad thread count": (json.dumps(threads), "use_threads 99"),
        "missing field": (json.dumps(missing), "malformed table"),
        "a list": ("[1, 2, 3]", "not a pysoftmax dispatch table"),
        # issue 12, item 6: each of these broke every call (RecursionError, TypeError)
        "nested too deeply": ("[" * 200000 + "]" * 200000, "nested too deeply"),
        "threads a string": (rule("threads", "1"), "threads must be a positive integer, not '1'"),
        # malformed fields that were accepted and silently did something else
        "threads zero": (rule("threads", 0), "threads must be a positive integer, not 0"),
        "threads a bool": (rule("threads", True), "threads must be a positive integer, not True"),
        "use_threads a float": (rule("use_threads", 1.5), "use_threads must be a positive integer"),
        "n_band a string": (rule("n_band", "0"), "n_band must be an integer in 0..3"),
        "n_band out of range": (rule("n_band", 4), "n_band must be an integer in 0..3"),
        "rows_band negative": (rule("rows_band", -1), "rows_band must be an integer in 0..2"),
        "unknown op": (rule("op", "softmx"), "unknown op 'softmx'"),
        "gradient op": (rule("op", "softmax_grad"), "unknown op 'softmax_grad'"),
        "unknown dtype": (rule("dtype", "float33"), "unknown dtype 'float33'"),
        "unknown kind": (rule("kind", "outer"), "unknown kind 'outer'"),
        "strategy not a string": (rule("strategy", ["vectorized"]), "unknown strategy"),
        "seconds not numbers": (rule("seconds", {"vectorized@1": "fast"}), "seconds"),
        "seconds a list": (rule("seconds", [1, 2]), "seconds"),
        "a rule not an object": (json.dumps(_table_json(rules=[1])), "rule 0"),
        "rules not a list": (json.dumps(_table_json(rules={"op": "softmax"})), "rules"),
        "duplicate rule": (json.dumps(duplicate), "duplicate rule"),
        "band edges strings": (bands(n=["256", "4096", "65536"]), "band edges"),
        "band edges repeated": (bands(rows=[16, 16]), "band edges"),
        "band edges not a list": (bands(n=256), "band edges"),
        "cpu not an object": (json.dumps(_table_json(cpu="AMD EPYC")), "cpu"),
        "versions not an object": (json.dumps(_table_json(versions=[1])), "versions"),
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


@pytest.mark.parametrize("case", ["nested too deeply", "threads a string"])
def test_bad_table_never_breaks_a_fresh_process(tmp_path, case):
    """The reproducers of issue 12, item 6, as a user meets them: the table
    named by PYSOFTMAX_TABLE is read at the first call of a new process."""
    path = tmp_path / "table.json"
    path.write_text(_bad_tables()[case][0])
    code = ("import numpy as np, pysoftmax\n"
            "x = np.arange(6.0, dtype=np.float32).reshape(2, 3)\n"
            "for _ in range(3):\n"
            "    p = pysoftmax.softmax(x); q = pysoftmax.log_softmax(x, axis=0)\n"
            "print(pysoftmax.get_config()['dispatch'], round(float(p.sum()), 5))\n")
    env = dict(os.environ, PYSOFTMAX_TABLE=str(path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=tempfile.gettempdir(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("DispatchTableWarning") == 1, result.stderr
    assert result.stdout.split() == ["built-in", "2.0"]


def test_any_failure_while_loading_is_one_warning(tmp_path, monkeypatch):
    def broken_read(path):
        raise RuntimeError("something unforeseen")
    monkeypatch.setattr(_table, "read", broken_read)      # where load() reads
    monkeypatch.setenv("PYSOFTMAX_TABLE", str(tmp_path / "table.json"))
    with pytest.warns(dispatch.DispatchTableWarning,
                      match="RuntimeError: something unforeseen") as record:
        assert dispatch.load().source == "built-in"
    assert len(record) == 1


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
    for key in table.rules:
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
    measured = [key for key, row in table.rules.items() if row.seconds and key.op == "softmax"
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


def _table_of_only(tmp_path, strategy):
    """Activate a table (this CPU's) whose every row names `strategy`."""
    table = dispatch.builtin()
    table.cpu = dispatch.cpu_fingerprint()
    for key in table.rules:
        table.rules[key] = dispatch.Row(strategy, 1, {})
    dispatch.load(dispatch.save(table, tmp_path / f"{strategy}.json"))


@pytest.mark.parametrize("everything_to", [None, "onednn", "mkl"])
def test_explain_never_names_a_strategy_that_declines_the_call(tmp_path, everything_to):
    """explain takes the call's where=, scale=, approx=: mkl and oneDNN have
    none of them, so they are never named for such a call, even by a table
    that sends every call to them (issue 15)."""
    if everything_to is not None:
        _table_of_only(tmp_path, everything_to)
    x = np.zeros((8, 100), np.float32)
    if everything_to is not None:
        assert dispatch.explain(x).strategy == everything_to      # the plain call
    for kwargs in [{"where": np.ones(100, bool)}, {"scale": 0.5}, {"approx": True},
                   {"where": np.ones((8, 100), bool), "scale": 2.0, "approx": True}]:
        for op in ("softmax", "log_softmax"):
            e = dispatch.explain(x, op=op, **kwargs)
            assert e.strategy not in ("mkl", "onednn"), (op, kwargs, e)
            assert e.problem.masked == ("where" in kwargs)
            assert e.problem.scaled == ("scale" in kwargs)
            assert e.problem.approx == ("approx" in kwargs)
            for name in ("mkl", "onednn"):           # refused by name, as the call is
                with pytest.raises(ValueError, match="cannot compute this call"):
                    dispatch.explain(x, op=op, strategy=name, **kwargs)


def test_explain_checks_the_arguments_as_the_call_does():
    x = np.zeros((2, 3), np.float32)
    for kwargs, error in [({"where": np.ones(3, np.int8)}, TypeError),
                          ({"where": np.ones(4, bool)}, ValueError),
                          ({"scale": "2"}, TypeError), ({"approx": 1}, TypeError),
                          ({"axis": 2}, np.exceptions.AxisError),
                          ({"strategy": "gpu-magic"}, ValueError)]:
        with pytest.raises(error):
            pysoftmax.softmax(x, **kwargs)
        with pytest.raises(error):
            dispatch.explain(x, **kwargs)
    with pytest.raises(ValueError, match="unknown strategy"):     # also with nothing to compute
        dispatch.explain(np.zeros((0, 3)), strategy="gpu-magic")


def _calls():
    """(op name, x, axis, keyword arguments): calls of every kind."""
    rng = np.random.default_rng(0)
    f32 = rng.standard_normal((64, 1000)).astype(np.float32)
    mask = rng.random((64, 1000)) < 0.8
    return [
        ("softmax", f32, -1, {}),
        ("log_softmax", f32, -1, {}),
        ("softmax", f32.astype(np.float64), -1, {}),
        ("softmax", f32[:4, :50], -1, {}),
        ("softmax", f32.reshape(4, 16, 1000), 1, {}),
        ("log_softmax", f32.reshape(4, 16, 1000), (0, 1), {}),
        ("softmax", f32, -1, {"where": mask}),
        ("log_softmax", f32, 0, {"where": mask[:, :1]}),
        ("softmax", f32, -1, {"scale": 0.125}),
        ("softmax", f32, -1, {"approx": True}),
        ("log_softmax", f32, 1, {"scale": 2.0, "approx": True, "where": mask}),
        ("softmax", f32.astype(np.float16), -1, {}),
        ("softmax", f32.astype(np.longdouble)[:8], -1, {}),
        ("softmax", f32[:8].astype(np.int32), -1, {"dtype": np.float32}),
        ("softmax", f32, None, {}),
        ("softmax", f32, -1, {"strategy": "reference"}),
        ("softmax", f32[:8, :100], -1, {"strategy": "onednn"}),
        ("log_softmax", f32, -1, {"strategy": "mkl"}),
    ]


@pytest.mark.parametrize("everything_to", [None, "onednn", "mkl", "reference"])
@pytest.mark.parametrize("threads", [1, 2])
def test_explain_names_the_strategy_and_threads_that_run(monkeypatch, tmp_path, everything_to,
                                                          threads):
    """For every kind of call, explain's strategy and thread count are those
    of the strategy whose run() the call then makes (issue 15), or, for a
    common call that takes the fast path (no run(): _fast calls the kernel),
    vectorized on the thread count that path runs."""
    if everything_to is not None:
        _table_of_only(tmp_path, everything_to)
    ran = []
    for name, module in STRATEGIES.items():
        def spy(problem, x, y, n_threads, *args, _name=name, _run=module.run, **kwargs):
            ran.append((_name, n_threads))
            return _run(problem, x, y, n_threads, *args, **kwargs)
        monkeypatch.setattr(module, "run", spy)
    functions = {"softmax": pysoftmax.softmax, "log_softmax": pysoftmax.log_softmax}
    with pysoftmax.num_threads(threads):
        for op, x, axis, kwargs in _calls():
            e = dispatch.explain(x, axis, op=op, **kwargs)
            ran.clear()
            functions[op](x, axis, **kwargs)
            fast = None if kwargs or axis != -1 else _fast.planned_threads(x, op == "log_softmax")
            runs = [(e.strategy, e.threads)] if fast is None else []
            assert ran == runs, (op, x.shape, x.dtype, axis, kwargs, e)
            assert fast is None or ("vectorized", fast) == (e.strategy, e.threads), e
        with pysoftmax.strategy("reference"):           # the context's strategy, too
            e = dispatch.explain(x)
            ran.clear()
            pysoftmax.softmax(x)
            assert ran == [("reference", e.threads)] and e.source == "explicit"
