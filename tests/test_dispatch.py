"""The dispatch table: data round-trip, bad tables ignored with one warning,
explain, tuning, that auto follows the table, thread counts that scale with
the machine, and tables that apply only on the CPU they were measured on."""
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


def _builtin_here(tmp_path):
    """Activate the built-in table's rows as if measured on this CPU; returns the table."""
    table = dispatch.builtin()
    table.cpu = dispatch.cpu_fingerprint()       # read() refuses a table from another CPU
    return dispatch.load(dispatch.save(table, tmp_path / "builtin-here.json"))


def test_builtin_table_is_valid_and_covers_the_default_shapes(tmp_path):
    table = dispatch.builtin()
    assert table.source == "built-in"
    assert len(table.rules) >= 100
    assert {row.strategy for row in table.rules.values()} <= set(STRATEGIES)
    assert {row.use_threads for row in table.rules.values()} <= {"one", "all"}
    _builtin_here(tmp_path)
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


def _cpu(**changes):
    """This CPU's fingerprint with some fields changed."""
    return dict(dispatch.cpu_fingerprint(), **changes)


def _bad_tables():
    other_cpu = _table_json(cpu={"model": "Imaginary CPU 9000", "flags": ["avx512f"]})
    unknown = _table_json()
    unknown["rules"][0]["strategy"] = "gpu-magic"
    threads = _table_json()
    threads["rules"][0]["use_threads"] = 2      # a count of the machine it was made on
    old_format = _table_json(format="pysoftmax-dispatch-1")
    for rule in old_format["rules"]:
        rule["use_threads"] = 1 if rule["use_threads"] == "one" else rule["threads"]
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
        "a thread count": (json.dumps(threads), "use_threads must be 'one' or 'all'"),
        "the older format": (json.dumps(old_format), "older format 'pysoftmax-dispatch-1'"),
        "another vendor": (json.dumps(_table_json(cpu=_cpu(vendor="GenuineIntel"))),
                           "another CPU"),
        "another family": (json.dumps(_table_json(cpu=_cpu(family=23))), "another CPU"),
        "another model": (json.dumps(_table_json(cpu=_cpu(model=1))), "another CPU"),
        "other flags": (json.dumps(_table_json(cpu=_cpu(flags=["sse4_2"]))), "another CPU"),
        "missing field": (json.dumps(missing), "malformed table"),
        "a list": ("[1, 2, 3]", "not a pysoftmax dispatch table"),
        # issue 12, item 6: each of these broke every call (RecursionError, TypeError)
        "nested too deeply": ("[" * 200000 + "]" * 200000, "nested too deeply"),
        "threads a string": (rule("threads", "1"), "threads must be a positive integer, not '1'"),
        # malformed fields that were accepted and silently did something else
        "threads zero": (rule("threads", 0), "threads must be a positive integer, not 0"),
        "threads a bool": (rule("threads", True), "threads must be a positive integer, not True"),
        "use_threads a float": (rule("use_threads", 1.5), "use_threads must be 'one' or 'all'"),
        "use_threads unknown": (rule("use_threads", "many"), "use_threads must be"),
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
        table.rules[key] = dispatch.Row("reference", "one", {})
    dispatch.load(dispatch.save(table, tmp_path / "ref.json"))
    e = dispatch.explain(np.zeros((64, 1000), np.float32))
    assert (e.strategy, e.threads, e.source) == ("reference", 1, "table")
    assert "reference" in str(e)


def test_rows_whose_strategy_declines_fall_back(tmp_path):
    table = dispatch.builtin()
    table.cpu = dispatch.cpu_fingerprint()
    for key in table.rules:
        table.rules[key] = dispatch.Row("onednn", "one", {})
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


def test_explain(tmp_path):
    _builtin_here(tmp_path)
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
        dispatch.explain(x, op="softmax_grad")
    assert dispatch.explain(x, op="logsumexp").problem.op == "logsumexp"   # no table rows
    with pytest.raises(ValueError, match="cannot compute"):
        dispatch.explain(x, op="logsumexp", strategy="mkl")
    with pytest.raises(ValueError, match="cannot compute"):
        dispatch.explain(x, axis=1, strategy="onednn")


def test_small_problems_stay_single_threaded():
    with pysoftmax.num_threads(2):
        assert dispatch.explain(np.zeros((1, 8), np.float32)).threads == 1
        assert dispatch.explain(np.zeros((1, 8), np.longdouble)).threads == 1   # fallback


def _decision(key, row):
    """'strategy@threads' of a row, as the candidates are named in its seconds."""
    return f"{row.strategy}@{1 if row.use_threads == 'one' else key.threads}"


def test_tune_changes_only_what_it_measured(tmp_path):
    base = _builtin_here(tmp_path)
    table = dispatch.tune(budget=3, ops=("softmax",), dtypes=("float32",), kinds=("last",),
                          threads=2, base=base, progress=None)
    assert table.cpu == dispatch.cpu_fingerprint() and table.foreign is None
    assert table.to_json()["format"] == dispatch.FORMAT
    measured = [key for key, row in table.rules.items() if row.seconds and key.op == "softmax"
                and row is not base.rules.get(key)]
    assert measured, "the budget allowed no measurement"
    for key, row in table.rules.items():
        if key not in measured:
            assert row == base.rules[key]          # unmeasured rows are the built-in's
        else:
            chosen, previous = _decision(key, row), _decision(key, base.rules[key])
            assert chosen in row.seconds and row.use_threads in ("one", "all")
            if chosen != previous:                  # changed only on a measured difference
                assert row.seconds[chosen] < 0.9 * row.seconds[previous]
    assert dispatch.read(dispatch.save(table, tmp_path / "tuned.json")).rules == table.rules


def _table_of_only(tmp_path, strategy):
    """Activate a table (this CPU's) whose every row names `strategy`."""
    table = dispatch.builtin()
    table.cpu = dispatch.cpu_fingerprint()
    for key in table.rules:
        table.rules[key] = dispatch.Row(strategy, "one", {})
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


# ---- threads that scale with the machine (issue 13) -------------------------

LARGE = [((12288, 128), -1), ((4096, 4096), -1), ((14400, 50), -1), ((4, 21, 128 * 128), 1)]
SMALL = [((1, 8), -1), ((64, 100), -1), ((2, 21, 64), 1)]


@pytest.mark.parametrize("table", ["every row 'all'", "built-in here", "fallback"])
def test_thread_counts_scale_with_the_machine(tmp_path, table):
    """A table made on this 2-core machine never caps a call on more threads:
    under num_threads(16) the rows measured on 2 threads say 'all', and large
    problems get 16 threads, small ones 1 (MIN_ELEMENTS_PER_THREAD)."""
    if table == "every row 'all'":
        everything = dispatch.builtin()
        everything.cpu = dispatch.cpu_fingerprint()
        for key in everything.rules:
            everything.rules[key] = dispatch.Row("vectorized", "all", {})
        dispatch.load(dispatch.save(everything, tmp_path / "all.json"))
    elif table == "built-in here":
        _builtin_here(tmp_path)
    else:
        foreign = dispatch.builtin()
        foreign.cpu = _cpu(family="another")
        foreign.foreign = dispatch.cpu_mismatch(foreign.cpu)
        monkeypatch = pytest.MonkeyPatch()
        monkeypatch.setattr(_table, "builtin", lambda: foreign)
        dispatch.load()
        monkeypatch.undo()
    with pysoftmax.num_threads(16):
        large = [dispatch.explain(np.zeros(shape, np.float32), axis) for shape, axis in LARGE]
        small = [dispatch.explain(np.zeros(shape, np.float32), axis) for shape, axis in SMALL]
    for e in large + small:
        if table == "fallback":
            assert e.source == "fallback" and "another CPU" in e.note, e
        elif e.row is not None:                   # 4096x4096 has none (too large to tune)
            assert e.source == "table" and e.row["threads"] == 2, e   # measured on 2 threads
    if table != "fallback":
        assert sum(e.row is not None for e in large + small) >= 5
    if table == "built-in here":          # as the rows say
        assert [e.threads for e in large] == [
            1 if e.row is not None and e.row["use_threads"] == "one" else 16 for e in large]
        assert 16 in [e.threads for e in large]
    else:
        assert [e.threads for e in large] == [16] * len(large), [str(e) for e in large]
    assert [e.threads for e in small] == [1] * len(small), [str(e) for e in small]
    with pysoftmax.num_threads(2):            # the machine's own count: both threads
        assert dispatch.explain(np.zeros((12288, 128), np.float32)).threads in (1, 2)
    with pysoftmax.num_threads(6):            # 64x1000: at most one thread per 2^14 elements
        e = dispatch.explain(np.zeros((64, 1000), np.float32))
        assert e.threads in (1, 64000 // dispatch.MIN_ELEMENTS_PER_THREAD)


def test_rows_of_a_bigger_machine_serve_fewer_threads():
    """Rows measured on 1 and on 64 threads: a call on 16 threads takes the
    64-thread rows (not the 1-thread ones), a call on 1 the 1-thread rows."""
    rules = {dispatch.Key("softmax", "float32", "last", 0, 0, t): dispatch.Row("vectorized", u, {})
             for t, u in ((1, "one"), (64, "all"))}
    table = dispatch.Table(rules, [256], [16], dispatch.cpu_fingerprint(), {}, "test")
    problem = dispatch.explain(np.zeros((8, 100), np.float32)).problem
    assert table.key(problem, 16).threads == 64
    assert table.key(problem, 128).threads == 64
    assert table.key(problem, 1).threads == 1
    only_one = dispatch.Table({k: r for k, r in rules.items() if k.threads == 1}, [256], [16],
                              {}, {}, "test")
    assert only_one.key(problem, 16).threads == 1
    only_many = dispatch.Table({k: r for k, r in rules.items() if k.threads == 64}, [256], [16],
                               {}, {}, "test")
    assert only_many.key(problem, 1) is None


# ---- tables apply on the CPU they were measured on (issue 13) ---------------

def test_cpu_mismatch_compares_what_makes_a_cpu_another():
    here = _cpu(family=25, model=17, vendor="AuthenticAMD")
    assert dispatch.cpu_mismatch(dict(here), here) is None
    assert dispatch.cpu_mismatch(dict(here, model_name="AMD EPYC 9654"), here) is None
    for field, value in [("machine", "aarch64"), ("vendor", "GenuineIntel"), ("family", 23),
                         ("model", 1), ("flags", ["sse4_2", "avx"]), ("flags", []),
                         ("vendor", None)]:
        reason = dispatch.cpu_mismatch(dict(here, **{field: value}), here)
        assert reason is not None and reason.startswith("made on another CPU"), (field, value)
        assert field in reason
    unknown = dict(here, family=None, model=None)          # an OS that gives no numbers
    assert dispatch.cpu_mismatch(dict(unknown), unknown) is None
    assert "model_name" in dispatch.cpu_mismatch(dict(unknown, model_name="other"), unknown)


def test_cpu_fingerprint_reads_the_first_processor_of_cpuinfo():
    x86 = ["processor\t: 0", "vendor_id\t: AuthenticAMD", "cpu family\t: 25", "model\t\t: 17",
           "model name\t: AMD EPYC 9654 96-Core Processor", "flags\t\t: fpu avx2 fma avx512f",
           "", "processor\t: 1", "vendor_id\t: Other", ""]
    assert _table._cpuinfo_fields(x86) == {
        "vendor": "AuthenticAMD", "family": "25", "model": "17",
        "model_name": "AMD EPYC 9654 96-Core Processor", "flags": "fpu avx2 fma avx512f"}
    arm = ["processor\t: 0", "BogoMIPS\t: 50.00", "Features\t: fp asimd sve",
           "CPU implementer\t: 0x41", "CPU architecture: 8", "CPU part\t: 0xd40", ""]
    fields = _table._cpuinfo_fields(arm)
    assert (fields["vendor"], _table._number(fields["family"]), _table._number(fields["model"]),
            fields["flags"]) == ("0x41", 8, 0xd40, "fp asimd sve")
    here = dispatch.cpu_fingerprint()
    assert set(here) == {"machine", "vendor", "family", "model", "model_name", "flags"}
    assert set(here["flags"]) <= set(dispatch.ISA_FLAGS)


def test_builtin_table_applies_only_on_its_cpu(monkeypatch):
    """On the CPU the built-in table was measured on its rows decide; on any
    other (vendor, family, model, flags or ISA differ) every call silently takes
    the fallback, and explain says why."""
    recorded = dispatch.builtin().cpu
    x = np.zeros((64, 1000), np.float32)
    for field, value, applies in [(None, None, True), ("model_name", "renamed", True),
                                  ("vendor", "GenuineIntel", False), ("family", 6, False),
                                  ("model", 999, False), ("flags", recorded["flags"][:-1], False),
                                  ("machine", "aarch64", False)]:
        here = dict(recorded, **({field: value} if field else {}))
        if field == "model_name" and recorded.get("family") is None:
            continue                       # without numbers the name is compared
        monkeypatch.setattr(_table, "_read_cpu", lambda here=here: here)
        with warnings.catch_warnings():
            warnings.simplefilter("error")            # no warning for the built-in table
            table = dispatch.load()
        assert (table.foreign is None) == applies, (field, table.foreign)
        e = dispatch.explain(x)
        assert e.source == ("table" if applies else "fallback"), (field, str(e))
        assert (e.note is None) == applies
        if not applies:
            assert field in e.note and "another CPU" in str(e)
            assert e.strategy == dispatch.FALLBACK[0]


def test_tune_on_another_cpus_base_keeps_none_of_its_rows():
    foreign = dispatch.builtin()
    foreign.foreign = "made on another CPU (test)"
    table = dispatch.tune(budget=1, ops=("softmax",), dtypes=("float32",), kinds=("last",),
                          threads=2, base=foreign, progress=None)
    assert table.rules and all(row.seconds for row in table.rules.values())
    assert table.foreign is None and dispatch.cpu_mismatch(table.cpu) is None


def test_tune_warns_on_a_busy_machine(monkeypatch):
    """Other processes' threads make a busy machine measure 'one' where an
    idle one measures 'all': tune says so (the load average, not the result)."""
    if not hasattr(os, "getloadavg") or not hasattr(os, "sched_getaffinity"):
        pytest.skip("no load average or affinity here")
    from pysoftmax import _tune
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "getloadavg", lambda: (cores * 2.0, 0.0, 0.0))
    assert "busy" in _tune.busy_warning()
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert _tune.busy_warning() is None
