"""The documentation runs: docstring examples, README examples; the CLI works."""
import doctest
import importlib.metadata
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

import pysoftmax
from pysoftmax import _bench

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.parametrize("module", ["pysoftmax", "pysoftmax._api", "pysoftmax._config",
                                    "pysoftmax._context", "pysoftmax._problem",
                                    "pysoftmax._table", "pysoftmax._select",
                                    "pysoftmax._explain", "pysoftmax.dispatch",
                                    "pysoftmax._slices", "pysoftmax._logsumexp",
                                    "pysoftmax._weighted"])
def test_docstring_examples(module):
    result = doctest.testmod(__import__(module, fromlist=["_"]),
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def _readme_python_blocks():
    text = README.read_text()
    return [(text.count("\n", 0, m.start(1)), m.group(1))
            for m in re.finditer(r"```python\n(.*?)```", text, flags=re.S)]


def test_readme_has_python_examples():
    assert len(_readme_python_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(_readme_python_blocks())))
def test_readme_python_example_runs_on_its_own(index, tmp_path, monkeypatch):
    """Each ```python block of README.md runs by itself, in a fresh namespace
    (a reader may copy any one of them), from a scratch directory."""
    line, block = _readme_python_blocks()[index]
    monkeypatch.chdir(tmp_path)
    code = compile("\n" * line + block, str(README), "exec")    # tracebacks give README lines
    with pysoftmax.strategy("auto"), pysoftmax.num_threads(None):
        exec(code, {"__name__": "__readme__"})


def test_version_matches_metadata():
    assert importlib.metadata.version("pysoftmax") == pysoftmax.__version__


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "pysoftmax", *args], capture_output=True,
                          text=True, cwd=tempfile.gettempdir(), timeout=120, env=env)


def test_cli_info():
    result = _cli("info")
    assert result.returncode == 0, result.stderr
    for name in pysoftmax.available_strategies():
        assert re.search(rf"{name}\s+available", result.stdout), result.stdout
    assert "instruction set" in result.stdout


def test_console_script_works_from_the_checkout():
    script = pathlib.Path(sys.executable).parent / "pysoftmax"
    result = subprocess.run([str(script), "info"], capture_output=True, text=True,
                            cwd=README.parent, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "strategies:" in result.stdout


def test_source_tree_import_explains_itself(tmp_path):
    """A plain clone, no build, pysoftmax not installed: importing it says so,
    in one ImportError and nothing else (no 'circular import' first).

    The package's sources are copied, and Python runs with -S: no
    site-packages, hence neither an installed pysoftmax nor the import hook
    of an editable install, which would otherwise be found first."""
    shutil.copytree(README.parent / "pysoftmax", tmp_path / "pysoftmax",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"))
    result = subprocess.run([sys.executable, "-S", "-c", "import pysoftmax"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode != 0
    assert result.stderr.count("Traceback") == 1, result.stderr
    assert "circular import" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(
        "ImportError: pysoftmax is being imported from its source tree"), result.stderr


def test_cli_bench():
    result = _cli("bench", "--rounds", "1")
    assert result.returncode == 0, result.stderr
    for case in _bench.DEFAULT_CASES:
        assert case in result.stdout
    header = result.stdout.splitlines()[2].split()
    for name in [*pysoftmax.available_strategies(), "auto_out", "numpy", "scipy", "memcpy",
                 "auto/peer", "fresh/out", "auto/best"]:
        assert name in header, header
    assert "onednn: oneDNN 3.2 computes a non-last axis" in result.stdout


def test_cli_bench_features():
    result = _cli("bench", "--features", "--rounds", "1", "--op", "log_softmax")
    assert result.returncode == 0, result.stderr
    assert "approx/plain" in result.stdout and "where/plain" in result.stdout
    for case in ("64x1000", "16x4000", "12288x128"):
        assert case in result.stdout


@pytest.mark.parametrize("args", [[], ["bogus"], ["bench", "--threads", "0"],
                                  ["bench", "--dtype", "int8"], ["tune", "--budget", "-1"],
                                  ["tune", "--threads", "x"]])
def test_cli_bad_arguments_print_usage(args):
    result = _cli(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


def test_cli_info_shows_the_table():
    result = _cli("info")
    assert "dispatch:   built-in table" in result.stdout
    assert "MKL:" in result.stdout and "code path" in result.stdout
    assert "oneDNN:" in result.stdout


def test_cli_info_says_when_there_is_no_user_table(tmp_path):
    home, env = _home(tmp_path)
    missing = home / ".config" / "pysoftmax" / "dispatch.json"
    result = _cli("info", env=env)
    assert result.returncode == 0, result.stderr
    assert f"user table: none ({missing} does not exist)" in result.stdout
    missing.parent.mkdir(parents=True)
    missing.write_text("{}")                         # there, even if unusable
    result = _cli("info", env=env)
    assert f"user table: {missing}\n" in result.stdout


@pytest.mark.parametrize("args, status", [(["info"], 1),
                                          (["tune", "--help"], 0)])   # argparse ignores it
def test_cli_stops_quietly_when_its_reader_goes_away(args, status):
    """`pysoftmax info | head -2`: the reader closes the pipe early; here,
    before anything is written, so that every write fails."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-m", "pysoftmax", *args], stdout=write_end,
                                stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
                                timeout=120)
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == status


def _help_entries(command):
    """option -> its help text, from `pysoftmax COMMAND --help`."""
    result = _cli(command, "--help")
    assert result.returncode == 0, result.stderr
    entries, option = {}, None
    for line in result.stdout.splitlines():
        if re.match(r"  -", line):
            option = re.findall(r"--[\w-]+", line)[-1] if "--" in line else line.split()[0]
            entries[option] = line
        elif option is not None and line.startswith("   "):
            entries[option] += line
        else:
            option = None
    return {k: " ".join(v.split()) for k, v in entries.items()}


def test_cli_bench_help_gives_the_defaults():
    entries = _help_entries("bench")
    for option, default in [("--threads", "1"), ("--rounds", "7"), ("--dtype", "float32"),
                            ("--op", "softmax")]:
        assert f"(default: {default})" in entries[option], entries[option]


def test_tune_budget_default_is_the_same_everywhere():
    """One default budget: dispatch.TUNE_BUDGET, in tune(), `tune --help`, README."""
    import inspect

    from pysoftmax import dispatch
    budget = dispatch.TUNE_BUDGET
    assert inspect.signature(dispatch.tune).parameters["budget"].default == budget
    assert f"(default: {budget:g})" in _help_entries("tune")["--budget"]
    lines = [line for line in README.read_text().splitlines() if line.startswith("pysoftmax tune")]
    assert lines and f"default {budget:g} s" in lines[0], lines


def test_cli_tune_writes_a_usable_table(tmp_path):
    out = tmp_path / "table.json"
    result = _cli("tune", "--budget", "2", "--output", str(out))
    assert result.returncode == 0, result.stderr
    from pysoftmax import dispatch
    builtin = dispatch.builtin()
    if builtin.foreign is None:          # the built-in table's rows are the base
        assert "rows differ from the built-in table" in result.stdout
    else:
        assert "rows, measured here: the built-in table's are not used" in result.stdout
    assert f"written to {out}" in result.stdout
    table = dispatch.read(out)
    assert len(table.rules) >= (100 if builtin.foreign is None else 1)
    assert table.to_json()["format"] == dispatch.FORMAT
    assert {row.use_threads for row in table.rules.values()} <= {"one", "all"}


def _home(tmp_path):
    """An environment whose user table lives under tmp_path/home/.config."""
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    env.pop("XDG_CONFIG_HOME", None)
    env.pop("PYSOFTMAX_TABLE", None)
    return home, env


@pytest.mark.parametrize("case", ["~/.config is a file", "--output is a directory",
                                  "the parent of --output is a file"])
def test_cli_tune_checks_the_destination_before_measuring(tmp_path, case):
    """Issue 12, item 7: an unwritable destination is reported before the
    budget is spent, without a traceback or a stray temporary file."""
    home, env = _home(tmp_path)
    args = ["tune", "--budget", "0.2"]
    if case == "~/.config is a file":
        (home / ".config").write_text("")
        culprit = home / ".config"
        dest = culprit / "pysoftmax" / "dispatch.json"
    elif case == "--output is a directory":
        dest = culprit = tmp_path / "out"
        dest.mkdir()
        args += ["--output", str(dest)]
    else:
        culprit = tmp_path / "a_file"
        culprit.write_text("")
        dest = culprit / "t.json"
        args += ["--output", str(dest)]
    result = _cli(*args, env=env)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert f"cannot write the dispatch table to {dest}" in result.stderr
    assert str(culprit) + ")" in result.stderr                 # what is in the way
    assert result.stdout == "" and "\r[" not in result.stderr   # nothing measured
    assert not list(tmp_path.rglob("*.tmp"))


def test_cli_tune_keeps_the_measurements_when_writing_fails(tmp_path, monkeypatch, capsys):
    """The destination breaks while measuring: say so, leave no temporary
    file, and keep the measured table elsewhere."""
    from pysoftmax import __main__ as cli
    from pysoftmax import dispatch

    out = tmp_path / "table.json"
    measured = dispatch.builtin()
    measured.cpu = dispatch.cpu_fingerprint()

    def fake_tune(**kwargs):
        out.mkdir()                         # the destination turns into a directory meanwhile
        return measured

    monkeypatch.setattr(dispatch, "tune", fake_tune)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "spare"))
    (tmp_path / "spare").mkdir()
    assert cli.main(["tune", "--budget", "1", "--output", str(out)]) == 1
    captured = capsys.readouterr()
    assert f"could not write the dispatch table to {out}" in captured.err
    assert re.search("rows differ from the built-in table|rows, measured here",
                     captured.out)                              # the table is shown
    spare = re.search(r"saved in (\S+) instead", captured.err).group(1)
    assert pathlib.Path(spare).parent == tmp_path / "spare"
    assert dispatch.read(spare).rules == measured.rules
    assert not list(tmp_path.rglob("*.tmp"))


def test_save_removes_its_temporary_file_on_failure(tmp_path):
    from pysoftmax import dispatch

    (tmp_path / "t.json").mkdir()
    with pytest.raises(IsADirectoryError):
        dispatch.save(dispatch.builtin(), tmp_path / "t.json")
    assert not list(tmp_path.rglob("*.tmp"))


def test_cli_bench_json_and_update(tmp_path):
    """--json gives every case and the call cost; --update rewrites only the
    block between the markers, with the machine, the tables and the targets."""
    import json
    report = tmp_path / "report.md"
    report.write_text(f"before\n{_bench.REPORT_BEGIN}\nold\n{_bench.REPORT_END}\nafter\n")
    result = _cli("bench", "--rounds", "1", "--json", "--update", str(report))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [r["case"] for r in data["results"]] == list(_bench.DEFAULT_CASES)
    for r in data["results"]:
        assert {"auto", "auto_out", "memcpy", "numpy", "scipy"} <= set(r["seconds"])
    assert set(data["call_cost"]) == {"float32", "float64"}
    text = report.read_text()
    assert text.startswith(f"before\n{_bench.REPORT_BEGIN}\nWritten by `pysoftmax bench")
    assert text.endswith(f"{_bench.REPORT_END}\nafter\n")
    assert "old" not in text
    for needed in ("CPU:", "auto/peer", "fresh/out", "### Targets (issue 13)", "1x8 float64"):
        assert needed in text


def test_cli_bench_update_checks_the_file_first(tmp_path):
    (tmp_path / "plain.md").write_text("no markers\n")
    for name in ("plain.md", "missing.md"):
        result = _cli("bench", "--update", str(tmp_path / name))
        assert result.returncode == 1
        assert result.stderr.startswith(f"pysoftmax bench: cannot update {tmp_path / name}")
        assert "Traceback" not in result.stderr


def test_asv_cases_are_the_bench_cases():
    """asv_bench/benchmarks/common.py repeats the bench cases (asv runs old
    commits, whose pysoftmax lacks newer cases); the two lists must agree."""
    spec = importlib.util.spec_from_file_location(
        "asv_common", README.parent / "asv_bench" / "benchmarks" / "common.py")
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    assert common.SHAPES == _bench.DEFAULT_CASES
