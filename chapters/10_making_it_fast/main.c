// Chapter 10: making it fast. The forward pass of one linear layer,
//   inp (N,C), weight (OC,C) -> out (N,OC),   out[n][o] = sum_c inp[n][c] * weight[o][c]
// climbed one rung at a time from the textbook loop to the library's kernel.
// Every rung is first checked against the reference, then timed (best of
// several runs, one thread unless the rung says otherwise).
//
// Run: make ch10            (UM_SIMD=avx2 limits the library rungs to AVX2)
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/alloc.h"
#include "base/real.h"
#include "base/rng.h"
#include "base/timer.h"
#include "kernels/dispatch.h"
#include "kernels/matmul.h"

// The shape being climbed. By default two: the MLP up-projection of a D=256
// model (C=256 -> OC=4*256) on 2048 tokens, whose weight fits in L2, and a
// 1024^3 product, whose weight (4 MB) does not. `bin/ch10 SECONDS N C OC`
// climbs another shape.
static int N = 2048, C = 256, OC = 1024;

// ------------------------------------------------------------------ rung 1
// The definition, written down directly: one dot product per output. The
// compiler may not reorder a float sum (that would change the rounding), so
// the inner loop is a chain of dependent adds: each waits for the last.
static void rung1_naive(float *out, const float *inp, const float *w, const float *wt) {
    (void)wt;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            float acc = 0;
            for (int c = 0; c < C; c++) acc += inp[n * C + c] * w[o * C + c];
            out[n * OC + o] = acc;
        }
}

// ------------------------------------------------------------------ rung 2
// Swap the loops so the innermost one runs along a row of the output:
// out[n][:] += inp[n][c] * wt[c][:] with wt = weight transposed (C,OC).
// Now the inner iterations are independent, so the compiler turns them into
// 8-wide AVX2 instructions by itself (target attribute: this function may
// use AVX2 even though the file is compiled for any x86-64).
__attribute__((target("avx2,fma"))) static void rung2_vectorised(float *out, const float *inp, const float *w,
                                                                 const float *wt) {
    (void)w;
    for (int n = 0; n < N; n++) {
        float *y = out + n * OC;
        for (int o = 0; o < OC; o++) y[o] = 0;
        for (int c = 0; c < C; c++) {
            const float x = inp[n * C + c];
            const float *row = wt + c * OC;
            for (int o = 0; o < OC; o++) y[o] += x * row[o];
        }
    }
}

// ------------------------------------------------------------------ rung 3
// Register tiling: keep a 12 x 32 block of out in 24 AVX-512 registers and
// stream the whole C dimension through it, so each loaded value feeds many
// FMAs instead of one load-add-store of out per multiply. No packing yet:
// the 12 inputs rows are read with a stride of C floats, and each step reads
// a fresh 32-float piece of wt from a different row.
__attribute__((target("avx512f,fma"))) static void tile_12x32(float *out, const float *inp, const float *wt, int n0,
                                                                int o0) {
    __m512 acc[12][2];
    for (int i = 0; i < 12; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int c = 0; c < C; c++) {
        const __m512 b0 = _mm512_loadu_ps(wt + c * OC + o0), b1 = _mm512_loadu_ps(wt + c * OC + o0 + 16);
        for (int i = 0; i < 12; i++) {
            const __m512 a = _mm512_set1_ps(inp[(n0 + i) * C + c]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
    }
    for (int i = 0; i < 12; i++) {
        _mm512_storeu_ps(out + (n0 + i) * OC + o0, acc[i][0]);
        _mm512_storeu_ps(out + (n0 + i) * OC + o0 + 16, acc[i][1]);
    }
}

// Rows that do not fill a tile of 12 (N % 12): the plain loop of rung 2.
static void edge_rows(float *out, const float *inp, const float *wt, int n0) {
    for (int n = n0; n < N; n++) {
        float *y = out + n * OC;
        for (int o = 0; o < OC; o++) y[o] = 0;
        for (int c = 0; c < C; c++)
            for (int o = 0; o < OC; o++) y[o] += inp[n * C + c] * wt[c * OC + o];
    }
}

static void rung3_register_tile(float *out, const float *inp, const float *w, const float *wt) {
    (void)w;
    int n = 0;
    for (; n + 12 <= N; n += 12)
        for (int o = 0; o < OC; o += 32) tile_12x32(out, inp, wt, n, o);  // main() checks OC % 32 == 0
    edge_rows(out, inp, wt, n);
}

// ------------------------------------------------------------------ rungs 4, 5
// The library: the same 12 x 32 micro-kernel (lib/kernels/matmul_avx512.c),
// fed by packed, cache-sized blocks (lib/kernels/gemm.c); then on 2 threads.
static void rung4_library(float *out, const float *inp, const float *w, const float *wt) {
    (void)wt;
    matmul_forward(out, inp, w, NULL, N, C, OC);
}

// ------------------------------------------------------------------ harness
typedef void (*Rung)(float *out, const float *inp, const float *w, const float *wt);

static void set_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    (void)n;
}

// Largest error relative to the sum of |terms|, the scale float rounding works at.
static double worst_error(const float *out, const float *want, const float *mag) {
    double worst = 0;
    for (int i = 0; i < N * OC; i++) {
        double e = fabs((double)out[i] - want[i]) / (mag[i] + 1e-30);
        if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

static double best_seconds(Rung rung, float *out, const float *inp, const float *w, const float *wt, double budget) {
    double best = INFINITY, start = um_now();
    for (int rep = 0; rep < 3 || (um_now() - start < budget && rep < 1000); rep++) {
        double t0 = um_now();
        rung(out, inp, w, wt);
        double dt = um_now() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

// Check and time every rung on the current shape. Returns 0, or 1 if a rung is wrong.
static int climb(double budget) {
    UmRng rng;
    rng_seed(&rng, 10);
    float *inp = um_alloc(sizeof(float) * N * C), *w = um_alloc(sizeof(float) * OC * C);
    float *wt = um_alloc(sizeof(float) * C * OC), *out = um_alloc(sizeof(float) * N * OC);
    float *want = um_alloc(sizeof(float) * N * OC), *mag = um_alloc(sizeof(float) * N * OC);
    float *ainp = um_alloc(sizeof(float) * N * C), *aw = um_alloc(sizeof(float) * OC * C);
    for (int i = 0; i < N * C; i++) inp[i] = (float)rng_normal(&rng), ainp[i] = fabsf(inp[i]);
    for (int i = 0; i < OC * C; i++) w[i] = (float)rng_normal(&rng) * 0.06f, aw[i] = fabsf(w[i]);
    for (int o = 0; o < OC; o++)
        for (int c = 0; c < C; c++) wt[c * OC + o] = w[o * C + c];  // done once, like a stored layout
    set_threads(1);
    matmul_forward_ref(want, inp, w, NULL, N, C, OC);
    matmul_forward_ref(mag, ainp, aw, NULL, N, C, OC);  // sum of |terms| per output

    const int have_avx2 = um_simd_available(UM_SIMD_AVX2), have_avx512 = um_simd_available(UM_SIMD_AVX512);
    struct {
        const char *name;
        Rung fn;
        int threads, runs;
    } rungs[] = {
        {"1 naive dot products", rung1_naive, 1, 1},
        {"2 loops swapped, compiler-vectorised", rung2_vectorised, 1, have_avx2},
        {"3 12x32 register tile, no packing", rung3_register_tile, 1, have_avx512},
        {"4 + packing and cache blocks (lib)", rung4_library, 1, 1},
        {"5 + 2 threads (lib)", rung4_library, 2, 1},
    };
    const double flops = 2.0 * N * C * OC;
    printf("\nlinear forward, N=%d C=%d OC=%d (%.2f GFLOP per call), library path: %s\n", N, C, OC, flops * 1e-9,
           um_simd_path_name());
    printf("%-40s %10s %10s %12s\n", "rung", "GFLOP/s", "speed-up", "max rel err");
    double base = 0;
    int status = 0;
    for (size_t r = 0; r < sizeof rungs / sizeof rungs[0] && status == 0; r++) {
        if (!rungs[r].runs) {
            printf("%-40s   skipped: this CPU lacks the instructions\n", rungs[r].name);
            continue;
        }
        set_threads(rungs[r].threads);
        memset(out, 0, sizeof(float) * N * OC);
        rungs[r].fn(out, inp, w, wt);
        const double err = worst_error(out, want, mag);
        if (!(err <= 1e-5)) {
            printf("%-40s   WRONG: error %.3g relative to |terms|\n", rungs[r].name, err);
            status = 1;
            break;
        }
        const double gflops = flops / best_seconds(rungs[r].fn, out, inp, w, wt, budget) * 1e-9;
        if (base == 0) base = gflops;
        printf("%-40s %10.1f %9.1fx %12.2g\n", rungs[r].name, gflops, gflops / base, err);
        fflush(stdout);
    }
    float *bufs[] = {inp, w, wt, out, want, mag, ainp, aw};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) um_free(bufs[i]);
    return status;
}

int main(int argc, char **argv) {
    const double budget = argc > 1 ? atof(argv[1]) : 0.3;  // seconds of timing per rung
    int shapes[2][3] = {{2048, 256, 1024}, {1024, 1024, 1024}}, nshapes = 2;
    if (argc > 4) shapes[0][0] = atoi(argv[2]), shapes[0][1] = atoi(argv[3]), shapes[0][2] = atoi(argv[4]), nshapes = 1;
    printf("Chapter 10: one linear layer, from the textbook loop to the library kernel.\n"
           "Each rung is checked against matmul_forward_ref, then timed (best of several runs).\n");
    for (int s = 0; s < nshapes; s++) {
        N = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
        if (N < 1 || C < 1 || OC < 32 || OC % 32 != 0) {
            fprintf(stderr, "error: want N>=1 C>=1 and OC a multiple of 32 (rung 3's tile), got %d %d %d\n", N, C, OC);
            return 2;
        }
        if (climb(budget) != 0) return 1;
    }
    return 0;
}
