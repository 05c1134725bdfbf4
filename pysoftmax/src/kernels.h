/*
 * kernels.h -- C entry points of our kernels: the `vectorized` strategy's,
 * and building blocks for the vendor-library strategies (see softmax_body.h
 * for the design).  Each entry point calls the implementation for the best
 * instruction set this CPU supports, chosen once by psm_init().  Plain C: no
 * Python, no heap allocation; the kernels may run without the GIL and on
 * any number of threads at once (psm_init not meanwhile).
 *
 * PSM_KERNELS lists every kernel once, as X(t, kind, ret, name, params,
 * args).  From it this header declares the entry points, psm_<name>_f32 and
 * psm_<name>_f64 (T float or double), and kernels.c builds the table of each
 * instruction set and defines the entry points.  The kind says what an entry
 * point adds to the kernel's params and how it picks the kernel:
 *   FORWARD  softmax of scale*x (log_softmax if log != 0); the entry point
 *            takes `int approx` last: the approximate exp of psm_exp.h if
 *            approx != 0.  (It picks the exact- or approximate-exp kernel,
 *            and the exact-product one unless every product scale*x is
 *            exact: psm_for in kernels.c.)  params must include T scale.
 *   APPROX   `int approx` last as well, no scale.
 *   ONE      the params only; one kernel (exact exp).
 * args names the params in order, for the call.
 *
 * One owner (issue 13): the compiled module pysoftmax.strategies._kernels
 * alone links kernels.c (built with hidden symbols: nothing of it is
 * exported) and publishes psm_exports(), a table of the entry points, in a
 * capsule.  Every other extension is compiled with -DPSM_IMPORT: there this
 * header declares each entry point as a static pointer of the same name and
 * signature, filled from that table by psm_import() when the module is
 * imported.  So a call reads the same way in both, and every extension
 * runs the one ISA choice of the process (psm_init, psm_isa).
 *
 * Adding a kernel: write its body as a static function FN(name) (in
 * softmax_body.h, which is instantiated with both exps, or for a ONE kernel
 * in support_body.h, exact exp only), add its line to PSM_KERNELS, and
 * declare psm_<name>_f32 and _f64 in kernels.pxd for Cython.  A body that
 * does not match its line is a compile error (in the tables' initialisers,
 * with -Werror=incompatible-pointer-types: pysoftmax/meson.build), and the
 * code Cython generates is compiled against this header.
 */
#ifndef PSM_KERNELS_H
#define PSM_KERNELS_H

#include <stddef.h>   /* ptrdiff_t */

#define PSM_COLS 256   /* columns per call of the mkl strategy's column helpers (stack scratch) */
#define PSM_STRIP 64   /* the cols kernel's strip of columns: callers split runs of columns
                          at multiples of it (softmax_body.h) */

/* The entry points besides the kernels, as X(ret, name, params). */
#define PSM_CONTROL(X)                                                              \
    /* Choose the implementation: isa names an instruction set, "generic" (the     \
       portable kernels), "avx2" (AVX2+FMA) or "avx512" (AVX-512 F/BW/DQ/VL), or    \
       is "auto" or NULL for the best this CPU supports; a set the CPU lacks gives  \
       the best one below it.  Returns the name of the set chosen, or NULL (and     \
       changes nothing) for an unknown name. */                                     \
    X(const char *, psm_init, (const char *isa))                                    \
    /* The name of the instruction set in use (psm_init's last answer). */          \
    X(const char *, psm_isa, (void))

/* Strides (ld*) and sizes are in elements, ptrdiff_t; rows >= 1, n >= 1. */
#define PSM_KERNELS(X, T, t)                                                                   \
    /* rows of n contiguous elements, row strides ldx and ldy; y may be x. */                  \
    X(t, FORWARD, void, rows,                                                                  \
      (const T *x, ptrdiff_t ldx, T *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t n, T scale,   \
       int log),                                                                               \
      (x, ldx, y, ldy, rows, n, scale, log))                                                   \
    /* The same with a byte mask (row stride ldmask, may be 0): only the elements with         \
       mask != 0 take part; the others get 0 (log: -inf), as do all elements of a row          \
       with none selected. */                                                                  \
    X(t, FORWARD, void, masked_rows,                                                           \
      (const T *x, ptrdiff_t ldx, const unsigned char *mask, ptrdiff_t ldmask, T *y,           \
       ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t n, T scale, int log),                          \
      (x, ldx, mask, ldmask, y, ldy, rows, n, scale, log))                                     \
    /* ncols columns of x[n][ld] (a non-last axis); y may be x. */                             \
    X(t, FORWARD, void, cols,                                                                  \
      (const T *x, T *y, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, T scale, int log),        \
      (x, y, n, ld, ncols, scale, log))                                                        \
    /* The statistics of rows for logsumexp and a softmax cut into pieces (slices_body.h,     \
       pysoftmax/_slices.py): per row, m[i] + r[i] the largest product scale*x exactly,        \
       ones[i] the count of terms exp(scale*x - m - r) equal to 1, others[i] the sum of the    \
       rest (double); mask as masked_rows's, or NULL. */                                       \
    X(t, FORWARD, void, row_stats,                                                             \
      (const T *x, ptrdiff_t ldx, const unsigned char *mask, ptrdiff_t ldmask, ptrdiff_t rows, \
       ptrdiff_t n, T scale, double *m, double *r, double *ones, double *others),              \
      (x, ldx, mask, ldmask, rows, n, scale, m, r, ones, others))                              \
    /* The same for ncols columns of x[n][ld] (a non-last axis), one column a slice. */       \
    X(t, FORWARD, void, col_stats,                                                             \
      (const T *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, T scale, double *m, double *r,  \
       double *ones, double *others),                                                          \
      (x, n, ld, ncols, scale, m, r, ones, others))                                            \
    /* out[i] = the log of the sum of slice i's terms from its statistics: m + r +         \
       log(ones + others), accurate at the max; +inf, -inf, NaN as pysoftmax._slices.log_sum  \
       (any T: the statistics are double; the f32 one is vectorised). */                       \
    X(t, ONE, void, log_sums,                                                                  \
      (const double *m, const double *r, const double *ones, const double *others,             \
       ptrdiff_t rows, double *out),                                                           \
      (m, r, ones, others, rows, out))                                                         \
    /* softmax (log_softmax if log) of rows from given statistics (row_stats' of the whole     \
       row, or combined from its pieces'); y may be x. */                                      \
    X(t, FORWARD, void, row_normalise,                                                         \
      (const T *x, ptrdiff_t ldx, const unsigned char *mask, ptrdiff_t ldmask, T *y,           \
       ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t n, T scale, const double *m, const double *r,  \
       const double *ones, const double *others, int log),                                     \
      (x, ldx, mask, ldmask, y, ldy, rows, n, scale, m, r, ones, others, log))                 \
    /* y[i] = exp(x[i]) with the kernels' own exp, or 2^x[i] with the approximate one,         \
       for the tests. */                                                                       \
    X(t, APPROX, void, exp, (const T *x, T *y, ptrdiff_t n), (x, y, n))                        \
    /* Backward passes of rows of n contiguous elements: out = y * (dy - sum(dy*y))            \
       (softmax) or dy - exp(y) * sum(dy) (log != 0); out may be y or dy. */                   \
    X(t, ONE, void, grad_rows,                                                                 \
      (const T *y, ptrdiff_t ldy, const T *dy, ptrdiff_t lddy, T *out, ptrdiff_t ldo,          \
       ptrdiff_t rows, ptrdiff_t n, int log),                                                  \
      (y, ldy, dy, lddy, out, ldo, rows, n, log))                                              \
    /* Building blocks for the vendor-library strategies: the max of x[n]; m[k] = the          \
       max of column k of x[n][ld], k < ncols; y = x - c (y may be x). */                      \
    X(t, ONE, T, max, (const T *x, ptrdiff_t n), (x, n))                                       \
    X(t, ONE, void, colmax, (const T *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, T *m),    \
      (x, n, ld, ncols, m))                                                                    \
    X(t, ONE, void, shift, (const T *x, T *y, ptrdiff_t n, T c), (x, y, n, c))                 \
    /* The log of the sum of e[n] (the exp of a row), in double; c[k] = the log of the         \
       sum of column k of e[n][ld], k < ncols: accurate when the sum is near 1. */             \
    X(t, ONE, double, log_row_sum, (const T *e, ptrdiff_t n), (e, n))                          \
    X(t, ONE, void, log_col_sums, (const T *e, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,     \
                                   T *c),                                                      \
      (e, n, ld, ncols, c))                                                                    \
    /* How many of the rows of x[rows][ldx] (n elements each) hold a NaN or +inf;              \
       flags[r] = 1 for those rows, 0 for the others.  With flags NULL: 1 if any does,         \
       else 0 (it stops at the first). */                                                      \
    X(t, ONE, ptrdiff_t, nonfinite_rows,                                                       \
      (const T *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t n, unsigned char *flags),          \
      (x, ldx, rows, n, flags))

/* The parameters of an entry point of each kind: the kernel's, then approx. */
#define PSM_UNPAREN(...) __VA_ARGS__
#define PSM_ENTRY_PARAMS_FORWARD(params) (PSM_UNPAREN params, int approx)
#define PSM_ENTRY_PARAMS_APPROX(params) (PSM_UNPAREN params, int approx)
#define PSM_ENTRY_PARAMS_ONE(params) params

/* The table of the entry points that the owner publishes: a pointer for
   each, named as the entry point. */
#define PSM_POINTER(t, kind, ret, name, params, args) \
    ret (*psm_##name##_##t) PSM_ENTRY_PARAMS_##kind(params);
#define PSM_CONTROL_POINTER(ret, name, params) ret (*name) params;
typedef struct psm_api {
    PSM_CONTROL(PSM_CONTROL_POINTER)
    PSM_KERNELS(PSM_POINTER, float, f32)
    PSM_KERNELS(PSM_POINTER, double, f64)
} psm_api;

/* The name of the capsule holding the owner's psm_exports(). */
#define PSM_API_CAPSULE "pysoftmax.strategies._kernels.api"

#ifndef PSM_IMPORT
#define PSM_CONTROL_DECLARE(ret, name, params) ret name params;
PSM_CONTROL(PSM_CONTROL_DECLARE)
#undef PSM_CONTROL_DECLARE
#define PSM_DECLARE(t, kind, ret, name, params, args) \
    ret psm_##name##_##t PSM_ENTRY_PARAMS_##kind(params);
PSM_KERNELS(PSM_DECLARE, float, f32)
PSM_KERNELS(PSM_DECLARE, double, f64)
#undef PSM_DECLARE
/* The table of all entry points, for the extensions built with PSM_IMPORT. */
const psm_api *psm_exports(void);

#else   /* an extension that calls the owner's kernels: a static pointer each */
#define PSM_STATIC(...) static PSM_POINTER(__VA_ARGS__)
#define PSM_CONTROL_STATIC(...) static PSM_CONTROL_POINTER(__VA_ARGS__)
PSM_CONTROL(PSM_CONTROL_STATIC)
PSM_KERNELS(PSM_STATIC, float, f32)
PSM_KERNELS(PSM_STATIC, double, f64)
#undef PSM_STATIC
#undef PSM_CONTROL_STATIC

/* Take every entry point from the owner's table (the capsule's pointer);
   before any call. */
#define PSM_TAKE(t, kind, ret, name, params, args) psm_##name##_##t = api->psm_##name##_##t;
#define PSM_CONTROL_TAKE(ret, name, params) name = api->name;
static void psm_import(const void *table)
{
    const psm_api *api = (const psm_api *)table;
    PSM_CONTROL(PSM_CONTROL_TAKE)
    PSM_KERNELS(PSM_TAKE, float, f32)
    PSM_KERNELS(PSM_TAKE, double, f64)
}
#undef PSM_TAKE
#undef PSM_CONTROL_TAKE
#endif

#endif
