// norm.c: plain C LayerNorm row (norm.h) and the dispatch to
// norm_avx2.c / norm_avx512.c.
#include "kernels/norm.h"

#include <math.h>

#include "kernels/dispatch.h"

// Variance from the centred values (not E[x^2]-mu^2, which cancels badly
// when |mu| is large next to the spread).
void layernorm_row_ref(real *y, real *mean, real *rstd, const real *x, const real *w, const real *b, int D,
                       double eps) {
    real mu = 0;
    for (int d = 0; d < D; d++) mu += x[d];
    mu /= D;
    real var = 0;
    for (int d = 0; d < D; d++) var += (x[d] - mu) * (x[d] - mu);
    var /= D;
    real s = (real)(1.0 / sqrt((double)var + eps));
    for (int d = 0; d < D; d++) y[d] = (x[d] - mu) * s * w[d] + b[d];
    *mean = mu;
    *rstd = s;
}

void layernorm_row(real *y, real *mean, real *rstd, const real *x, const real *w, const real *b, int D, double eps) {
#ifndef UM_NO_SIMD
    switch (um_simd_path()) {
    case UM_SIMD_AVX512: layernorm_row_avx512(y, mean, rstd, x, w, b, D, eps); return;
    case UM_SIMD_AVX2: layernorm_row_avx2(y, mean, rstd, x, w, b, D, eps); return;
    default: break;
    }
#endif
    layernorm_row_ref(y, mean, rstd, x, w, b, D, eps);
}
