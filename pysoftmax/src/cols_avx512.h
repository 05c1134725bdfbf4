/*
 * cols_avx512.h -- the cols kernel's passes for float columns (exact exp)
 * with AVX-512 intrinsics (softmax_body.h includes it in the AVX-512
 * instantiation of the exact-exp float kernels, after rows_avx512.h, whose
 * exp16, shifted16 and add_to_double it uses).
 *
 * The same passes as the C bodies (strip_impl, cols_impl, col_finish), in
 * the same order of operations, only with 16 columns a vector, up to 64 a
 * pass (4 vectors; a pass over fewer columns masks its last vectors, so
 * there is no scalar tail) and the exp of rows_avx512.h: the partial sums of
 * a block of rows, the max of the next strip and the accumulators of the
 * split sums live in registers for the whole pass.  Every pass of this
 * instantiation goes through these functions, whatever the route of a
 * column (pipelined strip or col_chunk, wide chunk or not), so a column's
 * bits still do not depend on the caller's split of the columns.
 */
#define PSM_REG_COLS 64   /* columns a pass: 4 vectors */
_Static_assert(PSM_STRIP == PSM_REG_COLS, "a strip is one pass of reg_col_pass");

/* The masks of the 4 vectors of a pass over ncols columns (>= 0). */
PSM_INLINE void FN(reg_col_masks)(ptrdiff_t ncols, __mmask16 mk[4])
{
    for (int v = 0; v < 4; v++) {
        const ptrdiff_t left = ncols - 16 * v;
        mk[v] = left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
    }
}

/* A column's exponent of 16 elements xv (see the cols kernel): a and p are
   those of a wide chunk (a = scale, p = 1 for its columns that are not
   wide: the same value). */
PSM_INLINE __m512 FN(col_exponent16)(__m512 xv, __m512 scale, __m512 a, __m512 p, __m512 m,
                                     __m512 r, const int wide, const int unit)
{
    if (wide)
        return _mm512_mul_ps(FN(shifted16)(xv, a, m, r), p);
    if (unit)
        return _mm512_sub_ps(xv, m);
    return FN(shifted16)(xv, scale, m, r);
}

/* One pass over the n rows of ncols <= 64 columns: x -> y exponentiated
   (stored if softmax) and summed into others, comp, ones (blocks of
   PSM_COL_ROWS or PSM_COL_ROWS_LOG rows in float lanes, then col_add_sums);
   if next, the max of sgn*xn folded into mn; if prev, xp -> yp finished
   with c (the pipelined strips: strip_impl's work). */
PSM_INLINE void FN(reg_col_pass)(const float *x, float *y, ptrdiff_t n, ptrdiff_t ld,
                                 ptrdiff_t ncols, float scale, float sgn, const float *a,
                                 const float *p, const float *m, const float *r,
                                 const float *xn, float *mn, const float *xp, float *yp,
                                 const float *mp, const float *rp, const float *c,
                                 double *others, double *comp, double *ones, const int next,
                                 const int prev, const int log, const int wide, const int unit)
{
    __mmask16 mk[4];
    __m512 vm[4], vr[4], va[4], vp[4], vmn[4], vmp[4], vrp[4], vc[4];
    const __m512 vscale = _mm512_set1_ps(scale), vsg = _mm512_set1_ps(sgn);
    const __m512 one = _mm512_set1_ps(1.0f);
    const ptrdiff_t rows = log ? PSM_COL_ROWS_LOG : PSM_COL_ROWS;
    float part[PSM_REG_COLS], kb[PSM_REG_COLS];

    FN(reg_col_masks)(ncols, mk);
    for (int v = 0; v < 4; v++) {
        vm[v] = _mm512_maskz_loadu_ps(mk[v], m + 16 * v);
        vr[v] = EXACT_PRODUCTS && !unit ? _mm512_maskz_loadu_ps(mk[v], r + 16 * v) : vm[v];
        va[v] = wide ? _mm512_maskz_loadu_ps(mk[v], a + 16 * v) : vscale;
        vp[v] = wide ? _mm512_maskz_loadu_ps(mk[v], p + 16 * v) : vscale;
        vmp[v] = prev ? _mm512_maskz_loadu_ps(mk[v], mp + 16 * v) : vscale;
        vrp[v] = prev && EXACT_PRODUCTS && !unit ? _mm512_maskz_loadu_ps(mk[v], rp + 16 * v)
                                                 : vscale;
        vc[v] = prev ? _mm512_maskz_loadu_ps(mk[v], c + 16 * v) : vscale;
    }
    for (ptrdiff_t i0 = 0; i0 < n; i0 += rows) {
        const ptrdiff_t i1 = n - i0 < rows ? n : i0 + rows;
        __m512 vpart[4], vkb[4];
        for (int v = 0; v < 4; v++) {
            vpart[v] = vkb[v] = _mm512_setzero_ps();
            /* the maxima are loaded and stored a block at a time: kept live across
               col_add_sums, the compiler spills them inside the loop over rows */
            vmn[v] = next ? _mm512_maskz_loadu_ps(mk[v], mn + 16 * v) : vscale;
        }
        for (ptrdiff_t i = i0; i < i1; i++) {
            const float *xi = x + i * ld, *xni = xn + i * ld, *xpi = xp + i * ld;
            float *yi = y + i * ld, *ypi = yp + i * ld;
            if (next)   /* the strips of the next pass (addresses as integers: they may
                           lie past the arrays, where a prefetch does nothing) */
                for (size_t l = PSM_STRIP * sizeof(float); l < 2 * PSM_STRIP * sizeof(float);
                     l += 64) {
                    __builtin_prefetch((const void *)((uintptr_t)xni + l), 0, 3);
                    __builtin_prefetch((const void *)((uintptr_t)yi + l), 1, 3);
                }
            for (int v = 0; v < 4; v++) {
                if (!mk[v])
                    continue;
                const __m512 d = FN(col_exponent16)(_mm512_maskz_loadu_ps(mk[v], xi + 16 * v),
                                                    vscale, va[v], vp[v], vm[v], vr[v], wide,
                                                    unit);
                const __m512 e = FN(exp16)(d);
                if (!log) {
                    _mm512_mask_storeu_ps(yi + 16 * v, mk[v], e);
                    vpart[v] = _mm512_add_ps(vpart[v], e);
                } else {   /* split sums: terms equal to 1 counted apart */
                    const __mmask16 eq = _mm512_cmp_ps_mask(e, one, _CMP_EQ_OQ);
                    vpart[v] = _mm512_mask_add_ps(vpart[v], (__mmask16)~eq, vpart[v], e);
                    vkb[v] = _mm512_mask_add_ps(vkb[v], eq, vkb[v], one);
                }
                if (next)
                    vmn[v] = _mm512_max_ps(
                        _mm512_mul_ps(vsg, _mm512_maskz_loadu_ps(mk[v], xni + 16 * v)), vmn[v]);
                if (prev) {
                    if (!log)
                        _mm512_mask_storeu_ps(
                            ypi + 16 * v, mk[v],
                            _mm512_mul_ps(_mm512_maskz_loadu_ps(mk[v], ypi + 16 * v), vc[v]));
                    else
                        _mm512_mask_storeu_ps(
                            ypi + 16 * v, mk[v],
                            _mm512_sub_ps(FN(col_exponent16)(
                                              _mm512_maskz_loadu_ps(mk[v], xpi + 16 * v), vscale,
                                              vscale, vscale, vmp[v], vrp[v], 0, unit),
                                          vc[v]));
                }
            }
        }
        for (int v = 0; v < 4; v++) {
            _mm512_storeu_ps(part + 16 * v, vpart[v]);
            if (log)
                _mm512_storeu_ps(kb + 16 * v, vkb[v]);
            if (next)
                _mm512_mask_storeu_ps(mn + 16 * v, mk[v], vmn[v]);
        }
        FN(col_add_sums)(part, kb, ncols, others, comp, ones, i0 == 0, log);
    }
}

/* col_finish: y *= c[k] (softmax), or y = exponent - c[k] (log_softmax;
   base e), columns [0, ncols) 64 at a time. */
PSM_INLINE void FN(reg_col_finish)(const float *x, float *y, ptrdiff_t n, ptrdiff_t ld,
                                   ptrdiff_t ncols, float scale, const float *a, const float *p,
                                   const float *m, const float *r, const float *c,
                                   const int log, const int wide, const int unit)
{
    const __m512 vscale = _mm512_set1_ps(scale);
    for (ptrdiff_t k0 = 0; k0 < ncols; k0 += PSM_REG_COLS) {
        __mmask16 mk[4];
        __m512 vm[4], vr[4], va[4], vp[4], vc[4];
        FN(reg_col_masks)(ncols - k0, mk);
        for (int v = 0; v < 4; v++) {
            const ptrdiff_t k = k0 + 16 * v;
            vc[v] = _mm512_maskz_loadu_ps(mk[v], c + k);
            vm[v] = log ? _mm512_maskz_loadu_ps(mk[v], m + k) : vscale;
            vr[v] = log && EXACT_PRODUCTS && !unit ? _mm512_maskz_loadu_ps(mk[v], r + k) : vm[v];
            va[v] = log && wide ? _mm512_maskz_loadu_ps(mk[v], a + k) : vscale;
            vp[v] = log && wide ? _mm512_maskz_loadu_ps(mk[v], p + k) : vscale;
        }
        for (ptrdiff_t i = 0; i < n; i++) {
            const float *xi = x + i * ld + k0;
            float *yi = y + i * ld + k0;
            for (int v = 0; v < 4; v++) {
                if (!mk[v])
                    continue;
                __m512 out;
                if (!log)
                    out = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk[v], yi + 16 * v), vc[v]);
                else
                    out = _mm512_sub_ps(
                        FN(col_exponent16)(_mm512_maskz_loadu_ps(mk[v], xi + 16 * v), vscale,
                                           va[v], vp[v], vm[v], vr[v], wide, unit),
                        vc[v]);
                _mm512_mask_storeu_ps(yi + 16 * v, mk[v], out);
            }
        }
    }
}
