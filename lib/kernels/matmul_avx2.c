// matmul_avx2.c: the AVX2+FMA micro-kernel of the blocked matmul (see gemm.c).
//
// C tile 6 x 16 = 6 rows x two 8-float ymm registers = 12 accumulators, plus
// 2 for the row of B and 1 for the broadcast A value: 15 of the 16 ymm
// registers. 12 independent FMA chains cover the FMA latency x pipes (4 x 2).
#include <immintrin.h>

#include "kernels/gemm.h"
#include "kernels/matmul.h"
#include "kernels/simd_sum_avx2.h"

#define TILE_M 6
#define TILE_N 16

// a: the tile's 6 rows of A, element (i,k) at a[i*a_rs + k*a_cs] (packed:
// a_rs = 1, a_cs = 6; or A itself, see gemm.c); b: kc rows of 16 B values,
// row k at b + k*b_rs (packed: b_rs = 16; or B itself).
static void kernel_6x16(int kc, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t b_rs, float *c,
                        size_t ldc, int accumulate) {
    __m256 c0l = _mm256_setzero_ps(), c0h = c0l, c1l = c0l, c1h = c0l, c2l = c0l, c2h = c0l;
    __m256 c3l = c0l, c3h = c0l, c4l = c0l, c4h = c0l, c5l = c0l, c5h = c0l;

    for (int k = 0; k < kc; k++) {
        const __m256 bl = _mm256_loadu_ps(b), bh = _mm256_loadu_ps(b + 8);
        __m256 ai;
        // One rank-1 update: row i of the tile += a[i] * (row k of B).
#define ROW(i)                                  \
    ai = _mm256_broadcast_ss(a + (i) * a_rs);   \
    c##i##l = _mm256_fmadd_ps(ai, bl, c##i##l); \
    c##i##h = _mm256_fmadd_ps(ai, bh, c##i##h);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        a += a_cs;
        b += b_rs;
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

// ---------------------------------------------------------------- few rows (see matmul.h)

static inline int clamp_below(int i, int n) { return i < n ? i : n - 1; }

// Tile: 4 rows of inp x 2 rows of W = 8 ymm accumulators, plus 2 W and 1 inp
// register: 11 of the 16. A tile hanging over the last row or output repeats
// it (the extra sums are thrown away). The ragged end of C (under 8 floats)
// is read through a lane mask, masked lanes reading as 0.
void matmul_few_rows_avx2(float *out, const float *inp, const float *w, int N, int C, int OC, int o0, int o1) {
    const int tail = C % 8, full = C - tail;
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i tm = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), lanes);
    for (int o = o0; o < o1; o += 2) {
        const int no = o1 - o < 2 ? o1 - o : 2;
        const float *w0 = w + (size_t)o * C, *w1 = w + (size_t)clamp_below(o + 1, o1) * C;
        for (int n = 0; n < N; n += 4) {
            const int nr = N - n < 4 ? N - n : 4;
            const float *x[4];
            for (int i = 0; i < 4; i++) x[i] = inp + (size_t)clamp_below(n + i, N) * C;
            __m256 acc[4][2];
            for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
#define STEP(LOAD)                                                 \
    {                                                              \
        const __m256 v0 = LOAD(w0), v1 = LOAD(w1);                 \
        for (int i = 0; i < 4; i++) {                              \
            const __m256 xi = LOAD(x[i]);                          \
            acc[i][0] = _mm256_fmadd_ps(xi, v0, acc[i][0]);        \
            acc[i][1] = _mm256_fmadd_ps(xi, v1, acc[i][1]);        \
        }                                                          \
    }
            int c = 0;
#define FULL(p) _mm256_loadu_ps((p) + c)
#define MASKED(p) _mm256_maskload_ps((p) + c, tm)
            for (; c < full; c += 8) STEP(FULL)
            if (tail) STEP(MASKED)
#undef FULL
#undef MASKED
#undef STEP
            for (int i = 0; i < nr; i++) {
                float *y = out + (size_t)(n + i) * OC + o;
                for (int j = 0; j < no; j++) y[j] = hsum8(acc[i][j]);
            }
        }
    }
}
