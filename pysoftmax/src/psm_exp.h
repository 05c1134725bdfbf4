/*
 * psm_exp.h -- exp(x) for x <= 0, branch-free, for float and double, that
 * GCC/Clang vectorize inside `#pragma omp simd` loops.  Softmax only ever
 * takes exp(x - max) <= 0, so this is the whole domain the kernels need.
 * (glibc's expf/exp are scalar calls unless -ffast-math, which we never use:
 * it breaks NaN/inf semantics.)
 *
 * Method (textbook range reduction):
 *   k = round(x / ln2),  r = x - k*ln2_hi - k*ln2_lo,  |r| <= ln2/2
 *   exp(x) = 2^k * P(r),  P(r) = 1 + r + r^2 q(r)
 * P is the minimax polynomial of fit_exp_poly.py beside this file (degree 5
 * for float, 11 for double; max relative error 1.05e-7 and 3.6e-18 before
 * rounding), evaluated with Estrin's scheme for a short dependency chain:
 * at most 2 ulp in all
 * (tests/test_exp.py checks the whole domain).
 * k is read from the bits of x*log2e + 1.5*2^m (m = mantissa width): rounding
 * to nearest with no float->int conversion (undefined for NaN).  2^k is
 * applied by adding k to the exponent field of P(r) as an integer (exact,
 * and one integer add instead of building 2^k and multiplying).  That is
 * right while the result is a normal number; below x_lo, where k < -126
 * (float) or -1022 (double) could wrap the exponent field, the result is set
 * to +0 by a mask (also for -inf, whose reduction gives NaN), and just above
 * x_lo a result may come out as a subnormal number with an absolute error
 * below 2^-126 (2^-1022).  So: exp(0) = 1 exactly; results below about
 * 2^-126.2 (float) or 2^-1022.1 (double), and -inf, -> +0: an absolute error
 * below the smallest normal number, far below any softmax output that is
 * relative-accurate.  Not for x > 0.
 *
 * psm_expf_finite/psm_exp_finite give +0 for a NaN argument (a NaN fails the
 * mask's compare): the rows kernels use them and detect NaN apart, by a sum
 * of the arguments off the exp's dependency chain (softmax_body.h).
 * psm_expf/psm_exp return a NaN argument itself.
 *
 * ln2_hi has few enough significant bits that k*ln2_hi is exact for every k
 * whose result is kept (float: 12 bits, |k| <= 126; double: 33 bits,
 * |k| <= 1022).
 */
#ifndef PSM_EXP_H
#define PSM_EXP_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define PSM_INLINE static inline __attribute__((always_inline))
#else
#define PSM_INLINE static inline
#endif

PSM_INLINE float psm_expf_finite(float x)
{
    const float log2e = 1.44269502162933349609375f;
    const float ln2_hi = 0.693359375f;              /* ln2 rounded to 12 bits */
    const float ln2_lo = -2.12194440e-4f;           /* ln2 - ln2_hi */
    const float shifter = 12582912.0f;              /* 1.5 * 2^23 */
    const float x_lo = -87.5f;                      /* round(x * log2e) >= -126 above */

    float t = x * log2e + shifter;
    uint32_t tb;
    memcpy(&tb, &t, 4);                             /* low bits: round(x * log2e) */
    float kf = t - shifter;
    float r = x - kf * ln2_hi;
    r = r - kf * ln2_lo;

    /* Estrin's scheme: a shorter dependency chain than Horner's */
    float r2 = r * r;
    float a = 0.16667114198207855f * r + 0.499992311000824f;
    float b = 0.008312518708407879f * r + 0.041890114545822144f;
    float q = b * r2 + a;
    float p = q * r2 + (r + 1.0f);

    uint32_t pb;
    memcpy(&pb, &p, 4);
    pb = x >= x_lo ? pb + (tb << 23) : 0;          /* P(r) * 2^k; +0 below x_lo */
    float e;
    memcpy(&e, &pb, 4);
    return e;
}

PSM_INLINE float psm_expf(float x)
{
    return x != x ? x : psm_expf_finite(x);
}

PSM_INLINE double psm_exp_finite(double x)
{
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 0.6931471806019545;        /* ln2 rounded to 33 bits */
    const double ln2_lo = -4.2009150726810846e-11;   /* ln2 - ln2_hi */
    const double shifter = 6755399441055744.0;       /* 1.5 * 2^52 */
    const double x_lo = -708.5;                      /* round(x * log2e) >= -1022 above */

    double t = x * log2e + shifter;
    uint64_t tb;
    memcpy(&tb, &t, 8);
    double kf = t - shifter;
    double r = x - kf * ln2_hi;
    r = r - kf * ln2_lo;

    /* Estrin's scheme: q = c2 + c3 r + ... + c11 r^9 in pairs */
    double r2 = r * r, r4 = r2 * r2;
    double a = 0.16666666666666413 * r + 0.5000000000000011;
    double b = 0.00833333333349435 * r + 0.04166666666653026;
    double c = 0.00019841269506748306 * r + 0.0013888888943598588;
    double d = 2.755758629002444e-06 * r + 2.4801493135268414e-05;
    double e = 2.500006582083082e-08 * r + 2.7630234238684755e-07;
    double q = ((e * r2 + d) * r4 + (c * r2 + b)) * r2 + a;
    double p = q * r2 + (r + 1.0);

    uint64_t pb;
    memcpy(&pb, &p, 8);
    pb = x >= x_lo ? pb + (tb << 52) : 0;            /* P(r) * 2^k; +0 below x_lo */
    double y;
    memcpy(&y, &pb, 8);
    return y;
}

PSM_INLINE double psm_exp(double x)
{
    return x != x ? x : psm_exp_finite(x);
}

/*
 * Approximate 2^t for approx=True, also for t <= 0 only.  The approximate
 * kernels work in base 2 (softmax(x) = 2^(x log2e - max) / sum, the factor
 * log2e folded into the scale), which saves the multiplication by log2e and
 * the two-constant reduction: k = round(t), f = t - k exactly, |f| <= 1/2,
 * 2^f ~ 1 + f q(f) (fit_exp_poly.py: degree 4 for float, max relative error
 * 2.8e-6; degree 7 for double, 4.7e-11).  The shifter carries the exponent
 * bias, so the low bits of t + shifter hold k + bias and one shift makes 2^k.
 * Clamped below at k = -127 (float) or -1023 (double), where 2^k is +0.0:
 * results below about 2^-126.5 (2^-1022.5) and -inf -> 0; 2^0 = 1 exactly;
 * NaN -> NaN.
 */
PSM_INLINE float psm_exp2f_approx(float t)
{
    const float shifter = 12583039.0f;              /* 1.5 * 2^23 + 127 */
    const float t_lo = -127.0f;

    float tc = t < t_lo ? t_lo : t;
    float u = tc + shifter;                         /* 1.5 * 2^23 + 127 + k */
    float kf = u - shifter;
    float f = tc - kf;
    uint32_t ub;
    memcpy(&ub, &u, 4);
    uint32_t sbits = ub << 23;                      /* (k + 127) << 23 = 2^k */
    float scale;
    memcpy(&scale, &sbits, 4);

    float f2 = f * f;
    float a = 0.24024099111557007f * f + 0.6931241750717163f;
    float b = 0.009582842700183392f * f + 0.055906426161527634f;
    float p = (b * f2 + a) * f + 1.0f;
    return p * scale;
}

PSM_INLINE double psm_exp2_approx(double t)
{
    const double shifter = 6755399441056767.0;       /* 1.5 * 2^52 + 1023 */
    const double t_lo = -1023.0;

    double tc = t < t_lo ? t_lo : t;
    double u = tc + shifter;
    double kf = u - shifter;
    double f = tc - kf;
    uint64_t ub;
    memcpy(&ub, &u, 8);
    uint64_t sbits = ub << 52;
    double scale;
    memcpy(&scale, &sbits, 8);

    double f2 = f * f, f4 = f2 * f2;
    double a = 0.24022651066566683 * f + 0.6931471807045299;
    double b = 0.00961803813141364 * f + 0.05550410365995925;
    double c = 0.00015466756491313798 * f + 0.001333393505267766;
    double d = 1.5196157141276037e-05;
    double p = ((d * f2 + c) * f4 + (b * f2 + a)) * f + 1.0;
    return p * scale;
}

#endif
