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
#define PSM_BLOCK_APPROX 2048   /* the same for approx=True (sum error <= 1.5e-5) */
#ifndef PSM_SHORT
#define PSM_SHORT 64    /* rows this short take the tiled short-row kernel */
#endif
#define PSM_TILE 32     /* rows per tile there */
#define PSM_MASK_TILE 16384   /* elements per tile of the masked kernel (64 KB float) */
#define PSM_NEAR_ONE 1.125   /* log_softmax sums below this are split (softmax_body.h) */
#define PSM_CAT_(a, b) a##b
#define PSM_CAT(a, b) PSM_CAT_(a, b)

PSM_INLINE void psm_neumaier_add(double *sum, double *comp, double v)
{
    double t = *sum + v;
    *comp += fabs(*sum) >= fabs(v) ? (*sum - t) + v : (v - t) + *sum;
    *sum = t;
}

/* log(ones + others): ones terms equal to 1 exactly, and the sum of the
   others.  log1p keeps the log of a sum close to 1 accurate: for one such
   term (the row's max) it is log1p(others), so log_softmax at the max is
   -log1p(others) and not 0 when the others are tiny. */
PSM_INLINE double psm_log_sum(double ones, double others)
{
    return ones > 0 ? log(ones) + log1p(others / ones) : log(others);
}

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

/* The entry points of one (type, ISA); forward kernels [0] exact, [1] approx. */
#define PSM_FIELDS(T, t)                                                                   \
    struct {                                                                               \
        void (*rows[2])(const T *, Py_ssize_t, T *, Py_ssize_t, Py_ssize_t, Py_ssize_t, T, \
                        int);                                                              \
        void (*masked_rows[2])(const T *, Py_ssize_t, const unsigned char *, Py_ssize_t,   \
                               T *, Py_ssize_t, Py_ssize_t, Py_ssize_t, T, int);           \
        void (*cols[2])(const T *, T *, Py_ssize_t, Py_ssize_t, Py_ssize_t, T, int);       \
        void (*exp[2])(const T *, T *, Py_ssize_t);                                        \
        void (*grad_rows)(const T *, Py_ssize_t, const T *, Py_ssize_t, T *, Py_ssize_t,   \
                          Py_ssize_t, Py_ssize_t, int);                                    \
        T (*max)(const T *, Py_ssize_t);                                                   \
        void (*colmax)(const T *, Py_ssize_t, Py_ssize_t, Py_ssize_t, T *);                \
        void (*shift)(const T *, T *, Py_ssize_t, T);                                      \
        double (*log_sum)(const T *, Py_ssize_t);                                          \
        void (*col_log_sum)(const T *, Py_ssize_t, Py_ssize_t, Py_ssize_t, T *);           \
        Py_ssize_t (*nonfinite_rows)(const T *, Py_ssize_t, Py_ssize_t, Py_ssize_t,        \
                                     unsigned char *);                                     \
    } t

typedef struct {
    const char *isa;
    PSM_FIELDS(float, f32);
    PSM_FIELDS(double, f64);
} psm_table;

#define PSM_TYPE_TABLE(t, isa)                                                     \
    {{rows_##t##_##isa, rows_##t##a_##isa},                                        \
     {masked_rows_##t##_##isa, masked_rows_##t##a_##isa},                          \
     {cols_##t##_##isa, cols_##t##a_##isa},                                        \
     {exp_##t##_##isa, exp_##t##a_##isa},                                          \
     grad_rows_##t##_##isa, max_##t##_##isa, colmax_##t##_##isa, shift_##t##_##isa, \
     log_sum_##t##_##isa, col_log_sum_##t##_##isa, nonfinite_rows_##t##_##isa}
#define PSM_TABLE(isa) {#isa, PSM_TYPE_TABLE(f32, isa), PSM_TYPE_TABLE(f64, isa)}

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

/* The entry points of kernels.h, for each type: call the current table. */
#define PSM_ENTRY_POINTS(T, t)                                                                \
    void psm_rows_##t(const T *x, Py_ssize_t ldx, T *y, Py_ssize_t ldy, Py_ssize_t rows,    \
                      Py_ssize_t n, T s, int log, int approx)                                \
    {                                                                                         \
        psm->t.rows[approx != 0](x, ldx, y, ldy, rows, n, s, log);                            \
    }                                                                                         \
    void psm_masked_rows_##t(const T *x, Py_ssize_t ldx, const unsigned char *w,              \
                             Py_ssize_t ldw, T *y, Py_ssize_t ldy, Py_ssize_t rows,           \
                             Py_ssize_t n, T s, int log, int approx)                          \
    {                                                                                         \
        psm->t.masked_rows[approx != 0](x, ldx, w, ldw, y, ldy, rows, n, s, log);             \
    }                                                                                         \
    void psm_cols_##t(const T *x, T *y, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, T s,      \
                      int log, int approx)                                                    \
    {                                                                                         \
        psm->t.cols[approx != 0](x, y, n, ld, w, s, log);                                     \
    }                                                                                         \
    void psm_grad_rows_##t(const T *y, Py_ssize_t ldy, const T *dy, Py_ssize_t lddy, T *out, \
                           Py_ssize_t ldo, Py_ssize_t rows, Py_ssize_t n, int log)            \
    {                                                                                         \
        psm->t.grad_rows(y, ldy, dy, lddy, out, ldo, rows, n, log);                           \
    }                                                                                         \
    void psm_exp_##t(const T *x, T *y, Py_ssize_t n, int approx)                              \
    {                                                                                         \
        psm->t.exp[approx != 0](x, y, n);                                                     \
    }                                                                                         \
    T psm_max_##t(const T *x, Py_ssize_t n) { return psm->t.max(x, n); }                     \
    void psm_colmax_##t(const T *x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, T *m)          \
    {                                                                                         \
        psm->t.colmax(x, n, ld, w, m);                                                        \
    }                                                                                         \
    void psm_shift_##t(const T *x, T *y, Py_ssize_t n, T c) { psm->t.shift(x, y, n, c); }    \
    double psm_log_sum_##t(const T *e, Py_ssize_t n) { return psm->t.log_sum(e, n); }         \
    void psm_col_log_sum_##t(const T *e, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, T *c)     \
    {                                                                                         \
        psm->t.col_log_sum(e, n, ld, w, c);                                                   \
    }                                                                                         \
    Py_ssize_t psm_nonfinite_rows_##t(const T *x, Py_ssize_t ldx, Py_ssize_t rows,            \
                                      Py_ssize_t n, unsigned char *flags)                     \
    {                                                                                         \
        return psm->t.nonfinite_rows(x, ldx, rows, n, flags);                                 \
    }

PSM_ENTRY_POINTS(float, f32)
PSM_ENTRY_POINTS(double, f64)
