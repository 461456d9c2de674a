// optim_avx2.c: the AdamW elementwise loop of optim.h, 8 floats per register.
// It updates the first n - n % 8 weights and returns that count; the caller
// (adamw_update) finishes the ragged end with its own scalar loop.
#include <immintrin.h>

#include "kernels/optim.h"

size_t adamw_elements_avx2(float *w, const float *g, float *m, float *v, size_t n, const AdamWConsts *c) {
    const __m256 lr = _mm256_set1_ps(c->lr), wd = _mm256_set1_ps(c->weight_decay), gs = _mm256_set1_ps(c->grad_scale);
    const __m256 b1 = _mm256_set1_ps(c->beta1), b2 = _mm256_set1_ps(c->beta2);
    const __m256 omb1 = _mm256_set1_ps(c->one_minus_beta1), omb2 = _mm256_set1_ps(c->one_minus_beta2);
    const __m256 eps = _mm256_set1_ps(c->eps), bc1 = _mm256_set1_ps(c->bc1), bc2 = _mm256_set1_ps(c->bc2);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), gs);
        const __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(omb1, gi));
        const __m256 g2 = _mm256_mul_ps(_mm256_mul_ps(omb2, gi), gi);  // ((1 - beta2) g') g', the scalar order
        const __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)), g2);
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        const __m256 m_hat = _mm256_div_ps(mi, bc1), v_hat = _mm256_div_ps(vi, bc2);
        const __m256 wi = _mm256_loadu_ps(w + i);
        const __m256 adam = _mm256_div_ps(m_hat, _mm256_add_ps(_mm256_sqrt_ps(v_hat), eps));
        const __m256 step = _mm256_add_ps(adam, _mm256_mul_ps(wd, wi));
        _mm256_storeu_ps(w + i, _mm256_sub_ps(wi, _mm256_mul_ps(lr, step)));
    }
    return i;
}
