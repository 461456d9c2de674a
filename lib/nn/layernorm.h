// layernorm.h: LayerNorm and RMSNorm over the last dimension.
//
// LayerNorm: inp (N, D), weight (D), bias (D) -> out (N, D); caches mean (N), rstd (N)
//   out = (inp - mean) * rstd * weight + bias,   rstd = 1/sqrt(var + 1e-5)
// RMSNorm:   inp (N, D), weight (D) -> out (N, D); caches rstd (N)
//   out = inp * rstd * weight,                   rstd = 1/sqrt(mean(inp^2) + 1e-6)
// Backward accumulates into dinp, dweight, dbias.
#ifndef UM_LAYERNORM_H
#define UM_LAYERNORM_H

#include "base/real.h"

void layernorm_forward(real *out, real *mean, real *rstd, const real *inp, const real *weight, const real *bias,
                       int N, int D);
void layernorm_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                        const real *weight, const real *mean, const real *rstd, int N, int D);

void rmsnorm_forward(real *out, real *rstd, const real *inp, const real *weight, int N, int D);
void rmsnorm_backward(real *dinp, real *dweight, const real *dout, const real *inp, const real *weight,
                      const real *rstd, int N, int D);

#endif
