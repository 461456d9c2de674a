// simd_sum_avx512.h: four horizontal sums at once, for the *_avx512.c
// kernels (the few-rows matmul, key scoring). Included only by files
// compiled with -mavx512f.
#ifndef UM_SIMD_SUM_AVX512_H
#define UM_SIMD_SUM_AVX512_H

#include <immintrin.h>

// The four sums [sum(a0), sum(a1), sum(a2), sum(a3)] in one go. Reducing
// each register on its own costs ~8 shuffles and adds per register, more
// than the FMAs for a short dot product (Dk = 64 is 4 FMAs); folding the four
// together costs about a quarter of that. Fold halves, then quarters, then
// within quarters:
static inline __m128 sum_each_of_4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    // 1. 512 -> 256 per row, two rows per register: [a0 lo+hi | a1 lo+hi]
    const __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(a0, a1, 0x44), _mm512_shuffle_f32x4(a0, a1, 0xEE));
    const __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(a2, a3, 0x44), _mm512_shuffle_f32x4(a2, a3, 0xEE));
    // 2. 256 -> 128 per row: quarter i of t holds 4 partial sums of row i
    __m512 t = _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xDD));
    // 3. within each quarter: swap neighbours and add, swap pairs and add
    t = _mm512_add_ps(t, _mm512_permute_ps(t, 0xB1));
    t = _mm512_add_ps(t, _mm512_permute_ps(t, 0x4E));
    // 4. lanes 0, 4, 8, 12 now hold the four sums
    const __m512i pick = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(pick, t));
}

#endif
