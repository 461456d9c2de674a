// norm_avx2.c: the LayerNorm row of norm.h, 8 floats per ymm register.
// The ragged end (fewer than 8 values) is finished in scalar code.
#include <immintrin.h>
#include <math.h>

#include "kernels/norm.h"

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

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
