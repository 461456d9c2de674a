// optim.h: the elementwise loop of AdamW (lib/nn/adamw.c), 8 or 16 weights
// at a time.
//
// Per weight, exactly as adamw_update's scalar loop (which is the reference,
// reached with UM_SIMD=scalar):
//   g' = g * grad_scale
//   m  = beta1 * m + (1 - beta1) * g'
//   v  = beta2 * v + (1 - beta2) * g' * g'
//   w -= lr * ( (m / bc1) / (sqrt(v / bc2) + eps) + weight_decay * w )
// Every operation is the same IEEE operation in the same order (separate
// multiplies and adds, no fused multiply-add; sqrt and division are
// correctly rounded in both), so the SIMD versions give the same bits.
// They update whole registers only and return how many weights that was
// (n rounded down to 8 or 16); the scalar loop does the rest.
#ifndef UM_KERNELS_OPTIM_H
#define UM_KERNELS_OPTIM_H

#include <stddef.h>

#ifndef UM_NO_SIMD
typedef struct {
    float lr, weight_decay, grad_scale;
    float beta1, beta2, one_minus_beta1, one_minus_beta2, eps;
    float bc1, bc2;  // bias corrections 1 - beta^t
} AdamWConsts;

size_t adamw_elements_avx2(float *w, const float *g, float *m, float *v, size_t n, const AdamWConsts *c);
size_t adamw_elements_avx512(float *w, const float *g, float *m, float *v, size_t n, const AdamWConsts *c);
#endif

#endif
