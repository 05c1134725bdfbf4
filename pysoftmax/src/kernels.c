/*
 * kernels.c -- instantiates softmax_body.h for float and double, once for the
 * portable baseline and once for AVX2+FMA (x86-64 with GCC or Clang), and
 * selects one set at run time.  The build never uses -march=native: the
 * installed package runs on any CPU, and PYSOFTMAX_ISA=generic (read by the
 * Python layer) forces the portable set so that CI tests it too.
 */
#include <math.h>
#include "kernels.h"
#include "psm_exp.h"

#define PSM_BLOCK 256   /* terms summed in T before the compensated double sum */
#ifndef PSM_SHORT
#define PSM_SHORT 64    /* rows this short take the tiled short-row kernel */
#endif
#define PSM_TILE 32     /* rows per tile there */
#define PSM_CAT_(a, b) a##b
#define PSM_CAT(a, b) PSM_CAT_(a, b)

PSM_INLINE void psm_neumaier_add(double *sum, double *comp, double v)
{
    double t = *sum + v;
    *comp += fabs(*sum) >= fabs(v) ? (*sum - t) + v : (v - t) + *sum;
    *sum = t;
}

PSM_INLINE double psm_log(double s) { return log(s); }

#define ISA generic
#include "instantiate.h"
#undef ISA

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PSM_HAVE_AVX2 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define ISA avx2
#include "instantiate.h"
#undef ISA
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

typedef struct {
    const char *isa;
    void (*rows_f32)(const float *, Py_ssize_t, float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, int);
    void (*rows_f64)(const double *, Py_ssize_t, double *, Py_ssize_t, Py_ssize_t, Py_ssize_t, int);
    void (*cols_f32)(const float *, float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, int);
    void (*cols_f64)(const double *, double *, Py_ssize_t, Py_ssize_t, Py_ssize_t, int);
    void (*exp_f32)(const float *, float *, Py_ssize_t);
    void (*exp_f64)(const double *, double *, Py_ssize_t);
    float (*max_f32)(const float *, Py_ssize_t);
    double (*max_f64)(const double *, Py_ssize_t);
    void (*colmax_f32)(const float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, float *);
    void (*colmax_f64)(const double *, Py_ssize_t, Py_ssize_t, Py_ssize_t, double *);
    void (*shift_f32)(const float *, float *, Py_ssize_t, float);
    void (*shift_f64)(const double *, double *, Py_ssize_t, double);
} psm_table;

#define PSM_TABLE(name)                                                               \
    {#name, rows_f32_##name, rows_f64_##name, cols_f32_##name, cols_f64_##name,       \
     exp_f32_##name, exp_f64_##name, max_f32_##name, max_f64_##name,                  \
     colmax_f32_##name, colmax_f64_##name, shift_f32_##name, shift_f64_##name}

static const psm_table psm_generic = PSM_TABLE(generic);
#ifdef PSM_HAVE_AVX2
static const psm_table psm_avx2 = PSM_TABLE(avx2);
#endif
static const psm_table *psm = &psm_generic;

const char *psm_init(int force_generic)
{
    psm = &psm_generic;
#ifdef PSM_HAVE_AVX2
    __builtin_cpu_init();
    if (!force_generic && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        psm = &psm_avx2;
#endif
    (void)force_generic;
    return psm->isa;
}

void psm_rows_f32(const float *x, Py_ssize_t ldx, float *y, Py_ssize_t ldy,
                  Py_ssize_t rows, Py_ssize_t n, int log)
{
    psm->rows_f32(x, ldx, y, ldy, rows, n, log);
}

void psm_rows_f64(const double *x, Py_ssize_t ldx, double *y, Py_ssize_t ldy,
                  Py_ssize_t rows, Py_ssize_t n, int log)
{
    psm->rows_f64(x, ldx, y, ldy, rows, n, log);
}

void psm_cols_f32(const float *x, float *y, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, int log)
{
    psm->cols_f32(x, y, n, ld, w, log);
}

void psm_cols_f64(const double *x, double *y, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, int log)
{
    psm->cols_f64(x, y, n, ld, w, log);
}

void psm_exp_f32(const float *x, float *y, Py_ssize_t n) { psm->exp_f32(x, y, n); }
void psm_exp_f64(const double *x, double *y, Py_ssize_t n) { psm->exp_f64(x, y, n); }

float psm_max_f32(const float *x, Py_ssize_t n) { return psm->max_f32(x, n); }
double psm_max_f64(const double *x, Py_ssize_t n) { return psm->max_f64(x, n); }

void psm_colmax_f32(const float *x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, float *m)
{
    psm->colmax_f32(x, n, ld, w, m);
}

void psm_colmax_f64(const double *x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, double *m)
{
    psm->colmax_f64(x, n, ld, w, m);
}

void psm_shift_f32(const float *x, float *y, Py_ssize_t n, float c) { psm->shift_f32(x, y, n, c); }
void psm_shift_f64(const double *x, double *y, Py_ssize_t n, double c) { psm->shift_f64(x, y, n, c); }
