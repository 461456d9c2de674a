// softmax_avx2.c: softmax_exp of softmax.h, 8 floats per ymm register. The
// ragged end goes through a padded copy: AVX2 has no cheap masked float stores.
#include <immintrin.h>
#include <math.h>

#include "kernels/simd_exp_avx2.h"
#include "kernels/softmax.h"
#include "kernels/simd_sum_avx2.h"



float softmax_exp_avx2(float *p, const float *x, int n, float *maxval) {
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    float m = hmax8(vm);
    for (; i < n; i++)
        if (x[i] > m) m = x[i];
    __m256 vmax = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
        _mm256_storeu_ps(p + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (i < n) {  // the tail through a padded copy: -inf lanes give exp = 0
        float xb[8], pb[8];
        for (int j = 0; j < 8; j++) xb[j] = i + j < n ? x[i + j] : -INFINITY;
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(xb), vmax));
        _mm256_storeu_ps(pb, e);
        for (int j = 0; i + j < n; j++) p[i + j] = pb[j];
        sum = _mm256_add_ps(sum, e);
    }
    *maxval = m;
    return hsum8(sum);
}

void softmax_scaled_avx2(float *p, const float *x, int n, float scale) {
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
    float m = hmax8(vm);
    for (; i < n; i++)
        if (x[i] * scale > m) m = x[i] * scale;
    __m256 vmax = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), vmax));
        _mm256_storeu_ps(p + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (i < n) {  // the tail through a padded copy: -inf lanes give exp = 0
        float vb[8], pb[8];
        for (int j = 0; j < 8; j++) vb[j] = i + j < n ? x[i + j] * scale : -INFINITY;
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(vb), vmax));
        _mm256_storeu_ps(pb, e);
        for (int j = 0; i + j < n; j++) p[i + j] = pb[j];
        sum = _mm256_add_ps(sum, e);
    }
    const float inv = 1.0f / hsum8(sum);
    const __m256 vinv = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(p + i, _mm256_mul_ps(_mm256_loadu_ps(p + i), vinv));
    for (; i < n; i++) p[i] *= inv;
}

void softmax_scaled_backward_avx2(float *ds, const float *p, const float *dp, int n, float scale) {
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + i), _mm256_loadu_ps(dp + i), acc);
    float weighted = hsum8(acc);
    for (; i < n; i++) weighted += p[i] * dp[i];
    const __m256 w = _mm256_set1_ps(weighted), vs = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 sp = _mm256_mul_ps(vs, _mm256_loadu_ps(p + i));
        _mm256_storeu_ps(ds + i, _mm256_mul_ps(sp, _mm256_sub_ps(_mm256_loadu_ps(dp + i), w)));
    }
    for (; i < n; i++) ds[i] = scale * p[i] * (dp[i] - weighted);
}
