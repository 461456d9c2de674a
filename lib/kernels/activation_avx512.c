// activation_avx512.c: GELU on 16 floats at once (see activation.h for the maths).
//
// With s = 1 / (1 + exp(-2u)):  gelu(x) = x s,  gelu'(x) = s + 2 x s (1 - s) du/dx.
// For very negative x, exp(-2u) overflows to inf and s = 0 (gelu = -0, gelu' = 0),
// as the tanh reference gives; for very positive x, s = 1. Ragged ends use a
// lane mask: masked-off lanes are neither read nor written.
#include <immintrin.h>
#include <stddef.h>

#include "kernels/activation.h"
#include "kernels/simd_exp_avx512.h"

#define GELU_SCALE 0.7978845608028654f  // sqrt(2/pi)
#define GELU_CUBIC 0.044715f

// u = sqrt(2/pi) (x + 0.044715 x^3); returns s = 1 / (1 + e), e = exp(-2u) in *e.
static inline __m512 gelu_sigmoid(__m512 x, __m512 *e) {
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 u = _mm512_mul_ps(_mm512_set1_ps(GELU_SCALE), _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(GELU_CUBIC), x2), x, x));
    *e = exp_avx512(_mm512_mul_ps(_mm512_set1_ps(-2.0f), u));
    return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), *e));
}

static inline __m512 gelu_value(__m512 x) {
    __m512 e;
    return _mm512_mul_ps(x, gelu_sigmoid(x, &e));
}

static inline __m512 gelu_grad(__m512 x) {
    __m512 e;
    __m512 s = gelu_sigmoid(x, &e);
    // 1 - s = e s. When e = inf, s = 0 and e s is NaN; min() returns its second
    // operand for NaN, giving 1 - s = 1 there.
    __m512 one_minus_s = _mm512_min_ps(_mm512_mul_ps(e, s), _mm512_set1_ps(1.0f));
    __m512 du = _mm512_mul_ps(_mm512_set1_ps(GELU_SCALE),
                              _mm512_fmadd_ps(_mm512_set1_ps(3.0f * GELU_CUBIC), _mm512_mul_ps(x, x), _mm512_set1_ps(1.0f)));
    __m512 t = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(2.0f), x), _mm512_mul_ps(s, one_minus_s));
    return _mm512_fmadd_ps(t, du, s);
}

static inline __mmask16 first_lanes(size_t r) { return (__mmask16)((1u << r) - 1u); }

void act_gelu_forward_avx512(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, gelu_value(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = first_lanes(n - i);
        _mm512_mask_storeu_ps(y + i, m, gelu_value(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

void act_gelu_backward_inplace_avx512(float *d, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(d + i, _mm512_mul_ps(_mm512_loadu_ps(d + i), gelu_grad(_mm512_loadu_ps(x + i))));
    if (i < n) {
        __mmask16 m = first_lanes(n - i);
        __m512 g = gelu_grad(_mm512_maskz_loadu_ps(m, x + i));
        _mm512_mask_storeu_ps(d + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, d + i), g));
    }
}
