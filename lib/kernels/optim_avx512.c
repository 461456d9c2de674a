// optim_avx512.c: the AdamW elementwise loop of optim.h, 16 floats per register.
// It updates the first n - n % 16 weights and returns that count; the caller
// (adamw_update) finishes the ragged end with its own scalar loop.
#include <immintrin.h>

#include "kernels/optim.h"

size_t adamw_elements_avx512(float *w, const float *g, float *m, float *v, size_t n, const AdamWConsts *c) {
    const __m512 lr = _mm512_set1_ps(c->lr), wd = _mm512_set1_ps(c->weight_decay), gs = _mm512_set1_ps(c->grad_scale);
    const __m512 b1 = _mm512_set1_ps(c->beta1), b2 = _mm512_set1_ps(c->beta2);
    const __m512 omb1 = _mm512_set1_ps(c->one_minus_beta1), omb2 = _mm512_set1_ps(c->one_minus_beta2);
    const __m512 eps = _mm512_set1_ps(c->eps), bc1 = _mm512_set1_ps(c->bc1), bc2 = _mm512_set1_ps(c->bc2);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 gi = _mm512_mul_ps(_mm512_loadu_ps(g + i), gs);
        const __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(omb1, gi));
        const __m512 g2 = _mm512_mul_ps(_mm512_mul_ps(omb2, gi), gi);  // ((1 - beta2) g') g', the scalar order
        const __m512 vi = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + i)), g2);
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        const __m512 m_hat = _mm512_div_ps(mi, bc1), v_hat = _mm512_div_ps(vi, bc2);
        const __m512 wi = _mm512_loadu_ps(w + i);
        const __m512 adam = _mm512_div_ps(m_hat, _mm512_add_ps(_mm512_sqrt_ps(v_hat), eps));
        const __m512 step = _mm512_add_ps(adam, _mm512_mul_ps(wd, wi));
        _mm512_storeu_ps(w + i, _mm512_sub_ps(wi, _mm512_mul_ps(lr, step)));
    }
    return i;
}
