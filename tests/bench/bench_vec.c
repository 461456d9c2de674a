// bench_vec.c: GFLOP/s of the vector kernels (vec.h) per SIMD path, one
// thread, on the sizes the memory layers use. Prints `name: value` lines:
//   vec_gflops_<path>_<kernel>
// Not a test: nothing here asserts a time.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/rng.h"
#include "base/timer.h"
#include "kernels/dispatch.h"
#include "kernels/vec.h"

enum { DOT_N = 256, KEYS = 512, DK = 64, ROWS = 65536, M = 32, DV = 256, REPS = 2000 };

typedef struct {
    real *a, *b, *keys, *q, *s, *V, *dV, *w, *out, *g;
    int idx[M];
} Data;

static volatile real sink;  // keeps the compiler from dropping unused dot products

static void run(int kernel, Data *d) {
    switch (kernel) {
    case 0: sink = vec_dot(d->a, d->b, DOT_N); break;
    case 1: vec_axpy(d->a, (real)1e-3, d->b, DOT_N); break;
    case 2: vec_score_keys(d->s, d->q, d->keys, KEYS, DK); break;
    case 3: vec_gather_rows(d->out, d->w, d->idx, M, d->V, DV); break;
    default: vec_scatter_rows(d->dV, d->w, d->idx, M, d->g, DV); break;
    }
}

static const char *NAMES[] = {"dot_256", "axpy_256", "score_keys_512x64", "gather_rows_32x256", "scatter_rows_32x256"};
static const double FLOPS[] = {2.0 * DOT_N, 2.0 * DOT_N, 2.0 * KEYS * DK, 2.0 * M * DV, 2.0 * M * DV};

int main(void) {
    UmRng rng;
    rng_seed(&rng, 5);
    Data d;
    real **bufs[] = {&d.a, &d.b, &d.keys, &d.q, &d.s, &d.V, &d.dV, &d.w, &d.out, &d.g};
    size_t sizes[] = {DOT_N, DOT_N, (size_t)KEYS * DK, DK, KEYS, (size_t)ROWS * DV, (size_t)ROWS * DV, M, DV, DV};
    for (int i = 0; i < 10; i++) {
        *bufs[i] = um_alloc(sizes[i] * sizeof(real));
        for (size_t j = 0; j < sizes[i]; j++) (*bufs[i])[j] = (real)(rng_uniform(&rng) - 0.5) * (real)1e-2;
    }
    for (int i = 0; i < M; i++) d.idx[i] = (int)rng_below(&rng, ROWS);  // scattered rows, like a memory table

    const UmSimdPath paths[] = {UM_SIMD_SCALAR, UM_SIMD_AVX2, UM_SIMD_AVX512};
    for (int p = 0; p < 3; p++) {
        if (um_simd_use(paths[p]) != 0) {
            fprintf(stderr, "note: %s not available on this CPU/build, skipped\n", um_simd_name_of(paths[p]));
            continue;
        }
        for (int k = 0; k < 5; k++) {
            double best = INFINITY;
            for (int trial = 0; trial < 5; trial++) {
                double t0 = um_now();
                for (int r = 0; r < REPS; r++) run(k, &d);
                double dt = (um_now() - t0) / REPS;
                if (dt < best) best = dt;
            }
            printf("vec_gflops_%s_%s: %.2f\n", um_simd_name_of(paths[p]), NAMES[k], FLOPS[k] / best * 1e-9);
        }
    }
    for (int i = 0; i < 10; i++) um_free(*bufs[i]);
    return 0;
}
