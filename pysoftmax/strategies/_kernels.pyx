# cython: language_level=3
"""The one owner of our C kernels and of their instruction-set choice.

This extension alone links the kernel library (src/kernels.c, built with
hidden symbols, so nothing of it is exported); it publishes the table of the
kernels' entry points as the capsule `api`, and the other compiled modules
(_vectorized, _mkl, _onednn) call the kernels through it (src/kernels.h:
they are built with PSM_IMPORT and call psm_import when imported).  So
there is one choice of instruction set per process: `init` makes it for
every strategy at once, and each of those modules' `isa()` reports it.

Until `init` is called the kernels are the portable ones; strategies/
vectorized.py calls it at import (PYSOFTMAX_ISA).
"""
from cpython.pycapsule cimport PyCapsule_New

from kernels cimport PSM_API_CAPSULE, psm_exports, psm_init, psm_isa

api = PyCapsule_New(<void *>psm_exports(), PSM_API_CAPSULE, NULL)


def init(bint force_generic):
    """Select the kernels for this CPU (or the portable ones) for every
    strategy; return the instruction set's name."""
    return psm_init(force_generic).decode()


def isa():
    """The name of the instruction set the kernels use."""
    return psm_isa().decode()
