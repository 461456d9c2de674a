// simd_sum_avx2.h: horizontal sum and max of the 8 lanes of a ymm register,
// for the *_avx2.c kernels. Included only by files compiled with -mavx2.
//
// Halves, then pairs, then neighbours: three adds (or maxes), always in this
// order, so every kernel that reduces a register gets the same bits.
#ifndef UM_SIMD_SUM_AVX2_H
#define UM_SIMD_SUM_AVX2_H

#include <immintrin.h>

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#endif
