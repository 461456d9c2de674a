// ex_6_1.c: exercise 6.1, IVE pooling for one token (ive_pool_token in
// lib/memory/ive.c), with MCS slices.
//
//   acc (E, Dv) = 0, then for every read i and core c:
//   acc[block[i], slice c] += w[i*h + c] V[phys[i], slice c],  slice c = columns [c Dv/h, (c+1) Dv/h)
// Checked against the reference on a fixed case and random shapes (E 1..9,
// h 1..4), including that acc is overwritten, not accumulated.
#include <stdio.h>

#include "grade_util.h"
#include "memory/ive.h"

void ref_ive_pool_token(real *acc, const real *V, const int *phys, const int *block, const real *w, int reads, int E,
                        int Dv, int h);

#define TAG "ex_6_1"

START_TEST(fixed_small) {
    // P = 3 physical rows of Dv = 4, E = 2 blocks, h = 2 cores, 3 reads.
    const real V[] = {1, 2, 3, 4, -1, 0, 1, 0, 0.5, 0.5, -2, 2};
    const int phys[] = {0, 2, 0}, block[] = {1, 1, 0};
    const real w[] = {1, -1, 0.5, 2, 3, 0.25};
    real yours[8], ref[8];
    for (int i = 0; i < 8; i++) yours[i] = 1e30;
    ive_pool_token(yours, V, phys, block, w, 3, 2, 4, 2);
    ref_ive_pool_token(ref, V, phys, block, w, 3, 2, 4, 2);
    gu_expect_close("acc", yours, ref, 8, 4,
                    " Inputs: V=[1 2 3 4; -1 0 1 0; 0.5 0.5 -2 2] phys=[0 2 0] block=[1 1 0] "
                    "w=[1 -1; 0.5 2; 3 0.25] (reads x cores) E=2 Dv=4 h=2.");
}
END_TEST

START_TEST(random_shapes) {
    UmRng rng;
    rng_seed(&rng, 0x6101);
    for (int trial = 0; trial < 50; trial++) {
        int h = gu_between(&rng, 1, 4), Dv = h * gu_between(&rng, 1, 6), E = gu_between(&rng, 1, 9);
        int P = gu_between(&rng, 1, 20), reads = gu_between(&rng, 1, 24);
        real *V = gu_reals((size_t)P * Dv), *w = gu_reals((size_t)reads * h);
        int *phys = gu_ints(reads), *block = gu_ints(reads);
        real *yours = gu_reals((size_t)E * Dv), *ref = gu_reals((size_t)E * Dv);
        gu_fill(V, (size_t)P * Dv, &rng, 1), gu_fill(w, (size_t)reads * h, &rng, 1);
        for (int i = 0; i < reads; i++) phys[i] = gu_between(&rng, 0, P - 1), block[i] = gu_between(&rng, 0, E - 1);
        gu_fill(yours, (size_t)E * Dv, &rng, 5);  // stale values: acc must be overwritten
        ref_ive_pool_token(ref, V, phys, block, w, reads, E, Dv, h);
        ive_pool_token(yours, V, phys, block, w, reads, E, Dv, h);
        char ctx[128];
        snprintf(ctx, sizeof ctx, " Random P=%d Dv=%d E=%d h=%d reads=%d, acc holding stale values before.", P, Dv, E,
                 h, reads);
        gu_expect_close("acc", yours, ref, (size_t)E * Dv, Dv, ctx);
    }
}
END_TEST

// Two reads of the same physical row in different blocks land in different
// pooled vectors: the E "virtual copies" of a row are distinct memories.
START_TEST(blocks_are_separate) {
    const real V[] = {1, 2};
    const int phys[] = {0, 0}, block[] = {0, 3};
    const real w[] = {2, -1};
    real yours[8], ref[8];
    for (int i = 0; i < 8; i++) yours[i] = 1e30;
    ive_pool_token(yours, V, phys, block, w, 2, 4, 2, 1);
    ref_ive_pool_token(ref, V, phys, block, w, 2, 4, 2, 1);
    gu_expect_close("acc", yours, ref, 8, 2, " Inputs: V=[1 2] phys=[0 0] block=[0 3] w=[2 -1] E=4 Dv=2 h=1.");
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 6.1: IVE pooling");
    GU_ADD(s, TAG, fixed_small);
    GU_ADD(s, TAG, random_shapes);
    GU_ADD(s, TAG, blocks_are_separate);
    return s;
}
