# cython: language_level=3
"""The one thread-count helper: what OpenMP would use by default.

omp_get_max_threads() honours OMP_NUM_THREADS, the CPU affinity mask and
threadpoolctl's limits (it sets libgomp's per-thread value), so we read it at
every call instead of caching it.  Without OpenMP the answer is 1.
"""

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


def max_threads():
    """Number of threads an OpenMP parallel region would use now."""
    return omp_get_max_threads()


def openmp_enabled():
    """True if the kernels were built with OpenMP."""
    return bool(PSM_OPENMP)
