// layernorm.c: LayerNorm and RMSNorm over the last dimension of (N, D).
#include "nn/layernorm.h"

#include <stddef.h>

#include "kernels/dispatch.h"
#include "kernels/norm.h"

#define LAYERNORM_EPS 1e-5
#define RMSNORM_EPS 1e-6

// ---------------------------------------------------------------- LayerNorm

// inp (N,D), weight (D), bias (D) -> out (N,D); caches mean (N), rstd (N)
void layernorm_forward(real *out, real *mean, real *rstd, const real *inp, const real *weight, const real *bias,
                       int N, int D) {
// The row maths lives in kernels/norm.c (layernorm_row_ref is the plain C).
#pragma omp parallel for
    for (int n = 0; n < N; n++)
        layernorm_row(out + (size_t)n * D, &mean[n], &rstd[n], inp + (size_t)n * D, weight, bias, D, LAYERNORM_EPS);
}

// Forward was: norm = (x - mean) * rstd;  y = norm * w + b; so
//   dbias += dy,  dweight += dy * norm,  dnorm = dy * w
//   dx += rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm))
// (the two means are the gradient flowing through mean and rstd).
/* BEGIN EXERCISE 2.2 */
static void layernorm_backward_inp(real *dinp, const real *dout, const real *inp, const real *weight,
                                   const real *mean, const real *rstd, int N, int D) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const real *x = inp + (size_t)n * D;
        const real *dy = dout + (size_t)n * D;
        real *dx = dinp + (size_t)n * D;
        real mean_dnorm = 0, mean_dnorm_norm = 0;
        for (int d = 0; d < D; d++) {
            real norm = (x[d] - mean[n]) * rstd[n];
            real dnorm = dy[d] * weight[d];
            mean_dnorm += dnorm;
            mean_dnorm_norm += dnorm * norm;
        }
        mean_dnorm /= D;
        mean_dnorm_norm /= D;
        for (int d = 0; d < D; d++) {
            real norm = (x[d] - mean[n]) * rstd[n];
            real dnorm = dy[d] * weight[d];
            dx[d] += rstd[n] * (dnorm - mean_dnorm - norm * mean_dnorm_norm);
        }
    }
}
/* END EXERCISE 2.2 */

// dweight and dbias sum over all N rows; each thread owns a block of columns
// d, so the sums never race. Inside a block the loop runs along rows n with
// the block's columns innermost: unit-stride and vectorisable, while every
// dweight[d] still adds its rows in order n = 0, 1, ... (the same bits as a
// column-by-column loop, for any thread count).
#define NORM_COL_BLOCK 64
static void layernorm_backward_params(real *dweight, real *dbias, const real *dout, const real *inp,
                                      const real *mean, const real *rstd, int N, int D) {
#pragma omp parallel for
    for (int d0 = 0; d0 < D; d0 += NORM_COL_BLOCK) {
        int nd = D - d0 < NORM_COL_BLOCK ? D - d0 : NORM_COL_BLOCK;
        real dw[NORM_COL_BLOCK] = {0}, db[NORM_COL_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const real *dy = dout + (size_t)n * D + d0, *x = inp + (size_t)n * D + d0;
            for (int j = 0; j < nd; j++) {
                real norm = (x[j] - mean[n]) * rstd[n];
                dw[j] += dy[j] * norm;
                db[j] += dy[j];
            }
        }
        for (int j = 0; j < nd; j++) dweight[d0 + j] += dw[j], dbias[d0 + j] += db[j];
    }
}

// The SIMD row kernel of kernels/norm.h for this path, or NULL (scalar).
typedef void (*BackwardRowFn)(real *dx, const real *dy, const real *x, const real *w, real mean, real rstd, int D);
static BackwardRowFn simd_backward_row(void) {
#ifndef UM_NO_SIMD
    switch (um_simd_path()) {
    case UM_SIMD_AVX512: return layernorm_backward_row_avx512;
    case UM_SIMD_AVX2: return layernorm_backward_row_avx2;
    default: break;
    }
#endif
    return NULL;
}

void layernorm_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                        const real *weight, const real *mean, const real *rstd, int N, int D) {
    BackwardRowFn row = simd_backward_row();
    if (row) {  // the same maths as layernorm_backward_inp, 8 or 16 columns at a time
#pragma omp parallel for
        for (int n = 0; n < N; n++)
            row(dinp + (size_t)n * D, dout + (size_t)n * D, inp + (size_t)n * D, weight, mean[n], rstd[n], D);
    } else {
        layernorm_backward_inp(dinp, dout, inp, weight, mean, rstd, N, D);
    }
    layernorm_backward_params(dweight, dbias, dout, inp, mean, rstd, N, D);
}

// ---------------------------------------------------------------- RMSNorm

// inp (N,D), weight (D) -> out (N,D); caches rstd (N)
// Like LayerNorm without centring and without a bias.
// The SIMD RMSNorm rows of kernels/norm.h for this path, or NULL (scalar).
typedef void (*RmsRowFn)(real *y, real *rstd, const real *x, const real *w, int D, double eps);
typedef void (*RmsBackwardRowFn)(real *dx, const real *dy, const real *x, const real *w, real rstd, int D);
static RmsRowFn simd_rms_row(void) {
#ifndef UM_NO_SIMD
    switch (um_simd_path()) {
    case UM_SIMD_AVX512: return rmsnorm_row_avx512;
    case UM_SIMD_AVX2: return rmsnorm_row_avx2;
    default: break;
    }
#endif
    return NULL;
}
static RmsBackwardRowFn simd_rms_backward_row(void) {
#ifndef UM_NO_SIMD
    switch (um_simd_path()) {
    case UM_SIMD_AVX512: return rmsnorm_backward_row_avx512;
    case UM_SIMD_AVX2: return rmsnorm_backward_row_avx2;
    default: break;
    }
#endif
    return NULL;
}

// A decode step normalises a few query rows: not worth waking a second thread.
void rmsnorm_forward(real *out, real *rstd, const real *inp, const real *weight, int N, int D) {
    RmsRowFn row = simd_rms_row();
#pragma omp parallel for if (N >= 64)
    for (int n = 0; n < N; n++) {
        const real *x = inp + (size_t)n * D;
        real *y = out + (size_t)n * D;
        if (row) {  // the same row, 8 or 16 columns at a time
            row(y, &rstd[n], x, weight, D, RMSNORM_EPS);
            continue;
        }
        real ms = 0;
        for (int d = 0; d < D; d++) ms += x[d] * x[d];
        ms /= D;
        real s = (real)(1.0 / sqrt((double)ms + RMSNORM_EPS));
        for (int d = 0; d < D; d++) y[d] = x[d] * s * weight[d];
        rstd[n] = s;
    }
}

// Forward was: norm = x * rstd, rstd = (mean(x^2) + eps)^(-1/2);  y = norm * w; so
//   dweight += dy * norm,  dnorm = dy * w
//   d rstd / d x_j = -rstd^3 x_j / D, which gives
//   dx += rstd * (dnorm - norm * mean(dnorm * norm))
void rmsnorm_backward(real *dinp, real *dweight, const real *dout, const real *inp, const real *weight,
                      const real *rstd, int N, int D) {
    RmsBackwardRowFn row = simd_rms_backward_row();
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const real *x = inp + (size_t)n * D;
        const real *dy = dout + (size_t)n * D;
        real *dx = dinp + (size_t)n * D;
        if (row) {  // the same row, 8 or 16 columns at a time
            row(dx, dy, x, weight, rstd[n], D);
            continue;
        }
        real mean_dnorm_norm = 0;
        for (int d = 0; d < D; d++) mean_dnorm_norm += dy[d] * weight[d] * x[d] * rstd[n];
        mean_dnorm_norm /= D;
        for (int d = 0; d < D; d++) {
            real norm = x[d] * rstd[n];
            dx[d] += rstd[n] * (dy[d] * weight[d] - norm * mean_dnorm_norm);
        }
    }
    // Column blocks, as in LayerNorm: no two threads share a dweight[d].
#pragma omp parallel for
    for (int d0 = 0; d0 < D; d0 += NORM_COL_BLOCK) {
        int nd = D - d0 < NORM_COL_BLOCK ? D - d0 : NORM_COL_BLOCK;
        real dw[NORM_COL_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const real *dy = dout + (size_t)n * D + d0, *x = inp + (size_t)n * D + d0;
            for (int j = 0; j < nd; j++) dw[j] += dy[j] * x[j] * rstd[n];
        }
        for (int j = 0; j < nd; j++) dweight[d0 + j] += dw[j];
    }
}
