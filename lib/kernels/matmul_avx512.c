// matmul_avx512.c: the AVX-512 micro-kernel of the blocked matmul (see gemm.c).
//
// C tile 12 x 32 = 12 rows x two 16-float zmm registers = 24 accumulators,
// plus 2 registers for the row of B and 1 for the broadcast A value: 27 of
// the 32 zmm registers. Each k step loads 32 B values and 12 A values and
// does 24 fused multiply-adds (768 flops per 44 loaded floats), so the FMA
// units, not the loads, set the pace. 24 independent accumulators also hide
// the FMA latency (4 cycles x 2 pipes needs at least 8 chains in flight).
#include <immintrin.h>

#include "kernels/gemm.h"

#define TILE_M 12
#define TILE_N 32

// a: kc x 12 packed A values, b: kc x 32 packed B values (64-byte aligned).
static void kernel_12x32(int kc, const float *a, const float *b, float *c, size_t ldc, int accumulate) {
    __m512 c0l = _mm512_setzero_ps(), c0h = c0l, c1l = c0l, c1h = c0l, c2l = c0l, c2h = c0l, c3l = c0l, c3h = c0l;
    __m512 c4l = c0l, c4h = c0l, c5l = c0l, c5h = c0l, c6l = c0l, c6h = c0l, c7l = c0l, c7h = c0l;
    __m512 c8l = c0l, c8h = c0l, c9l = c0l, c9h = c0l, c10l = c0l, c10h = c0l, c11l = c0l, c11h = c0l;

    for (int k = 0; k < kc; k++) {
        const __m512 bl = _mm512_load_ps(b), bh = _mm512_load_ps(b + 16);
        __m512 ai;
        // One rank-1 update: row i of the tile += a[i] * (row k of B).
#define ROW(i)                                  \
    ai = _mm512_set1_ps(a[i]);                  \
    c##i##l = _mm512_fmadd_ps(ai, bl, c##i##l); \
    c##i##h = _mm512_fmadd_ps(ai, bh, c##i##h);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7) ROW(8) ROW(9) ROW(10) ROW(11)
#undef ROW
        a += TILE_M;
        b += TILE_N;
    }

    // Write the tile back: store, or add to what C already holds (backward +=).
#define STORE(i)                                                                           \
    {                                                                                      \
        float *ci = c + (size_t)(i) * ldc;                                                 \
        if (accumulate) {                                                                  \
            c##i##l = _mm512_add_ps(c##i##l, _mm512_loadu_ps(ci));                         \
            c##i##h = _mm512_add_ps(c##i##h, _mm512_loadu_ps(ci + 16));                    \
        }                                                                                  \
        _mm512_storeu_ps(ci, c##i##l);                                                     \
        _mm512_storeu_ps(ci + 16, c##i##h);                                                \
    }
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5) STORE(6) STORE(7) STORE(8) STORE(9) STORE(10) STORE(11)
#undef STORE
}

// Cache blocks for a core with 48 KB L1d and 1 MB L2 (Zen 4): a 256 x 32
// sliver of B is 32 KB, a 240 x 256 block of A is 240 KB.
const GemmKernel gemm_kernel_avx512 = {
    .name = "avx512", .kernel = kernel_12x32, .MR = TILE_M, .NR = TILE_N, .KC = 256, .MC = 240, .NC = 4096};
