/* instantiate.h -- the kernel bodies for float and double, each with the
   exact exp (suffix _f32_/_f64_) and in base 2 with the approximate 2^t
   (_f32a_/_f64a_, forward kernels only), and the ISA's table of them,
   psm_<ISA> (kernels.c); define ISA (a name suffix) and PSM_VEC_BYTES (the
   width of its vectors) before including.  BASE_LOG is the natural log of
   the kernels' base; EXP_FINITE the exp of the rows kernels (psm_exp.h: +0
   for NaN, which they detect apart; the approximate 2^t keeps NaN anyway).
   The exact kernels sum blocks of 64 terms per vector lane in T (at least
   256 terms: the portable kernels' 4 float lanes; fewer blocks, less
   overhead per element: 12% on a 32000-element AVX-512 exp loop); the
   approximate ones sum longer blocks (less overhead per row: 1.4x instead
   of 1.2x faster than exact on 64x1000 float32, measured). */
#define PSM_LANE_BLOCK(t) \
    (64 * (PSM_VEC_BYTES / (int)sizeof(t)) > PSM_BLOCK ? 64 * (PSM_VEC_BYTES / (int)sizeof(t)) \
                                                      : PSM_BLOCK)
#define T float
#define T_MAX_EXP FLT_MAX_EXP
#define EXP psm_expf
#define EXP_FINITE psm_expf_finite
#define BASE_LOG 1.0
#define SUM_BLOCK PSM_LANE_BLOCK(float)
#define FN(name) PSM_NAME(name, _f32_)
#define REG_ROWS 1   /* the float rows kernel of intrinsics, where the ISA has one */
#include "softmax_body.h"
#include "slices_body.h"
#include "support_body.h"
#undef REG_ROWS
#undef EXP
#undef EXP_FINITE
#undef BASE_LOG
#undef SUM_BLOCK
#undef FN
#define EXP psm_exp2f_approx
#define EXP_FINITE psm_exp2f_approx
#define BASE_LOG 0.6931471805599453
#define SUM_BLOCK PSM_BLOCK_APPROX
#define FN(name) PSM_NAME(name, _f32a_)
#include "softmax_body.h"
#include "slices_body.h"
#undef T
#undef T_MAX_EXP
#undef EXP
#undef EXP_FINITE
#undef BASE_LOG
#undef SUM_BLOCK
#undef FN

#define T double
#define T_MAX_EXP DBL_MAX_EXP
#define EXP psm_exp
#define EXP_FINITE psm_exp_finite
#define BASE_LOG 1.0
#define SUM_BLOCK PSM_LANE_BLOCK(double)
#define FN(name) PSM_NAME(name, _f64_)
#include "softmax_body.h"
#include "slices_body.h"
#include "support_body.h"
#undef EXP
#undef EXP_FINITE
#undef BASE_LOG
#undef SUM_BLOCK
#undef FN
#define EXP psm_exp2_approx
#define EXP_FINITE psm_exp2_approx
#define BASE_LOG 0.6931471805599453
#define SUM_BLOCK PSM_BLOCK_APPROX
#define FN(name) PSM_NAME(name, _f64a_)
#include "softmax_body.h"
#include "slices_body.h"
#undef T
#undef T_MAX_EXP
#undef EXP
#undef EXP_FINITE
#undef BASE_LOG
#undef SUM_BLOCK
#undef FN

/* This ISA's table of kernels (kernels.c). */
static const psm_table PSM_CAT(psm_, ISA) = {
    .isa = PSM_STR(ISA),
    .f32 = {PSM_KERNELS(PSM_INIT, float, f32)},
    .f64 = {PSM_KERNELS(PSM_INIT, double, f64)},
};
#undef PSM_LANE_BLOCK
