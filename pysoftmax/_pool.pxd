# The result pool's entry for Cython callers (_fast.pyx): see _pool.pyx.
cimport numpy as cnp

cdef object new_result(int nd, cnp.npy_intp *dims, int type_num)
