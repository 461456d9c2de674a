// Chapter 05: Tucker-decomposed query-key retrieval (TDQKR), measured.
//
// Three experiments on random side scores (no training, runs in a second):
//   1. The topology bias of additive scores: with score(i, j) = a_i + b_j the
//      best m slots always sit in the best rows AND the best columns, so they
//      crowd into a few rows and columns of the grid. A bilinear score
//      R_i^T C Q_j spreads them out.
//   2. The 2x2 SVD of the core, in closed form, with the sign fixed.
//   3. Why "rank-1 selection, then exact rescoring": the share of the exact
//      top-m (over all n x n slots) that the two-stage search finds, as the
//      core's second singular value grows, against scoring only with the
//      rank-1 part.
//
// Run: make ch05     (or bin/ch05 after make bin/ch05)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "memory/topk.h"
#include "memory/tucker.h"

#define N 32       // keys per side: an N x N grid of slots
#define M 8        // top-m
#define R 2        // Tucker rank
#define TRIALS 2000

// S_row, S_col (R, N): the r score vectors of one query, N(0, 1) like
// normalised queries against normalised keys.
static double g_shift;  // mean of the side scores (experiment 3 tries 0 and 2)
static void random_scores(real *S, UmRng *rng) {
    for (int i = 0; i < R * N; i++) S[i] = (real)(g_shift + rng_normal(rng));
}

// The exact top-m over all N*N slots of the bilinear score R_i^T C Q_j.
static void exact_topm(int *slots, const real *Srow, const real *Scol, const real *C) {
    static real grid[N * N], Rv[N * R], Qv[N * R], val[M];
    for (int i = 0; i < N; i++)
        for (int k = 0; k < R; k++) Rv[i * R + k] = Srow[k * N + i], Qv[i * R + k] = Scol[k * N + i];
    tucker_grid(grid, Rv, N, Qv, N, C, R);
    topk(slots, val, grid, N * N, M);
}

// Distinct rows + distinct columns used by m slots (2m = fully spread, 2 sqrt(m) = a tight square).
static int spread(const int *slots) {
    int rows[N] = {0}, cols[N] = {0}, count = 0;
    for (int j = 0; j < M; j++) {
        if (!rows[slots[j] / N]++) count++;
        if (!cols[slots[j] % N]++) count++;
    }
    return count;
}

static void topology_bias(UmRng *rng) {
    printf("1. Topology bias: distinct rows + columns used by the top-%d of a %dx%d grid (max %d)\n", M, N, N, 2 * M);
    real Srow[R * N], Scol[R * N];
    double sum_add = 0, sum_bil = 0;
    const real C[4] = {0.9, -0.6, 0.5, 0.8};  // a core of full rank
    for (int t = 0; t < TRIALS; t++) {
        random_scores(Srow, rng), random_scores(Scol, rng);
        static real grid[N * N], val[M];
        int slots[M];
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) grid[i * N + j] = Srow[i] + Scol[j];  // PKM: s_row + s_col
        topk(slots, val, grid, N * N, M);
        sum_add += spread(slots);
        exact_topm(slots, Srow, Scol, C);
        sum_bil += spread(slots);
    }
    printf("   additive  s_row + s_col      : %.2f\n", sum_add / TRIALS);
    printf("   bilinear  R^T C Q (full rank): %.2f\n\n", sum_bil / TRIALS);
}

static void show_svd(void) {
    printf("2. Closed-form SVD of 2x2 cores (sign rule: u's largest entry positive)\n");
    const real cores[3][4] = {{0.7, 0.2, 0.4, 0.9}, {-1, 0.3, 0.2, -0.8}, {2, 1, 4, 2}};
    for (int i = 0; i < 3; i++) {
        UmSvd2 s;
        tucker_svd(&s, cores[i], 2);
        printf("   C = [%5.2f %5.2f; %5.2f %5.2f]  s = (%.3f, %.3f)  u = (%+.3f, %+.3f)  t = (%+.3f, %+.3f)\n",
               cores[i][0], cores[i][1], cores[i][2], cores[i][3], s.s[0], s.s[1], s.u[0], s.u[1], s.t[0], s.t[1]);
    }
    printf("\n");
}

// The core with singular values (1, s1) along fixed rotations.
static void core_with(real *C, double s1) {
    double a = 0.6, b = 1.1;  // rotation angles of the left / right vectors
    double u[2] = {cos(a), sin(a)}, u2[2] = {-sin(a), cos(a)}, t[2] = {cos(b), sin(b)}, t2[2] = {-sin(b), cos(b)};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) C[i * 2 + j] = (real)(u[i] * t[j] + s1 * u2[i] * t2[j]);
}

// Two-stage search: top-m rows on u.S_row and columns on t.S_col, then the
// m x m candidates rescored with the full core (rescore = 1) or ranked by the
// rank-1 product alone (rescore = 0).
static void two_stage(int *slots, const real *Srow, const real *Scol, const real *C, const UmSvd2 *svd, int rescore) {
    real a[N], b[N], av[M], bv[M], Rc[M * R], Qc[M * R], grid[M * M], val[M];
    int rows[M], cols[M], cells[M];
    for (int i = 0; i < N; i++) {
        a[i] = (real)(svd->u[0] * Srow[i] + svd->u[1] * Srow[N + i]);
        b[i] = (real)(svd->t[0] * Scol[i] + svd->t[1] * Scol[N + i]);
    }
    topk(rows, av, a, N, M);
    topk(cols, bv, b, N, M);
    for (int j = 0; j < M; j++)
        for (int k = 0; k < R; k++) Rc[j * R + k] = Srow[k * N + rows[j]], Qc[j * R + k] = Scol[k * N + cols[j]];
    if (rescore) {
        tucker_grid(grid, Rc, M, Qc, M, C, R);
    } else {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < M; j++) grid[i * M + j] = av[i] * bv[j];
    }
    topk(cells, val, grid, M * M, M);
    for (int j = 0; j < M; j++) slots[j] = rows[cells[j] / M] * N + cols[cells[j] % M];
}

static int overlap(const int *a, const int *b) {
    int n = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++) n += a[i] == b[j];
    return n;
}

static void rank1_selection(UmRng *rng, double shift) {
    g_shift = shift;
    printf("3%s. Share of the exact top-%d found, side scores N(%g, 1) (%d random queries per row; s0 = 1)\n",
           shift ? "b" : "a", M, shift, TRIALS);
    printf("   s1/s0 | rank-1 select + exact rescoring | rank-1 select and rank-1 ranking | aux loss (alpha 1e-3, tau 0.15)\n");
    const double s1s[] = {0, 0.05, 0.15, 0.3, 0.5, 0.8};
    for (size_t k = 0; k < sizeof s1s / sizeof s1s[0]; k++) {
        real C[4], Srow[R * N], Scol[R * N];
        core_with(C, s1s[k]);
        UmSvd2 svd;
        tucker_svd(&svd, C, R);
        double hit_rescore = 0, hit_rank1 = 0;
        for (int t = 0; t < TRIALS; t++) {
            random_scores(Srow, rng), random_scores(Scol, rng);
            int exact[M], two[M];
            exact_topm(exact, Srow, Scol, C);
            two_stage(two, Srow, Scol, C, &svd, 1);
            hit_rescore += overlap(exact, two);
            two_stage(two, Srow, Scol, C, &svd, 0);
            hit_rank1 += overlap(exact, two);
        }
        printf("   %5.2f | %30.1f%% | %31.1f%% | %.2e\n", s1s[k], 100 * hit_rescore / (TRIALS * M),
               100 * hit_rank1 / (TRIALS * M), tucker_aux_loss(NULL, &svd, 1e-3, 0.15));
    }
    printf("\n");
}

int main(void) {
    UmRng rng;
    rng_seed(&rng, 5);
    printf("Chapter 05: TDQKR on a %dx%d grid, top-%d, rank %d\n\n", N, N, M, R);
    topology_bias(&rng);
    show_svd();
    rank1_selection(&rng, 0);
    rank1_selection(&rng, 2);
    printf("Read: additive scores pack the winners into few rows and columns; the bilinear core spreads them.\n"
           "Rank-1 selection is exact only when s1 = 0 AND the winning u.R and t.Q are positive: with centred\n"
           "scores (3a) half of the exact winners are (very negative) x (very negative) products that a\n"
           "top-m-per-side search never sees. With positive scores (3b) it is exact at s1 = 0 and degrades as\n"
           "s1 grows; rescoring the m x m candidates with the full core recovers most of the loss, and the aux\n"
           "loss pushes s1 back under tau.\n");
    return 0;
}
