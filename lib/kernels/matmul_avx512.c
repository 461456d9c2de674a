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
#include "kernels/matmul.h"
#include "kernels/simd_sum_avx512.h"

#define TILE_M 12
#define TILE_N 32

// a: the tile's 12 rows of A, element (i,k) at a[i*a_rs + k*a_cs] (packed:
// a_rs = 1, a_cs = 12; or A itself, see gemm.c); b: kc rows of 32 B values,
// row k at b + k*b_rs (packed: b_rs = 32; or B itself).
static void kernel_12x32(int kc, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t b_rs, float *c,
                         size_t ldc, int accumulate) {
    __m512 c0l = _mm512_setzero_ps(), c0h = c0l, c1l = c0l, c1h = c0l, c2l = c0l, c2h = c0l, c3l = c0l, c3h = c0l;
    __m512 c4l = c0l, c4h = c0l, c5l = c0l, c5h = c0l, c6l = c0l, c6h = c0l, c7l = c0l, c7h = c0l;
    __m512 c8l = c0l, c8h = c0l, c9l = c0l, c9h = c0l, c10l = c0l, c10h = c0l, c11l = c0l, c11h = c0l;

    for (int k = 0; k < kc; k++) {
        const __m512 bl = _mm512_loadu_ps(b), bh = _mm512_loadu_ps(b + 16);
        __m512 ai;
        // One rank-1 update: row i of the tile += a[i] * (row k of B).
#define ROW(i)                                  \
    ai = _mm512_set1_ps(a[(i) * a_rs]);         \
    c##i##l = _mm512_fmadd_ps(ai, bl, c##i##l); \
    c##i##h = _mm512_fmadd_ps(ai, bh, c##i##h);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7) ROW(8) ROW(9) ROW(10) ROW(11)
#undef ROW
        a += a_cs;
        b += b_rs;
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

// ---------------------------------------------------------------- few rows (see matmul.h)

static inline __mmask16 first_lanes(int r) { return (__mmask16)((1u << r) - 1u); }

static inline int clamp_below(int i, int n) { return i < n ? i : n - 1; }

// Tile: 4 rows of inp x 4 rows of W = 16 zmm accumulators, plus 4 W and 4
// inp registers per step of 16 along C: 24 of the 32 registers. Each step
// does 16 FMAs for 8 loads. A tile hanging over the last row or output
// repeats that row (the extra sums are thrown away), so there is no remainder
// code; the outputs o advance in the outer loop, so a tile's 4 rows of W stay
// in L1 while every group of 4 inp rows passes them.
void matmul_few_rows_avx512(float *out, const float *inp, const float *w, int N, int C, int OC, int o0, int o1) {
    const int tail = C % 16, full = C - tail;
    const __mmask16 tm = first_lanes(tail);
    for (int o = o0; o < o1; o += 4) {
        const int no = o1 - o < 4 ? o1 - o : 4;
        const float *w0 = w + (size_t)o * C, *w1 = w + (size_t)clamp_below(o + 1, o1) * C;
        const float *w2 = w + (size_t)clamp_below(o + 2, o1) * C, *w3 = w + (size_t)clamp_below(o + 3, o1) * C;
        for (int n = 0; n < N; n += 4) {
            const int nr = N - n < 4 ? N - n : 4;
            const float *x[4];
            for (int i = 0; i < 4; i++) x[i] = inp + (size_t)clamp_below(n + i, N) * C;
            __m512 acc[4][4];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
            // acc[i][j] += x_i[c..c+16) * w_j[c..c+16), lane by lane
#define STEP(LOAD)                                                                                   \
    {                                                                                                \
        const __m512 v0 = LOAD(w0), v1 = LOAD(w1), v2 = LOAD(w2), v3 = LOAD(w3);                     \
        for (int i = 0; i < 4; i++) {                                                                \
            const __m512 xi = LOAD(x[i]);                                                            \
            acc[i][0] = _mm512_fmadd_ps(xi, v0, acc[i][0]);                                          \
            acc[i][1] = _mm512_fmadd_ps(xi, v1, acc[i][1]);                                          \
            acc[i][2] = _mm512_fmadd_ps(xi, v2, acc[i][2]);                                          \
            acc[i][3] = _mm512_fmadd_ps(xi, v3, acc[i][3]);                                          \
        }                                                                                            \
    }
            int c = 0;
#define FULL(p) _mm512_loadu_ps((p) + c)
#define MASKED(p) _mm512_maskz_loadu_ps(tm, (p) + c)
            for (; c < full; c += 16) STEP(FULL)
            if (tail) STEP(MASKED)
#undef FULL
#undef MASKED
#undef STEP
            for (int i = 0; i < nr; i++) {
                float *y = out + (size_t)(n + i) * OC + o;
                const __m128 s = sum_each_of_4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
                if (no == 4) {
                    _mm_storeu_ps(y, s);
                } else {
                    float tmp[4];
                    _mm_storeu_ps(tmp, s);
                    for (int j = 0; j < no; j++) y[j] = tmp[j];
                }
            }
        }
    }
}
