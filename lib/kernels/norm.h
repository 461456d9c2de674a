// norm.h: the row loops of LayerNorm and RMSNorm, forward and backward
// (lib/nn/layernorm.c).
//
// One row of D values is normalised: mean, variance from the centred values,
// rstd = 1/sqrt(var + eps), y = (x - mean) * rstd * w + b. Any length >= 1,
// any alignment; path chosen like matmul (dispatch.h). The SIMD versions add
// the sums in a different order than layernorm_row_ref, so they agree to a
// few ulps, not bit for bit (each path is deterministic on its own).
#ifndef UM_KERNELS_NORM_H
#define UM_KERNELS_NORM_H

#include "base/real.h"

// x (D), w (D), b (D) -> y (D); *mean and *rstd receive the row statistics.
void layernorm_row(real *y, real *mean, real *rstd, const real *x, const real *w, const real *b, int D, double eps);

void layernorm_row_ref(real *y, real *mean, real *rstd, const real *x, const real *w, const real *b, int D,
                       double eps);

#ifndef UM_NO_SIMD
void layernorm_row_avx2(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b, int D,
                        double eps);
void layernorm_row_avx512(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b, int D,
                          double eps);

// The backward's dx of one row, dy (D) x (D) w (D) -> dx (D) +=, with the
// row's cached mean and rstd. Its scalar reference is the backward's own
// loop in layernorm.c (reached with UM_SIMD=scalar); these sum in lanes, so
// they agree with it to a few ulps.
void layernorm_backward_row_avx2(float *dx, const float *dy, const float *x, const float *w, float mean, float rstd,
                                 int D);
void layernorm_backward_row_avx512(float *dx, const float *dy, const float *x, const float *w, float mean, float rstd,
                                   int D);

// RMSNorm rows: x (D), w (D) -> y (D) and the row's rstd; the backward's dx
// (D) += from dy (D). The scalar references are rmsnorm_forward's and
// rmsnorm_backward's loops in layernorm.c (UM_SIMD=scalar); a few ulps apart.
void rmsnorm_row_avx2(float *y, float *rstd, const float *x, const float *w, int D, double eps);
void rmsnorm_row_avx512(float *y, float *rstd, const float *x, const float *w, int D, double eps);
void rmsnorm_backward_row_avx2(float *dx, const float *dy, const float *x, const float *w, float rstd, int D);
void rmsnorm_backward_row_avx512(float *dx, const float *dy, const float *x, const float *w, float rstd, int D);
#endif

#endif
