// product_keys.c: see product_keys.h.
#include "memory/product_keys.h"

#include <stddef.h>

#include "base/alloc.h"
#include "base/error.h"
#include "memory/topk.h"

void pk_search_alloc(UmPkSearch *ws, int n, int half, int k) {
    if (n < 1 || half < 1 || k < 1 || k > n)
        um_die(UM_EXIT_USAGE, "product keys: need 1 <= k <= n and half >= 1 (n=%d, half=%d, k=%d)", n, half, k);
    ws->n = n;
    ws->half = half;
    ws->k = k;
    ws->s1 = um_alloc((size_t)n * sizeof(real));
    ws->s2 = um_alloc((size_t)n * sizeof(real));
    ws->top1 = um_alloc((size_t)k * sizeof(int));
    ws->top2 = um_alloc((size_t)k * sizeof(int));
    ws->top1_val = um_alloc((size_t)k * sizeof(real));
    ws->top2_val = um_alloc((size_t)k * sizeof(real));
    ws->grid = um_alloc((size_t)k * k * sizeof(real));
    ws->grid_slot = um_alloc((size_t)k * k * sizeof(int));
    ws->sel_cell = um_alloc((size_t)k * sizeof(int));
}

void pk_search_free(UmPkSearch *ws) {
    um_free(ws->s1);
    um_free(ws->s2);
    um_free(ws->top1);
    um_free(ws->top2);
    um_free(ws->top1_val);
    um_free(ws->top2_val);
    um_free(ws->grid);
    um_free(ws->grid_slot);
    um_free(ws->sel_cell);
}

/* BEGIN EXERCISE 3.1 */
// q (half), K (n, half) -> s (n)
void pk_side_scores(real *s, const real *q, const real *K, int n, int half) {
    for (int i = 0; i < n; i++) {
        const real *key = K + (size_t)i * half;
        real acc = 0;
        for (int c = 0; c < half; c++) acc += key[c] * q[c];
        s[i] = acc;
    }
}

// top1_val (k1), top2_val (k2) -> grid (k1*k2)
void pk_grid_additive(real *grid, int *grid_slot, const int *top1, const real *top1_val, int k1, const int *top2,
                      const real *top2_val, int k2, int n) {
    for (int a = 0; a < k1; a++)
        for (int b = 0; b < k2; b++) {
            grid[a * k2 + b] = top1_val[a] + top2_val[b];
            grid_slot[a * k2 + b] = top1[a] * n + top2[b];
        }
}

// grid (cells) -> slots, scores (k)
void pk_grid_select(int *slots, real *scores, int *sel_cell, const real *grid, const int *grid_slot, int cells,
                    int k) {
    // topk writes k positions into its first argument; use sel_cell when the
    // caller wants them, else the slots array itself as scratch.
    int *cell = sel_cell ? sel_cell : slots;
    topk_tiekey(cell, scores, grid, grid_slot, cells, k);
    for (int j = 0; j < k; j++) slots[j] = grid_slot[cell[j]];
}

void pk_search(UmPkSearch *ws, int *slots, real *scores, const real *q1, const real *q2, const real *K1,
               const real *K2) {
    int n = ws->n, k = ws->k;
    pk_side_scores(ws->s1, q1, K1, n, ws->half);
    pk_side_scores(ws->s2, q2, K2, n, ws->half);
    topk(ws->top1, ws->top1_val, ws->s1, n, k);
    topk(ws->top2, ws->top2_val, ws->s2, n, k);
    pk_grid_additive(ws->grid, ws->grid_slot, ws->top1, ws->top1_val, k, ws->top2, ws->top2_val, k, n);
    pk_grid_select(slots, scores, ws->sel_cell, ws->grid, ws->grid_slot, k * k, k);
}
/* END EXERCISE 3.1 */

// Forward was: scores[j] = <q1, K1[row]> + <q2, K2[col]>; so
//   dq1 += dscores[j] * K1[row],  dK1[row] += dscores[j] * q1   (and the same for side 2).
// Rows and columns that were not selected get nothing: the selection itself
// is a step function of the scores, with zero derivative almost everywhere.
/* BEGIN EXERCISE 3.2 */
void pk_backward(real *dq1, real *dq2, real *dK1, real *dK2, const real *dscores, const int *slots, const real *q1,
                 const real *q2, const real *K1, const real *K2, int n, int half, int k) {
    for (int j = 0; j < k; j++) {
        real g = dscores[j];
        size_t row = (size_t)(slots[j] / n), col = (size_t)(slots[j] % n);
        const real *k1 = K1 + row * half, *k2 = K2 + col * half;
        if (dq1)
            for (int c = 0; c < half; c++) dq1[c] += g * k1[c];
        if (dq2)
            for (int c = 0; c < half; c++) dq2[c] += g * k2[c];
        if (dK1)
            for (int c = 0; c < half; c++) dK1[row * half + c] += g * q1[c];
        if (dK2)
            for (int c = 0; c < half; c++) dK2[col * half + c] += g * q2[c];
    }
}
/* END EXERCISE 3.2 */
