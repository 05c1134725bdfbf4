/*
 * slices_body.h -- the two halves of the rows kernel apart, for logsumexp and
 * for a softmax whose slices are cut into pieces (Dask): the statistics of
 * each row (row_stats) and the outputs from given statistics
 * (row_normalise).  Included by instantiate.h after softmax_body.h, with
 * the same T, EXP, BASE_LOG and FN (both exps; the Python layer calls the
 * exact one).  pysoftmax/_slices.py documents the statistics:
 *   m, r    the largest product scale*x of the row is exactly m + r: m is
 *           scale*xm rounded to T and r its rounding residual (shift_of;
 *           so the exponents SHIFTED(scale, x, m, r) are those of the rows
 *           kernel, exactly 0 at the max); for a wide row (the product
 *           beyond T: wide_scale), (m', r') * p, exact in double for float;
 *   ones    the count of terms exp(exponent) == 1;
 *   others  the sum of the other terms (the split sums of log_softmax:
 *           split_impl), so log(ones + others) = log(ones) + log1p(others /
 *           ones) stays accurate at the max.
 * An infinite largest product (x = +-inf, or all selected -inf) gives m =
 * +-inf, r = 0, ones = how many products equal it, others = 0; a NaN
 * product makes others NaN; no element selected gives m = -inf, ones =
 * others = 0.  All four are double, one per row (arrays of `rows`).
 * A row is read twice (its max, then its exp), in cache when it fits; rows
 * are independent (no pipelining across rows: the rows kernel's is for the
 * stores this pass does not make).  With a mask (where=, row stride ldmask,
 * may be 0), only the elements with mask != 0 count; masked-out x may hold
 * anything.
 */

/* The max of sg*x[j] over the selected j (mask NULL: all), or -inf if none;
   NaN never wins (the sum makes it NaN).  *count: how many are selected. */
PSM_INLINE T FN(stats_max)(const T *x, const unsigned char *mask, ptrdiff_t n, T sg,
                           ptrdiff_t *count, const int masked)
{
    T mx = -(T)INFINITY;
    ptrdiff_t k = 0;
#pragma omp simd reduction(max:mx) reduction(+:k)
    for (ptrdiff_t j = 0; j < n; j++) {
        const T v = !masked || mask[j] ? sg * x[j] : -(T)INFINITY;
        mx = v > mx ? v : mx;
        k += !masked || mask[j];
    }
    *count = k;
    return mx;
}

/* The split sum of the terms EXP(SHIFTED(scale, x, m, r) * p) of the selected
   elements (p = 1 but in a wide row): returns the others, *ones the count
   of terms equal to 1.  Blocks of 64 in T added in double (as split_impl). */
PSM_INLINE double FN(stats_sum)(const T *x, const unsigned char *mask, ptrdiff_t n, T scale,
                                T m, T r, T p, double *ones, const int masked)
{
    double sum = 0.0, comp = 0.0, k = 0.0;
    for (ptrdiff_t j0 = 0; j0 < n; j0 += 64) {
        const ptrdiff_t len = n - j0 < 64 ? n - j0 : 64;
        const T *xb = x + j0;
        const unsigned char *mb = mask + (masked ? j0 : 0);
        T part = 0, kb = 0;
#pragma omp simd reduction(+:part, kb)
        for (ptrdiff_t j = 0; j < len; j++) {
            const T t = EXP(SHIFTED(scale, xb[j], m, r) * p);
            const T e = !masked || mb[j] ? t : 0;
            part += e == 1 ? 0 : e;
            kb += e == 1 ? 1 : 0;
        }
        psm_neumaier_add(&sum, &comp, (double)part);
        k += kb;
    }
    *ones = k;
    return sum + comp;
}

/* A row (or a column: elements stride apart) whose largest product is not
   finite (xm = +-inf: an infinite x, or all -inf or NaN), or a zero scale:
   products v = scale*x compared as such (0*inf is NaN). */
static void FN(stats_nonfinite)(const T *x, ptrdiff_t stride, const unsigned char *mask,
                                ptrdiff_t n, T scale, T xm, double *m, double *r, double *ones,
                                double *others)
{
    const double top = scale == 0 ? 0.0 : (double)scale * (double)xm;
    double k = 0;
    int nan = 0;
    for (ptrdiff_t j = 0; j < n; j++) {
        if (mask != NULL && !mask[j])
            continue;
        const double v = (double)scale * (double)x[j * stride];
        nan |= v != v;
        k += v == top;
    }
    *m = top * BASE_LOG, *r = 0, *ones = k, *others = nan ? (double)NAN : 0.0;
}

/* The statistics of one row (see the header comment); scale is in the
   kernels' base (scale / BASE_LOG). */
PSM_INLINE void FN(stats_row)(const T *x, const unsigned char *mask, ptrdiff_t n, T scale,
                              T sg, double *m, double *r, double *ones, double *others,
                              const int masked)
{
    ptrdiff_t count;
    const T xm = sg * FN(stats_max)(x, mask, n, sg, &count, masked);
    if (count == 0) {
        *m = -INFINITY, *r = 0, *ones = 0, *others = 0;
        return;
    }
    if (!isfinite(xm) || scale == 0) {
        FN(stats_nonfinite)(x, 1, masked ? mask : NULL, n, scale, xm, m, r, ones, others);
        return;
    }
    T mm, rr, a = scale, p = 1;
    if (!FN(shift_of)(scale, xm, &mm, &rr)) {   /* wide: scale/p * x, times p */
        FN(wide_scale)(scale, xm, &a, &p);
        (void)FN(shift_of)(a, xm, &mm, &rr);
    }
    *others = FN(stats_sum)(x, mask, n, a, mm, rr, p, ones, masked);
    *m = (double)mm * (double)p * BASE_LOG;
    *r = (double)rr * (double)p * BASE_LOG;
}

static __attribute__((noinline)) void FN(stats_plain)(const T *x, ptrdiff_t n, T scale, T sg,
                                                      double *m, double *r, double *ones,
                                                      double *others)
{
    FN(stats_row)(x, NULL, n, scale, sg, m, r, ones, others, 0);
}

static __attribute__((noinline)) void FN(stats_masked)(const T *x, const unsigned char *mask,
                                                       ptrdiff_t n, T scale, T sg, double *m,
                                                       double *r, double *ones,
                                                       double *others)
{
    FN(stats_row)(x, mask, n, scale, sg, m, r, ones, others, 1);
}

/* The statistics of rows [0, rows) of x (row stride ldx), of the elements
   mask selects (NULL: all; row stride ldmask, may be 0), into m[i], r[i],
   ones[i], others[i]. */
static void FN(row_stats)(const T *x, ptrdiff_t ldx, const unsigned char *mask,
                          ptrdiff_t ldmask, ptrdiff_t rows, ptrdiff_t n, T scale, double *m,
                          double *r, double *ones, double *others)
{
    scale = (T)((double)scale / BASE_LOG);
    const T sg = FN(sign_of)(scale);
    for (ptrdiff_t i = 0; i < rows; i++) {
        if (mask == NULL)
            FN(stats_plain)(x + i * ldx, n, scale, sg, m + i, r + i, ones + i, others + i);
        else
            FN(stats_masked)(x + i * ldx, mask + i * ldmask, n, scale, sg, m + i, r + i,
                             ones + i, others + i);
    }
}

/* One row's outputs from its shift (mm, rr, in the kernels' base; a and p
   as stats_row's), the factor c (softmax: 1/sum) or log of the sum (log):
   y = EXP(exponent) * c or (exponent - c) * BASE_LOG; fill where the mask
   leaves an element out. */
PSM_INLINE void FN(normalise_impl)(const T *x, const unsigned char *mask, T *y, ptrdiff_t n,
                                   T a, T mm, T rr, T p, T c, T fill, const int masked,
                                   const int log)
{
#pragma omp simd
    for (ptrdiff_t j = 0; j < n; j++) {
        const T d = SHIFTED(a, x[j], mm, rr) * p;
        const T v = log ? (d - c) * (T)BASE_LOG : EXP(d) * c;
        y[j] = !masked || mask[j] ? v : fill;
    }
}

#define PSM_NORMALISE(ms, lg)                                                                \
    static __attribute__((noinline)) void FN(normalise_##ms##lg)(                            \
        const T *x, const unsigned char *mask, T *y, ptrdiff_t n, T a, T mm, T rr, T p, T c, \
        T fill)                                                                              \
    {                                                                                        \
        FN(normalise_impl)(x, mask, y, n, a, mm, rr, p, c, fill, ms, lg);                    \
    }
PSM_NORMALISE(0, 0) PSM_NORMALISE(0, 1) PSM_NORMALISE(1, 0) PSM_NORMALISE(1, 1)
#undef PSM_NORMALISE

/* Rows [0, rows) of x -> y (row strides ldx, ldy; y may be x) from the
   statistics of each row (m, r, ones, others; of the whole slice, e.g.
   combined from its pieces): softmax (log_softmax if log) of scale*x, as
   the rows kernel computes it.  A row with a NaN in others or a non-finite
   m (a NaN or +inf product, only -inf) is NaN where selected; a row with
   nothing selected (m = -inf, ones = 0, others = 0) is all 0 (log: -inf),
   as are the elements the mask (NULL: none) leaves out.  m beyond T but
   finite (a wide row of float) is computed with scale/p, p = 2^k, as
   wide_row does.  m + r must be the largest product of the row's selected
   elements (every exponent <= 0). */
static void FN(row_normalise)(const T *x, ptrdiff_t ldx, const unsigned char *mask,
                              ptrdiff_t ldmask, T *y, ptrdiff_t ldy, ptrdiff_t rows,
                              ptrdiff_t n, T scale, const double *m, const double *r,
                              const double *ones, const double *others, int log)
{
    typedef void (*pass_t)(const T *, const unsigned char *, T *, ptrdiff_t, T, T, T, T, T, T);
    static const pass_t passes[4] = {FN(normalise_00), FN(normalise_01), FN(normalise_10),
                                     FN(normalise_11)};
    const T fill = log ? -(T)INFINITY : 0;
    const double base_scale = (double)scale / BASE_LOG;
    log = log != 0;
    for (ptrdiff_t i = 0; i < rows; i++) {
        const T *xr = x + i * ldx;
        T *yr = y + i * ldy;
        const unsigned char *mr = mask == NULL ? NULL : mask + i * ldmask;
        const double mi = m[i] / BASE_LOG, ri = r[i] / BASE_LOG;
        const double k = ones[i], o = others[i];
        if (mi == -INFINITY && k == 0 && o == 0) {   /* nothing selected */
            for (ptrdiff_t j = 0; j < n; j++)
                yr[j] = fill;
            continue;
        }
        if (!isfinite(mi) || o != o) {   /* a NaN or +inf product, only -inf: NaN */
            for (ptrdiff_t j = 0; j < n; j++)
                yr[j] = mr == NULL || mr[j] ? (T)NAN : fill;
            continue;
        }
        T a = (T)base_scale, p = 1, mm = (T)mi, rr;
        if (isfinite(mm)) {
            rr = (T)(ri + (mi - (double)mm));   /* r, or m's rounding to T if it had one */
        } else {                                /* wide: as wide_scale, from the product */
            int e;
            (void)frexp(mi, &e);
            const int kp = e - (T_MAX_EXP - 1);
            const double ms = ldexp(mi, -kp), rs = ldexp(ri, -kp);
            p = (T)ldexp(1.0, kp);
            a = (T)ldexp(base_scale, -kp);
            mm = (T)ms;
            rr = (T)((ms - (double)mm) + rs);
        }
        const T c = log ? FN(log_split_sum_in_base)(k, o) : (T)(1.0 / (k + o));
        passes[(mr != NULL) * 2 + log](xr, mr, yr, n, a, mm, rr, p, c, fill);
    }
}

/* The statistics of ncols columns of x[n][ld] (a non-last axis: each column
   a slice), vectorised across the contiguous columns as the cols kernel is:
   chunks of col_width(n) columns (their x in cache for the second pass), each
   column's max, its shift (wide: a[k], p[k], as col_chunk), then the split
   sums over blocks of PSM_COL_ROWS_LOG rows in T added in double as the
   cols kernel adds them (col_add_sums): a block's
   exponents into a tile, one call of the kernels' exp over the tile (GCC
   does not vectorise the exp inside the loop over columns: control flow),
   then its sums.  A column
   with a non-finite largest product (or a zero scale) is done apart
   (stats_nonfinite). */
static void FN(col_stats_chunk)(const T *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, T scale,
                                T sg, double *m, double *r, double *ones, double *others)
{
    T mx[PSM_COLS], a[PSM_COLS], p[PSM_COLS], mm[PSM_COLS], rr[PSM_COLS], part[PSM_COLS],
        kb[PSM_COLS];
    T tile[PSM_COL_ROWS_LOG * PSM_COLS];   /* exponents, then terms, of a block of rows */
    double sum[PSM_COLS], comp[PSM_COLS], count[PSM_COLS];
    unsigned char odd[PSM_COLS];
    FN(colmax_impl)(x, n, ld, ncols, sg, mx);   /* a NaN that wins goes to stats_nonfinite */
    for (ptrdiff_t k = 0; k < ncols; k++) {
        const T xm = sg * mx[k];
        a[k] = scale, p[k] = 1, mm[k] = 0, rr[k] = 0;
        sum[k] = comp[k] = count[k] = 0;
        odd[k] = !isfinite(xm) || scale == 0;
        if (odd[k])
            FN(stats_nonfinite)(x + k, ld, NULL, n, scale, xm, m + k, r + k, ones + k,
                                others + k);
        else if (!FN(shift_of)(scale, xm, &mm[k], &rr[k])) {
            FN(wide_scale)(scale, xm, &a[k], &p[k]);
            (void)FN(shift_of)(a[k], xm, &mm[k], &rr[k]);
        }
    }
    for (ptrdiff_t i0 = 0; i0 < n; i0 += PSM_COL_ROWS_LOG) {
        const ptrdiff_t nr = n - i0 < PSM_COL_ROWS_LOG ? n - i0 : PSM_COL_ROWS_LOG;
        for (ptrdiff_t i = 0; i < nr; i++) {   /* the exponents of a block of rows */
            const T *xi = x + (i0 + i) * ld;
            T *ti = tile + i * ncols;
#pragma omp simd
            for (ptrdiff_t k = 0; k < ncols; k++)
                ti[k] = SHIFTED(a[k], xi[k], mm[k], rr[k]) * p[k];
        }
        FN(exp)(tile, tile, nr * ncols);       /* one vectorised exp (keeps NaN) */
        for (ptrdiff_t k = 0; k < ncols; k++)
            part[k] = kb[k] = 0;
        for (ptrdiff_t i = 0; i < nr; i++) {
            const T *ti = tile + i * ncols;
#pragma omp simd
            for (ptrdiff_t k = 0; k < ncols; k++) {
                const T e = ti[k];
                part[k] += e == 1 ? 0 : e;
                kb[k] += e == 1 ? 1 : 0;
            }
        }
        FN(col_add_sums)(part, kb, ncols, sum, comp, count, i0 == 0, 1);
    }
    for (ptrdiff_t k = 0; k < ncols; k++) {
        if (odd[k])
            continue;
        m[k] = (double)mm[k] * (double)p[k] * BASE_LOG;
        r[k] = (double)rr[k] * (double)p[k] * BASE_LOG;
        ones[k] = count[k];
        others[k] = sum[k] + comp[k];
    }
}

/* The statistics of columns [0, ncols) of x[n][ld] into m[k], r[k],
   ones[k], others[k] (as row_stats', one column a slice). */
static void FN(col_stats)(const T *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, T scale,
                          double *m, double *r, double *ones, double *others)
{
    const ptrdiff_t w = FN(col_width)(n);
    scale = (T)((double)scale / BASE_LOG);
    const T sg = FN(sign_of)(scale);
    for (ptrdiff_t k0 = 0; k0 < ncols; k0 += w)
        FN(col_stats_chunk)(x + k0, n, ld, ncols - k0 < w ? ncols - k0 : w, scale, sg, m + k0,
                            r + k0, ones + k0, others + k0);
}
