"""One owner of the C kernels and of their instruction-set choice (issue 13).

strategies/_kernels.pyx alone links the kernels; the other compiled modules
call them through its table of entry points (src/kernels.h), so switching
the instruction set switches it for every strategy, the `mkl` strategy's own
helper loops (max, shift, log-sum) and oneDNN's NaN check included.  The
kernel library is built with hidden symbols: no module exports a kernel."""
import ctypes
import importlib

import pytest

import pysoftmax
from pysoftmax import _openmp
from pysoftmax.strategies import _kernels, vectorized

# The compiled modules that call our kernels, by the strategy they serve.
CALLERS = {"vectorized": "_vectorized", "mkl": "_mkl", "onednn": "_onednn"}


def _callers():
    """The compiled modules of the available strategies that call the kernels."""
    status = pysoftmax.available_strategies()
    return {name: importlib.import_module(f"pysoftmax.strategies.{module}")
            for name, module in CALLERS.items() if status[name].available}


@pytest.mark.parametrize("generic", [False, True, False])
def test_every_compiled_module_runs_the_same_isa(generic):
    try:
        chosen = vectorized.set_isa(generic)
        reported = {name: module.isa() for name, module in _callers().items()}
        assert reported == dict.fromkeys(reported, chosen)
        assert _kernels.isa() == chosen == vectorized.ISA == pysoftmax.get_config()["isa"]
        if generic:
            assert chosen == "generic"
    finally:
        vectorized.set_isa(False)


def test_no_compiled_module_exports_a_kernel():
    """dlsym finds none of the kernels' C symbols in any extension of the package."""
    for module in [_openmp, _kernels, *_callers().values()]:
        library = ctypes.CDLL(module.__file__)
        for symbol in ("psm_init", "psm_isa", "psm_exports", "psm_rows_f32", "psm_max_f64"):
            assert not hasattr(library, symbol), f"{module.__name__} exports {symbol}"
