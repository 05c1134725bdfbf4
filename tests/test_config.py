"""Strategy and thread configuration: per thread, nesting, restored on exit."""
import threading

import numpy as np
import pytest
from conftest import expected_strategies, require_strategy, run_in_threads
from threadpoolctl import threadpool_info, threadpool_limits

import pysoftmax
from pysoftmax.strategies import STRATEGIES


def test_defaults():
    config = pysoftmax.get_config()
    assert config["strategy"] == "auto"
    assert config["threads"] >= 1
    assert config["isa"] in STRATEGIES["vectorized"].ISAS
    assert config["versions"]["pysoftmax"] == pysoftmax.__version__


def test_available_strategies():
    """Those this run expects are available (PYSOFTMAX_EXPECT_STRATEGIES=all in
    CI's default build); any other says why not."""
    status = pysoftmax.available_strategies()
    assert set(status) == set(STRATEGIES)
    for name in expected_strategies():
        assert status[name].available, f"{name}: {status[name].reason}"
    for name, s in status.items():
        assert (s.reason is None) == s.available, (name, s)
        if not s.available:
            assert isinstance(s.reason, str) and s.reason, (name, s)


def test_strategies_left_out_of_the_build_say_why():
    """A vendor strategy the build left out (-Dmkl=disabled, no wheel for this
    platform) is unavailable with meson's reason, and refused by name."""
    from pysoftmax.strategies._build_info import NOT_BUILT
    assert set(NOT_BUILT) <= {"mkl", "onednn"}
    status = pysoftmax.available_strategies()
    for name, why in NOT_BUILT.items():
        assert status[name].reason == f"not built: {why}"
        with pytest.raises(ValueError, match=f"strategy '{name}' is not available: not built"):
            pysoftmax.set_strategy(name)
    if not NOT_BUILT:
        pytest.skip("this build has every strategy (the subprocess test below simulates one "
                    "left out)")


def test_context_manager_nests_and_restores():
    assert pysoftmax.get_config()["strategy"] == "auto"
    with pysoftmax.strategy("reference"):
        assert pysoftmax.get_config()["strategy"] == "reference"
        with pysoftmax.strategy("vectorized"):
            assert pysoftmax.get_config()["strategy"] == "vectorized"
            with pysoftmax.strategy("auto"):
                assert pysoftmax.get_config()["strategy"] == "auto"
            assert pysoftmax.get_config()["strategy"] == "vectorized"
        assert pysoftmax.get_config()["strategy"] == "reference"
    assert pysoftmax.get_config()["strategy"] == "auto"


def test_context_manager_restores_after_exception():
    with pytest.raises(RuntimeError):
        with pysoftmax.strategy("reference"), pysoftmax.num_threads(1):
            raise RuntimeError
    assert pysoftmax.get_config()["strategy"] == "auto"


def test_set_strategy_inside_context_is_undone_on_exit():
    with pysoftmax.strategy("reference"):
        pysoftmax.set_strategy("vectorized")
        assert pysoftmax.get_config()["strategy"] == "vectorized"
    assert pysoftmax.get_config()["strategy"] == "auto"


def test_set_strategy_and_reset():
    try:
        pysoftmax.set_strategy("reference")
        assert pysoftmax.get_config()["strategy"] == "reference"
    finally:
        pysoftmax.set_strategy(None)
    assert pysoftmax.get_config()["strategy"] == "auto"


def test_num_threads():
    default = pysoftmax.get_config()["threads"]
    with pysoftmax.num_threads(1):
        assert pysoftmax.get_config()["threads"] == 1
        with pysoftmax.num_threads(3):
            assert pysoftmax.get_config()["threads"] == 3
        assert pysoftmax.get_config()["threads"] == 1
    assert pysoftmax.get_config()["threads"] == default


def _in_subprocess(code, **env):
    import os
    import subprocess
    import sys
    import tempfile
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tempfile.gettempdir(), timeout=120, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_default_threads_capped_at_the_cores():
    """OMP_NUM_THREADS=1000 on a few cores does not run 1000 threads (issue 12:
    12x slower); an explicit count is used as given; threadpoolctl still limits."""
    code = """
import os, numpy as np, pysoftmax
from threadpoolctl import threadpool_limits
from pysoftmax import dispatch
cores = len(os.sched_getaffinity(0))
x = np.zeros((64, 70000), np.float32)
print(cores, pysoftmax.get_config()["threads"], dispatch.explain(x).threads)
with pysoftmax.num_threads(1000):
    print(pysoftmax.get_config()["threads"])
with threadpool_limits(limits=1, user_api="openmp"):
    print(pysoftmax.get_config()["threads"])
"""
    lines = _in_subprocess(code, OMP_NUM_THREADS="1000").split("\n")
    cores, default, used = map(int, lines[0].split())
    assert default == min(1000, cores) and used <= cores
    assert int(lines[1]) == 1000
    assert int(lines[2]) == 1


def test_threadpoolctl_sees_and_limits_our_openmp():
    pysoftmax.softmax(np.ones(10))
    assert any(info["user_api"] == "openmp" for info in threadpool_info())
    with threadpool_limits(limits=1, user_api="openmp"):
        assert pysoftmax.get_config()["threads"] == 1


def test_each_thread_uses_its_own_strategy(monkeypatch):
    """8 threads, each in a different strategy(...) context, interleaved: each
    call runs the strategy of its own thread and gets correct results."""
    names = sorted(name for name, s in pysoftmax.available_strategies().items() if s.available)
    used = {}                       # thread ident -> set of strategy names run
    lock = threading.Lock()
    for name, module in STRATEGIES.items():
        original = module.run

        def spy(problem, x, y, n_threads, _name=name, _original=original):
            with lock:
                used.setdefault(threading.get_ident(), set()).add(_name)
            _original(problem, x, y, n_threads)

        monkeypatch.setattr(module, "run", spy)

    barrier = threading.Barrier(8)
    errors, idents = [], {}

    def worker(i):
        name = names[i % len(names)]
        # rows of 60: within what every strategy accepts (onednn: 64 at least)
        x = np.random.default_rng(i).standard_normal((256, 60)).astype(np.float32) + i
        expected = np.exp(x - x.max(axis=-1, keepdims=True))
        expected /= expected.sum(axis=-1, keepdims=True)
        try:
            with pysoftmax.strategy(name):
                idents[i] = (threading.get_ident(), name)
                barrier.wait()
                for _ in range(20):
                    assert pysoftmax.get_config()["strategy"] == name
                    np.testing.assert_allclose(pysoftmax.softmax(x), expected, rtol=1e-5, atol=1e-7)
        except Exception as exc:   # collected and re-raised in the main thread
            errors.append(exc)

    run_in_threads(worker, 8)
    assert not errors, errors
    for ident, name in idents.values():
        assert used[ident] == {name}
    assert pysoftmax.get_config()["strategy"] == "auto"


def test_new_threads_start_with_defaults():
    seen = []
    with pysoftmax.strategy("reference"):
        t = threading.Thread(target=lambda: seen.append(pysoftmax.get_config()["strategy"]))
        t.start()
        t.join()
    assert seen == ["auto"]


@pytest.mark.parametrize("strategy", ["mkl", "onednn"])
def test_versions_of_vendor_libraries(strategy):
    require_strategy(strategy)
    versions = pysoftmax.get_config()["versions"]
    if strategy == "mkl":
        assert versions["mkl"].startswith("20")
        assert versions["mkl_cpu_path"]                # the code path MKL chose for this CPU
        assert "VML_HA" in versions["mkl_vml_mode"]
    else:
        assert versions["onednn"].startswith("3.")


@pytest.mark.parametrize("built", [True, False], ids=["cannot-load", "not-built"])
@pytest.mark.parametrize("module, strategy, library", [("_mkl", "mkl", "MKL"),
                                                       ("_onednn", "onednn", "oneDNN")])
def test_a_library_that_cannot_load_is_reported_and_the_rest_works(module, strategy, library,
                                                                   built):
    """Simulated in a fresh interpreter by making the compiled module unimportable:
    built, the library does not load; not built, meson's reason (_build_info)
    is given, by available_strategies, set_strategy, explain and `pysoftmax info`."""
    expected = f"cannot load {library}" if built else "not built: (test) no wheel here"
    code = f"""
import importlib, sys
sys.modules["pysoftmax.strategies.{module}"] = None      # import now raises ImportError
import numpy as np, pysoftmax
from pysoftmax import __main__, dispatch
from pysoftmax.strategies import _build_info, {strategy}
_build_info.NOT_BUILT.clear()
if not {built}:
    _build_info.NOT_BUILT["{strategy}"] = "(test) no wheel here"
importlib.reload({strategy})                             # the reason with this NOT_BUILT
status = pysoftmax.available_strategies()
assert not status["{strategy}"].available
assert status["{strategy}"].reason.startswith("{expected}"), status["{strategy}"].reason
for call in (lambda: pysoftmax.set_strategy("{strategy}"),
             lambda: dispatch.explain(np.zeros(2), strategy="{strategy}"),
             lambda: pysoftmax.softmax(np.zeros(2), strategy="{strategy}")):
    try:
        call()
    except ValueError as exc:
        assert "'{strategy}' is not available: {expected}" in str(exc), exc
    else:
        raise AssertionError("an unavailable strategy was accepted")
__main__.main(["info"])
print(pysoftmax.softmax(np.zeros(2, np.float32)))
"""
    import subprocess
    import sys
    import tempfile
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tempfile.gettempdir(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "[0.5 0.5]" in result.stdout
    assert f"  {strategy:<12} unavailable: {expected}" in result.stdout, result.stdout
    from pysoftmax import dispatch
    if any(row.strategy == strategy for row in dispatch.builtin().rules.values()):
        assert f"rows of {strategy} (unavailable here) take the fallback" in result.stdout


def test_onednn_primitive_cache_is_reused_and_bounded():
    require_strategy("onednn")
    from pysoftmax.strategies import Problem, onednn
    onednn._cache.clear()
    f32 = np.dtype(np.float32)
    first = onednn.primitive(Problem("softmax", f32, "last", (3, 10)), 10, 10)
    assert onednn.primitive(Problem("softmax", f32, "last", (3, 10)), 10, 10) is first
    assert first.implementation.startswith("jit")      # dense rows: oneDNN's fast kernel
    for n in range(11, 11 + onednn.CACHE_SIZE + 5):
        onednn.primitive(Problem("log_softmax", f32, "last", (2, n)), n, n)
    assert len(onednn._cache) == onednn.CACHE_SIZE
