// softmax_avx2.c: the attention / softmax row kernels of softmax.h, 8 floats
// per ymm register. Ragged ends (n % 8 columns or elements) go through a
// scalar loop or a zero-padded copy: AVX2 has no cheap masked float stores.
#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#include "kernels/simd_exp_avx2.h"
#include "kernels/softmax.h"

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float dot_row(const float *q, const float *r, int hs) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 16 <= hs; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(r + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(r + i + 8), s1);
    }
    for (; i + 8 <= hs; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(r + i), s0);
    float acc = hsum(_mm256_add_ps(s0, s1));
    for (; i < hs; i++) acc += q[i] * r[i];
    return acc;
}

void attn_dots_avx2(float *s, const float *q, const float *rows, int n, int hs, size_t stride, float scale) {
    for (int j = 0; j < n; j++) s[j] = dot_row(q, rows + (size_t)j * stride, hs) * scale;
}

void attn_weighted_sum_avx2(float *out, float alpha, const float *w, const float *rows, int n, int hs,
                            size_t stride) {
    int c = 0;
    for (; c + 8 <= hs; c += 8) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        const float *r = rows + c;
        int j = 0;
        for (; j + 2 <= n; j += 2, r += 2 * stride) {
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(w[j]), _mm256_loadu_ps(r), a0);
            a1 = _mm256_fmadd_ps(_mm256_set1_ps(w[j + 1]), _mm256_loadu_ps(r + stride), a1);
        }
        if (j < n) a0 = _mm256_fmadd_ps(_mm256_set1_ps(w[j]), _mm256_loadu_ps(r), a0);
        _mm256_storeu_ps(out + c, _mm256_fmadd_ps(_mm256_set1_ps(alpha), _mm256_add_ps(a0, a1), _mm256_loadu_ps(out + c)));
    }
    for (; c < hs; c++) {
        float acc = 0;
        for (int j = 0; j < n; j++) acc += w[j] * rows[(size_t)j * stride + c];
        out[c] += alpha * acc;
    }
}

float softmax_exp_avx2(float *p, const float *x, int n, float *maxval) {
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    float m = hmax(vm);
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
    return hsum(sum);
}

// Row by row like vec_axpy_avx2 (8-wide fma, scalar tail), same bits.
void attn_rows_axpy_avx2(float *rows, float alpha, const float *w, const float *x, int n, int hs, size_t stride) {
    for (int j = 0; j < n; j++) {
        float *y = rows + (size_t)j * stride;
        const float a = alpha * w[j];
        const __m256 va = _mm256_set1_ps(a);
        int i = 0;
        for (; i + 8 <= hs; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
        for (; i < hs; i++) y[i] += a * x[i];
    }
}
