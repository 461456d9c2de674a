// real.h: the one floating-point type of the library.
//
// The product builds with `real` = float (fast, what SIMD kernels use).
// The gradient-check build compiles the very same sources with -DUM_DOUBLE,
// so `real` = double and finite differences are accurate to ~1e-7 instead
// of ~1e-2. Nothing else changes between the two builds.
#ifndef UM_REAL_H
#define UM_REAL_H

// <tgmath.h> makes exp, tanh, sqrt... pick the float version (expf, tanhf)
// for float arguments: the double versions are 2-3x slower and GELU's tanh
// was over half of an MLP's time.
#include <tgmath.h>

#ifdef UM_DOUBLE
typedef double real;
#define REAL_FMT "%.17g"
#else
typedef float real;
#define REAL_FMT "%.9g"
#endif

#endif
