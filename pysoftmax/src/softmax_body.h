/*
 * softmax_body.h -- the softmax kernels, written once and included by
 * kernels.c for each (type, exp, ISA).  Before including, define:
 *   T        float or double
 *   EXP      the exponential of the kernels' base (psm_exp.h): psm_expf or
 *            psm_exp (base e), or psm_exp2f_approx or psm_exp2_approx (base 2)
 *   EXP_FINITE the same but for NaN arguments, whose result may be anything
 *            (psm_expf_finite, psm_exp_finite: +0): the rows kernels' exp,
 *            which detect NaN exponents by their sum
 *   BASE_LOG the natural log of that base: 1.0, or ln 2
 *   SUM_BLOCK terms summed in T before the compensated double sum
 *   FN(name) the name of a function for this (type, exp, ISA), e.g. rows_f32_avx2
 *
 * Names: scale is the factor of the input (softmax of scale*x), never a
 * sum; mask (row stride ldmask) is the byte mask of where=, ncols a count of
 * columns; m, r the shift of a row or column and its rounding residual, sg
 * a sign, e an exp, c the factor or log a row is finished with.
 *
 * Every forward kernel takes a scale (softmax of scale*x; scale = 1 is the
 * plain softmax, bit for bit) and a flag log.  The exponent of x[j] is the
 * exact product scale*x[j] less the largest one, rounded at most twice:
 * (scale*x[j] - m) - r with one rounding each (SHIFTED(scale, x, m, r)),
 * where m is scale*xm rounded and r = MULSUB(scale, xm, m) its rounding
 * residual, xm being the element with the largest product (max of x for
 * scale > 0, min for scale < 0: row_max of sg*x, sg = +-1, finds it
 * exactly).  At xm the exponent is exactly 0 however large |scale*x| is,
 * and every other exponent is <= 0 (shift_of).  A row whose largest product
 * overflows T computes scale/p * x with p a power of 2 and multiplies by p
 * afterwards (wide_row; the cols kernel does the same per column).  Inside,
 * scale becomes scale / BASE_LOG, so that EXP(scale*x - m) is exp of the
 * user's scale*x - max in any base; logs are converted back (c / BASE_LOG,
 * y * BASE_LOG; no-ops in base e).  log_softmax keeps its largest element
 * accurate: when a row's sum is below PSM_NEAR_ONE, it is summed again with
 * the terms equal to 1 (the max) counted apart from the others (split_sum),
 * and the log of that split sum is log1p(others) for one such term
 * (psm_log_split_sum, in the kernels' base log_split_sum_in_base); so y at
 * the max is -log1p(others), not 0, when the others are tiny.  (Above
 * PSM_NEAR_ONE the plain sum is accurate enough: |log(sum)| > 0.11.)  The
 * cols kernel splits its log_softmax sums in the exp pass instead, and sums
 * softmax columns in blocks short enough to need no second sum.
 *
 * Design: two kernel shapes cover every call (the Python layer reshapes or
 * copies into one of them).
 *   rows kernel  rows of n contiguous elements: per row, max; exp(x - max)
 *                stored (softmax) and summed; scale by 1/sum (softmax) or
 *                subtract log(sum) (log_softmax).  Software pipelined across
 *                rows: the exp pass of a row also takes the max of the next
 *                and finishes the previous one (see fused_pass).  Rows of at
 *                most PSM_SHORT elements go in tiles instead (short_rows).
 *   cols kernel  x[n][ld], ncols columns of a non-last-axis problem
 *                (outer, n, inner): the same three steps, vectorised across
 *                the contiguous columns instead of transposing, and
 *                pipelined the same way over strips of PSM_STRIP columns
 *                (see cols_strips).
 *                With AVX-512 (float, exact exp) the passes of both kernels
 *                are in intrinsics: rows_avx512.h, cols_avx512.h.
 * where= (masked_rows) writes scale*x, or -inf where masked out, into y and
 * runs the rows kernel on y in place.
 * Sums are OpenMP SIMD reductions over blocks of SUM_BLOCK elements, whose
 * partial sums are added in double with compensation: accurate for any n, and
 * a row's result depends only on the instruction set, not on its address, the
 * thread count or the caller's layout (tests/test_layout.py checks this).
 * In-place calls (y == x) are safe: each pass reads x[j] before writing y[j],
 * and a pass touches the three rows r-1, r, r+1 at the same index only.
 */

/* max over sg*x[0..n), n >= 1, sg = +-1 (exact products).  A NaN may or
   may not win; it reaches the result anyway through exp(NaN - m) in the sum. */
PSM_INLINE T FN(row_max)(const T *x, ptrdiff_t n, T sg)   /* IN x[n] */
{
    T m = sg * x[0];
#pragma omp simd reduction(max:m)
    for (ptrdiff_t j = 0; j < n; j++) {
        const T v = sg * x[j];
        m = v > m ? v : m;
    }
    return m;
}

/* The sign whose row_max finds the element with the largest product scale*x. */
PSM_INLINE T FN(sign_of)(T scale)
{
    return scale < 0 ? -1 : 1;
}

/* A row's shift, from xm, its element with the largest product scale*xm:
   the kernels' exponent of x[j] is SHIFTED(scale, x[j], m, r) =
   MULSUB(scale, x[j], m) - r.  With m = scale*xm rounded and r =
   MULSUB(scale, xm, m), computed as the loops compute it, the exponent at
   xm is exactly 0, and no other is positive (rounding is monotonic, so
   MULSUB(scale, x[j], m) <= r).  Returns 0 when the product
   overflows T (m infinite, xm finite): the row is wide (wide_row). */
PSM_INLINE int FN(shift_of)(T scale, T xm, T *m, T *r)
{
    *m = scale * xm;
    *r = MULSUB(scale, xm, *m);
    return !(isinf(*m) && isfinite(xm));
}

/* For a row or column whose largest product scale*xm overflows T: a =
   scale/p and p = 2^k, the least k that brings a*xm within T's range
   (|a*xm| < 2^(T_MAX_EXP-1)); exponents are then SHIFTED(a, x, m, r) * p, with m
   and r the shift of a (products beyond 2^(2*T_MAX_EXP-2), where k would
   exceed T's range, are not supported: they give NaN). */
PSM_INLINE void FN(wide_scale)(T scale, T xm, T *a, T *p)
{
    int es, em;
    (void)frexp((double)scale, &es);
    (void)frexp((double)xm, &em);
    int k = es + em - (T_MAX_EXP - 1);
    if (k > T_MAX_EXP - 1)
        k = T_MAX_EXP - 1;
    *p = (T)ldexp(1.0, k);
    *a = (T)ldexp((double)scale, -k);
}

/* One pass over row r of a chunk, the heart of the row kernels:
     e = exp(scale*x[j] - m - r), stored to y[j] (softmax) and summed
     (returns NaN instead of the sum if an exponent is NaN: EXP_FINITE gives
     0 there, so the exponents are summed too, an add off the exp's chain;
     no exponent is +inf, so that sum is NaN exactly when one is);
     if next: the max of the next row's sg*xn[j] is folded into *mn;
     if prev: the previous row is finished: yp[j] *= cp (softmax) or
              yp[j] = (scale*xp[j] - mp - rp) - cp (log_softmax, cp = log
              of its sum).
   The exp has a long dependency chain; the other two streams are short
   independent operations that fill the issue slots it leaves idle, so the
   max and finishing passes cost almost nothing.  Sums: OpenMP SIMD
   reductions over blocks of SUM_BLOCK elements, added in double with
   Neumaier compensation.  next, prev and log are constants in each of the
   eight specialisations below. */
PSM_INLINE double FN(fused_pass)(const T *x, T *y, ptrdiff_t n, T scale, T m, T r, T sg,
                                 const T *xn, T *mn, T *yp, const T *xp, T mp, T rp, T cp,
                                 const int next, const int prev, const int log)
{
    double sum = 0.0, comp = 0.0;
    T mx = *mn, dsum = 0;
    for (ptrdiff_t j0 = 0; j0 < n; j0 += SUM_BLOCK) {
        const ptrdiff_t len = n - j0 < SUM_BLOCK ? n - j0 : SUM_BLOCK;
        const T *xb = x + j0, *xnb = xn + j0, *xpb = xp + j0;
        T *yb = y + j0, *ypb = yp + j0;
        T part = 0;
#pragma omp simd reduction(+:part, dsum) reduction(max:mx)
        for (ptrdiff_t j = 0; j < len; j++) {
            const T d = SHIFTED(scale, xb[j], m, r);
            const T e = EXP_FINITE(d);
            if (!log) yb[j] = e;
            part += e;
            dsum += d;
            if (next) {
                const T v = sg * xnb[j];
                mx = v > mx ? v : mx;
            }
            if (prev) {
                if (!log) ypb[j] *= cp;
                else ypb[j] = (SHIFTED(scale, xpb[j], mp, rp) - cp) * (T)BASE_LOG;
            }
        }
        psm_neumaier_add(&sum, &comp, (double)part);
    }
    *mn = mx;
    return dsum != dsum ? (double)dsum : sum + comp;
}

/* The finishing pass of a row on its own: y = e * c (softmax; e the row's
   exp, which may be y itself) or y = (scale*x - m - r) - c (log_softmax; c
   the log of the sum).  src is e for softmax, x for log_softmax. */
PSM_INLINE void FN(finish)(T *y, const T *src, ptrdiff_t n, T scale, T m, T r, T c,
                           const int log)
{
    if (!log) {
#pragma omp simd
        for (ptrdiff_t j = 0; j < n; j++)
            y[j] = src[j] * c;
    } else {
#pragma omp simd
        for (ptrdiff_t j = 0; j < n; j++)
            y[j] = (SHIFTED(scale, src[j], m, r) - c) * (T)BASE_LOG;
    }
}

/* The log of a row's split sum (ones, others: see split_impl), in the
   kernels' base and in T: psm_log_split_sum / BASE_LOG. */
PSM_INLINE T FN(log_split_sum_in_base)(double ones, double others)
{
    return (T)(psm_log_split_sum(ones, others) / BASE_LOG);
}

/* The sum of a row's exp split as (ones, others): the count of terms equal
   to 1 and the compensated sum of the rest (psm_log_split_sum takes its
   log).  The terms are v[n] itself, or exp(SHIFTED(scale, v, m, r) * p) if
   from_x (a row whose exp was not kept; p = 1 but in a wide row).  Blocks of 64 in T: at most 16 terms
   a lane, so a lane loses at most 15 half-ulps of its partial sum. */
PSM_INLINE double FN(split_impl)(const T *v, ptrdiff_t n, T scale, T m, T r, T p, double *ones,
                                 const int from_x)   /* IN v[n] */
{
    double sum = 0.0, comp = 0.0, k = 0.0;
    for (ptrdiff_t j0 = 0; j0 < n; j0 += 64) {
        const ptrdiff_t len = n - j0 < 64 ? n - j0 : 64;
        T part = 0, kb = 0;
#pragma omp simd reduction(+:part, kb)
        for (ptrdiff_t j = 0; j < len; j++) {
            const T e = from_x ? EXP(SHIFTED(scale, v[j0 + j], m, r) * p) : v[j0 + j];
            part += e == 1 ? 0 : e;
            kb += e == 1 ? 1 : 0;
        }
        psm_neumaier_add(&sum, &comp, (double)part);
        k += kb;
    }
    *ones = k;
    return sum + comp;
}

static __attribute__((noinline)) double FN(split_sum)(const T *e, ptrdiff_t n, double *ones)
{
    return FN(split_impl)(e, n, 1, 0, 0, 1, ones, 0);
}

/* The sum of a row's stored exp e[n], again, with the terms equal to 1
   counted apart (split_sum): for a softmax row whose sum is below its
   PSM_RESUM threshold.  A lane of T that holds a 1 loses each later term
   below half an ulp of 1, up to (terms per lane - 1) * 2^-24 of the sum in
   float: more than the 1e-6 bound when the largest output (1/sum) is large.  Below the
   threshold the outputs are small enough for that loss. */
static double FN(resum)(const T *e, ptrdiff_t n)
{
    double ones, others = FN(split_sum)(e, n, &ones);
    return ones + others;
}

static __attribute__((noinline)) double FN(split_exp_sum)(const T *x, ptrdiff_t n, T scale, T m,
                                                          T r, double *ones)
{
    return FN(split_impl)(x, n, scale, m, r, 1, ones, 1);
}

/* A row whose largest product scale*xm overflows T, on its own (rare): the
   exponents are SHIFTED(a, x, m, r) * p (wide_scale), recomputed in the
   finishing pass; y may be x. */
static __attribute__((noinline)) void FN(wide_row)(const T *x, T *y, ptrdiff_t n, T scale, T xm,
                                                   int log)   /* IN x[n], OUT y[n] */
{
    T a, p, m, r;
    FN(wide_scale)(scale, xm, &a, &p);
    (void)FN(shift_of)(a, xm, &m, &r);
    double ones, others = FN(split_impl)(x, n, a, m, r, p, &ones, 1);
    const T c = log ? FN(log_split_sum_in_base)(ones, others) : (T)(1.0 / (ones + others));
    if (!log) {
#pragma omp simd
        for (ptrdiff_t j = 0; j < n; j++)
            y[j] = EXP(SHIFTED(a, x[j], m, r) * p) * c;
    } else {
#pragma omp simd
        for (ptrdiff_t j = 0; j < n; j++)
            y[j] = (SHIFTED(a, x[j], m, r) * p - c) * (T)BASE_LOG;
    }
}

#if defined(PSM_AVX512) && defined(REG_ROWS)
#include "rows_avx512.h"   /* FN(reg_rows), FN(exp_avx512) */
#endif

/* y = EXP(x) elementwise (y may be x): the short-row kernel's exp
   pass for a tile with a NaN, and the tests check EXP (and so EXP_FINITE,
   which it calls but for NaN) through it for each ISA; with AVX-512, the
   float exp of reg_rows instead. */
static __attribute__((noinline)) void FN(exp)(const T *x, T *y, ptrdiff_t n)   /* IN x[n], OUT y[n] */
{
#if defined(PSM_AVX512) && defined(REG_ROWS)
    FN(exp_avx512)(x, y, n);
#else
#pragma omp simd
    for (ptrdiff_t j = 0; j < n; j++)
        y[j] = EXP(x[j]);
#endif
}

/* The same with EXP_FINITE (+0 for NaN), returning the sum of x, NaN if an
   x is NaN (none is +inf): the short-row kernel's exp pass. */
static __attribute__((noinline)) T FN(exp_finite)(const T *x, T *y, ptrdiff_t n)   /* IN x[n], OUT y[n] */
{
    T dsum = 0;
#pragma omp simd reduction(+:dsum)
    for (ptrdiff_t j = 0; j < n; j++) {
        const T d = x[j];
        y[j] = EXP_FINITE(d);
        dsum += d;
    }
    return dsum;
}

/* The eight specialisations of fused_pass, each its own function: inlined
   into one caller, GCC fails to vectorize some of them (measured: 4.5x
   slower); as separate functions all eight vectorize.  One call per row. */
#define PSM_PASS(nx, pv, lg)                                                        \
    static __attribute__((noinline)) double FN(pass_##nx##pv##lg)(                  \
        const T *x, T *y, ptrdiff_t n, T scale, T m, T r, T sg, const T *xn, T *mn, \
        T *yp, const T *xp, T mp, T rp, T cp)                                       \
    {                                                                               \
        return FN(fused_pass)(x, y, n, scale, m, r, sg, xn, mn, yp, xp, mp, rp, cp, \
                              nx, pv, lg);                                          \
    }
PSM_PASS(0, 0, 0) PSM_PASS(0, 0, 1) PSM_PASS(0, 1, 0) PSM_PASS(0, 1, 1)
PSM_PASS(1, 0, 0) PSM_PASS(1, 0, 1) PSM_PASS(1, 1, 0) PSM_PASS(1, 1, 1)
#undef PSM_PASS

/* The first pass of short_rows over a tile of nr rows: each row's shift
   (m[i], r[i]) and its exponents into e[i*n..], or, for a wide row, the row
   done at once (wide_row into y) and zeros in e.  again: the pass once more
   over the same tile, where the wide rows are done already (and y may be x). */
static void FN(short_shift)(const T *xt, ptrdiff_t ldx, T *yt, ptrdiff_t ldy, ptrdiff_t nr,
                            ptrdiff_t n, T scale, T sg, int log, T *e, T *m, T *r,
                            unsigned char *wide, int again)
{
    for (ptrdiff_t i = 0; i < nr; i++) {
        const T *xr = xt + i * ldx;
        T *er = e + i * n;
        if (again && wide[i]) {
            for (ptrdiff_t j = 0; j < n; j++)
                er[j] = 0;
            continue;
        }
        const T xm = sg * FN(row_max)(xr, n, sg);
        wide[i] = !FN(shift_of)(scale, xm, &m[i], &r[i]);
        if (wide[i]) {      /* done now; the tile's passes run on zeros for it */
            FN(wide_row)(xr, yt + i * ldy, n, scale, xm, log);
            for (ptrdiff_t j = 0; j < n; j++)
                er[j] = 0;
            continue;
        }
        const T mi = m[i], ri = r[i];
        (void)ri;   /* unused where SHIFTED ignores its r */
#pragma omp simd
        for (ptrdiff_t j = 0; j < n; j++)
            er[j] = SHIFTED(scale, xr[j], mi, ri);
    }
}

/* Short rows (n <= PSM_SHORT), PSM_TILE rows at a time, in separate passes:
   each row's max and shifted scale*x into a scratch tile; one exp over the
   whole tile (full vectors, no per-row loop ends); each row's sum; finish.
   The rows of a tile are independent, so the per-row reductions overlap instead
   of forming one chain as in the pipelined kernel.  A row's result depends
   only on its own elements.  Wide rows are done on their own, at once. */
static void FN(short_rows)(const T *x, ptrdiff_t ldx, T *y, ptrdiff_t ldy,
                           ptrdiff_t rows, ptrdiff_t n, T scale, int log)   /* IN x[rows][ldx], OUT y[rows][ldy] */
{
    T e[PSM_TILE * PSM_SHORT], m[PSM_TILE], r[PSM_TILE], c[PSM_TILE];
    unsigned char wide[PSM_TILE];
    scale = (T)((double)scale / BASE_LOG);
    const T sg = FN(sign_of)(scale);
    for (ptrdiff_t r0 = 0; r0 < rows; r0 += PSM_TILE) {
        const ptrdiff_t nr = rows - r0 < PSM_TILE ? rows - r0 : PSM_TILE;
        const T *xt = x + r0 * ldx;
        T *yt = y + r0 * ldy;
        FN(short_shift)(xt, ldx, yt, ldy, nr, n, scale, sg, log, e, m, r, wide, 0);
        const T dsum = FN(exp_finite)(e, e, nr * n);
        if (dsum != dsum) {
            /* a NaN exponent (rare): again, with the exp that keeps it */
            FN(short_shift)(xt, ldx, yt, ldy, nr, n, scale, sg, log, e, m, r, wide, 1);
            FN(exp)(e, e, nr * n);
        }
        for (ptrdiff_t i = 0; i < nr; i++) {
            const T *er = e + i * n;
            T sum = 0;
#pragma omp simd reduction(+:sum)
            for (ptrdiff_t j = 0; j < n; j++)
                sum += er[j];
            if (!log) {
                c[i] = (T)(1.0 / (sum < PSM_RESUM_SHORT ? FN(resum)(er, n) : (double)sum));
            } else if (sum < PSM_NEAR_ONE) {
                double ones, others = FN(split_sum)(er, n, &ones);
                c[i] = FN(log_split_sum_in_base)(ones, others);
            } else {
                c[i] = FN(log_split_sum_in_base)(0, (double)sum);
            }
        }
        for (ptrdiff_t i = 0; i < nr; i++)
            if (!wide[i])
                FN(finish)(yt + i * ldy, log ? xt + i * ldx : e + i * n, n, scale, m[i], r[i],
                           c[i], log);
    }
}

/* Rows [0, rows) of x (row stride ldx) -> y (row stride ldy), software
   pipelined: the pass that exponentiates row i also finds the max of row i+1
   and finishes row i-1.  Every row goes through the same sequence of
   operations, so its result does not depend on where a chunk starts.  A
   wide row (shift_of) is done on its own, and the pipeline restarts after
   it. */
static void FN(rows)(const T *x, ptrdiff_t ldx, T *y, ptrdiff_t ldy,
                     ptrdiff_t rows, ptrdiff_t n, T scale, int log)   /* IN x[rows][ldx], OUT y[rows][ldy] */
{
    typedef double (*pass_t)(const T *, T *, ptrdiff_t, T, T, T, T, const T *, T *, T *,
                             const T *, T, T, T);
    static const pass_t passes[8] = {   /* index: next * 4 + prev * 2 + log */
        FN(pass_000), FN(pass_001), FN(pass_010), FN(pass_011),
        FN(pass_100), FN(pass_101), FN(pass_110), FN(pass_111)};
    log = log != 0;
#if defined(PSM_AVX512) && defined(REG_ROWS)
    if (n <= PSM_REG_ROW) {   /* base e: scale / BASE_LOG = scale */
        FN(reg_rows)(x, ldx, y, ldy, rows, n, scale, log);
        return;
    }
#endif
    if (n <= PSM_SHORT) {
        FN(short_rows)(x, ldx, y, ldy, rows, n, scale, log);
        return;
    }
    scale = (T)((double)scale / BASE_LOG);
    const T sg = FN(sign_of)(scale);
    T mx = FN(row_max)(x, n, sg);       /* row i's max of sg*x */
    T mp = 0, rp = 0, cp = 0;           /* row i-1's shift and c, if prev */
    int prev = 0;                       /* row i-1 awaits its finishing pass */
    for (ptrdiff_t i = 0; i < rows; i++) {
        const int next = i + 1 < rows;
        const T *xr = x + i * ldx, *xn = next ? xr + ldx : xr, *xp = prev ? xr - ldx : xr;
        T *yr = y + i * ldy, *yp = prev ? yr - ldy : yr;
        T m, r;
        if (!FN(shift_of)(scale, sg * mx, &m, &r)) {
            if (prev)
                FN(finish)(yp, log ? xp : yp, n, scale, mp, rp, cp, log);
            FN(wide_row)(xr, yr, n, scale, sg * mx, log);
            prev = 0;
            if (next)
                mx = FN(row_max)(xn, n, sg);
            continue;
        }
        T mn = next ? sg * xn[0] : 0;
#if defined(PSM_AVX512) && defined(REG_ROWS)
        (void)passes;
        double sum = FN(reg_fused_pass)(xr, yr, n, scale, m, r, sg, xn, &mn, yp, xp, mp, rp, cp,
                                        next, prev, log);
#else
        double sum = passes[next * 4 + prev * 2 + log](xr, yr, n, scale, m, r, sg, xn, &mn, yp,
                                                       xp, mp, rp, cp);
#endif
        if (!log) {                        /* y[i] holds the row's exp */
            cp = (T)(1.0 / (sum < PSM_RESUM ? FN(resum)(yr, n) : sum));
        } else if (sum < PSM_NEAR_ONE) {   /* x[i] is intact until the next pass */
            double ones, others = FN(split_exp_sum)(xr, n, scale, m, r, &ones);
            cp = FN(log_split_sum_in_base)(ones, others);
        } else {
            cp = FN(log_split_sum_in_base)(0, sum);
        }
        mp = m, rp = r, mx = mn, prev = 1;
    }
    if (prev)
        FN(finish)(y + (rows - 1) * ldy, log ? x + (rows - 1) * ldx : y + (rows - 1) * ldy, n,
                   scale, mp, rp, cp, log);
}

/* y[n] = k*x (k = 1, or 0 for a zero scale) where mask != 0, else hide (an
   element whose product with the scale is -inf, so that exp gives 0 there);
   returns the index of the first mask != 0, or n if none.  y may be x. */
static __attribute__((noinline)) ptrdiff_t FN(mask_pass)(const T *x, const unsigned char *mask,
                                                         T *y, ptrdiff_t n, T k, T hide)
{
    ptrdiff_t first = n;
#pragma omp simd reduction(min:first)
    for (ptrdiff_t j = 0; j < n; j++) {
        y[j] = mask[j] ? k * x[j] : hide;
        first = mask[j] && j < first ? j : first;
    }
    return first;
}

/* Rows with a mask: row i of mask (row stride ldmask, possibly 0 for one
   mask shared by all rows) selects the elements mask[j] != 0; the others
   get 0 (log_softmax: -inf), and so do all elements of a row with none
   selected.  Tiles of rows that stay in cache: y = x with the masked-out
   elements replaced by -inf/scale (mask_pass; x itself is never copied or
   changed, and masked-out x may hold anything, NaN or inf), then the rows
   kernel with this scale in place on y, then the rows with nothing selected
   are filled, and so are the masked-out elements of a row whose selected
   ones are NaN (a NaN or +inf product: the rows kernel makes the whole row
   NaN).  (scale = 0 cannot hide an element by its product: then y = 0*x, or
   -inf for the hidden ones, and the rows kernel runs with scale 1.)  Only
   mask_pass reads the mask: loops mixing the byte mask with T vectorize
   poorly, and the pipelined rows kernel is twice as fast as three plain
   passes (measured on 12288x128). */
static void FN(masked_rows)(const T *x, ptrdiff_t ldx, const unsigned char *mask,
                            ptrdiff_t ldmask, T *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t n,
                            T scale, int log)   /* IN x[rows][ldx], mask[rows][ldmask], OUT y[rows][ldy] */
{
    ptrdiff_t first[PSM_MASK_TILE];
    const ptrdiff_t tile = n >= PSM_MASK_TILE ? 1 : PSM_MASK_TILE / n;
    const T hide = scale < 0 ? (T)INFINITY : -(T)INFINITY, fill = log ? -(T)INFINITY : 0;
    for (ptrdiff_t r0 = 0; r0 < rows; r0 += tile) {
        const ptrdiff_t nr = rows - r0 < tile ? rows - r0 : tile;
        T *yt = y + r0 * ldy;
        for (ptrdiff_t i = 0; i < nr; i++)
            first[i] = FN(mask_pass)(x + (r0 + i) * ldx, mask + (r0 + i) * ldmask, yt + i * ldy,
                                     n, scale == 0 ? 0 : 1, hide);
        FN(rows)(yt, ldy, yt, ldy, nr, n, scale == 0 ? 1 : scale, log);
        for (ptrdiff_t i = 0; i < nr; i++) {
            T *yr = yt + i * ldy;
            const unsigned char *mr = mask + (r0 + i) * ldmask;
            if (first[i] == n) {
                for (ptrdiff_t j = 0; j < n; j++)
                    yr[j] = fill;
            } else if (isnan(yr[first[i]])) {
                for (ptrdiff_t j = 0; j < n; j++)
                    yr[j] = mr[j] ? yr[j] : fill;
            }
        }
    }
}

/* m[k] = max over i of sg*x[i*ld + k], for the ncols columns k of an (n, ld)
   block. */
PSM_INLINE void FN(colmax_impl)(const T *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                                T sg, T *m)   /* IN x[n][ld], OUT m[ncols] */
{
    for (ptrdiff_t k = 0; k < ncols; k++)
        m[k] = sg * x[k];
    for (ptrdiff_t i = 1; i < n; i++) {
        const T *xi = x + i * ld;
#pragma omp simd
        for (ptrdiff_t k = 0; k < ncols; k++) {
            const T v = sg * xi[k];
            m[k] = v > m[k] ? v : m[k];
        }
    }
}

/* The cols kernel: ncols columns of an (n, ld) block, x[i*ld + k], each
   column's softmax on its own, vectorised across the contiguous columns k.
   Three steps per column: its max (and from it the shift m[k], r[k]:
   col_shifts, shift_of for many columns at once); e = EXP(exponent), stored
   (softmax) and summed; finish: y *= 1/sum (softmax) or y = exponent -
   log(sum) (log_softmax).  The exp step is the costly one (a long
   dependency chain per element); the other two are short.  So, as the rows
   kernel does, they run in the same loop: the columns are cut into strips
   of PSM_STRIP, and one pass over the rows (strip_impl) exponentiates strip
   s while it takes the max of strip s+1 and finishes strip s-1
   (cols_strips): one loop per element instead of three, each strip in L1 or
   L2 while it is worked on.  Columns that do not fill a strip, strips too tall
   for the cache (n * PSM_STRIP elements beyond PSM_STRIP_CACHE bytes) and
   strips with a wide column go through the three steps as separate passes
   (col_chunk, cols_impl), in the same order of operations: a column's result
   is the same bits whichever way it goes, so it does not depend on the
   caller's split of the columns (threads, layout).
   Sums: in T over blocks of rows, then in double (with compensation for
   double: col_add_sums).  softmax sums PSM_COL_ROWS rows a block: a lane
   that holds the largest term (1) loses at most PSM_COL_ROWS - 1 half-ulps
   of 1 from the others, 4.2e-7 in float, so no second pass is needed (the
   rows kernel's resum).  log_softmax splits its sums as split_impl does,
   the terms equal to 1 counted apart (kb) from the others (part), over
   PSM_COL_ROWS_LOG rows: the log of the split sum is log1p(others) for one
   such term (log_split_sum_in_base).
   Exponents: SHIFTED(scale, x, m[k], r[k]); x - m[k] when scale is 1 (unit:
   the same value, 1*x being exact and r 0), which keeps the exp's first step
   off the multiplier; in a chunk with a wide column (wide_scale)
   SHIFTED(a[k], x, m[k], r[k]) * p[k] with a[k] = scale and p[k] = 1 for the
   columns that are not wide: the same value again.
   In place (y == x): each step reads x[i][k] before it writes y[i][k], and
   the strips of a pass are different columns. */
#define PSM_STRIP_CACHE (64 * 1024)  /* bytes of x in a strip, at most, to pipeline */
#define PSM_COL_ROWS 8               /* softmax: rows summed in T before the sum in double */
#define PSM_COL_ROWS_LOG 32          /* log_softmax (split sums): the same */
#define PSM_COL_CACHE (128 * 1024)   /* bytes of x in a chunk of col_chunk, at most */

/* The columns in a chunk: as many as keep its x within PSM_COL_CACHE, a
   multiple of 16, between 16 and PSM_COLS.  Depends on n only. */
PSM_INLINE ptrdiff_t FN(col_width)(ptrdiff_t n)
{
    const ptrdiff_t w = PSM_COL_CACHE / ((ptrdiff_t)sizeof(T) * n);
    return w < 16 ? 16 : w > PSM_COLS ? PSM_COLS : w & ~(ptrdiff_t)15;
}

/* The shifts of ncols columns from mx[k], the max of sg*x of each: m[k],
   r[k] as shift_of computes them.  Returns nonzero if a column is wide
   (shift_of returns 0 for it). */
PSM_INLINE int FN(col_shifts)(const T *mx, ptrdiff_t ncols, T scale, T sg, T *m, T *r)
{
    int wide = 0;
#pragma omp simd reduction(|:wide)
    for (ptrdiff_t k = 0; k < ncols; k++) {
        const T xm = sg * mx[k], mk = scale * xm;
        m[k] = mk;
        r[k] = MULSUB(scale, xm, mk);
        wide |= (mk == (T)INFINITY || mk == -(T)INFINITY) && xm - xm == 0;
    }
    return wide;
}

/* Adds a block's partial sums part[k] (and kb[k], log: its count of terms
   equal to 1) to the column sums others[k] + comp[k] (and ones[k]); first:
   the first block. */
PSM_INLINE void FN(col_add_sums)(const T *part, const T *kb, ptrdiff_t ncols, double *others,
                                 double *comp, double *ones, const int first, const int log)
{
    if (first) {
#pragma omp simd
        for (ptrdiff_t k = 0; k < ncols; k++) {
            others[k] = part[k], comp[k] = 0.0;
            if (log)
                ones[k] = kb[k];
        }
        return;
    }
#if T_MAX_EXP == 128   /* float: a plain double sum loses nothing that matters */
#pragma omp simd
    for (ptrdiff_t k = 0; k < ncols; k++) {
        others[k] += part[k];
        if (log)
            ones[k] += kb[k];
    }
#else
    for (ptrdiff_t k = 0; k < ncols; k++) {
        psm_neumaier_add(&others[k], &comp[k], (double)part[k]);
        if (log)
            ones[k] += kb[k];
    }
#endif
}

#if T_MAX_EXP == 128
/* log(v) for v >= 1 (NaN and +inf pass through), in double, branch-free so
   that it vectorizes: v = 2^e f with f in [sqrt(1/2), sqrt(2)) (bits: e from
   the exponent field of v less sqrt(1/2)'s, f from the rest), log f = 2
   atanh(t) = 2 (t + t^3/3 + ... + t^17/17), t = (f - 1)/(f + 1), |t| <=
   0.1716: truncated at 1e-15 relative, ample for float results.  For the
   float kernels' column logs (col_factors), where libm's log1p, one call per
   column, cost more than the column's exp. */
PSM_INLINE double FN(col_log)(double v)
{
    const uint64_t half_sqrt2 = 0x3fe6a09e667f3bcdu;   /* sqrt(1/2) */
    uint64_t b, d, eb;
    double f, e;
    memcpy(&b, &v, 8);
    d = b - half_sqrt2;                   /* v >= 1: no borrow past the exponent */
    eb = (d >> 52) | 0x4330000000000000u;   /* 2^52 + e */
    memcpy(&e, &eb, 8);
    e -= 4503599627370496.0;
    d = (d & 0x000fffffffffffffu) + half_sqrt2;
    memcpy(&f, &d, 8);
    const double t = (f - 1) / (f + 1), t2 = t * t, t4 = t2 * t2;
    const double q = ((((2.0 / 17 * t4 + 2.0 / 13) * t4 + 2.0 / 9) * t4 + 2.0 / 5) * t4 + 2.0) +
                     t2 * ((((2.0 / 15 * t4 + 2.0 / 11) * t4 + 2.0 / 7) * t4 + 2.0 / 3));
    const double r = e * 0.6931471805599453 + t * q;
    return v - v == 0 ? r : v;
}
#endif

/* c[k], what a column is finished with: 1/sum (softmax) or the log of its
   split sum (log_softmax): psm_log_split_sum / BASE_LOG, log(ones) +
   log1p(others/ones) = log(ones + others).  In float that is log(w) + err/w
   (col_log), w = ones + others rounded and err its rounding error (Fast2Sum
   from the larger of the two): exact for the others lost in w, so
   log(1 + tiny) stays tiny.  A column with no term equal to 1 (ones = 0:
   only a NaN column has none) takes libm's. */
PSM_INLINE void FN(col_factors)(const double *others, const double *comp, const double *ones,
                                ptrdiff_t ncols, T *c, const int log)
{
    if (!log) {
#pragma omp simd
        for (ptrdiff_t k = 0; k < ncols; k++)
            c[k] = (T)(1.0 / (others[k] + comp[k]));
        return;
    }
#if T_MAX_EXP == 128
    int none = 0;
#pragma omp simd reduction(|:none)
    for (ptrdiff_t k = 0; k < ncols; k++) {
        const double o = ones[k], s = others[k] + comp[k], w = o + s;
        const double err = o >= s ? (o - w) + s : (s - w) + o;
        c[k] = (T)((FN(col_log)(w) + err / w) / BASE_LOG);
        none |= !(ones[k] >= 1);
    }
    if (!none)
        return;
#endif
    for (ptrdiff_t k = 0; k < ncols; k++)
        if (T_MAX_EXP != 128 || !(ones[k] >= 1))
            c[k] = FN(log_split_sum_in_base)(ones[k], others[k] + comp[k]);
}

/* A column's exponent of v (see the cols kernel), and the exp step's sum. */
#define PSM_COL_EXPONENT(v, k)                                     \
    (wide ? SHIFTED(a[k], v, m[k], r[k]) * p[k]                    \
          : unit ? (v) - m[k] : SHIFTED(scale, v, m[k], r[k]))
#define PSM_COL_SUM(e, k)                  \
    do {                                   \
        if (!log) {                        \
            part[k] += e;                  \
        } else {                           \
            part[k] += e == 1 ? 0 : e;     \
            kb[k] += e == 1 ? 1 : 0;       \
        }                                  \
    } while (0)

#if defined(PSM_AVX512) && defined(REG_ROWS)
#include "cols_avx512.h"   /* FN(reg_col_pass), FN(reg_col_finish) */
#define PSM_REG_COLS_ON 1
#else
#define PSM_REG_COLS_ON 0
#endif

/* The finishing pass of columns [0, ncols): y *= c[k] (softmax; y holds
   the exp), or y = exponent - c[k] (log_softmax). */
PSM_INLINE void FN(col_finish)(const T *x, T *y, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                               T scale, const T *a, const T *p, const T *m, const T *r,
                               const T *c, const int log, const int wide, const int unit)
{
    (void)scale, (void)a, (void)p, (void)r;   /* unused in some variants */
#if PSM_REG_COLS_ON
    FN(reg_col_finish)(x, y, n, ld, ncols, scale, a, p, m, r, c, log, wide, unit);
    return;
#endif
    for (ptrdiff_t i = 0; i < n; i++) {
        const T *xi = x + i * ld;
        T *yi = y + i * ld;
        if (!log) {
#pragma omp simd
            for (ptrdiff_t k = 0; k < ncols; k++)
                yi[k] *= c[k];
        } else {
#pragma omp simd
            for (ptrdiff_t k = 0; k < ncols; k++)
                yi[k] = (PSM_COL_EXPONENT(xi[k], k) - c[k]) * (T)BASE_LOG;
        }
    }
}

/* The three steps as separate passes over ncols <= PSM_COLS columns whose
   shifts (and, if wide, a and p) are known. */
PSM_INLINE void FN(cols_impl)(const T *x, T *y, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols,
                              T scale, const T *a, const T *p, const T *m, const T *r,
                              const int log, const int wide, const int unit)   /* IN x[n][ld], OUT y[n][ld], columns [0, ncols) */
{
    T c[PSM_COLS], part[PSM_COLS], kb[PSM_COLS];
    double others[PSM_COLS], comp[PSM_COLS], ones[PSM_COLS];
    const ptrdiff_t rows = log ? PSM_COL_ROWS_LOG : PSM_COL_ROWS;

    (void)scale, (void)a, (void)p, (void)r;   /* unused in some variants */
#if PSM_REG_COLS_ON
    (void)part, (void)kb, (void)rows;
    for (ptrdiff_t k0 = 0; k0 < ncols; k0 += PSM_REG_COLS)
        FN(reg_col_pass)(x + k0, y + k0, n, ld, ncols - k0 < PSM_REG_COLS ? ncols - k0
                                                                          : PSM_REG_COLS,
                         scale, 1, wide ? a + k0 : a, wide ? p + k0 : p, m + k0, r + k0, NULL,
                         NULL, NULL, NULL, NULL, NULL, NULL, others + k0, comp + k0, ones + k0,
                         0, 0, log, wide, unit);
    FN(col_factors)(others, comp, ones, ncols, c, log);
    FN(col_finish)(x, y, n, ld, ncols, scale, a, p, m, r, c, log, wide, unit);
    return;
#endif
    for (ptrdiff_t i0 = 0; i0 < n; i0 += rows) {
        const ptrdiff_t i1 = n - i0 < rows ? n : i0 + rows;
        for (ptrdiff_t k = 0; k < ncols; k++)
            part[k] = kb[k] = 0;
        for (ptrdiff_t i = i0; i < i1; i++) {
            const T *xi = x + i * ld;
            T *yi = y + i * ld;
#pragma omp simd
            for (ptrdiff_t k = 0; k < ncols; k++) {
                const T e = EXP(PSM_COL_EXPONENT(xi[k], k));
                if (!log)
                    yi[k] = e;
                PSM_COL_SUM(e, k);
            }
        }
        FN(col_add_sums)(part, kb, ncols, others, comp, ones, i0 == 0, log);
    }
    FN(col_factors)(others, comp, ones, ncols, c, log);
    FN(col_finish)(x, y, n, ld, ncols, scale, a, p, m, r, c, log, wide, unit);
}

/* Six specialisations (log; unit scale, any scale or wide), so that no loop
   keeps a run-time test (GCC left one instantiation unvectorized when it
   did). */
#define PSM_COLS_VARIANT(name, lg, wd, un)                                               \
    static __attribute__((noinline)) void FN(name)(const T *x, T *y, ptrdiff_t n,        \
                                                   ptrdiff_t ld, ptrdiff_t ncols, T scale, \
                                                   const T *a, const T *p, const T *m,   \
                                                   const T *r)                           \
    {                                                                                    \
        FN(cols_impl)(x, y, n, ld, ncols, scale, a, p, m, r, lg, wd, un);                \
    }
PSM_COLS_VARIANT(cols_softmax_unit, 0, 0, 1) PSM_COLS_VARIANT(cols_log_softmax_unit, 1, 0, 1)
PSM_COLS_VARIANT(cols_softmax, 0, 0, 0) PSM_COLS_VARIANT(cols_log_softmax, 1, 0, 0)
PSM_COLS_VARIANT(cols_softmax_wide, 0, 1, 0) PSM_COLS_VARIANT(cols_log_softmax_wide, 1, 1, 0)
#undef PSM_COLS_VARIANT

/* ncols <= PSM_COLS columns as separate passes: the max pass, the shifts,
   then the variant for this scale and these columns. */
static void FN(col_chunk)(const T *x, T *y, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, T scale,
                          T sg, int log)
{
    T mx[PSM_COLS], a[PSM_COLS], p[PSM_COLS], m[PSM_COLS], r[PSM_COLS];
    if (sg > 0)   /* two calls, so that each multiplies by a constant sg */
        FN(colmax_impl)(x, n, ld, ncols, 1, mx);
    else
        FN(colmax_impl)(x, n, ld, ncols, -1, mx);
    if (FN(col_shifts)(mx, ncols, scale, sg, m, r)) {
        for (ptrdiff_t k = 0; k < ncols; k++) {
            const T xm = sg * mx[k];
            a[k] = scale, p[k] = 1;
            if (!FN(shift_of)(scale, xm, &m[k], &r[k])) {
                FN(wide_scale)(scale, xm, &a[k], &p[k]);
                (void)FN(shift_of)(a[k], xm, &m[k], &r[k]);
            }
        }
        (log ? FN(cols_log_softmax_wide) : FN(cols_softmax_wide))(x, y, n, ld, ncols, scale, a,
                                                                  p, m, r);
    } else if (scale == 1) {   /* a and p unused */
        (log ? FN(cols_log_softmax_unit) : FN(cols_softmax_unit))(x, y, n, ld, ncols, scale, NULL,
                                                                  NULL, m, r);
    } else {
        (log ? FN(cols_log_softmax) : FN(cols_softmax))(x, y, n, ld, ncols, scale, NULL, NULL, m,
                                                        r);
    }
}

/* One pass over the n rows of three strips of PSM_STRIP columns (not wide):
   strip x -> y (shifts m, r) is exponentiated and summed into others,
   comp, ones; the max of sg*xn, the next strip, is folded into mn (which
   holds its first row's); if prev, strip xp -> yp is finished (its
   shifts mp, rp, its c). */
PSM_INLINE void FN(strip_impl)(const T *x, T *y, ptrdiff_t n, ptrdiff_t ld, T scale, T sg,
                               const T *m, const T *r, const T *xn, T *mn, const T *xp, T *yp,
                               const T *mp, const T *rp, const T *c, double *others,
                               double *comp, double *ones, const int prev, const int log,
                               const int unit)
{
    T part[PSM_STRIP], kb[PSM_STRIP];
    const ptrdiff_t rows = log ? PSM_COL_ROWS_LOG : PSM_COL_ROWS;
    const int wide = 0;
    const T *a = NULL, *p = NULL;
    const T sgn = unit ? 1 : sg;   /* unit: scale = 1 > 0 */

    (void)scale, (void)a, (void)p, (void)r, (void)rp;   /* unused in some variants */
#if PSM_REG_COLS_ON
    (void)part, (void)kb, (void)rows, (void)wide;
    FN(reg_col_pass)(x, y, n, ld, PSM_STRIP, scale, sgn, NULL, NULL, m, r, xn, mn, xp, yp, mp,
                     rp, c, others, comp, ones, 1, prev, log, 0, unit);
    return;
#endif
    for (ptrdiff_t i0 = 0; i0 < n; i0 += rows) {
        const ptrdiff_t i1 = n - i0 < rows ? n : i0 + rows;
        for (ptrdiff_t k = 0; k < PSM_STRIP; k++)
            part[k] = kb[k] = 0;
        for (ptrdiff_t i = i0; i < i1; i++) {
            const T *xi = x + i * ld, *xni = xn + i * ld, *xpi = xp + i * ld;
            T *yi = y + i * ld, *ypi = yp + i * ld;
            for (size_t l = PSM_STRIP * sizeof(T); l < 2 * PSM_STRIP * sizeof(T); l += 64) {
                /* the strips of the next pass (addresses as integers: they may lie
                   past the arrays, where a prefetch does nothing) */
                __builtin_prefetch((const void *)((uintptr_t)xni + l), 0, 3);
                __builtin_prefetch((const void *)((uintptr_t)yi + l), 1, 3);
            }
#pragma omp simd
            for (ptrdiff_t k = 0; k < PSM_STRIP; k++) {
                const T v = sgn * xni[k];
                mn[k] = v > mn[k] ? v : mn[k];
                const T e = EXP(PSM_COL_EXPONENT(xi[k], k));
                if (!log)
                    yi[k] = e;
                PSM_COL_SUM(e, k);
                if (prev) {
                    if (!log)
                        ypi[k] *= c[k];
                    else
                        ypi[k] = ((unit ? xpi[k] - mp[k] : SHIFTED(scale, xpi[k], mp[k], rp[k]))
                                  - c[k]) * (T)BASE_LOG;
                }
            }
        }
        FN(col_add_sums)(part, kb, PSM_STRIP, others, comp, ones, i0 == 0, log);
    }
}

#undef PSM_COL_EXPONENT
#undef PSM_COL_SUM
#undef PSM_REG_COLS_ON

/* Specialisations of the strip passes, each its own function (as the rows
   kernel's fused_pass), index prev * 4 + log * 2 + unit; and of the finishing
   pass of one strip on its own (the last one, or the one before a wide
   strip), index log * 2 + unit. */
#define PSM_STRIP_PASS(pv, lg, un)                                                          \
    static __attribute__((noinline)) void FN(strip_##pv##lg##un)(                           \
        const T *x, T *y, ptrdiff_t n, ptrdiff_t ld, T scale, T sg, const T *m, const T *r, \
        const T *xn, T *mn, const T *xp, T *yp, const T *mp, const T *rp, const T *c,       \
        double *others, double *comp, double *ones)                                         \
    {                                                                                       \
        FN(strip_impl)(x, y, n, ld, scale, sg, m, r, xn, mn, xp, yp, mp, rp, c, others,     \
                       comp, ones, pv, lg, un);                                             \
    }
PSM_STRIP_PASS(0, 0, 0) PSM_STRIP_PASS(0, 0, 1) PSM_STRIP_PASS(0, 1, 0) PSM_STRIP_PASS(0, 1, 1)
PSM_STRIP_PASS(1, 0, 0) PSM_STRIP_PASS(1, 0, 1) PSM_STRIP_PASS(1, 1, 0) PSM_STRIP_PASS(1, 1, 1)
#undef PSM_STRIP_PASS
#define PSM_STRIP_FINISH(lg, un)                                                           \
    static __attribute__((noinline)) void FN(strip_finish_##lg##un)(                       \
        const T *x, T *y, ptrdiff_t n, ptrdiff_t ld, T scale, const T *m, const T *r,      \
        const T *c)                                                                        \
    {                                                                                      \
        FN(col_finish)(x, y, n, ld, PSM_STRIP, scale, NULL, NULL, m, r, c, lg, 0, un);     \
    }
PSM_STRIP_FINISH(0, 0) PSM_STRIP_FINISH(0, 1) PSM_STRIP_FINISH(1, 0) PSM_STRIP_FINISH(1, 1)
#undef PSM_STRIP_FINISH

/* nstrips strips of PSM_STRIP columns, pipelined: the pass that
   exponentiates strip s takes the max of strip s+1 and finishes strip s-1.
   A wide strip goes through col_chunk on its own, and the pipeline restarts
   after it. */
static void FN(cols_strips)(const T *x, T *y, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t nstrips,
                            T scale, T sg, int log)
{
    typedef void (*pass_t)(const T *, T *, ptrdiff_t, ptrdiff_t, T, T, const T *, const T *,
                           const T *, T *, const T *, T *, const T *, const T *, const T *,
                           double *, double *, double *);
    typedef void (*finish_t)(const T *, T *, ptrdiff_t, ptrdiff_t, T, const T *, const T *,
                             const T *);
    static const pass_t passes[8] = {
        FN(strip_000), FN(strip_001), FN(strip_010), FN(strip_011),
        FN(strip_100), FN(strip_101), FN(strip_110), FN(strip_111)};
    static const finish_t finishes[4] = {
        FN(strip_finish_00), FN(strip_finish_01), FN(strip_finish_10), FN(strip_finish_11)};
    T mx[PSM_STRIP], m[2][PSM_STRIP], r[2][PSM_STRIP], c[PSM_STRIP];
    double others[PSM_STRIP], comp[PSM_STRIP], ones[PSM_STRIP];
    const int unit = scale == 1, variant = log * 2 + unit;
    int prev = 0, wide;   /* strip s-1 awaits its finishing; strip s is wide */

    FN(colmax_impl)(x, n, ld, PSM_STRIP, sg, mx);
    wide = FN(col_shifts)(mx, PSM_STRIP, scale, sg, m[0], r[0]);
    for (ptrdiff_t s = 0; s < nstrips; s++) {
        const T *xs = x + s * PSM_STRIP;
        T *ys = y + s * PSM_STRIP;
        const int cur = s & 1, next = s + 1 < nstrips;
        const T *xn = next ? xs + PSM_STRIP : xs;   /* the last pass takes a max it drops */
        if (wide) {
            if (prev)
                finishes[variant](xs - PSM_STRIP, ys - PSM_STRIP, n, ld, scale, m[!cur],
                                  r[!cur], c);
            FN(col_chunk)(xs, ys, n, ld, PSM_STRIP, scale, sg, log);
            prev = 0;
            if (next) {
                FN(colmax_impl)(xn, n, ld, PSM_STRIP, sg, mx);
                wide = FN(col_shifts)(mx, PSM_STRIP, scale, sg, m[!cur], r[!cur]);
            }
            continue;
        }
        for (ptrdiff_t k = 0; k < PSM_STRIP; k++)
            mx[k] = sg * xn[k];
        passes[prev * 4 + variant](xs, ys, n, ld, scale, sg, m[cur], r[cur], xn, mx,
                                   xs - PSM_STRIP, ys - PSM_STRIP, m[!cur], r[!cur], c, others,
                                   comp, ones);
        FN(col_factors)(others, comp, ones, PSM_STRIP, c, log);
        prev = 1;
        if (next)   /* m[!cur], r[!cur] were strip s-1's, now finished */
            wide = FN(col_shifts)(mx, PSM_STRIP, scale, sg, m[!cur], r[!cur]);
    }
    if (prev) {
        const ptrdiff_t s = nstrips - 1;
        finishes[variant](x + s * PSM_STRIP, y + s * PSM_STRIP, n, ld, scale, m[s & 1],
                          r[s & 1], c);
    }
}

/* Columns [0, ncols): whole strips pipelined (cols_strips) when a strip
   fits PSM_STRIP_CACHE and there are at least two, the rest in chunks of
   col_width(n) columns (col_chunk). */
static void FN(cols)(const T *x, T *y, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, T scale,
                     int log)
{
    const ptrdiff_t w = FN(col_width)(n);
    ptrdiff_t k0 = 0;
    scale = (T)((double)scale / BASE_LOG);
    log = log != 0;
    const T sg = FN(sign_of)(scale);
    if (n * PSM_STRIP * (ptrdiff_t)sizeof(T) <= PSM_STRIP_CACHE && ncols >= 2 * PSM_STRIP) {
        FN(cols_strips)(x, y, n, ld, ncols / PSM_STRIP, scale, sg, log);
        k0 = ncols / PSM_STRIP * PSM_STRIP;
    }
    for (; k0 < ncols; k0 += w)
        FN(col_chunk)(x + k0, y + k0, n, ld, ncols - k0 < w ? ncols - k0 : w, scale, sg, log);
}
