# cython: language_level=3
"""The one thread-count helper: how many threads a call uses by default.

omp_get_max_threads() honours OMP_NUM_THREADS, the CPU affinity mask and
threadpoolctl's limits (it sets libgomp's per-thread value), so we read it at
every call instead of caching it.  The default is capped at the cores this
process may run on (read once, at import): OMP_NUM_THREADS=1000 on 2 cores
would run 1000 threads, 12x slower (issue 12); scikit-learn caps the same
way.  An explicit count (set_num_threads) is not capped.  Without OpenMP the
answer is 1.

fork(): GNU libgomp's thread pool does not survive it; a parallel region in
the child waits forever for the parent's threads.  So a child forked after
import (os.register_at_fork) runs on one thread, whatever was asked, and the
drivers run one thread without entering a parallel region at all.
"""
import os

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define PSM_OPENMP 1
    #else
    #define PSM_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    #endif
    """
    int omp_get_max_threads() nogil
    int PSM_OPENMP


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):    # not on Linux
        return os.cpu_count() or 1


_CORES = _cores()
_forked = False


def _after_fork_in_child():
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def in_forked_child():
    """True in a process forked from the one that imported pysoftmax."""
    return _forked


def max_threads():
    """Number of threads an OpenMP parallel region would use now."""
    return omp_get_max_threads()


def default_threads():
    """The thread count of a call that asks for none: OpenMP's (above), at
    most the cores available; 1 in a forked child."""
    if _forked:
        return 1
    return min(omp_get_max_threads(), _CORES)


def openmp_enabled():
    """True if the kernels were built with OpenMP."""
    return bool(PSM_OPENMP)
