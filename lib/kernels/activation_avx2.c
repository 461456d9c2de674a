// activation_avx2.c: GELU on 8 floats at once (see activation.h for the maths).
//
// With s = 1 / (1 + exp(-2u)):  gelu(x) = x s,  gelu'(x) = s + 2 x s (1 - s) du/dx.
// For very negative x, exp(-2u) overflows to inf and s = 0 (gelu = -0, gelu' = 0),
// as the tanh reference gives; for very positive x, s = 1.
#include <immintrin.h>
#include <stddef.h>

#include "kernels/activation.h"
#include "kernels/simd_exp_avx2.h"

#define GELU_SCALE 0.7978845608028654f  // sqrt(2/pi)
#define GELU_CUBIC 0.044715f

// u = sqrt(2/pi) (x + 0.044715 x^3); returns s = 1 / (1 + e), e = exp(-2u) in *e.
static inline __m256 gelu_sigmoid(__m256 x, __m256 *e) {
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 u = _mm256_mul_ps(_mm256_set1_ps(GELU_SCALE), _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(GELU_CUBIC), x2), x, x));
    *e = exp_avx2(_mm256_mul_ps(_mm256_set1_ps(-2.0f), u));
    return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), *e));
}

static inline __m256 gelu_value(__m256 x) {
    __m256 e;
    return _mm256_mul_ps(x, gelu_sigmoid(x, &e));
}

static inline __m256 gelu_grad(__m256 x) {
    __m256 e;
    __m256 s = gelu_sigmoid(x, &e);
    // 1 - s = e s. When e = inf, s = 0 and e s is NaN; min() returns its second
    // operand for NaN, giving 1 - s = 1 there.
    __m256 one_minus_s = _mm256_min_ps(_mm256_mul_ps(e, s), _mm256_set1_ps(1.0f));
    __m256 du = _mm256_mul_ps(_mm256_set1_ps(GELU_SCALE),
                              _mm256_fmadd_ps(_mm256_set1_ps(3.0f * GELU_CUBIC), _mm256_mul_ps(x, x), _mm256_set1_ps(1.0f)));
    __m256 t = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(2.0f), x), _mm256_mul_ps(s, one_minus_s));
    return _mm256_fmadd_ps(t, du, s);
}

// The last n % 8 elements: through a zero-padded copy, so they get exactly
// the vector maths (AVX2 has no cheap masked float stores).
static void tail(float *out, const float *x, const float *d, size_t r, int grad) {
    float xb[8] = {0}, db[8] = {0}, ob[8];
    for (size_t j = 0; j < r; j++) xb[j] = x[j], db[j] = d ? d[j] : 0;
    __m256 v = _mm256_loadu_ps(xb);
    _mm256_storeu_ps(ob, grad ? _mm256_mul_ps(_mm256_loadu_ps(db), gelu_grad(v)) : gelu_value(v));
    for (size_t j = 0; j < r; j++) out[j] = ob[j];
}

void act_gelu_forward_avx2(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gelu_value(_mm256_loadu_ps(x + i)));
    if (i < n) tail(y + i, x + i, NULL, n - i, 0);
}

void act_gelu_backward_inplace_avx2(float *d, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_mul_ps(_mm256_loadu_ps(d + i), gelu_grad(_mm256_loadu_ps(x + i))));
    if (i < n) tail(d + i, x + i, d + i, n - i, 1);
}
