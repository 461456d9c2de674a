// product_keys.c: see product_keys.h.
#include "memory/product_keys.h"

#include <math.h>
#include <stddef.h>

#include "base/alloc.h"
#include "base/error.h"
#include "kernels/matmul.h"
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
    ws->row_head = um_alloc((size_t)k * sizeof(real));
    ws->row_col = um_alloc((size_t)k * sizeof(int));
    ws->row_order = um_alloc((size_t)k * sizeof(int));
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
    um_free(ws->row_head);
    um_free(ws->row_col);
    um_free(ws->row_order);
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

// ---------------------------------------------------------------- batched

// Q (R, half; stride q_stride), K (n, half) -> S (R, n)
void pk_side_scores_batch(real *S, const real *Q, int q_stride, const real *K, int R, int n, int half) {
    // K^T as a view: element (c, i) of the (half, n) matrix is K[i*half + c].
    matmul_views(S, (size_t)n, (UmMatView){Q, (size_t)q_stride, 1}, (UmMatView){K, 1, (size_t)half}, R, n, half, 0);
}

// Forward was: S = Q @ K^T; so dQ += dS @ K and dK += dS^T @ Q.
void pk_side_scores_batch_backward(real *dQ, int dq_stride, real *dK, const real *dS, const real *Q, int q_stride,
                                   const real *K, int R, int n, int half) {
    if (dQ)
        matmul_views(dQ, (size_t)dq_stride, (UmMatView){dS, (size_t)n, 1}, (UmMatView){K, (size_t)half, 1}, R, half,
                     n, 1);
    if (dK)
        matmul_views(dK, (size_t)half, (UmMatView){dS, 1, (size_t)n}, (UmMatView){Q, (size_t)q_stride, 1}, n, half,
                     R, 1);
}

// Put row r (head value v) into the sorted list order[0..m), walking down
// from position i: the rows it passes move up one place.
static void walk_insert(int *order, const real *head, int i, int m, int r, real v) {
    while (i + 1 < m && head[order[i + 1]] > v) {
        order[i] = order[i + 1];
        i++;
    }
    order[i] = r;
}

// The best k cells of grid[a][b] = v1[a] + v2[b] (v1, v2 sorted best
// first). Each row is sorted, and so is column 0 (float addition is
// monotone, so this holds after rounding too). Walk the grid from its best
// corner: every active row offers its next unvisited cell (its head), row a+1
// joins once row a has given up its first cell (until then its cells are no
// better than that one), and each step takes the best head. Steps therefore
// visit cells from best to worst. The active rows are kept sorted by head:
// the best is at the front, and a row's next head is only a little worse
// than the one just taken, so re-inserting it walks past few rows.
// Writes the visited cells' values and slots to ws->grid, ws->grid_slot
// (k, best first) and returns the value of the best cell not visited (-inf
// if none is left).
static real walk_grid(UmPkSearch *ws, const real *v1, const real *v2, int k) {
    real *head = ws->row_head;
    int *col = ws->row_col, *order = ws->row_order, rows = 1, n = ws->n;
    head[0] = v1[0] + v2[0], col[0] = 0, order[0] = 0;
    for (int p = 0; p < k; p++) {
        int a = order[0];
        ws->grid[p] = head[a];
        ws->grid_slot[p] = ws->top1[a] * n + ws->top2[col[a]];
        head[a] = ++col[a] < k ? v1[a] + v2[col[a]] : -INFINITY;  // -inf: row used up
        walk_insert(order, head, 0, rows, a, head[a]);
        if (a == rows - 1 && rows < k) {  // the newest row gave its first cell: the next row joins
            head[rows] = v1[rows] + v2[0], col[rows] = 0;
            int i = rows++;
            while (i > 0 && head[order[i - 1]] < head[rows - 1]) {
                order[i] = order[i - 1];
                i--;
            }
            order[i] = rows - 1;
        }
    }
    return head[order[0]];
}

// 1 if the walk's k cells are already the answer: no two of them tie and the
// next cell is strictly worse. Ties need the slot order, which the walk does
// not follow (equal values can come out in any order).
static int walk_is_exact(const UmPkSearch *ws, int k, real next) {
    for (int j = 0; j + 1 < k; j++)
        if (ws->grid[j] == ws->grid[j + 1]) return 0;
    return next < ws->grid[k - 1];
}

void pk_select(UmPkSearch *ws, int *slots, real *scores, const real *s1, const real *s2) {
    int n = ws->n, k = ws->k;
    topk_small(ws->top1, ws->top1_val, s1, NULL, n, k);
    topk_small(ws->top2, ws->top2_val, s2, NULL, n, k);
    const real *v1 = ws->top1_val, *v2 = ws->top2_val;
    real next = walk_grid(ws, v1, v2, k);
    if (walk_is_exact(ws, k, next)) {  // the usual case
        for (int j = 0; j < k; j++) slots[j] = ws->grid_slot[j], scores[j] = ws->grid[j], ws->sel_cell[j] = j;
        return;
    }
    // Ties: take every cell at least as good as the k-th (a prefix of each
    // row; the rows stop once their best cell falls short) and rank them
    // exactly as pk_grid_select would: best first, lower slot on ties.
    real kth = ws->grid[k - 1];
    int cells = 0;
    for (int a = 0; a < k && v1[a] + v2[0] >= kth; a++)
        for (int b = 0; b < k; b++) {
            real v = v1[a] + v2[b];
            if (v < kth) break;
            ws->grid[cells] = v;
            ws->grid_slot[cells++] = ws->top1[a] * n + ws->top2[b];
        }
    topk_small(ws->sel_cell, scores, ws->grid, ws->grid_slot, cells, k);
    for (int j = 0; j < k; j++) slots[j] = ws->grid_slot[ws->sel_cell[j]];
}

void pk_search_scored(UmPkSearch *ws, int *slots, real *scores) {
    int n = ws->n, k = ws->k;
    topk(ws->top1, ws->top1_val, ws->s1, n, k);
    topk(ws->top2, ws->top2_val, ws->s2, n, k);
    pk_grid_additive(ws->grid, ws->grid_slot, ws->top1, ws->top1_val, k, ws->top2, ws->top2_val, k, n);
    pk_grid_select(slots, scores, ws->sel_cell, ws->grid, ws->grid_slot, k * k, k);
}

void pk_select_backward(real *ds1, real *ds2, const real *dscores, const int *slots, int n, int k) {
    for (int j = 0; j < k; j++) {
        ds1[slots[j] / n] += dscores[j];
        ds2[slots[j] % n] += dscores[j];
    }
}
