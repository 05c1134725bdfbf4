"""SciPy's own tests of softmax, log_softmax and logsumexp, run on ours.

The classes TestSoftmax, TestLogSoftmax and TestLogSumExp of the installed
``scipy/special/tests/test_logsumexp.py`` run in a subprocess pytest with
``SCIPY_ARRAY_API=1``, on every backend SciPy's `xp` fixture offers here
(numpy, and array_api_strict, torch, jax.numpy and dask.array where
installed), with
SciPy's functions replaced in that module by pysoftmax's (the plugin
tests/scipy_suite_plugin.py, which checks before every test that the
replacement is what runs).  Only the real-valued tests: the complex ones are
deselected by name and parameter id in COMPLEX, with the reason.  The run
starts outside the source tree (the installed package, as CI), with an empty
ini file (our pyproject's pytest settings stay out) and no cache.
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest

scipy = pytest.importorskip("scipy")

PLUGIN_DIR = pathlib.Path(__file__).resolve().parent

_COMPLEX = "complex input: pysoftmax.logsumexp raises TypeError (real input only, issue 14)"
# [test class or function, regular expression searched in the parameter id
#  (None: every parametrization), reason]
COMPLEX = [
    ["test_logsumexp_complex_sign", None, _COMPLEX],
    ["test_gh21610", None, _COMPLEX + "; parametrized over complex64 and complex128 only"],
    ["test_gh21709_small_imaginary", None, _COMPLEX],
    ["test_dtypes_a", r"complex", _COMPLEX],
    ["test_dtypes_ab", r"complex", _COMPLEX],
    ["test_gh22601_infinite_elements", r"j\)", _COMPLEX + " (a complex infinity)"],
    ["test_device", r"-1j$", _COMPLEX],
]


BACKENDS = ["numpy", "array_api_strict", "torch", "jax.numpy", "dask.array"]


def _available_backends():
    """The backends SciPy's xp fixture offers here (those it knows, installed)."""
    found = ["numpy"]
    for name in BACKENDS[1:]:
        try:
            __import__(name)
        except ImportError:
            continue
        found.append(name)
    return found


def _test_file():
    path = pathlib.Path(scipy.__file__).parent / "special" / "tests" / "test_logsumexp.py"
    if not path.exists():
        pytest.skip(f"SciPy's tests are not installed ({path})")
    return path


def run_scipy_suite(tmp_path, deselect, broken=False):
    """pytest of SciPy's test module with our plugin; (exit code, report, output)."""
    test_file = _test_file()
    site = test_file.parents[3]             # the directory that holds the scipy package
    ini = tmp_path / "empty.ini"
    ini.write_text("")
    report = tmp_path / "report.json"
    env = dict(os.environ, SCIPY_ARRAY_API="1", PYSOFTMAX_SCIPY_REPORT=str(report),
               PYSOFTMAX_SCIPY_DESELECT=json.dumps(deselect),
               PYTHONPATH=os.pathsep.join(
                   [str(PLUGIN_DIR)] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    env.pop("PYSOFTMAX_SCIPY_BROKEN", None)
    if broken:
        env["PYSOFTMAX_SCIPY_BROKEN"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-c", str(ini), "--rootdir", str(site),
           "--confcutdir", str(site), "-p", "no:cacheprovider", "-p", "scipy_suite_plugin",
           "-q", "-rfE", "-x" if broken else "-rN", str(test_file)]
    proc = subprocess.run(cmd, cwd=tempfile.gettempdir(), env=env, capture_output=True,
                          text=True, timeout=900)
    output = proc.stdout + proc.stderr
    data = json.loads(report.read_text()) if report.exists() else None
    return proc.returncode, data, output


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return run_scipy_suite(tmp_path_factory.mktemp("scipy_suite"), COMPLEX)


def test_scipy_suite_passes_on_every_backend(suite):
    code, report, output = suite
    assert code == 0, output[-6000:]
    assert report is not None, output[-3000:]
    assert {"softmax", "log_softmax", "logsumexp"} <= set(report["replaced"])
    per_backend = report["per_backend"]
    for backend in _available_backends():
        counts = per_backend.get(backend, {})
        assert counts.get("passed", 0) > 0, f"no test ran on {backend}: {per_backend}"
    for backend, counts in per_backend.items():
        assert set(counts) <= {"passed", "skipped", "xfailed"}, (backend, counts)


def test_the_deselected_tests_are_the_listed_ones(suite):
    """Every deselected test is outside the three classes or has a listed reason."""
    _, report, output = suite
    assert report is not None, output[-3000:]
    reasons = {r[2] for r in COMPLEX} | {
        "not a test of softmax, log_softmax or logsumexp"}
    assert {reason for _, reason in report["deselected"]} <= reasons
    assert report["deselected"], "nothing deselected: the rules were not applied"


def test_a_broken_replacement_fails_the_run(tmp_path):
    """The replacement is what SciPy's tests run: a wrong softmax fails them."""
    code, _, output = run_scipy_suite(tmp_path, COMPLEX, broken=True)
    assert code == 1, output[-3000:]
    assert "TestSoftmax" in output and "failed" in output, output[-3000:]
