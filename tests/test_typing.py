"""The package is typed (PEP 561): a py.typed marker installed with it, and
type hints on the public API that mypy checks user code against.
"""
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import pysoftmax

GOOD = '''
from typing import Any

import numpy as np
import numpy.typing as npt

import pysoftmax
from pysoftmax import dispatch, log_softmax, log_softmax_grad, softmax, softmax_grad


class MyArray:
    """An array of another library: DLPack in, the same type out."""
    def __dlpack__(self, *, stream: Any = None, max_version: Any = None,
                   dl_device: Any = None, copy: Any = None) -> object:
        raise NotImplementedError

    def __dlpack_device__(self) -> tuple[int, int]:
        raise NotImplementedError


x = np.zeros((4, 8), np.float32)
p: npt.NDArray[np.floating[Any]] = softmax(x)
q: npt.NDArray[np.floating[Any]] = log_softmax([[1, 2], [3, 4]], axis=(0, 1), scale=0.5)
r: npt.NDArray[np.floating[Any]] = softmax(x, axis=None, where=x > 0, dtype=np.float64)
g: npt.NDArray[np.floating[Any]] = softmax_grad(p, x, axis=-1, out=np.empty_like(p))
h = log_softmax_grad(q, np.ones((2, 2)))
mine: MyArray = softmax(MyArray())
theirs: MyArray = log_softmax_grad(MyArray(), MyArray(), axis=0)
pysoftmax.set_strategy("auto")
pysoftmax.set_strategy(None)
with pysoftmax.strategy("reference"), pysoftmax.num_threads(2):
    pass
pysoftmax.set_num_threads(None)
available: bool = pysoftmax.available_strategies()["reference"].available
config: dict[str, Any] = pysoftmax.get_config()
previous: int = pysoftmax.set_result_pool(0)
threads: int = dispatch.explain(x, op="log_softmax").threads
table = dispatch.load()
where_saved: "pathlib.Path" = dispatch.save(table, "/tmp/t.json")
import pathlib  # noqa: E402
'''

BAD = '''
import numpy as np

import pysoftmax
from pysoftmax import softmax


class MyArray:
    def __dlpack__(self) -> object:
        raise NotImplementedError

    def __dlpack_device__(self) -> tuple[int, int]:
        raise NotImplementedError


x = np.zeros(3)
softmax(x, axis="last")                  # E: axis
softmax(x, scale="2")                    # E: scale
pysoftmax.set_num_threads("2")           # E: threads
pysoftmax.set_result_pool("big")         # E: bytes
wrong: MyArray = softmax(x)              # E: NumPy in, NumPy out
flag: str = pysoftmax.available_strategies()["mkl"].available   # E: a bool
'''


def _mypy(tmp_path, source):
    pytest.importorskip("mypy")
    path = tmp_path / "user.py"
    path.write_text(textwrap.dedent(source))
    env = dict(os.environ)
    package_root = pathlib.Path(pysoftmax.__file__).resolve().parent.parent
    if package_root.name not in ("site-packages", "dist-packages"):
        # an editable install: mypy cannot follow its import hook, so point it
        # at the source tree (its own errors silenced by follow-imports=silent)
        env["MYPYPATH"] = str(package_root)
    cmd = [sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-error-summary",
           "--cache-dir", str(tmp_path / "cache"), "--python-version", "3.10", str(path)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def test_py_typed_is_installed():
    """The marker sits beside the installed package's modules (CI installs
    the package from a wheel built by meson: pysoftmax/meson.build lists it)."""
    assert (pathlib.Path(pysoftmax.__file__).parent / "py.typed").is_file()


def test_mypy_accepts_user_code(tmp_path):
    code, output = _mypy(tmp_path, GOOD)
    assert code == 0, output


def test_mypy_rejects_wrong_calls(tmp_path):
    code, output = _mypy(tmp_path, BAD)
    assert code == 1, output
    wrong = [i + 1 for i, line in enumerate(textwrap.dedent(BAD).splitlines())
             if "# E:" in line]
    flagged = {int(line.split(":")[1]) for line in output.splitlines() if ": error:" in line}
    assert set(wrong) <= flagged, output
