/*
 * support_body.h -- the kernels besides the forward softmax, written once and
 * included by kernels.c (after softmax_body.h, with the same T, EXP and FN)
 * for each (type, ISA) with the exact exp: the backward passes, and building
 * blocks for the strategies that do the rest with a vendor library.
 */

/* Backward passes of one row of n contiguous elements, given the forward
   output y and the gradient dy of the loss with respect to it:
     softmax:     out = y * (dy - sum(dy * y))
     log_softmax: out = dy - exp(y) * sum(dy)
   Sums as in the forward kernels: blocks in T, added in double with
   compensation.  out may be y or dy (each element is read before it is
   written).  Separate functions, so that each loop vectorizes. */
static __attribute__((noinline)) void FN(softmax_grad_row)(const T *y, const T *dy, T *out,
                                                           ptrdiff_t n)
{
    double sum = 0.0, comp = 0.0;
    for (ptrdiff_t j0 = 0; j0 < n; j0 += PSM_BLOCK) {
        const ptrdiff_t len = n - j0 < PSM_BLOCK ? n - j0 : PSM_BLOCK;
        T part = 0;
#pragma omp simd reduction(+:part)
        for (ptrdiff_t j = 0; j < len; j++)
            part += dy[j0 + j] * y[j0 + j];
        psm_neumaier_add(&sum, &comp, (double)part);
    }
    const T dot = (T)(sum + comp);   /* sum(dy * y) */
#pragma omp simd
    for (ptrdiff_t j = 0; j < n; j++)
        out[j] = y[j] * (dy[j] - dot);
}

/* EXP is only for arguments <= 0, which log-probabilities are; a row with a
   larger (or NaN) y takes the C library's exp instead. */
static __attribute__((noinline)) void FN(log_softmax_grad_row)(const T *y, const T *dy, T *out,
                                                               ptrdiff_t n)
{
    double sum = 0.0, comp = 0.0;
    T top = y[0];
    for (ptrdiff_t j0 = 0; j0 < n; j0 += PSM_BLOCK) {
        const ptrdiff_t len = n - j0 < PSM_BLOCK ? n - j0 : PSM_BLOCK;
        T part = 0;
#pragma omp simd reduction(+:part) reduction(max:top)
        for (ptrdiff_t j = 0; j < len; j++) {
            part += dy[j0 + j];
            top = y[j0 + j] > top ? y[j0 + j] : top;
        }
        psm_neumaier_add(&sum, &comp, (double)part);
    }
    const T dy_sum = (T)(sum + comp);
    if (top <= 0) {
#pragma omp simd
        for (ptrdiff_t j = 0; j < n; j++)
            out[j] = dy[j] - EXP(y[j]) * dy_sum;
    } else {
        for (ptrdiff_t j = 0; j < n; j++)
            out[j] = dy[j] - (T)exp((double)y[j]) * dy_sum;
    }
}

/* Rows [0, rows) of y, dy (row strides ldy, lddy) -> out (row stride ldo). */
static void FN(grad_rows)(const T *y, ptrdiff_t ldy, const T *dy, ptrdiff_t lddy, T *out,
                          ptrdiff_t ldo, ptrdiff_t rows, ptrdiff_t n, int log)
{
    for (ptrdiff_t r = 0; r < rows; r++) {
        if (log)
            FN(log_softmax_grad_row)(y + r * ldy, dy + r * lddy, out + r * ldo, n);
        else
            FN(softmax_grad_row)(y + r * ldy, dy + r * lddy, out + r * ldo, n);
    }
}

/* Building blocks for strategies that do the rest with a vendor library. */
static T FN(max)(const T *x, ptrdiff_t n) { return FN(row_max)(x, n, 1); }   /* IN x[n], n >= 1 */

static void FN(colmax)(const T *x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, T *m)
{
    FN(colmax_impl)(x, n, ld, ncols, 1, m);
}

static void FN(shift)(const T *x, T *y, ptrdiff_t n, T c)   /* y = x - c; y may be x */
{
#pragma omp simd
    for (ptrdiff_t j = 0; j < n; j++)
        y[j] = x[j] - c;
}

/* log of the sum of e[n], the exp of a row: accurate when the sum is close
   to 1 (see psm_log_split_sum), which a plain sum in T is not. */
static double FN(log_row_sum)(const T *e, ptrdiff_t n)
{
    double ones, others = FN(split_sum)(e, n, &ones);
    return psm_log_split_sum(ones, others);
}

/* The sums of the ncols <= PSM_COLS columns of e[n][ld] (a column's stored
   exp), in double, split: others[k] and ones[k], the count of the terms
   equal to 1 (psm_log_split_sum takes its log). */
static __attribute__((noinline)) void FN(col_split_sums)(const T *e, ptrdiff_t n, ptrdiff_t ld,
                                                         ptrdiff_t ncols, double *others,
                                                         double *ones)
{
    for (ptrdiff_t k = 0; k < ncols; k++)
        others[k] = ones[k] = 0.0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const T *ei = e + i * ld;
#pragma omp simd
        for (ptrdiff_t k = 0; k < ncols; k++) {
            others[k] += ei[k] == 1 ? 0.0 : (double)ei[k];
            ones[k] += ei[k] == 1 ? 1.0 : 0.0;
        }
    }
}

/* c[k] = log of the sum of column k of e[n][ld], for k < ncols; as
   log_row_sum, with sums in double (col_split_sums). */
static void FN(log_col_sums)(const T *e, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t ncols, T *c)
{
    for (ptrdiff_t k0 = 0; k0 < ncols; k0 += PSM_COLS) {
        const ptrdiff_t nchunk = ncols - k0 < PSM_COLS ? ncols - k0 : PSM_COLS;
        double others[PSM_COLS], ones[PSM_COLS];
        FN(col_split_sums)(e + k0, n, ld, nchunk, others, ones);
        for (ptrdiff_t k = 0; k < nchunk; k++)
            c[k0 + k] = (T)psm_log_split_sum(ones[k], others[k]);
    }
}

/* The rows of x (row stride ldx) holding a NaN or +inf: returns how many, and
   sets flags[r] to 1 for them and 0 for the others; with flags NULL it
   stops at the first (returns 0 or 1).  For strategies whose library gets
   such rows wrong.  (-fno-trapping-math: the unordered compare vectorizes.) */
static ptrdiff_t FN(nonfinite_rows)(const T *x, ptrdiff_t ldx, ptrdiff_t rows, ptrdiff_t n,
                                    unsigned char *flags)   /* IN x[rows][ldx], OUT flags[rows] */
{
    ptrdiff_t count = 0;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const T *xr = x + r * ldx;
        int bad_bits = 0;   /* all ones per bad element: one OR with the compare's
                               mask (measured 1.7x faster than !(x < inf) with AVX2) */
#pragma omp simd reduction(|:bad_bits)
        for (ptrdiff_t j = 0; j < n; j++)
            bad_bits |= xr[j] < (T)INFINITY ? 0 : -1;
        const int bad = bad_bits != 0;
        count += bad;
        if (flags != NULL)
            flags[r] = (unsigned char)bad;
        else if (bad)
            break;
    }
    return count;
}

/* out[i] = the log of the sum of row i's terms from its statistics
   (slices_body.h): m + (r + log(ones + others)), log(ones) + log1p(others /
   ones) in effect: in the float instantiation, log(w) + err/w with w = ones
   + others rounded and err its rounding error (col_log, branch-free, so that
   the loop vectorises; 1e-15 relative, ample for float64 results too: the
   Python layer calls this instantiation for both); +inf for a +inf max, -inf
   for only -inf or nothing selected (ones = 0), NaN for a NaN.  Rows that are
   not plain (ones < 1, m not finite, others NaN) take libm's formula. */
static void FN(log_sums)(const double *m, const double *r, const double *ones,
                         const double *others, ptrdiff_t rows, double *out)
{
    int odd = 1;
#if T_MAX_EXP == 128
    odd = 0;
#pragma omp simd reduction(|:odd)
    for (ptrdiff_t i = 0; i < rows; i++) {
        const double k = ones[i], o = others[i], w = k + o;
        const double err = k >= o ? (k - w) + o : (o - w) + k;
        out[i] = m[i] + (r[i] + (FN(col_log)(w) + err / w));
        odd |= !(k >= 1) || !(m[i] - m[i] == 0) || o != o;
    }
#endif
    if (!odd)
        return;
    for (ptrdiff_t i = 0; i < rows; i++) {
        const double k = ones[i], o = others[i];
        if (T_MAX_EXP == 128 && k >= 1 && m[i] - m[i] == 0 && o == o)
            continue;   /* done by the vectorised loop */
        if (o != o)
            out[i] = o;
        else if (isinf(m[i]))
            out[i] = m[i];
        else
            out[i] = m[i] + (r[i] + psm_log_split_sum(k, o));
    }
}
