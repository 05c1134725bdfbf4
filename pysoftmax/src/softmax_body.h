/*
 * softmax_body.h -- the softmax kernels, written once and included by
 * kernels.c for each (type, ISA) pair.  Before including, define:
 *   T        float or double
 *   EXP      psm_expf or psm_exp (psm_exp.h)
 *   FN(name) the name of a function for this (type, ISA), e.g. name##_f32_avx2
 *
 * Design: two kernel shapes cover every call (the Python layer reshapes or
 * copies into one of them).
 *   rows kernel  rows of n contiguous elements: per row, max; exp(x - max)
 *                stored (softmax) and summed; scale by 1/sum (softmax) or
 *                subtract log(sum) (log_softmax).  Software pipelined across
 *                rows: the exp pass of a row also takes the max of the next
 *                and finishes the previous one (see fused_pass).  Rows of at
 *                most PSM_SHORT elements go in tiles instead (short_rows).
 *   cols kernel  x[n][ld], w <= PSM_COLS columns of a non-last-axis problem
 *                (outer, n, inner): the same three passes, vectorised across
 *                the contiguous columns instead of transposing.
 * Sums are OpenMP SIMD reductions over blocks of PSM_BLOCK elements, whose
 * partial sums are added in double with compensation: accurate for any n, and
 * a row's result depends only on the instruction set, not on its address, the
 * thread count or the caller's layout (tests/test_layout.py checks this).
 * In-place calls (y == x) are safe: each pass reads x[j] before writing y[j],
 * and a pass touches the three rows r-1, r, r+1 at the same index only.
 */

/* max over x[0..n), n >= 1.  A NaN may or may not win; it reaches the result
   anyway through exp(NaN - m) in the sum. */
PSM_INLINE T FN(row_max)(const T *x, Py_ssize_t n)   /* IN x[n] */
{
    T m = x[0];
#pragma omp simd reduction(max:m)
    for (Py_ssize_t j = 0; j < n; j++)
        m = x[j] > m ? x[j] : m;
    return m;
}

/* One pass over row r of a chunk, the heart of the row kernels:
     e = exp(x[j] - m), stored to y[j] (softmax) and summed;
     if next: the max of the next row, xn[j], is folded into *mn;
     if prev: the previous row is finished: yp[j] *= cp (softmax) or
              yp[j] = (xp[j] - mp) - cp (log_softmax, cp = log of its sum).
   The exp has a long dependency chain; the other two streams are short
   independent operations that fill the issue slots it leaves idle, so the
   max and finishing passes cost almost nothing.  Sums: OpenMP SIMD
   reductions over blocks of PSM_BLOCK elements, added in double with
   Neumaier compensation.  next, prev and log are constants in each of the
   eight specialisations below. */
PSM_INLINE double FN(fused_pass)(const T *x, T *y, Py_ssize_t n, T m,
                                 const T *xn, T *mn, T *yp, const T *xp, T mp, T cp,
                                 const int next, const int prev, const int log)
{
    double sum = 0.0, comp = 0.0;
    T mx = *mn;
    for (Py_ssize_t j0 = 0; j0 < n; j0 += PSM_BLOCK) {
        const Py_ssize_t len = n - j0 < PSM_BLOCK ? n - j0 : PSM_BLOCK;
        const T *xb = x + j0, *xnb = xn + j0, *xpb = xp + j0;
        T *yb = y + j0, *ypb = yp + j0;
        T part = 0;
#pragma omp simd reduction(+:part) reduction(max:mx)
        for (Py_ssize_t j = 0; j < len; j++) {
            T e = EXP(xb[j] - m);
            if (!log) yb[j] = e;
            part += e;
            if (next) mx = xnb[j] > mx ? xnb[j] : mx;
            if (prev) {
                if (!log) ypb[j] *= cp;
                else ypb[j] = (xpb[j] - mp) - cp;
            }
        }
        psm_neumaier_add(&sum, &comp, (double)part);
    }
    *mn = mx;
    return sum + comp;
}

/* The finishing pass of a row on its own: y = e * c (softmax; e the row's
   exp, which may be y itself) or y = (x - m) - c (log_softmax; c the log of
   the sum).  src is e for softmax, x for log_softmax. */
PSM_INLINE void FN(finish)(T *y, const T *src, Py_ssize_t n, T m, T c, const int log)
{
    if (!log) {
#pragma omp simd
        for (Py_ssize_t j = 0; j < n; j++)
            y[j] = src[j] * c;
    } else {
#pragma omp simd
        for (Py_ssize_t j = 0; j < n; j++)
            y[j] = (src[j] - m) - c;
    }
}

/* y = exp(x) elementwise with EXP (y may be x): the short-row kernel's exp
   pass, and the tests check EXP through it for each ISA. */
static __attribute__((noinline)) void FN(exp)(const T *x, T *y, Py_ssize_t n)   /* IN x[n], OUT y[n] */
{
#pragma omp simd
    for (Py_ssize_t j = 0; j < n; j++)
        y[j] = EXP(x[j]);
}

/* The eight specialisations of fused_pass, each its own function: inlined
   into one caller, GCC fails to vectorize some of them (measured: 4.5x
   slower); as separate functions all eight vectorize.  One call per row. */
#define PSM_PASS(nx, pv, lg)                                                       \
    static __attribute__((noinline)) double FN(pass_##nx##pv##lg)(                 \
        const T *x, T *y, Py_ssize_t n, T m, const T *xn, T *mn, T *yp,            \
        const T *xp, T mp, T cp)                                                   \
    {                                                                              \
        return FN(fused_pass)(x, y, n, m, xn, mn, yp, xp, mp, cp, nx, pv, lg);     \
    }
PSM_PASS(0, 0, 0) PSM_PASS(0, 0, 1) PSM_PASS(0, 1, 0) PSM_PASS(0, 1, 1)
PSM_PASS(1, 0, 0) PSM_PASS(1, 0, 1) PSM_PASS(1, 1, 0) PSM_PASS(1, 1, 1)
#undef PSM_PASS

/* Short rows (n <= PSM_SHORT), PSM_TILE rows at a time, in separate passes:
   each row's max and x - max into a scratch tile; one exp over the whole
   tile (full vectors, no per-row loop ends); each row's sum; finish.  The
   rows of a tile are independent, so the per-row reductions overlap instead
   of forming one chain as in the pipelined kernel.  A row's result depends
   only on its own elements. */
static void FN(short_rows)(const T *x, Py_ssize_t ldx, T *y, Py_ssize_t ldy,
                           Py_ssize_t rows, Py_ssize_t n, int log)   /* IN x[rows][ldx], OUT y[rows][ldy] */
{
    T e[PSM_TILE * PSM_SHORT], m[PSM_TILE], c[PSM_TILE];
    for (Py_ssize_t r0 = 0; r0 < rows; r0 += PSM_TILE) {
        const Py_ssize_t nr = rows - r0 < PSM_TILE ? rows - r0 : PSM_TILE;
        const T *xt = x + r0 * ldx;
        T *yt = y + r0 * ldy;
        for (Py_ssize_t r = 0; r < nr; r++) {
            const T *xr = xt + r * ldx;
            T *er = e + r * n;
            const T mr = FN(row_max)(xr, n);
#pragma omp simd
            for (Py_ssize_t j = 0; j < n; j++)
                er[j] = xr[j] - mr;
            m[r] = mr;
        }
        FN(exp)(e, e, nr * n);
        for (Py_ssize_t r = 0; r < nr; r++) {
            const T *er = e + r * n;
            T s = 0;
#pragma omp simd reduction(+:s)
            for (Py_ssize_t j = 0; j < n; j++)
                s += er[j];
            c[r] = log ? (T)psm_log((double)s) : (T)(1.0 / (double)s);
        }
        for (Py_ssize_t r = 0; r < nr; r++)
            FN(finish)(yt + r * ldy, log ? xt + r * ldx : e + r * n, n, m[r], c[r], log);
    }
}

/* Rows [0, rows) of x (row stride ldx) -> y (row stride ldy), software
   pipelined: the pass that exponentiates row r also finds the max of row r+1
   and finishes row r-1.  Every row goes through the same sequence of
   operations, so its result does not depend on where a chunk starts. */
static void FN(rows)(const T *x, Py_ssize_t ldx, T *y, Py_ssize_t ldy,
                     Py_ssize_t rows, Py_ssize_t n, int log)   /* IN x[rows][ldx], OUT y[rows][ldy] */
{
    typedef double (*pass_t)(const T *, T *, Py_ssize_t, T, const T *, T *, T *, const T *, T, T);
    static const pass_t passes[8] = {   /* index: next * 4 + prev * 2 + log */
        FN(pass_000), FN(pass_001), FN(pass_010), FN(pass_011),
        FN(pass_100), FN(pass_101), FN(pass_110), FN(pass_111)};
    log = log != 0;
    if (n <= PSM_SHORT) {
        FN(short_rows)(x, ldx, y, ldy, rows, n, log);
        return;
    }
    T m = FN(row_max)(x, n), mp = 0, cp = 0;
    for (Py_ssize_t r = 0; r < rows; r++) {
        const int next = r + 1 < rows, prev = r > 0;
        const T *xr = x + r * ldx, *xn = next ? xr + ldx : xr, *xp = prev ? xr - ldx : xr;
        T *yr = y + r * ldy, *yp = prev ? yr - ldy : yr;
        T mn = next ? xn[0] : 0;
        double s = passes[next * 4 + prev * 2 + log](xr, yr, n, m, xn, &mn, yp, xp, mp, cp);
        mp = m;
        cp = log ? (T)psm_log(s) : (T)(1.0 / s);
        m = mn;
    }
    FN(finish)(y + (rows - 1) * ldy, log ? x + (rows - 1) * ldx : y + (rows - 1) * ldy, n, mp, cp, log);
}

/* m[k] = max over i of x[i*ld + k], for the w columns k of an (n, ld) block. */
PSM_INLINE void FN(colmax_impl)(const T *x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w,
                                T *m)   /* IN x[n][ld], OUT m[w] */
{
    for (Py_ssize_t k = 0; k < w; k++)
        m[k] = x[k];
    for (Py_ssize_t i = 1; i < n; i++) {
        const T *xi = x + i * ld;
#pragma omp simd
        for (Py_ssize_t k = 0; k < w; k++)
            m[k] = xi[k] > m[k] ? xi[k] : m[k];
    }
}

/* w <= PSM_COLS columns of an (n, ld) block: the softmax of each column.
   Sums run in T over blocks of PSM_COL_BLOCK rows (the exp loop stays at the
   full vector width of T), then are added in double with compensation. */
#define PSM_COL_BLOCK 64
PSM_INLINE void FN(cols_impl)(const T *x, T *y, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w,
                              const int log)   /* IN x[n][ld], OUT y[n][ld], columns [0, w) */
{
    T m[PSM_COLS], c[PSM_COLS], part[PSM_COLS];
    double sum[PSM_COLS], comp[PSM_COLS];

    FN(colmax_impl)(x, n, ld, w, m);
    for (Py_ssize_t k = 0; k < w; k++)
        sum[k] = comp[k] = 0.0;
    for (Py_ssize_t i0 = 0; i0 < n; i0 += PSM_COL_BLOCK) {
        const Py_ssize_t i1 = n - i0 < PSM_COL_BLOCK ? n : i0 + PSM_COL_BLOCK;
        for (Py_ssize_t k = 0; k < w; k++)
            part[k] = 0;
        for (Py_ssize_t i = i0; i < i1; i++) {
            const T *xi = x + i * ld;
            T *yi = y + i * ld;
#pragma omp simd
            for (Py_ssize_t k = 0; k < w; k++) {
                T e = EXP(xi[k] - m[k]);
                if (!log) yi[k] = e;
                part[k] += e;
            }
        }
        for (Py_ssize_t k = 0; k < w; k++)
            psm_neumaier_add(&sum[k], &comp[k], (double)part[k]);
    }
    for (Py_ssize_t k = 0; k < w; k++)
        c[k] = log ? (T)psm_log(sum[k] + comp[k]) : (T)(1.0 / (sum[k] + comp[k]));
    for (Py_ssize_t i = 0; i < n; i++) {
        const T *xi = x + i * ld;
        T *yi = y + i * ld;
        if (!log) {
#pragma omp simd
            for (Py_ssize_t k = 0; k < w; k++)
                yi[k] *= c[k];
        } else {
#pragma omp simd
            for (Py_ssize_t k = 0; k < w; k++)
                yi[k] = (xi[k] - m[k]) - c[k];
        }
    }
}
#undef PSM_COL_BLOCK

/* Two specialisations, so that no loop keeps a run-time `log` test (GCC
   left one instantiation unvectorized when it did). */
static __attribute__((noinline)) void FN(cols_softmax)(const T *x, T *y, Py_ssize_t n,
                                                       Py_ssize_t ld, Py_ssize_t w)
{
    FN(cols_impl)(x, y, n, ld, w, 0);
}

static __attribute__((noinline)) void FN(cols_log_softmax)(const T *x, T *y, Py_ssize_t n,
                                                           Py_ssize_t ld, Py_ssize_t w)
{
    FN(cols_impl)(x, y, n, ld, w, 1);
}

static void FN(cols)(const T *x, T *y, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, int log)
{
    if (log)
        FN(cols_log_softmax)(x, y, n, ld, w);
    else
        FN(cols_softmax)(x, y, n, ld, w);
}


/* Building blocks for strategies that do the rest with a vendor library. */
static T FN(max)(const T *x, Py_ssize_t n) { return FN(row_max)(x, n); }   /* IN x[n], n >= 1 */

static void FN(colmax)(const T *x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w, T *m)
{
    FN(colmax_impl)(x, n, ld, w, m);
}

static void FN(shift)(const T *x, T *y, Py_ssize_t n, T c)   /* y = x - c; y may be x */
{
#pragma omp simd
    for (Py_ssize_t j = 0; j < n; j++)
        y[j] = x[j] - c;
}
