// ex_3_1.c: exercise 3.1, product-key search (pk_side_scores, pk_grid_additive,
// pk_grid_select and pk_search in lib/memory/product_keys.c).
//
// n*n slots, slot = row*n + col, score(row, col) = <q1, K1[row]> + <q2, K2[col]>.
// The k best slots lie in the k x k grid of the k best rows and k best columns,
// so the search is exact: checked against a brute force over all n*n slots and
// against the reference, on fixed and random shapes, including ties.
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grade_util.h"
#include "memory/product_keys.h"

void ref_pk_side_scores(real *s, const real *q, const real *K, int n, int half);
void ref_pk_grid_additive(real *grid, int *grid_slot, const int *top1, const real *top1_val, int k1, const int *top2,
                          const real *top2_val, int k2, int n);
void ref_pk_grid_select(int *slots, real *scores, int *sel_cell, const real *grid, const int *grid_slot, int cells,
                        int k);
void ref_pk_search(UmPkSearch *ws, int *slots, real *scores, const real *q1, const real *q2, const real *K1,
                   const real *K2);

#define TAG "ex_3_1"

// The k best of all n*n slots by sorting every score: obviously right, slow.
typedef struct {
    real score;
    int slot;
} Cell;
static int by_score(const void *a, const void *b) {
    const Cell *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->slot - y->slot;  // ties: the lower slot first
}
static void brute_force(int *slots, real *scores, const real *q1, const real *q2, const real *K1, const real *K2,
                        int n, int half, int k) {
    Cell *all = malloc(sizeof(Cell) * (size_t)n * n);
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++) {
            real s = 0;
            for (int i = 0; i < half; i++) s += q1[i] * K1[r * half + i];
            for (int i = 0; i < half; i++) s += q2[i] * K2[c * half + i];
            all[r * n + c] = (Cell){s, r * n + c};
        }
    qsort(all, (size_t)n * n, sizeof(Cell), by_score);
    for (int j = 0; j < k; j++) slots[j] = all[j].slot, scores[j] = all[j].score;
    free(all);
}

typedef struct {
    int n, half, k;
    real *q1, *q2, *K1, *K2;
} Case;

static void make_case(Case *c, int n, int half, int k, UmRng *rng) {
    c->n = n, c->half = half, c->k = k;
    c->q1 = gu_reals(half), c->q2 = gu_reals(half);
    c->K1 = gu_reals((size_t)n * half), c->K2 = gu_reals((size_t)n * half);
    gu_fill(c->q1, half, rng, 1);
    gu_fill(c->q2, half, rng, 1);
    gu_fill(c->K1, (size_t)n * half, rng, 1);
    gu_fill(c->K2, (size_t)n * half, rng, 1);
}

// Runs your pk_search and the reference; compares with each other and with brute force.
static void search_and_compare(const Case *c, const char *context) {
    int k = c->k;
    int *slots = gu_ints(k), *slots_r = gu_ints(k), *slots_b = gu_ints(k);
    real *scores = gu_reals(k), *scores_r = gu_reals(k), *scores_b = gu_reals(k);
    for (int j = 0; j < k; j++) slots[j] = -1, scores[j] = -1;  // what an untouched output looks like
    UmPkSearch ws, ws_r;
    pk_search_alloc(&ws, c->n, c->half, k);
    pk_search_alloc(&ws_r, c->n, c->half, k);
    pk_search(&ws, slots, scores, c->q1, c->q2, c->K1, c->K2);
    ref_pk_search(&ws_r, slots_r, scores_r, c->q1, c->q2, c->K1, c->K2);
    brute_force(slots_b, scores_b, c->q1, c->q2, c->K1, c->K2, c->n, c->half, k);
    gu_expect_ints("slots", slots, slots_r, k, 0, context);
    gu_expect_close("scores", scores, scores_r, k, 0, context);
    gu_expect_ints("slots (against a brute force over all n*n slots)", slots, slots_b, k, 0, context);
    // The workspace is read by the visualiser: the side scores must be there.
    gu_expect_close("ws->s1 (row scores)", ws.s1, ws_r.s1, c->n, 0, context);
    gu_expect_close("ws->s2 (column scores)", ws.s2, ws_r.s2, c->n, 0, context);
    pk_search_free(&ws);
    pk_search_free(&ws_r);
}

START_TEST(fixed_small) {
    // n=3 keys per side (9 slots), half=2, k=2.
    real q1[2] = {1, 0}, q2[2] = {0.5, 1};
    real K1[6] = {0.2, 1, -1, 0, 0.9, -0.3};  // row scores 0.2, -1, 0.9
    real K2[6] = {1, 1, 0, 0.4, -1, 2};       // column scores 1.5, 0.4, 1.5
    Case c = {3, 2, 2, q1, q2, K1, K2};
    search_and_compare(&c, " Inputs: n=3 half=2 k=2 q1=[1,0] q2=[0.5,1] K1=[0.2,1; -1,0; 0.9,-0.3] "
                           "K2=[1,1; 0,0.4; -1,2] (row scores 0.2,-1,0.9; column scores 1.5,0.4,1.5: a tie, "
                           "the lower slot ranks first).");
}
END_TEST

START_TEST(random_shapes) {
    UmRng rng;
    rng_seed(&rng, 0x3101);
    for (int trial = 0; trial < 12; trial++) {
        Case c;
        int n = gu_between(&rng, 2, 16);
        make_case(&c, n, gu_between(&rng, 1, 6), gu_between(&rng, 1, n), &rng);
        char ctx[96];
        snprintf(ctx, sizeof ctx, " Random shape n=%d half=%d k=%d (seeded).", c.n, c.half, c.k);
        search_and_compare(&c, ctx);
    }
}
END_TEST

// Integer-valued keys make many exact ties; the order must still be brute force's.
START_TEST(ties) {
    UmRng rng;
    rng_seed(&rng, 0x3102);
    for (int trial = 0; trial < 8; trial++) {
        Case c;
        int n = gu_between(&rng, 2, 8);
        make_case(&c, n, 2, gu_between(&rng, 1, n), &rng);
        for (int i = 0; i < n * 2; i++) c.K1[i] = (real)(int)rng_below(&rng, 3), c.K2[i] = (real)(int)rng_below(&rng, 3);
        c.q1[0] = c.q1[1] = c.q2[0] = c.q2[1] = 1;
        char ctx[512];
        snprintf(ctx, sizeof ctx, " Ties: n=%d half=2 k=%d q1=q2=[1,1]", c.n, c.k);
        gu_describe(ctx, sizeof ctx, "K1", c.K1, (size_t)n * 2);
        gu_describe(ctx, sizeof ctx, "K2", c.K2, (size_t)n * 2);
        search_and_compare(&c, ctx);
    }
}
END_TEST

// The three steps one by one (UltraMem reuses them with its own grid scorer).
START_TEST(steps) {
    UmRng rng;
    rng_seed(&rng, 0x3103);
    int n = 11, half = 4, k1 = 3, k2 = 5;
    real *q = gu_reals(half), *K = gu_reals((size_t)n * half), *s = gu_reals(n), *s_r = gu_reals(n);
    gu_fill(q, half, &rng, 1);
    gu_fill(K, (size_t)n * half, &rng, 1);
    for (int i = 0; i < n; i++) s[i] = -1;
    pk_side_scores(s, q, K, n, half);
    ref_pk_side_scores(s_r, q, K, n, half);
    gu_expect_close("pk_side_scores: s", s, s_r, n, 0, " n=11 half=4.");

    int top1[3] = {7, 2, 9}, top2[5] = {0, 10, 4, 3, 6};
    real v1[3] = {2, 1.5, -0.5}, v2[5] = {1, 0.5, 0.25, -1, -2};
    real *grid = gu_reals(15), *grid_r = gu_reals(15);
    int *gs = gu_ints(15), *gs_r = gu_ints(15);
    pk_grid_additive(grid, gs, top1, v1, k1, top2, v2, k2, n);
    ref_pk_grid_additive(grid_r, gs_r, top1, v1, k1, top2, v2, k2, n);
    const char *gctx = " Inputs: n=11, k1=3 rows top1=[7,2,9] with scores [2,1.5,-0.5], k2=5 columns "
                       "top2=[0,10,4,3,6] with scores [1,0.5,0.25,-1,-2].";
    gu_expect_close("pk_grid_additive: grid", grid, grid_r, 15, k2, gctx);
    gu_expect_ints("pk_grid_additive: grid_slot", gs, gs_r, 15, k2, gctx);

    int k = 4, *slots = gu_ints(k), *slots_r = gu_ints(k), *cell = gu_ints(k), *cell_r = gu_ints(k);
    real *sc = gu_reals(k), *sc_r = gu_reals(k);
    for (int j = 0; j < k; j++) slots[j] = cell[j] = -1;
    pk_grid_select(slots, sc, cell, grid_r, gs_r, 15, k);
    ref_pk_grid_select(slots_r, sc_r, cell_r, grid_r, gs_r, 15, k);
    gu_expect_ints("pk_grid_select: slots", slots, slots_r, k, 0, gctx);
    gu_expect_close("pk_grid_select: scores", sc, sc_r, k, 0, gctx);
    gu_expect_ints("pk_grid_select: sel_cell", cell, cell_r, k, 0, gctx);
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 3.1: product-key search");
    GU_ADD(s, TAG, fixed_small);
    GU_ADD(s, TAG, random_shapes);
    GU_ADD(s, TAG, ties);
    GU_ADD(s, TAG, steps);
    return s;
}
