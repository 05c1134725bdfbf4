/*
 * softmax_body.h -- the softmax kernels, written once and included by
 * kernels.c for each (type, ISA) pair.  Before including, define:
 *   T        float or double
 *   EXP      psm_expf or psm_exp (psm_exp.h)
 *   FN(name) the name of a function for this (type, ISA), e.g. name##_f32_avx2
 *
 * Design: two kernel shapes cover every call (the Python layer reshapes or
 * copies into one of them).
 *   row kernel   x[n] contiguous, one row: three passes over the row while it
 *                is in cache: max; exp(x - max) stored (softmax) and summed;
 *                scale by 1/sum (softmax) or subtract log(sum) (log_softmax).
 *   cols kernel  x[n][ld], w <= PSM_COLS columns of a non-last-axis problem
 *                (outer, n, inner): the same three passes, vectorised across
 *                the contiguous columns instead of transposing.
 * Sums are OpenMP SIMD reductions over blocks of PSM_BLOCK elements, whose
 * partial sums are added in double with compensation: accurate for any n, and
 * a row's result depends only on the instruction set, not on its address, the
 * thread count or the caller's layout (tests/test_layout.py checks this).
 * In-place calls (y == x) are safe: each pass reads x[j] before writing y[j].
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

/* sum of exp(x[j] - m) over x[0..n), also stored to y[j] when store != 0.
   Each block of PSM_BLOCK terms is summed in T by an OpenMP SIMD reduction
   (the order depends only on the vector width); the blocks are added in
   double with Neumaier compensation. */
PSM_INLINE double FN(exp_sum)(const T *x, T *y, Py_ssize_t n, T m, const int store)
{
    double sum = 0.0, comp = 0.0;
    for (Py_ssize_t j0 = 0; j0 < n; j0 += PSM_BLOCK) {
        const Py_ssize_t len = n - j0 < PSM_BLOCK ? n - j0 : PSM_BLOCK;
        const T *xb = x + j0;
        T *yb = y + j0;
        T part = 0;
#pragma omp simd reduction(+:part)
        for (Py_ssize_t j = 0; j < len; j++) {
            T e = EXP(xb[j] - m);
            if (store) yb[j] = e;
            part += e;
        }
        psm_neumaier_add(&sum, &comp, (double)part);
    }
    return sum + comp;
}

/* One row: y = softmax(x) or log_softmax(x). */
static void FN(row)(const T *x, T *y, Py_ssize_t n, int log)   /* IN x[n], OUT y[n] */
{
    const T m = FN(row_max)(x, n);
    if (!log) {
        const T c = (T)(1.0 / FN(exp_sum)(x, y, n, m, 1));
#pragma omp simd
        for (Py_ssize_t j = 0; j < n; j++)
            y[j] *= c;
    } else {
        const T lse = (T)psm_log(FN(exp_sum)(x, y, n, m, 0));
#pragma omp simd
        for (Py_ssize_t j = 0; j < n; j++)
            y[j] = (x[j] - m) - lse;
    }
}

/* w <= PSM_COLS columns of an (n, ld) block: the softmax of each column. */
static void FN(cols)(const T *x, T *y, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w,
                     int log)   /* IN x[n][ld], OUT y[n][ld], columns [0, w) */
{
    T m[PSM_COLS], c[PSM_COLS];
    double part[PSM_COLS], sum[PSM_COLS], comp[PSM_COLS];

    for (Py_ssize_t k = 0; k < w; k++) {
        m[k] = x[k];
        sum[k] = comp[k] = 0.0;
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        const T *xi = x + i * ld;
#pragma omp simd
        for (Py_ssize_t k = 0; k < w; k++)
            m[k] = xi[k] > m[k] ? xi[k] : m[k];
    }
    for (Py_ssize_t i0 = 0; i0 < n; i0 += PSM_BLOCK) {
        const Py_ssize_t i1 = n - i0 < PSM_BLOCK ? n : i0 + PSM_BLOCK;
        for (Py_ssize_t k = 0; k < w; k++)
            part[k] = 0.0;
        for (Py_ssize_t i = i0; i < i1; i++) {
            const T *xi = x + i * ld;
            T *yi = y + i * ld;
#pragma omp simd
            for (Py_ssize_t k = 0; k < w; k++) {
                T e = EXP(xi[k] - m[k]);
                if (!log) yi[k] = e;
                part[k] += (double)e;
            }
        }
        for (Py_ssize_t k = 0; k < w; k++)
            psm_neumaier_add(&sum[k], &comp[k], part[k]);
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


/* y = exp(x) elementwise with EXP, so the tests can check it for each ISA. */
static void FN(exp)(const T *x, T *y, Py_ssize_t n)   /* IN x[n], OUT y[n] */
{
#pragma omp simd
    for (Py_ssize_t j = 0; j < n; j++)
        y[j] = EXP(x[j]);
}
