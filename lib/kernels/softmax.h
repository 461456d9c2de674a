// softmax.h: exp(x - max) over a row, with its sum: the heart of every
// softmax here (attention rows, the vocabulary in cross-entropy).
// Any length, any alignment; path chosen like matmul (dispatch.h). The SIMD
// versions add in a different order than the _ref one and use a polynomial
// exp (simd_exp_*.h), so they agree to a few ulps of the terms, not bit for bit.
#ifndef UM_KERNELS_SOFTMAX_H
#define UM_KERNELS_SOFTMAX_H

#include "base/real.h"

// x (n), n >= 1 -> p (n) = exp(x - max(x)); returns sum(p), *maxval = max(x).
// p may be x (in place).
real softmax_exp(real *p, const real *x, int n, real *maxval);
real softmax_exp_ref(real *p, const real *x, int n, real *maxval);

#ifndef UM_NO_SIMD
float softmax_exp_avx2(float *p, const float *x, int n, float *maxval);
float softmax_exp_avx512(float *p, const float *x, int n, float *maxval);
#endif

#endif
