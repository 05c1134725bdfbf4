/*
 * kernels.h -- C entry points of the `vectorized` strategy (see softmax_body.h
 * for the design).  Each entry point calls the implementation for the best
 * instruction set this CPU supports, chosen once by psm_init().
 *
 * Forward kernels compute the softmax of scale*x (scale = 1: plain), log_softmax if
 * log != 0, with the approximate exp of psm_exp.h if approx != 0.
 */
#ifndef PSM_KERNELS_H
#define PSM_KERNELS_H

#include <stddef.h>   /* ptrdiff_t */

#define PSM_COLS 256   /* columns per call of the cols kernels (stack scratch) */

/* Choose the implementation: force_generic != 0 selects the portable one.
   Returns the name of the chosen instruction set ("avx2" or "generic"). */
const char *psm_init(int force_generic);

/* rows >= 1 rows of n >= 1 contiguous elements, row strides ldx and ldy in
   elements; y may be x. */
void psm_rows_f32(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy,
                  ptrdiff_t rows, ptrdiff_t n, float scale, int log, int approx);
void psm_rows_f64(const double *x, ptrdiff_t ldx, double *y, ptrdiff_t ldy,
                  ptrdiff_t rows, ptrdiff_t n, double scale, int log, int approx);
/* The same with a byte mask (row stride ldmask, may be 0): only the elements
   with mask != 0 take part; the others get 0 (log: -inf), as do all elements of
   a row with none selected. */
void psm_masked_rows_f32(const float *x, ptrdiff_t ldx, const unsigned char *mask, ptrdiff_t ldmask,
                         float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t n, float scale,
                         int log, int approx);
void psm_masked_rows_f64(const double *x, ptrdiff_t ldx, const unsigned char *mask, ptrdiff_t ldmask,
                         double *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t n, double scale,
                         int log, int approx);
/* ncols <= PSM_COLS columns of x[n][ld] (a non-last axis); y may be x. */
void psm_cols_f32(const float *x, float *y, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                  float scale, int log, int approx);
void psm_cols_f64(const double *x, double *y, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                  double scale, int log, int approx);

/* Backward passes of rows of n contiguous elements: out = y * (dy - sum(dy*y))
   (softmax) or dy - exp(y) * sum(dy) (log != 0); out may be y or dy. */
void psm_grad_rows_f32(const float *y, ptrdiff_t ldy, const float *dy, ptrdiff_t lddy,
                       float *out, ptrdiff_t ldo, ptrdiff_t rows, ptrdiff_t n, int log);
void psm_grad_rows_f64(const double *y, ptrdiff_t ldy, const double *dy, ptrdiff_t lddy,
                       double *out, ptrdiff_t ldo, ptrdiff_t rows, ptrdiff_t n, int log);

/* y[i] = exp(x[i]) with the kernels' own exp (current ISA), for the tests. */
void psm_exp_f32(const float *x, float *y, ptrdiff_t n, int approx);
void psm_exp_f64(const double *x, double *y, ptrdiff_t n, int approx);

/* Building blocks for the vendor-library strategies (same ISA selection):
   the max of x[n] (n >= 1); the max of each of the ncols columns of x[n][ld];
   y = x - c (y may be x); the log of the sum of e[n] (the exp of a row) and
   of each of the ncols columns of e[n][ld], accurate when the sum is near 1. */
float psm_max_f32(const float *x, ptrdiff_t n);
double psm_max_f64(const double *x, ptrdiff_t n);
void psm_colmax_f32(const float *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, float *m);
void psm_colmax_f64(const double *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, double *m);
void psm_shift_f32(const float *x, float *y, ptrdiff_t n, float c);
void psm_shift_f64(const double *x, double *y, ptrdiff_t n, double c);
double psm_log_row_sum_f32(const float *e, ptrdiff_t n);
double psm_log_row_sum_f64(const double *e, ptrdiff_t n);
void psm_log_col_sums_f32(const float *e, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, float *c);
void psm_log_col_sums_f64(const double *e, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, double *c);
/* How many of the rows of x[rows][ldx] (n elements each) hold a NaN or +inf;
   flags[r] = 1 for those rows, 0 for the others.  With flags NULL: 1 if any
   does, else 0 (it stops at the first). */
ptrdiff_t psm_nonfinite_rows_f32(const float *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t n,
                                 unsigned char *flags);
ptrdiff_t psm_nonfinite_rows_f64(const double *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t n,
                                 unsigned char *flags);

#endif
