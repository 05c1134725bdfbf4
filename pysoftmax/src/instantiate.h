/* instantiate.h -- softmax_body.h for float and double; define ISA (a name
   suffix) before including. */
#define T float
#define EXP psm_expf
#define FN(name) PSM_CAT(PSM_CAT(name, _f32_), ISA)
#include "softmax_body.h"
#undef T
#undef EXP
#undef FN

#define T double
#define EXP psm_exp
#define FN(name) PSM_CAT(PSM_CAT(name, _f64_), ISA)
#include "softmax_body.h"
#undef T
#undef EXP
#undef FN
