/* Instantiates the Jacobi implementation named by MC_JACOBI_IMPL (a file name, e.g.
 * "eigh_impl.inc") for float (suffix _f32) and double (suffix _f64). */
#include <float.h>
#include <math.h>

#define FN(x) x##_f32
#define REAL float
#define EPS_REAL FLT_EPSILON
#define MAX_EXP_REAL FLT_MAX_EXP
#define SQRT sqrtf
#define FABS fabsf
#define SCHUR2 mc_sym_schur2_f32
#include MC_JACOBI_IMPL
#undef FN
#undef REAL
#undef EPS_REAL
#undef MAX_EXP_REAL
#undef SQRT
#undef FABS
#undef SCHUR2

#define FN(x) x##_f64
#define REAL double
#define EPS_REAL DBL_EPSILON
#define MAX_EXP_REAL DBL_MAX_EXP
#define SQRT sqrt
#define FABS fabs
#define SCHUR2 mc_sym_schur2_f64
#include MC_JACOBI_IMPL
#undef FN
#undef REAL
#undef EPS_REAL
#undef MAX_EXP_REAL
#undef SQRT
#undef FABS
#undef SCHUR2
