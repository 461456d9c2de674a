// matmul_avx2.c: the AVX2+FMA micro-kernel of the blocked matmul (see gemm.c).
//
// C tile 6 x 16 = 6 rows x two 8-float ymm registers = 12 accumulators, plus
// 2 for the row of B and 1 for the broadcast A value: 15 of the 16 ymm
// registers. 12 independent FMA chains cover the FMA latency x pipes (4 x 2).
#include <immintrin.h>

#include "kernels/gemm.h"

#define TILE_M 6
#define TILE_N 16

// a: kc x 6 packed A values, b: kc x 16 packed B values (64-byte aligned).
static void kernel_6x16(int kc, const float *a, const float *b, float *c, size_t ldc, int accumulate) {
    __m256 c0l = _mm256_setzero_ps(), c0h = c0l, c1l = c0l, c1h = c0l, c2l = c0l, c2h = c0l;
    __m256 c3l = c0l, c3h = c0l, c4l = c0l, c4h = c0l, c5l = c0l, c5h = c0l;

    for (int k = 0; k < kc; k++) {
        const __m256 bl = _mm256_load_ps(b), bh = _mm256_load_ps(b + 8);
        __m256 ai;
        // One rank-1 update: row i of the tile += a[i] * (row k of B).
#define ROW(i)                                  \
    ai = _mm256_broadcast_ss(a + (i));          \
    c##i##l = _mm256_fmadd_ps(ai, bl, c##i##l); \
    c##i##h = _mm256_fmadd_ps(ai, bh, c##i##h);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        a += TILE_M;
        b += TILE_N;
    }

    // Write the tile back: store, or add to what C already holds (backward +=).
#define STORE(i)                                                                          \
    {                                                                                     \
        float *ci = c + (size_t)(i) * ldc;                                                \
        if (accumulate) {                                                                 \
            c##i##l = _mm256_add_ps(c##i##l, _mm256_loadu_ps(ci));                        \
            c##i##h = _mm256_add_ps(c##i##h, _mm256_loadu_ps(ci + 8));                    \
        }                                                                                 \
        _mm256_storeu_ps(ci, c##i##l);                                                    \
        _mm256_storeu_ps(ci + 8, c##i##h);                                                \
    }
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
}

// Cache blocks: a 256 x 16 sliver of B is 16 KB (L1), a 120 x 256 block of A
// is 120 KB (L2).
const GemmKernel gemm_kernel_avx2 = {
    .name = "avx2", .kernel = kernel_6x16, .MR = TILE_M, .NR = TILE_N, .KC = 256, .MC = 120, .NC = 4096};
