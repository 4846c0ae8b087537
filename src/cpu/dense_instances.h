/* Instantiates src/cpu/dense_kernels.h for float (suffix _f) and double (suffix _d). */
#include "dense_kernels.h"
#define REAL float
#define SFX(name) name##_f
#include "dense_kernels.h"
#undef REAL
#undef SFX
#define REAL double
#define SFX(name) name##_d
#include "dense_kernels.h"
#undef REAL
#undef SFX
