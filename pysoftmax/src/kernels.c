/*
 * kernels.c -- instantiates softmax_body.h for float and double, once for the
 * portable baseline and once for AVX2+FMA (x86-64 with GCC or Clang), and
 * selects one set at run time.  The build never uses -march=native: the
 * installed package runs on any CPU, and PYSOFTMAX_ISA=generic (read by the
 * Python layer) forces the portable set so that CI tests it too.
 */
#include <float.h>
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
#define PSM_RESUM 8.0         /* softmax sums below this are summed again in double */
#define PSM_RESUM_SHORT 2.0   /* the same for short rows (at most 16 terms a lane) */
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
PSM_INLINE double psm_log_split_sum(double ones, double others)
{
    return ones > 0 ? log(ones) + log1p(others / ones) : log(others);
}

/* MULSUB(a, b, c) = a*b - c from the exact product a*b, rounded once (or
   nearly): the kernels' exponents are MULSUB(scale, x, m) - r (softmax_body.h),
   which must be exactly 0 at a row's largest product however large it is.
   Written out rather than left to the compiler's contraction, so that the
   row's shift is computed exactly as the loops compute every element.
   With FMA: one fused instruction.  Without (the x86-64 baseline): float
   in double, where the product is exact; double as Dekker's product, the
   rounded product plus its rounding error, with operands split by masking
   the low 27 bits of the significand (no overflow; the last partial product
   is rounded, an error of about 2^-106 |a*b|, far below any exponent that
   matters; the error is 0 where the product is not finite). */
PSM_INLINE float psm_mulsub_f32(float a, float b, float c)
{
    return (float)((double)a * (double)b - (double)c);
}

PSM_INLINE double psm_high_half(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    bits &= ~(uint64_t)0x7ffffff;
    memcpy(&v, &bits, 8);
    return v;
}

PSM_INLINE double psm_mulsub_f64(double a, double b, double c)
{
    const double p = a * b;
    const double ah = psm_high_half(a), al = a - ah, bh = psm_high_half(b), bl = b - bh;
    const double err = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    return (p - c) + (p - p == 0 ? err : 0);
}

#define PSM_FUSED(a, b, c) _Generic((a), float: __builtin_fmaf, default: __builtin_fma)(a, b, -(c))
#define PSM_EXACT(a, b, c) _Generic((a), float: psm_mulsub_f32, default: psm_mulsub_f64)(a, b, c)

#if defined(__FP_FAST_FMA) && defined(__FP_FAST_FMAF)
#define PSM_GENERIC_MULSUB PSM_FUSED
#else
#define PSM_GENERIC_MULSUB PSM_EXACT
#endif

/* Each ISA is instantiated twice.  The exact kernels (ISA name with an x)
   compute every exponent as SHIFTED(scale, x, m, r) = MULSUB(scale, x, m) - r; the
   others as scale*x - m, which is the same when every product scale*x is exact:
   for a scale that is a power of 2 (1 in a plain call), in base e.  The
   entry points choose (psm_exact_for). */
#define SHIFTED(scale, x, m, r) (MULSUB(scale, x, m) - (r))
#define MULSUB PSM_GENERIC_MULSUB
#define ISA genericx
#include "instantiate.h"
#undef ISA
#undef SHIFTED
#define SHIFTED(scale, x, m, r) ((scale) * (x) - (m))
#define ISA generic
#include "instantiate.h"
#undef ISA
#undef SHIFTED
#undef MULSUB

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PSM_HAVE_AVX2 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define MULSUB PSM_FUSED
#define SHIFTED(scale, x, m, r) (MULSUB(scale, x, m) - (r))
#define ISA avx2x
#include "instantiate.h"
#undef ISA
#undef SHIFTED
#define SHIFTED(scale, x, m, r) ((scale) * (x) - (m))
#define ISA avx2
#include "instantiate.h"
#undef ISA
#undef SHIFTED
#undef MULSUB
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

/* The entry points of one (type, ISA); forward kernels [0] exact, [1] approx. */
#define PSM_FIELDS(T, t)                                                               \
    struct {                                                                           \
        void (*rows[2])(const T *, ptrdiff_t, T *, ptrdiff_t, ptrdiff_t, ptrdiff_t, T, \
                        int);                                                          \
        void (*masked_rows[2])(const T *, ptrdiff_t, const unsigned char *, ptrdiff_t, \
                               T *, ptrdiff_t, ptrdiff_t, ptrdiff_t, T, int);          \
        void (*cols[2])(const T *, T *, ptrdiff_t, ptrdiff_t, ptrdiff_t, T, int);      \
        void (*exp[2])(const T *, T *, ptrdiff_t);                                     \
        void (*grad_rows)(const T *, ptrdiff_t, const T *, ptrdiff_t, T *, ptrdiff_t,  \
                          ptrdiff_t, ptrdiff_t, int);                                  \
        T (*max)(const T *, ptrdiff_t);                                                \
        void (*colmax)(const T *, ptrdiff_t, ptrdiff_t, ptrdiff_t, T *);               \
        void (*shift)(const T *, T *, ptrdiff_t, T);                                   \
        double (*log_row_sum)(const T *, ptrdiff_t);                                   \
        void (*log_col_sums)(const T *, ptrdiff_t, ptrdiff_t, ptrdiff_t, T *);         \
        ptrdiff_t (*nonfinite_rows)(const T *, ptrdiff_t, ptrdiff_t, ptrdiff_t,        \
                                     unsigned char *);                                 \
    } t

typedef struct {
    const char *isa;
    PSM_FIELDS(float, f32);
    PSM_FIELDS(double, f64);
} psm_table;

#define PSM_TYPE_TABLE(t, isa)                                                      \
    {{rows_##t##_##isa, rows_##t##a_##isa},                                         \
     {masked_rows_##t##_##isa, masked_rows_##t##a_##isa},                           \
     {cols_##t##_##isa, cols_##t##a_##isa},                                         \
     {exp_##t##_##isa, exp_##t##a_##isa},                                           \
     grad_rows_##t##_##isa, max_##t##_##isa, colmax_##t##_##isa, shift_##t##_##isa, \
     log_row_sum_##t##_##isa, log_col_sums_##t##_##isa, nonfinite_rows_##t##_##isa}
#define PSM_TABLE(isa) {#isa, PSM_TYPE_TABLE(f32, isa), PSM_TYPE_TABLE(f64, isa)}

static const psm_table psm_generic = PSM_TABLE(generic), psm_genericx = PSM_TABLE(genericx);
#ifdef PSM_HAVE_AVX2
static const psm_table psm_avx2 = PSM_TABLE(avx2), psm_avx2x = PSM_TABLE(avx2x);
#endif
static const psm_table *psm = &psm_generic, *psm_x = &psm_genericx;   /* plain, exact */

const char *psm_init(int force_generic)
{
    psm = &psm_generic, psm_x = &psm_genericx;
#ifdef PSM_HAVE_AVX2
    __builtin_cpu_init();
    if (!force_generic && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        psm = &psm_avx2, psm_x = &psm_avx2x;
#endif
    (void)force_generic;
    return psm->isa;
}

/* The kernels for a forward call with this scale: the exact ones unless
   every product scale*x is exact (scale = 0 or a power of 2, in base e). */
static const psm_table *psm_for(double scale, int approx)
{
    int e;
    const double m = fabs(frexp(scale, &e));
    return approx || !(scale == 0 || m == 0.5) ? psm_x : psm;
}

/* The entry points of kernels.h, for each type: call the current table. */
#define PSM_ENTRY_POINTS(T, t)                                                                                 \
    void psm_rows_##t(const T *x, ptrdiff_t ldx, T *y, ptrdiff_t ldy, ptrdiff_t rows,                          \
                      ptrdiff_t n, T scale, int log, int approx)                                               \
    {                                                                                                          \
        psm_for(scale, approx)->t.rows[approx != 0](x, ldx, y, ldy, rows, n, scale, log);                      \
    }                                                                                                          \
    void psm_masked_rows_##t(const T *x, ptrdiff_t ldx, const unsigned char *mask,                             \
                             ptrdiff_t ldmask, T *y, ptrdiff_t ldy, ptrdiff_t rows,                            \
                             ptrdiff_t n, T scale, int log, int approx)                                        \
    {                                                                                                          \
        psm_for(scale, approx)->t.masked_rows[approx != 0](x, ldx, mask, ldmask, y, ldy, rows, n, scale, log); \
    }                                                                                                          \
    void psm_cols_##t(const T *x, T *y, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, T scale,                   \
                      int log, int approx)                                                                     \
    {                                                                                                          \
        psm_for(scale, approx)->t.cols[approx != 0](x, y, n, ld, ncols, scale, log);                           \
    }                                                                                                          \
    void psm_grad_rows_##t(const T *y, ptrdiff_t ldy, const T *dy, ptrdiff_t lddy, T *out,                     \
                           ptrdiff_t ldo, ptrdiff_t rows, ptrdiff_t n, int log)                                \
    {                                                                                                          \
        psm->t.grad_rows(y, ldy, dy, lddy, out, ldo, rows, n, log);                                            \
    }                                                                                                          \
    void psm_exp_##t(const T *x, T *y, ptrdiff_t n, int approx)                                                \
    {                                                                                                          \
        psm->t.exp[approx != 0](x, y, n);                                                                      \
    }                                                                                                          \
    T psm_max_##t(const T *x, ptrdiff_t n) { return psm->t.max(x, n); }                                        \
    void psm_colmax_##t(const T *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, T *m)                          \
    {                                                                                                          \
        psm->t.colmax(x, n, ld, ncols, m);                                                                     \
    }                                                                                                          \
    void psm_shift_##t(const T *x, T *y, ptrdiff_t n, T c) { psm->t.shift(x, y, n, c); }                       \
    double psm_log_row_sum_##t(const T *e, ptrdiff_t n) { return psm->t.log_row_sum(e, n); }                   \
    void psm_log_col_sums_##t(const T *e, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, T *c)                    \
    {                                                                                                          \
        psm->t.log_col_sums(e, n, ld, ncols, c);                                                               \
    }                                                                                                          \
    ptrdiff_t psm_nonfinite_rows_##t(const T *x, ptrdiff_t ldx, ptrdiff_t rows,                                \
                                      ptrdiff_t n, unsigned char *flags)                                       \
    {                                                                                                          \
        return psm->t.nonfinite_rows(x, ldx, rows, n, flags);                                                  \
    }

PSM_ENTRY_POINTS(float, f32)
PSM_ENTRY_POINTS(double, f64)
