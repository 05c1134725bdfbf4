# Cython declarations of kernels.h, the C entry points of our kernels (the
# documentation is there).  One declaration per entry point and type, as
# PSM_KERNELS lists them (FORWARD and APPROX kernels take `int approx` last);
# the generated C includes kernels.h, so the C compiler sees the real
# prototypes.  Then, for each kernel, a fused-type wrapper that picks the
# _f32 or _f64 entry point.  Only cimported; the extensions other than the owner of
# the kernels (strategies/_kernels.pyx) call psm_import first (below).
from cython cimport floating
from libc.stddef cimport ptrdiff_t

cdef extern from "kernels.h" nogil:
    enum: PSM_COLS
    enum: PSM_STRIP
    const char *psm_init(const char *isa)
    const char *psm_isa()
    # The one owner of the kernels (strategies/_kernels.pyx) publishes psm_exports() in a
    # capsule named PSM_API_CAPSULE; the other extensions, built with -DPSM_IMPORT, pass its
    # pointer to psm_import when imported (kernels.h).
    ctypedef struct psm_api
    const char *PSM_API_CAPSULE
    const psm_api *psm_exports()
    void psm_import(const void *table)

    void psm_rows_f32(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, ptrdiff_t rows,
                      ptrdiff_t n, float scale, int log, int approx)
    void psm_rows_f64(const double *x, ptrdiff_t ldx, double *y, ptrdiff_t ldy, ptrdiff_t rows,
                      ptrdiff_t n, double scale, int log, int approx)
    void psm_masked_rows_f32(const float *x, ptrdiff_t ldx, const unsigned char *mask,
                             ptrdiff_t ldmask, float *y, ptrdiff_t ldy, ptrdiff_t rows,
                             ptrdiff_t n, float scale, int log, int approx)
    void psm_masked_rows_f64(const double *x, ptrdiff_t ldx, const unsigned char *mask,
                             ptrdiff_t ldmask, double *y, ptrdiff_t ldy, ptrdiff_t rows,
                             ptrdiff_t n, double scale, int log, int approx)
    void psm_cols_f32(const float *x, float *y, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                      float scale, int log, int approx)
    void psm_cols_f64(const double *x, double *y, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                      double scale, int log, int approx)
    void psm_row_stats_f32(const float *x, ptrdiff_t ldx, const unsigned char *mask,
                           ptrdiff_t ldmask, ptrdiff_t rows, ptrdiff_t n, float scale, double *m,
                           double *r, double *ones, double *others, int approx)
    void psm_row_stats_f64(const double *x, ptrdiff_t ldx, const unsigned char *mask,
                           ptrdiff_t ldmask, ptrdiff_t rows, ptrdiff_t n, double scale,
                           double *m, double *r, double *ones, double *others, int approx)
    void psm_col_stats_f32(const float *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                           float scale, double *m, double *r, double *ones, double *others,
                           int approx)
    void psm_col_stats_f64(const double *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                           double scale, double *m, double *r, double *ones, double *others,
                           int approx)
    void psm_log_sums_f32(const double *m, const double *r, const double *ones,
                          const double *others, ptrdiff_t rows, double *out)
    void psm_log_sums_f64(const double *m, const double *r, const double *ones,
                          const double *others, ptrdiff_t rows, double *out)
    void psm_row_normalise_f32(const float *x, ptrdiff_t ldx, const unsigned char *mask,
                               ptrdiff_t ldmask, float *y, ptrdiff_t ldy, ptrdiff_t rows,
                               ptrdiff_t n, float scale, const double *m, const double *r,
                               const double *ones, const double *others, int log, int approx)
    void psm_row_normalise_f64(const double *x, ptrdiff_t ldx, const unsigned char *mask,
                               ptrdiff_t ldmask, double *y, ptrdiff_t ldy, ptrdiff_t rows,
                               ptrdiff_t n, double scale, const double *m, const double *r,
                               const double *ones, const double *others, int log, int approx)
    void psm_exp_f32(const float *x, float *y, ptrdiff_t n, int approx)
    void psm_exp_f64(const double *x, double *y, ptrdiff_t n, int approx)
    void psm_grad_rows_f32(const float *y, ptrdiff_t ldy, const float *dy, ptrdiff_t lddy,
                           float *out, ptrdiff_t ldo, ptrdiff_t rows, ptrdiff_t n, int log)
    void psm_grad_rows_f64(const double *y, ptrdiff_t ldy, const double *dy, ptrdiff_t lddy,
                           double *out, ptrdiff_t ldo, ptrdiff_t rows, ptrdiff_t n, int log)
    float psm_max_f32(const float *x, ptrdiff_t n)
    double psm_max_f64(const double *x, ptrdiff_t n)
    void psm_colmax_f32(const float *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, float *m)
    void psm_colmax_f64(const double *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, double *m)
    void psm_shift_f32(const float *x, float *y, ptrdiff_t n, float c)
    void psm_shift_f64(const double *x, double *y, ptrdiff_t n, double c)
    double psm_log_row_sum_f32(const float *e, ptrdiff_t n)
    double psm_log_row_sum_f64(const double *e, ptrdiff_t n)
    void psm_log_col_sums_f32(const float *e, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, float *c)
    void psm_log_col_sums_f64(const double *e, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                              double *c)
    ptrdiff_t psm_nonfinite_rows_f32(const float *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t n,
                                     unsigned char *flags)
    ptrdiff_t psm_nonfinite_rows_f64(const double *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t n,
                                     unsigned char *flags)


cdef inline void psm_rows(const floating *x, ptrdiff_t ldx, floating *y, ptrdiff_t ldy,
                          ptrdiff_t rows, ptrdiff_t n, floating scale, int log,
                          int approx) noexcept nogil:
    if floating is float:
        psm_rows_f32(x, ldx, y, ldy, rows, n, scale, log, approx)
    else:
        psm_rows_f64(x, ldx, y, ldy, rows, n, scale, log, approx)

cdef inline void psm_masked_rows(const floating *x, ptrdiff_t ldx, const unsigned char *mask,
                                 ptrdiff_t ldmask, floating *y, ptrdiff_t ldy, ptrdiff_t rows,
                                 ptrdiff_t n, floating scale, int log,
                                 int approx) noexcept nogil:
    if floating is float:
        psm_masked_rows_f32(x, ldx, mask, ldmask, y, ldy, rows, n, scale, log, approx)
    else:
        psm_masked_rows_f64(x, ldx, mask, ldmask, y, ldy, rows, n, scale, log, approx)

cdef inline void psm_cols(const floating *x, floating *y, ptrdiff_t n, ptrdiff_t ld,
                          ptrdiff_t ncols, floating scale, int log, int approx) noexcept nogil:
    if floating is float:
        psm_cols_f32(x, y, n, ld, ncols, scale, log, approx)
    else:
        psm_cols_f64(x, y, n, ld, ncols, scale, log, approx)

cdef inline void psm_row_stats(const floating *x, ptrdiff_t ldx, const unsigned char *mask,
                               ptrdiff_t ldmask, ptrdiff_t rows, ptrdiff_t n, floating scale,
                               double *m, double *r, double *ones, double *others) noexcept nogil:
    if floating is float:
        psm_row_stats_f32(x, ldx, mask, ldmask, rows, n, scale, m, r, ones, others, 0)
    else:
        psm_row_stats_f64(x, ldx, mask, ldmask, rows, n, scale, m, r, ones, others, 0)

cdef inline void psm_col_stats(const floating *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                               floating scale, double *m, double *r, double *ones,
                               double *others) noexcept nogil:
    if floating is float:
        psm_col_stats_f32(x, n, ld, ncols, scale, m, r, ones, others, 0)
    else:
        psm_col_stats_f64(x, n, ld, ncols, scale, m, r, ones, others, 0)

cdef inline void psm_row_normalise(const floating *x, ptrdiff_t ldx, const unsigned char *mask,
                                   ptrdiff_t ldmask, floating *y, ptrdiff_t ldy, ptrdiff_t rows,
                                   ptrdiff_t n, floating scale, const double *m, const double *r,
                                   const double *ones, const double *others,
                                   int log) noexcept nogil:
    if floating is float:
        psm_row_normalise_f32(x, ldx, mask, ldmask, y, ldy, rows, n, scale, m, r, ones, others,
                              log, 0)
    else:
        psm_row_normalise_f64(x, ldx, mask, ldmask, y, ldy, rows, n, scale, m, r, ones, others,
                              log, 0)

cdef inline void psm_exp(const floating *x, floating *y, ptrdiff_t n, int approx) noexcept nogil:
    if floating is float:
        psm_exp_f32(x, y, n, approx)
    else:
        psm_exp_f64(x, y, n, approx)

cdef inline void psm_grad_rows(const floating *y, ptrdiff_t ldy, const floating *dy,
                               ptrdiff_t lddy, floating *out, ptrdiff_t ldo, ptrdiff_t rows,
                               ptrdiff_t n, int log) noexcept nogil:
    if floating is float:
        psm_grad_rows_f32(y, ldy, dy, lddy, out, ldo, rows, n, log)
    else:
        psm_grad_rows_f64(y, ldy, dy, lddy, out, ldo, rows, n, log)

cdef inline floating psm_max(const floating *x, ptrdiff_t n) noexcept nogil:
    if floating is float:
        return psm_max_f32(x, n)
    else:
        return psm_max_f64(x, n)

cdef inline void psm_colmax(const floating *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                            floating *m) noexcept nogil:
    if floating is float:
        psm_colmax_f32(x, n, ld, ncols, m)
    else:
        psm_colmax_f64(x, n, ld, ncols, m)

cdef inline void psm_shift(const floating *x, floating *y, ptrdiff_t n, floating c) noexcept nogil:
    if floating is float:
        psm_shift_f32(x, y, n, c)
    else:
        psm_shift_f64(x, y, n, c)

cdef inline double psm_log_row_sum(const floating *e, ptrdiff_t n) noexcept nogil:
    if floating is float:
        return psm_log_row_sum_f32(e, n)
    else:
        return psm_log_row_sum_f64(e, n)

cdef inline void psm_log_col_sums(const floating *e, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                                  floating *c) noexcept nogil:
    if floating is float:
        psm_log_col_sums_f32(e, n, ld, ncols, c)
    else:
        psm_log_col_sums_f64(e, n, ld, ncols, c)

cdef inline ptrdiff_t psm_nonfinite_rows(const floating *x, ptrdiff_t ldx, ptrdiff_t rows,
                                         ptrdiff_t n, unsigned char *flags) noexcept nogil:
    if floating is float:
        return psm_nonfinite_rows_f32(x, ldx, rows, n, flags)
    else:
        return psm_nonfinite_rows_f64(x, ldx, rows, n, flags)
