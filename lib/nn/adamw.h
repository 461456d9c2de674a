// adamw.h: the AdamW optimizer over every tensor in a parameter registry.
//
// For each scalar w with gradient g, at step t (1-based), with the group's
// lr = base_lr * lr_mult and weight decay wd:
//   m = beta1 m + (1-beta1) g
//   v = beta2 v + (1-beta2) g^2
//   w -= lr * ( m/(1-beta1^t) / (sqrt(v/(1-beta2^t)) + eps) + wd * w )
// Gradients are first clipped so their global L2 norm is at most grad_clip
// (0 turns clipping off).
#ifndef UM_ADAMW_H
#define UM_ADAMW_H

#include <stddef.h>

#include "base/params.h"

typedef struct {
    real beta1, beta2, eps;
    real grad_clip;  // max global gradient norm; 0 = no clipping
} UmAdamW;

UmAdamW adamw_defaults(void);  // beta1 0.9, beta2 0.95, eps 1e-8, clip 1.0

// Global L2 norm of all gradients in the registry.
double grad_global_norm(const UmParamRegistry *reg);

// One update of one tensor (the maths above); grad_scale multiplies g first
// (clipping). t is the 1-based step number.
void adamw_update(real *w, const real *g, real *m, real *v, size_t n, real lr, real weight_decay, real grad_scale,
                  const UmAdamW *opt, int t);

// Clip, then update every tensor of the registry with its group's lr and
// weight decay. Returns the gradient norm before clipping.
double adamw_step(UmParamRegistry *reg, const UmAdamW *opt, real base_lr, int t);

#endif
