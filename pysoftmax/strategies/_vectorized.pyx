# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Driver of the `vectorized` strategy.

Design: the C kernels (src/kernels.c, src/softmax_body.h) do one row, or one
block of at most PSM_COLS columns of a non-last-axis problem; these functions
run them over a whole canonical array, in parallel with prange.  The Python
layer (strategies/vectorized.py) has already checked dtype and layout.
"""
from cython cimport floating
from cython.parallel cimport prange

cdef extern from "kernels.h" nogil:
    enum: PSM_COLS
    const char *psm_init(int force_generic)
    void psm_rows_f32(const float *x, Py_ssize_t ldx, float *y, Py_ssize_t ldy,
                      Py_ssize_t rows, Py_ssize_t n, int log)
    void psm_rows_f64(const double *x, Py_ssize_t ldx, double *y, Py_ssize_t ldy,
                      Py_ssize_t rows, Py_ssize_t n, int log)
    void psm_cols_f32(const float *x, float *y, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, int log)
    void psm_cols_f64(const double *x, double *y, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, int log)
    void psm_exp_f32(const float *x, float *y, Py_ssize_t n)
    void psm_exp_f64(const double *x, double *y, Py_ssize_t n)


def init(bint force_generic):
    """Select the kernels for this CPU (or the portable ones); return the ISA name."""
    return psm_init(force_generic).decode()


cdef inline void _rows(const floating *x, Py_ssize_t ldx, floating *y, Py_ssize_t ldy,
                       Py_ssize_t rows, Py_ssize_t n, int log) noexcept nogil:
    if floating is float:
        psm_rows_f32(x, ldx, y, ldy, rows, n, log)
    else:
        psm_rows_f64(x, ldx, y, ldy, rows, n, log)


cdef inline void _cols(const floating *x, floating *y, Py_ssize_t n, Py_ssize_t ld,
                       Py_ssize_t w, int log) noexcept nogil:
    if floating is float:
        psm_cols_f32(x, y, n, ld, w, log)
    else:
        psm_cols_f64(x, y, n, ld, w, log)


def rows(const floating[:, :] x,   # IN  (rows, n), each row contiguous
         floating[:, :] y,         # OUT (rows, n), each row contiguous; may be x
         bint log, int n_threads):
    """y[i] = softmax(x[i]) (log_softmax if log) for every row i; n >= 1.

    Each thread takes one contiguous chunk of rows (the C kernel pipelines
    the rows of a chunk); a row's result does not depend on the chunking.
    """
    cdef Py_ssize_t n_rows = x.shape[0], n = x.shape[1], c, r0, r1
    cdef Py_ssize_t ldx = x.strides[0] // <Py_ssize_t>sizeof(floating)
    cdef Py_ssize_t ldy = y.strides[0] // <Py_ssize_t>sizeof(floating)
    cdef Py_ssize_t chunks = min(<Py_ssize_t>n_threads, n_rows)
    if n > 1 and (x.strides[1] != sizeof(floating) or y.strides[1] != sizeof(floating)):
        raise ValueError("rows must be contiguous")
    if x.strides[0] % sizeof(floating) or y.strides[0] % sizeof(floating):
        raise ValueError("row strides must be multiples of the item size")
    if n_rows == 0:
        return
    with nogil:
        if chunks == 1:
            _rows(&x[0, 0], ldx, &y[0, 0], ldy, n_rows, n, log)
        else:
            for c in prange(chunks, num_threads=n_threads, schedule='static'):
                r0 = c * n_rows // chunks
                r1 = (c + 1) * n_rows // chunks
                _rows(&x[r0, 0], ldx, &y[r0, 0], ldy, r1 - r0, n, log)


def cols(const floating[:, :, ::1] x,   # IN  (outer, n, inner), C-contiguous
         floating[:, :, ::1] y,         # OUT (outer, n, inner), C-contiguous; may be x
         bint log, int n_threads):
    """y[o, :, k] = softmax(x[o, :, k]) (log_softmax if log) for all o, k; n >= 1."""
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t blocks = (inner + PSM_COLS - 1) // PSM_COLS
    cdef Py_ssize_t t, o, c0
    with nogil:
        for t in prange(outer * blocks, num_threads=n_threads, schedule='static'):
            o = t // blocks
            c0 = (t % blocks) * PSM_COLS
            _cols(&x[o, 0, c0], &y[o, 0, c0], n, inner, min(<Py_ssize_t>PSM_COLS, inner - c0), log)


def exp(const floating[::1] x, floating[::1] y):
    """y = exp(x) with the kernels' own exp (for the tests)."""
    if x.shape[0] == 0:
        return
    if floating is float:
        psm_exp_f32(&x[0], &y[0], x.shape[0])
    else:
        psm_exp_f64(&x[0], &y[0], x.shape[0])
