// activation.h: GELU (tanh approximation, as GPT-2) over whole arrays, the
// MLP's elementwise hot loops.
//
//   gelu(x)  = 0.5 x (1 + tanh(u)),   u = sqrt(2/pi) (x + 0.044715 x^3)
//   gelu'(x) = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) du/dx,  du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
//
// The *_ref versions are those lines with libm's tanh. The SIMD versions use
// the same maths rewritten around one exp: 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u))
// = s, and 1 - tanh(u)^2 = 4 s (1 - s), with 1 - s = exp(-2u) s (no cancellation
// near s = 1). They agree with the reference to a few float ulps.
// Any length, any alignment; path chosen like matmul (dispatch.h).
#ifndef UM_KERNELS_ACTIVATION_H
#define UM_KERNELS_ACTIVATION_H

#include <stddef.h>

#include "base/real.h"

// x (n) -> y (n) = gelu(x)
void act_gelu_forward(real *y, const real *x, size_t n);
// The MLP's backward, in place: x (n), d (n) -> d (n) *= gelu'(x)
void act_gelu_backward_inplace(real *d, const real *x, size_t n);

void act_gelu_forward_ref(real *y, const real *x, size_t n);
void act_gelu_backward_inplace_ref(real *d, const real *x, size_t n);

#ifndef UM_NO_SIMD
#define UM_ACT_DECLARE(suffix)                                                    \
    void act_gelu_forward_##suffix(float *y, const float *x, size_t n);           \
    void act_gelu_backward_inplace_##suffix(float *d, const float *x, size_t n);
UM_ACT_DECLARE(avx2)
UM_ACT_DECLARE(avx512)
#undef UM_ACT_DECLARE
#endif

#endif
