# What _vectorized.pyx offers other compiled modules (cimport): the plain
# forward pass over rows (softmax, or log_softmax if log != 0, scale 1,
# exact exp) on n_threads threads, as rows() runs it.  Rows of n contiguous
# elements, row strides ldx and ldy (elements); n_rows >= 1, n >= 1; y may be
# x.  Callable without the GIL.

cdef void forward_rows_f32(const float *x, Py_ssize_t ldx, float *y, Py_ssize_t ldy,
                           Py_ssize_t n_rows, Py_ssize_t n, int log,
                           int n_threads) noexcept nogil
cdef void forward_rows_f64(const double *x, Py_ssize_t ldx, double *y, Py_ssize_t ldy,
                           Py_ssize_t n_rows, Py_ssize_t n, int log,
                           int n_threads) noexcept nogil
