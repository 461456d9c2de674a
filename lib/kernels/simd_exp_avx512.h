// simd_exp_avx512.h: exp() on 16 floats at once, for the *_avx512.c kernels
// (softmax, GELU). Included only by files compiled with -mavx512f.
//
// exp(x) = 2^n * exp(r) with n = round(x / ln 2) and |r| <= ln(2)/2, where
// exp(r) is a degree-7 polynomial (the Cephes expf coefficients); error about
// 1-2 ulp against libm's expf. _mm512_scalef_ps multiplies by 2^n and gives
// 0 below the float range and inf above, like expf; NaN stays NaN.
#ifndef UM_SIMD_EXP_AVX512_H
#define UM_SIMD_EXP_AVX512_H

#include <immintrin.h>

static inline __m512 exp_avx512(__m512 x) {
    // Clamp to where n stays a sane integer (exp is already 0 / inf there).
    // max/min return the second operand when one is NaN, so NaN passes through.
    x = _mm512_min_ps(_mm512_set1_ps(100.0f), _mm512_max_ps(_mm512_set1_ps(-110.0f), x));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // r = x - n ln2, with ln2 split in two so n * ln2_hi is exact.
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

#endif
