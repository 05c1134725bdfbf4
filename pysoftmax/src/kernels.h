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

void psm_row_f32(const float *x, float *y, Py_ssize_t n, int log);
void psm_row_f64(const double *x, double *y, Py_ssize_t n, int log);
void psm_cols_f32(const float *x, float *y, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, int log);
void psm_cols_f64(const double *x, double *y, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, int log);

/* y[i] = exp(x[i]) with the kernels' own exp (current ISA), for the tests. */
void psm_exp_f32(const float *x, float *y, Py_ssize_t n);
void psm_exp_f64(const double *x, double *y, Py_ssize_t n);

#endif
