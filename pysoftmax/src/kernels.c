/*
 * kernels.c -- instantiates the kernel bodies (softmax_body.h, support_body.h)
 * for float and double, once for the portable baseline and, on x86-64 with
 * GCC or Clang, once for AVX2+FMA and once for AVX-512 (F, BW, DQ, VL; 512-bit
 * vectors), each with a table of its kernels, and selects one set at run time
 * (psm_init); the entry points of kernels.h call the selected table.  The
 * tables and the entry points are generated from the list PSM_KERNELS
 * (kernels.h).  The build never uses -march=native: the installed package
 * runs on any CPU, and PYSOFTMAX_ISA=generic or avx2 (read by the Python
 * layer) caps the set so that CI tests the others too.
 */
#include <float.h>
#include <math.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif
#include "kernels.h"
#include "psm_exp.h"


#define PSM_BLOCK 256   /* terms summed in T before the compensated double sum, at least */
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
#define PSM_STR_(a) #a
#define PSM_STR(a) PSM_STR_(a)

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

/* The name of a kernel body of the ISA being instantiated: FN(rows) is
   PSM_NAME(rows, _f32_) = rows_f32_avx2 (exact exp) or PSM_NAME(rows, _f32a_)
   = rows_f32a_avx2 (approximate exp; instantiate.h). */
#define PSM_NAME(name, suffix) PSM_CAT(PSM_CAT(name, suffix), ISA)

/* The kernels of one ISA: for each type, a pointer to each kernel of
   PSM_KERNELS, or two for FORWARD and APPROX ones, [0] exact exp, [1]
   approximate.  instantiate.h defines the table psm_<ISA>. */
#define PSM_VARIANTS_FORWARD [2]
#define PSM_VARIANTS_APPROX [2]
#define PSM_VARIANTS_ONE
#define PSM_FIELD(t, kind, ret, name, params, args) ret (*name PSM_VARIANTS_##kind) params;
typedef struct {
    const char *isa;
    struct { PSM_KERNELS(PSM_FIELD, float, f32) } f32;
    struct { PSM_KERNELS(PSM_FIELD, double, f64) } f64;
} psm_table;
#undef PSM_FIELD

#define PSM_INIT_FORWARD(name, t) {PSM_NAME(name, _##t##_), PSM_NAME(name, _##t##a_)}
#define PSM_INIT_APPROX PSM_INIT_FORWARD
#define PSM_INIT_ONE(name, t) PSM_NAME(name, _##t##_)
#define PSM_INIT(t, kind, ret, name, params, args) .name = PSM_INIT_##kind(name, t),

/* Each ISA is instantiated twice.  The exact kernels (ISA name with an x)
   compute every exponent as SHIFTED(scale, x, m, r) = MULSUB(scale, x, m) - r; the
   others as scale*x - m, which is the same when every product scale*x is exact:
   for a scale that is a power of 2 (1 in a plain call), in base e.  The
   entry points choose (psm_for). */
#define SHIFTED(scale, x, m, r) (MULSUB(scale, x, m) - (r))
#define EXACT_PRODUCTS 1
#define MULSUB PSM_GENERIC_MULSUB
#define PSM_VEC_BYTES 16   /* SSE2, the x86-64 baseline (for block lengths only) */
#define ISA genericx
#include "instantiate.h"
#undef ISA
#undef SHIFTED
#undef EXACT_PRODUCTS
#define SHIFTED(scale, x, m, r) ((scale) * (x) - (m))
#define EXACT_PRODUCTS 0
#define ISA generic
#include "instantiate.h"
#undef ISA
#undef SHIFTED
#undef EXACT_PRODUCTS
#undef MULSUB
#undef PSM_VEC_BYTES

/* An x86-64 instruction set: ISA (a name suffix) instantiated twice, exact
   (ISA##x) and plain, inside a target pragma.  TARGET is the GCC target
   string, CLANG_TARGET Clang's. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PSM_HAVE_X86 1
#define MULSUB PSM_FUSED

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define PSM_VEC_BYTES 32
#define SHIFTED(scale, x, m, r) (MULSUB(scale, x, m) - (r))
#define EXACT_PRODUCTS 1
#define ISA avx2x
#include "instantiate.h"
#undef ISA
#undef SHIFTED
#undef EXACT_PRODUCTS
#define SHIFTED(scale, x, m, r) ((scale) * (x) - (m))
#define EXACT_PRODUCTS 0
#define ISA avx2
#include "instantiate.h"
#undef ISA
#undef SHIFTED
#undef EXACT_PRODUCTS
#undef PSM_VEC_BYTES
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* AVX-512 (F, BW, DQ, VL) with 512-bit vectors: GCC's default tuning would
   vectorize with 256-bit ones (prefer-vector-width=256), which gains nothing
   over AVX2 here; 512-bit vectors halve the instructions of the exp loops,
   so the out-of-order window covers twice the elements of their long
   dependency chain. */
#if defined(__clang__) && __clang_major__ >= 18   /* evex512: 512-bit vectors (AVX10 era) */
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma," \
                                                   "evex512"))), apply_to = function)
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,fma,prefer-vector-width=512")
#endif
#define PSM_VEC_BYTES 64
#define PSM_AVX512 1   /* softmax_body.h adds the float kernel of rows_avx512.h */
#define SHIFTED(scale, x, m, r) (MULSUB(scale, x, m) - (r))
#define EXACT_PRODUCTS 1
#define ISA avx512x
#include "instantiate.h"
#undef ISA
#undef SHIFTED
#undef EXACT_PRODUCTS
#define SHIFTED(scale, x, m, r) ((scale) * (x) - (m))
#define EXACT_PRODUCTS 0
#define ISA avx512
#include "instantiate.h"
#undef ISA
#undef SHIFTED
#undef EXACT_PRODUCTS
#undef PSM_VEC_BYTES
#undef PSM_AVX512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#undef MULSUB
#endif

static const psm_table *psm = &psm_generic, *psm_x = &psm_genericx;   /* plain, exact */

/* The instruction sets, best last: plain and exact tables, and whether this
   CPU runs them. */
static int psm_supports(int level)
{
#ifdef PSM_HAVE_X86
    __builtin_cpu_init();
    if (level == 1)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (level == 2)
        return psm_supports(1) && __builtin_cpu_supports("avx512f")
               && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
               && __builtin_cpu_supports("avx512vl");
#endif
    return level == 0;
}

static const struct {
    const psm_table *plain, *exact;
} psm_isas[] = {
    {&psm_generic, &psm_genericx},
#ifdef PSM_HAVE_X86
    {&psm_avx2, &psm_avx2x},
    {&psm_avx512, &psm_avx512x},
#endif
};
#define PSM_N_ISAS ((int)(sizeof psm_isas / sizeof psm_isas[0]))

/* Every instruction set's name, in the order of psm_isas on x86-64: a build
   for another machine (aarch64) has the generic kernels only, and caps a
   request for the others to them, as a CPU without them would. */
static const char *const psm_isa_names[] = {"generic", "avx2", "avx512"};
#define PSM_N_ISA_NAMES ((int)(sizeof psm_isa_names / sizeof psm_isa_names[0]))

const char *psm_init(const char *isa)
{
    int level = -1;
    if (isa == NULL || strcmp(isa, "auto") == 0) {
        level = PSM_N_ISAS - 1;
    } else {
        for (int i = 0; i < PSM_N_ISA_NAMES; i++)
            if (strcmp(isa, psm_isa_names[i]) == 0)
                level = i;
        if (level < 0)
            return NULL;
    }
    while (level > 0 && (level >= PSM_N_ISAS || !psm_supports(level)))
        level--;
    psm = psm_isas[level].plain, psm_x = psm_isas[level].exact;
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

/* How an entry point of each kind picks its kernel (kernels.h). */
#define PSM_PICK_FORWARD(t, name) psm_for(scale, approx)->t.name[approx != 0]
#define PSM_PICK_APPROX(t, name) psm->t.name[approx != 0]
#define PSM_PICK_ONE(t, name) psm->t.name

/* `return` unless ret is void (ISO C has no return of a void expression):
   PSM_VOID_##ret is `~,` for void only, which shifts `return` out of the
   second place. */
#define PSM_VOID_void ~,
#define PSM_SECOND(a, b, ...) b
#define PSM_SECOND_OF(...) PSM_SECOND(__VA_ARGS__)
#define PSM_RETURN(ret) PSM_SECOND_OF(PSM_VOID_##ret, return, )

/* The entry points of kernels.h: call the kernel of the current table. */
#define PSM_ENTRY(t, kind, ret, name, params, args)      \
    ret psm_##name##_##t PSM_ENTRY_PARAMS_##kind(params) \
    {                                                    \
        PSM_RETURN(ret) PSM_PICK_##kind(t, name) args;   \
    }
PSM_KERNELS(PSM_ENTRY, float, f32)
PSM_KERNELS(PSM_ENTRY, double, f64)

/* What the one owner of these kernels publishes (kernels.h). */
const char *psm_isa(void)
{
    return psm->isa;
}

#define PSM_EXPORT(t, kind, ret, name, params, args) .psm_##name##_##t = psm_##name##_##t,
#define PSM_CONTROL_EXPORT(ret, name, params) .name = name,
const psm_api *psm_exports(void)
{
    static const psm_api api = {
        PSM_CONTROL(PSM_CONTROL_EXPORT)
        PSM_KERNELS(PSM_EXPORT, float, f32)
        PSM_KERNELS(PSM_EXPORT, double, f64)
    };
    return &api;
}
