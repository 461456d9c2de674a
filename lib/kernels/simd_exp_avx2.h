// simd_exp_avx2.h: exp() on 8 floats at once, for the *_avx2.c kernels
// (softmax, GELU). Included only by files compiled with -mavx2 -mfma.
//
// Same method as simd_exp_avx512.h: exp(x) = 2^n * exp(r), n = round(x / ln 2),
// exp(r) a degree-7 polynomial (Cephes expf), about 1-2 ulp. AVX2 has no
// scalef, so 2^n is built in the exponent bits of two floats 2^(n/2) and
// 2^(n - n/2), each in the normal range; their product with exp(r) rounds to
// denormals, 0 or inf exactly where expf does.
#ifndef UM_SIMD_EXP_AVX2_H
#define UM_SIMD_EXP_AVX2_H

#include <immintrin.h>

// 2^k for integer k in [-126, 127]: k + 127 in the exponent field.
static inline __m256 pow2i_avx2(__m256i k) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

static inline __m256 exp_avx2(__m256 x) {
    // Clamp to where n stays a sane integer (exp is already 0 / inf there).
    // max/min return the second operand when one is NaN, so NaN passes through.
    x = _mm256_min_ps(_mm256_set1_ps(100.0f), _mm256_max_ps(_mm256_set1_ps(-110.0f), x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    return _mm256_mul_ps(_mm256_mul_ps(y, pow2i_avx2(n1)), pow2i_avx2(_mm256_sub_epi32(ni, n1)));
}

#endif
