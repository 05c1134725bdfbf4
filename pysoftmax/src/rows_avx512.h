/*
 * rows_avx512.h -- the rows kernel for float rows of at most PSM_REG_ROW
 * elements (exact exp) with AVX-512 intrinsics (softmax_body.h includes it
 * in the AVX-512 instantiation of the exact-exp float kernels, with the same
 * T, FN, SHIFTED and EXACT_PRODUCTS as the rest of the body).
 *
 * Why: a short row costs little work but much overhead in the C kernels
 * (vector loops with scalar tails and horizontal reductions per row, a
 * chain from one row to the next).  Here a row is 512-bit vectors, its last
 * one masked (no scalar tail), in three passes over the row while it is in
 * L1 (max; exp stored and summed; finish), and rows are independent, so the
 * out-of-order core overlaps one row's reductions with the next row's work.
 * Rows longer than PSM_REG_ROW (beyond L1) take the pipelined driver of
 * the C kernel, which reads them from L2 fewer times, with its fused pass
 * in intrinsics (reg_fused_pass).
 *
 * The exp is psm_expf's (the same reduction and polynomial, evaluated with
 * Horner's scheme), with 2^k applied by vscalefps: exact for normal
 * results, correctly rounded gradual underflow below, and a NaN argument
 * stays NaN (so a row with a NaN
 * or +inf sums to NaN, with no separate test).  -inf, and arguments below
 * -104 (whose exp rounds to 0), give +0 through the mask of a compare that
 * lets NaN through.  Accuracy: at most 2 ulp like psm_expf
 * (tests/test_exp.py checks this exp through the `exp` kernel: FN(exp)
 * uses it for the AVX-512 float kernels).  The numerics of a row are those of
 * the C kernels: sums in float lanes over blocks of 64 terms a lane, the
 * blocks added in double lanes; a softmax row summed again in double
 * (resum) below PSM_RESUM_SHORT (rows of at most 16 terms a lane) or
 * PSM_RESUM; log sums split below PSM_NEAR_ONE.
 */
#ifndef PSM_REG_ROW
#define PSM_REG_ROW 8192   /* longer rows: the pipelined driver, reg_fused_pass */
#endif
#define PSM_REG_BLOCK 1024   /* floats summed in float lanes (64 a lane) before double */

/* exp(d), d <= 0 or -inf or NaN, 16 lanes. */
PSM_INLINE __m512 FN(exp16)(__m512 d)
{
    const __m512 log2e = _mm512_set1_ps(1.44269502162933349609375f);
    const __m512 shifter = _mm512_set1_ps(12582912.0f);            /* 1.5 * 2^23 */
    const __m512 t = _mm512_fmadd_ps(d, log2e, shifter);
    const __m512 kf = _mm512_sub_ps(t, shifter);                     /* round(d * log2e) */
    __m512 r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(0.693359375f), d);
    r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(-2.12194440e-4f), r);
    /* Horner's scheme: one instruction fewer than Estrin's, and the rows'
       independent vectors hide its longer chain */
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0.008312518708407879f), r,
                               _mm512_set1_ps(0.041890114545822144f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.16667114198207855f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.499992311000824f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    const __mmask16 keep = _mm512_cmp_ps_mask(d, _mm512_set1_ps(-104.0f), _CMP_NLT_UQ);
    return _mm512_maskz_scalef_ps(keep, p, kf);
}

/* The 16 float lanes of v added to the 2 x 8 double lanes of lo, hi. */
PSM_INLINE void FN(add_to_double)(__m512 v, __m512d *lo, __m512d *hi)
{
    *lo = _mm512_add_pd(*lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    *hi = _mm512_add_pd(*hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

/* The exponents of 16 elements: SHIFTED(scale, x, m, r) as the C kernels
   compute it (exact: the fused product less m, then less r). */
PSM_INLINE __m512 FN(shifted16)(__m512 x, __m512 scale, __m512 m, __m512 r)
{
    const __m512 d = _mm512_fmsub_ps(scale, x, m);
    return EXACT_PRODUCTS ? _mm512_sub_ps(d, r) : d;
}

/* e = exp(SHIFTED(scale, x, m, r)) of the 16 floats at x, stored to y
   (softmax) or not (log). */
PSM_INLINE __m512 FN(exp_store16)(const float *x, float *y, __m512 scale, __m512 m, __m512 r,
                                  int log)
{
    const __m512 e = FN(exp16)(FN(shifted16)(_mm512_loadu_ps(x), scale, m, r));
    if (!log)
        _mm512_storeu_ps(y, e);
    return e;
}

/* The sum of exp_store16 over the full vectors of [j0, j1) of a row. */
PSM_INLINE __m512 FN(reg_exp_sum)(const float *xr, float *yr, ptrdiff_t j0, ptrdiff_t j1,
                                  __m512 scale, __m512 m, __m512 r, int log)
{
    __m512 sum = _mm512_setzero_ps();
    for (ptrdiff_t j = j0; j < j1; j += 16)
        sum = _mm512_add_ps(sum, FN(exp_store16)(xr + j, yr + j, scale, m, r, log));
    return sum;
}

/* The element of a row (full floats, then the lanes tail of a vector) with
   the largest product with the scale: its max, or its min if neg (a NaN may
   or may not win, as in row_max). */
PSM_INLINE float FN(reg_row_xm)(const float *xr, ptrdiff_t full, __mmask16 tail, int neg)
{
    if (!neg) {
        __m512 v = _mm512_set1_ps(-INFINITY);
        for (ptrdiff_t j = 0; j < full; j += 16)
            v = _mm512_max_ps(v, _mm512_loadu_ps(xr + j));
        if (tail)
            v = _mm512_mask_max_ps(v, tail, v, _mm512_maskz_loadu_ps(tail, xr + full));
        return _mm512_reduce_max_ps(v);
    }
    __m512 v = _mm512_set1_ps(INFINITY);
    for (ptrdiff_t j = 0; j < full; j += 16)
        v = _mm512_min_ps(v, _mm512_loadu_ps(xr + j));
    if (tail)
        v = _mm512_mask_min_ps(v, tail, v, _mm512_maskz_loadu_ps(tail, xr + full));
    return _mm512_reduce_min_ps(v);
}

/* Rows of n <= PSM_REG_ROW floats (see the top of this file); the arguments
   are those of FN(rows). */
static void FN(reg_rows)(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy,
                         ptrdiff_t rows, ptrdiff_t n, float scale, int log)   /* IN x[rows][ldx], OUT y[rows][ldy] */
{
    const ptrdiff_t full = n & ~(ptrdiff_t)15;
    const __mmask16 tail = (__mmask16)((1u << (n & 15)) - 1);
    const __m512 vscale = _mm512_set1_ps(scale);
    for (ptrdiff_t i = 0; i < rows; i++) {
        const float *xr = x + i * ldx;
        float *yr = y + i * ldy;
        const float xm = FN(reg_row_xm)(xr, full, tail, scale < 0);
        float m, r;
        if (!FN(shift_of)(scale, xm, &m, &r)) {
            FN(wide_row)(xr, yr, n, scale, xm, log);
            continue;
        }
        const __m512 vm = _mm512_set1_ps(m), vr = _mm512_set1_ps(r);
        __m512 vsum = FN(reg_exp_sum)(xr, yr, 0, full < PSM_REG_BLOCK ? full : PSM_REG_BLOCK,
                                      vscale, vm, vr, log);
        if (tail) {
            const __m512 e = FN(exp16)(
                FN(shifted16)(_mm512_maskz_loadu_ps(tail, xr + full), vscale, vm, vr));
            if (!log)
                _mm512_mask_storeu_ps(yr + full, tail, e);
            vsum = _mm512_mask_add_ps(vsum, tail, vsum, e);
        }
        double sum;
        if (full <= PSM_REG_BLOCK) {    /* one block: summed in float lanes */
            sum = _mm512_reduce_add_ps(vsum);
        } else {                        /* blocks, each added in double lanes */
            __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
            FN(add_to_double)(vsum, &lo, &hi);
            for (ptrdiff_t j0 = PSM_REG_BLOCK; j0 < full; j0 += PSM_REG_BLOCK) {
                const ptrdiff_t j1 = full - j0 < PSM_REG_BLOCK ? full : j0 + PSM_REG_BLOCK;
                FN(add_to_double)(FN(reg_exp_sum)(xr, yr, j0, j1, vscale, vm, vr, log), &lo, &hi);
            }
            sum = _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
        }
        if (!log) {
            /* at most 16 terms a lane, or 64 (softmax_body.h: resum) */
            const double resum_below = n <= 16 * 16 ? PSM_RESUM_SHORT : PSM_RESUM;
            const __m512 c = _mm512_set1_ps(
                (float)(1.0 / (sum < resum_below ? FN(resum)(yr, n) : sum)));
            for (ptrdiff_t j = 0; j < full; j += 16)
                _mm512_storeu_ps(yr + j, _mm512_mul_ps(_mm512_loadu_ps(yr + j), c));
            if (tail)
                _mm512_mask_storeu_ps(yr + full, tail,
                                      _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, yr + full), c));
        } else {
            float cl;
            if (sum < PSM_NEAR_ONE) {
                double ones, others = FN(split_exp_sum)(xr, n, scale, m, r, &ones);
                cl = FN(log_split_sum_in_base)(ones, others);
            } else {
                cl = FN(log_split_sum_in_base)(0, sum);
            }
            const __m512 c = _mm512_set1_ps(cl);
            for (ptrdiff_t j = 0; j < full; j += 16)
                _mm512_storeu_ps(yr + j, _mm512_sub_ps(FN(shifted16)(_mm512_loadu_ps(xr + j),
                                                                     vscale, vm, vr), c));
            if (tail)
                _mm512_mask_storeu_ps(
                    yr + full, tail,
                    _mm512_sub_ps(FN(shifted16)(_mm512_maskz_loadu_ps(tail, xr + full), vscale,
                                                vm, vr), c));
        }
    }
}

/* y = exp(x), n elements (the `exp` kernel of this instantiation, which the
   tests check). */
static void FN(exp_avx512)(const float *x, float *y, ptrdiff_t n)   /* IN x[n], OUT y[n] */
{
    const ptrdiff_t full = n & ~(ptrdiff_t)15;
    const __mmask16 tail = (__mmask16)((1u << (n & 15)) - 1);
    for (ptrdiff_t j = 0; j < full; j += 16)
        _mm512_storeu_ps(y + j, FN(exp16)(_mm512_loadu_ps(x + j)));
    if (tail)
        _mm512_mask_storeu_ps(y + full, tail, FN(exp16)(_mm512_maskz_loadu_ps(tail, x + full)));
}

/* fused_pass (softmax_body.h) for rows longer than PSM_REG_ROW, the same
   work in intrinsics: row i's exp, stored (softmax) and summed (blocks of
   PSM_REG_BLOCK in float lanes, added in double lanes); if next, the max of
   sg*xn folded into *mn (the max, or the negated min, of xn: no multiply);
   if prev, row i-1 finished.  A NaN or +inf in the row makes the sum NaN
   (exp16 keeps NaN). */
static double FN(reg_fused_pass)(const float *x, float *y, ptrdiff_t n, float scale, float m,
                                 float r, float sg, const float *xn, float *mn, float *yp,
                                 const float *xp, float mp, float rp, float cp, int next,
                                 int prev, int log)
{
    const ptrdiff_t full = n & ~(ptrdiff_t)15;
    const __mmask16 tail = (__mmask16)((1u << (n & 15)) - 1);
    const __m512 vscale = _mm512_set1_ps(scale), vm = _mm512_set1_ps(m), vr = _mm512_set1_ps(r);
    const __m512 vmp = _mm512_set1_ps(mp), vrp = _mm512_set1_ps(rp), vcp = _mm512_set1_ps(cp);
    const int neg = sg < 0;
    __m512 vx = _mm512_set1_ps(neg ? INFINITY : -INFINITY);   /* max, or min, of xn */
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (ptrdiff_t j0 = 0; j0 < full; j0 += PSM_REG_BLOCK) {
        const ptrdiff_t j1 = full - j0 < PSM_REG_BLOCK ? full : j0 + PSM_REG_BLOCK;
        __m512 vsum = _mm512_setzero_ps();
        for (ptrdiff_t j = j0; j < j1; j += 16) {
            vsum = _mm512_add_ps(vsum, FN(exp_store16)(x + j, y + j, vscale, vm, vr, log));
            if (next) {
                const __m512 v = _mm512_loadu_ps(xn + j);
                vx = neg ? _mm512_min_ps(vx, v) : _mm512_max_ps(vx, v);
            }
            if (prev)
                _mm512_storeu_ps(yp + j, log ? _mm512_sub_ps(FN(shifted16)(_mm512_loadu_ps(xp + j),
                                                                        vscale, vmp, vrp), vcp)
                                             : _mm512_mul_ps(_mm512_loadu_ps(yp + j), vcp));
        }
        FN(add_to_double)(vsum, &lo, &hi);
    }
    if (tail) {
        const __m512 e = FN(exp16)(
            FN(shifted16)(_mm512_maskz_loadu_ps(tail, x + full), vscale, vm, vr));
        if (!log)
            _mm512_mask_storeu_ps(y + full, tail, e);
        FN(add_to_double)(_mm512_maskz_mov_ps(tail, e), &lo, &hi);
        if (next) {
            const __m512 v = _mm512_maskz_loadu_ps(tail, xn + full);
            vx = neg ? _mm512_mask_min_ps(vx, tail, vx, v) : _mm512_mask_max_ps(vx, tail, vx, v);
        }
        if (prev)
            _mm512_mask_storeu_ps(
                yp + full, tail,
                log ? _mm512_sub_ps(FN(shifted16)(_mm512_maskz_loadu_ps(tail, xp + full), vscale,
                                                  vmp, vrp), vcp)
                    : _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, yp + full), vcp));
    }
    if (next) {
        const float v = neg ? -_mm512_reduce_min_ps(vx) : _mm512_reduce_max_ps(vx);
        *mn = v > *mn ? v : *mn;
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}
