// Chapter 06: Implicit Value Expansion (IVE) and Multi-Core Scoring (MCS).
//
//   1. Where the E virtual copies of a physical row land in the key grid,
//      with the plain address map and with the shuffle.
//   2. What pooling before projecting saves: multiply-adds per token of
//      "project every read" vs "pool per block, project E vectors once",
//      counted and timed with the library's ive_pool_token.
//   3. One UltraMem layer at E = 1, 4, 9, 16: parameters, FLOPs per token.
//   4. MCS: the two cores' scores of one token's winners (each weights its
//      own half of the value row).
//
// Run: make ch06
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/params.h"
#include "base/rng.h"
#include "base/timer.h"
#include "memory/ive.h"
#include "memory/ultramem.h"

// 1. For every physical row: do its E copies share a row or a column of the
// sqrt(E) n x sqrt(E) n grid? Shared lines get picked together.
static void address_map(int n, int E) {
    int side = ive_side_factor(E), Kn = side * n, P = n * n, V = E * P;
    int *perm = malloc((size_t)V * sizeof(int)), *first_row = malloc((size_t)P * sizeof(int));
    int *first_col = malloc((size_t)P * sizeof(int));
    printf("1. n = %d, E = %d: %d physical rows, a %dx%d grid of %d virtual slots\n", n, E, P, Kn, Kn, V);
    ive_shuffle(perm, V, 0x5eed);
    for (int shuffled = 0; shuffled < 2; shuffled++) {
        int shared = 0;
        for (int p = 0; p < P; p++) first_row[p] = first_col[p] = -1;
        int *flag = calloc((size_t)P, sizeof(int));
        for (int g = 0; g < V; g++) {
            int phys, block;
            ive_address(&phys, &block, shuffled ? perm : NULL, g, P);
            (void)block;
            int row = g / Kn, col = g % Kn;
            if (first_row[phys] < 0) first_row[phys] = row, first_col[phys] = col;
            else if ((first_row[phys] == row || first_col[phys] == col) && !flag[phys]) flag[phys] = 1, shared++;
        }
        printf("   %-9s map: %5.1f%% of physical rows have two copies on one grid row or column\n",
               shuffled ? "shuffled" : "plain", 100.0 * shared / P);
        free(flag);
    }
    free(perm), free(first_row), free(first_col);
}

// 2. Pool then project vs project every read.
static void pooling_cost(UmRng *rng) {
    const int D = 128, Dv = 64, E = 4, reads = 32, P = 4096, tokens = 2000;
    double naive = 2.0 * reads * Dv * D, pooled = 2.0 * reads * Dv + 2.0 * E * Dv * D;
    printf("\n2. One token, D %d, Dv %d, E %d, %d reads (H m):\n", D, Dv, E, reads);
    printf("   project each read (Dv -> D), then sum : %8.0f FLOPs\n", naive);
    printf("   pool per block, project E vectors    : %8.0f FLOPs  (%.1fx fewer)\n", pooled, naive / pooled);
    real *V = um_alloc((size_t)P * Dv * sizeof(real)), *W = um_alloc((size_t)E * Dv * D * sizeof(real));
    real *acc = um_alloc((size_t)E * Dv * sizeof(real)), *out = um_alloc((size_t)D * sizeof(real));
    real *w = um_alloc((size_t)reads * sizeof(real));
    int *phys = um_alloc((size_t)reads * sizeof(int)), *block = um_alloc((size_t)reads * sizeof(int));
    for (size_t i = 0; i < (size_t)P * Dv; i++) V[i] = (real)rng_normal(rng);
    for (size_t i = 0; i < (size_t)E * Dv * D; i++) W[i] = (real)rng_normal(rng);
    for (int i = 0; i < reads; i++) phys[i] = (int)rng_below(rng, P), block[i] = (int)rng_below(rng, E), w[i] = 1;
    double t0 = um_now(), check1 = 0, check2 = 0;
    for (int t = 0; t < tokens; t++) {  // naive: y += w_i W_block^T V[phys]
        memset(out, 0, (size_t)D * sizeof(real));
        for (int i = 0; i < reads; i++) {
            const real *v = V + (size_t)phys[i] * Dv, *Wb = W + (size_t)block[i] * Dv;
            for (int o = 0; o < D; o++) {
                real s = 0;
                for (int x = 0; x < Dv; x++) s += Wb[(size_t)o * E * Dv + x] * v[x];
                out[o] += w[i] * s;
            }
        }
        check1 += out[t % D];
    }
    double t1 = um_now();
    for (int t = 0; t < tokens; t++) {  // IVE: pool, then one (D, E Dv) projection
        ive_pool_token(acc, V, phys, block, w, reads, E, Dv, 1);
        for (int o = 0; o < D; o++) {
            real s = 0;
            for (int x = 0; x < E * Dv; x++) s += W[(size_t)o * E * Dv + x] * acc[x];
            out[o] = s;
        }
        check2 += out[t % D];
    }
    double t2 = um_now();
    printf("   measured over %d tokens (scalar C)   : %.2f ms vs %.2f ms (same output: %s)\n", tokens,
           1e3 * (t1 - t0), 1e3 * (t2 - t1), fabs(check1 - check2) <= 1e-3 * (1 + fabs(check1)) ? "yes" : "NO");
    um_free(V), um_free(W), um_free(acc), um_free(out), um_free(w), um_free(phys), um_free(block);
}

// 3. The layer's own accounting as E grows.
static void layer_cost(void) {
    printf("\n3. One UltraMem layer, D 128, n 32, H 2, m 16, Dv 64, r 2, h 2:\n");
    printf("   E  | keys/side | virtual slots | params  | activated | FLOPs/token\n");
    const int Es[] = {1, 4, 9, 16};
    for (int i = 0; i < 4; i++) {
        UmUltraMemConfig c = um_ultramem_config_default();
        c.E = Es[i], c.Dv = 64, c.calibrate_norm = 0;
        UmParamRegistry reg;
        params_init(&reg);
        UmRng rng;
        rng_seed(&rng, 6);
        UmUltraMem l;
        um_ultramem_init(&l, &c, 128, 8, &reg, &rng, "mem.");
        printf("   %2d | %9d | %13d | %7zu | %9zu | %11.0f\n", Es[i], l.Kn, l.n_virt, params_total(&reg),
               um_ultramem_activated_params(&l), um_ultramem_flops_per_token(&l));
        um_ultramem_free(&l);
        params_free(&reg);
    }
}

// 4. MCS: one token's winners and each core's score.
static void multi_core(UmRng *rng) {
    const int D = 32;
    UmUltraMemConfig c = um_ultramem_config_default();
    c.n = 8, c.m = 4, c.H = 1;
    UmParamRegistry reg;
    params_init(&reg);
    UmUltraMem l;
    um_ultramem_init(&l, &c, D, 4, &reg, rng, "mem.");
    real x[D], y[D];
    for (int i = 0; i < D; i++) x[i] = (real)rng_normal(rng);
    um_ultramem_forward(&l, y, x, 1);
    printf("\n4. MCS, h = 2 cores: one token's %d winners (selected on the summed core)\n", c.m);
    printf("   virtual slot -> (phys, block) | core 0 score | core 1 score | sum (selection)\n");
    for (int j = 0; j < c.m; j++)
        printf("   %12d -> (%3d, %d)     | %12.4f | %12.4f | %8.4f\n", l.virt[j], l.phys[j], l.block[j],
               l.score[j * 2], l.score[j * 2 + 1], l.total[j]);
    printf("   core 0 weights columns 0..%d of the value row, core 1 columns %d..%d\n", l.slice - 1, l.slice,
           2 * l.slice - 1);
    um_ultramem_free(&l);
    params_free(&reg);
}

int main(void) {
    UmRng rng;
    rng_seed(&rng, 6);
    printf("Chapter 06: virtual memory (IVE) and multi-core scoring (MCS)\n\n");
    address_map(32, 4);
    pooling_cost(&rng);
    layer_cost();
    multi_core(&rng);
    return 0;
}
