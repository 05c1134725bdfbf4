/*
 * kernels.h -- C entry points of the `vectorized` strategy (see softmax_body.h
 * for the design).  Each entry point calls the implementation for the best
 * instruction set this CPU supports, chosen once by psm_init().
 */
#ifndef PSM_KERNELS_H
#define PSM_KERNELS_H

#include <Python.h>   /* Py_ssize_t */

#define PSM_COLS 256   /* columns per call of the cols kernels (stack scratch) */

/* Choose the implementation: force_generic != 0 selects the portable one.
   Returns the name of the chosen instruction set ("avx2" or "generic"). */
const char *psm_init(int force_generic);

/* rows >= 1 rows of n >= 1 contiguous elements, row strides ldx and ldy in
   elements; y may be x. */
void psm_rows_f32(const float *x, Py_ssize_t ldx, float *y, Py_ssize_t ldy,
                  Py_ssize_t rows, Py_ssize_t n, int log);
void psm_rows_f64(const double *x, Py_ssize_t ldx, double *y, Py_ssize_t ldy,
                  Py_ssize_t rows, Py_ssize_t n, int log);
void psm_cols_f32(const float *x, float *y, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, int log);
void psm_cols_f64(const double *x, double *y, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, int log);

/* y[i] = exp(x[i]) with the kernels' own exp (current ISA), for the tests. */
void psm_exp_f32(const float *x, float *y, Py_ssize_t n);
void psm_exp_f64(const double *x, double *y, Py_ssize_t n);

/* Building blocks for the vendor-library strategies (same ISA selection):
   the max of x[n] (n >= 1); the max of each of the w columns of x[n][ld];
   y = x - c (y may be x). */
float psm_max_f32(const float *x, Py_ssize_t n);
double psm_max_f64(const double *x, Py_ssize_t n);
void psm_colmax_f32(const float *x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, float *m);
void psm_colmax_f64(const double *x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, double *m);
void psm_shift_f32(const float *x, float *y, Py_ssize_t n, float c);
void psm_shift_f64(const double *x, double *y, Py_ssize_t n, double c);

#endif
