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

// x (n), n >= 1, scale > 0 -> p (n) = softmax(scale * x), normalised: an
// attention row's whole softmax in one call and three passes over the row
// (max; exp and sum; times 1/sum), where softmax_exp plus scaling needs four.
// p may be x (in place).
void softmax_scaled(real *p, const real *x, int n, real scale);
void softmax_scaled_ref(real *p, const real *x, int n, real scale);

// p, dp (n) -> ds (n) = scale * p * (dp - sum_i p_i dp_i): the backward of
// p = softmax(scale * x), given dp = dL/dp; ds = dL/dx. ds may be dp.
void softmax_scaled_backward(real *ds, const real *p, const real *dp, int n, real scale);
void softmax_scaled_backward_ref(real *ds, const real *p, const real *dp, int n, real scale);

#ifndef UM_NO_SIMD
float softmax_exp_avx2(float *p, const float *x, int n, float *maxval);
float softmax_exp_avx512(float *p, const float *x, int n, float *maxval);
void softmax_scaled_avx2(float *p, const float *x, int n, float scale);
void softmax_scaled_avx512(float *p, const float *x, int n, float scale);
void softmax_scaled_backward_avx2(float *ds, const float *p, const float *dp, int n, float scale);
void softmax_scaled_backward_avx512(float *ds, const float *p, const float *dp, int n, float scale);
#endif

#endif
