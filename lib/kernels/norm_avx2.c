// norm_avx2.c: the LayerNorm row of norm.h, 8 floats per ymm register.
// The ragged end (fewer than 8 values) is finished in scalar code.
#include <immintrin.h>
#include <math.h>

#include "kernels/norm.h"
#include "kernels/simd_sum_avx2.h"


void layernorm_row_avx2(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b, int D,
                        double eps) {
    int full = D - D % 8;
    __m256 acc = _mm256_setzero_ps();
    for (int d = 0; d < full; d += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + d));
    float sum = hsum8(acc);
    for (int d = full; d < D; d++) sum += x[d];
    float mu = sum / D;
    __m256 vmu = _mm256_set1_ps(mu), v = _mm256_setzero_ps();
    for (int d = 0; d < full; d += 8) {
        __m256 c = _mm256_sub_ps(_mm256_loadu_ps(x + d), vmu);
        v = _mm256_fmadd_ps(c, c, v);
    }
    float sq = hsum8(v);
    for (int d = full; d < D; d++) sq += (x[d] - mu) * (x[d] - mu);
    float var = sq / D;
    float s = (float)(1.0 / sqrt((double)var + eps));
    __m256 vs = _mm256_set1_ps(s);
    for (int d = 0; d < full; d += 8) {
        __m256 nrm = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + d), vmu), vs);
        _mm256_storeu_ps(y + d, _mm256_fmadd_ps(nrm, _mm256_loadu_ps(w + d), _mm256_loadu_ps(b + d)));
    }
    for (int d = full; d < D; d++) y[d] = (x[d] - mu) * s * w[d] + b[d];
    *mean = mu;
    *rstd = s;
}

// The LayerNorm backward of one row (the maths and the scalar version:
// layernorm_backward_inp in lib/nn/layernorm.c). Two passes: the two means,
// then dx += rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)).
void layernorm_backward_row_avx2(float *dx, const float *dy, const float *x, const float *w, float mean, float rstd,
                                 int D) {
    const int full = D - D % 8;
    const __m256 vmu = _mm256_set1_ps(mean), vrs = _mm256_set1_ps(rstd);
    __m256 s_dnorm = _mm256_setzero_ps(), s_dnorm_norm = _mm256_setzero_ps();
    for (int d = 0; d < full; d += 8) {
        const __m256 norm = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + d), vmu), vrs);
        const __m256 dnorm = _mm256_mul_ps(_mm256_loadu_ps(dy + d), _mm256_loadu_ps(w + d));
        s_dnorm = _mm256_add_ps(s_dnorm, dnorm);
        s_dnorm_norm = _mm256_fmadd_ps(dnorm, norm, s_dnorm_norm);
    }
    float sum_dnorm = hsum8(s_dnorm), sum_dnorm_norm = hsum8(s_dnorm_norm);
    for (int d = full; d < D; d++) {
        const float norm = (x[d] - mean) * rstd, dnorm = dy[d] * w[d];
        sum_dnorm += dnorm;
        sum_dnorm_norm += dnorm * norm;
    }
    const float mean_dnorm = sum_dnorm / D, mean_dnorm_norm = sum_dnorm_norm / D;
    const __m256 vmd = _mm256_set1_ps(mean_dnorm), vmdn = _mm256_set1_ps(mean_dnorm_norm);
    for (int d = 0; d < full; d += 8) {
        const __m256 norm = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + d), vmu), vrs);
        const __m256 dnorm = _mm256_mul_ps(_mm256_loadu_ps(dy + d), _mm256_loadu_ps(w + d));
        const __m256 inner = _mm256_fnmadd_ps(norm, vmdn, _mm256_sub_ps(dnorm, vmd));
        _mm256_storeu_ps(dx + d, _mm256_fmadd_ps(vrs, inner, _mm256_loadu_ps(dx + d)));
    }
    for (int d = full; d < D; d++) {
        const float norm = (x[d] - mean) * rstd, dnorm = dy[d] * w[d];
        dx[d] += rstd * (dnorm - mean_dnorm - norm * mean_dnorm_norm);
    }
}

// RMSNorm (lib/nn/layernorm.c has the maths and the scalar loops): the row's
// rstd = 1/sqrt(mean(x^2) + eps), y = x * rstd * w.
void rmsnorm_row_avx2(float *y, float *rstd, const float *x, const float *w, int D, double eps) {
    const int full = D - D % 8;
    __m256 sq = _mm256_setzero_ps();
    for (int d = 0; d < full; d += 8) {
        const __m256 xv = _mm256_loadu_ps(x + d);
        sq = _mm256_fmadd_ps(xv, xv, sq);
    }
    float sum = hsum8(sq);
    for (int d = full; d < D; d++) sum += x[d] * x[d];
    const float s = (float)(1.0 / sqrt((double)(sum / D) + eps));
    const __m256 vs = _mm256_set1_ps(s);
    for (int d = 0; d < full; d += 8)
        _mm256_storeu_ps(y + d, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + d), vs), _mm256_loadu_ps(w + d)));
    for (int d = full; d < D; d++) y[d] = x[d] * s * w[d];
    *rstd = s;
}

// dx += rstd * (dnorm - norm * mean(dnorm * norm)), norm = x * rstd, dnorm = dy * w.
void rmsnorm_backward_row_avx2(float *dx, const float *dy, const float *x, const float *w, float rstd, int D) {
    const int full = D - D % 8;
    const __m256 vrs = _mm256_set1_ps(rstd);
    __m256 s_dnorm_norm = _mm256_setzero_ps();
    for (int d = 0; d < full; d += 8) {
        const __m256 norm = _mm256_mul_ps(_mm256_loadu_ps(x + d), vrs);
        const __m256 dnorm = _mm256_mul_ps(_mm256_loadu_ps(dy + d), _mm256_loadu_ps(w + d));
        s_dnorm_norm = _mm256_fmadd_ps(dnorm, norm, s_dnorm_norm);
    }
    float sum = hsum8(s_dnorm_norm);
    for (int d = full; d < D; d++) sum += dy[d] * w[d] * (x[d] * rstd);
    const float mean_dnorm_norm = sum / D;
    const __m256 vm = _mm256_set1_ps(mean_dnorm_norm);
    for (int d = 0; d < full; d += 8) {
        const __m256 norm = _mm256_mul_ps(_mm256_loadu_ps(x + d), vrs);
        const __m256 dnorm = _mm256_mul_ps(_mm256_loadu_ps(dy + d), _mm256_loadu_ps(w + d));
        const __m256 inner = _mm256_fnmadd_ps(norm, vm, dnorm);
        _mm256_storeu_ps(dx + d, _mm256_fmadd_ps(vrs, inner, _mm256_loadu_ps(dx + d)));
    }
    for (int d = full; d < D; d++) dx[d] += rstd * (dy[d] * w[d] - x[d] * rstd * mean_dnorm_norm);
}
