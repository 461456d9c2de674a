// product_keys.h: product-key retrieval, the search shared by PKM, UltraMem,
// UltraMemV2 and PEER.
//
// A memory of n*n slots is addressed by a pair (row, col), slot = row*n + col.
// Instead of one key per slot (n*n dot products per query), each slot's key
// is the concatenation of a row sub-key K1[row] and a column sub-key K2[col].
// With the query split into halves q1, q2 the slot score is additive:
//
//   score(row, col) = <q1, K1[row]> + <q2, K2[col]> = s1[row] + s2[col]
//
// so the best k slots can only use rows among the best k rows and columns
// among the best k columns (if a slot used a worse row, swapping in any of
// the k better rows would beat it, and there are k of them). Searching the
// k x k candidate grid is therefore EXACT, at the cost of 2n dot products.
//
// Shapes: q1, q2 (half), K1, K2 (n, half), half = Dk/2 for a query of Dk.
//
// The steps are separate functions so a layer can replace one of them:
//   pk_side_scores   s (n) = K (n, half) @ q (half)
//   topk             best k of each side (memory/topk.h)
//   pk_grid_additive grid (k1*k2) = s1_top[a] + s2_top[b]   (PKM's scorer;
//                    UltraMem fills the grid with its own Tucker scorer)
//   pk_grid_select   best k cells of the grid -> slots, scores
// pk_search runs them all for one query with the additive scorer.
#ifndef UM_PRODUCT_KEYS_H
#define UM_PRODUCT_KEYS_H

#include "base/real.h"

// The intermediate results of one search, kept so a probe can draw them.
// Allocate once per thread (pk_search_alloc) and reuse for every query.
typedef struct {
    int n, half, k;
    real *s1, *s2;              // (n) row scores, column scores
    int *top1, *top2;           // (k) best rows, best columns, best first
    real *top1_val, *top2_val;  // (k) their scores
    real *grid;                 // (k*k) grid[a*k+b] = top1_val[a] + top2_val[b]
    int *grid_slot;             // (k*k) slot of each cell: top1[a]*n + top2[b]
    int *sel_cell;              // (k) the selected cells (positions in grid), best first
    real *row_head;             // (k) pk_select's walk: value of each row's next cell
    int *row_col, *row_order;   // (k) each row's next column; active rows, best head first
} UmPkSearch;

void pk_search_alloc(UmPkSearch *ws, int n, int half, int k);
void pk_search_free(UmPkSearch *ws);

// q (half), K (n, half) -> s (n): s[i] = <K[i], q>
void pk_side_scores(real *s, const real *q, const real *K, int n, int half);

// top1/top1_val (k1), top2/top2_val (k2) -> grid, grid_slot (k1*k2):
//   grid[a*k2+b] = top1_val[a] + top2_val[b],  grid_slot = top1[a]*n + top2[b]
void pk_grid_additive(real *grid, int *grid_slot, const int *top1, const real *top1_val, int k1, const int *top2,
                      const real *top2_val, int k2, int n);

// grid, grid_slot (cells) -> slots (k), scores (k), sel_cell (k) or NULL.
// Best first; equal scores rank the lower slot id first, which is exactly the
// order a brute-force top-k over all n*n slots (flat index) would give.
void pk_grid_select(int *slots, real *scores, int *sel_cell, const real *grid, const int *grid_slot, int cells,
                    int k);

// The whole search for one query: fills ws and writes slots (k), scores (k).
void pk_search(UmPkSearch *ws, int *slots, real *scores, const real *q1, const real *q2, const real *K1,
               const real *K2);

// ---------------------------------------------------------------- batched
// A layer scores every query of a batch at once: the side scores of R
// queries are one matrix product, S (R, n) = Q (R, half) @ K^T, which the
// fast matmul kernel does at full speed, where R separate pk_side_scores
// calls would each be a short scalar loop. Then pk_select picks each query's
// slots from its rows of S1 and S2.

// Q (R, half) with row stride q_stride (a column slice of a wider query
// matrix), K (n, half) -> S (R, n): S[r][i] = <Q[r], K[i]>
void pk_side_scores_batch(real *S, const real *Q, int q_stride, const real *K, int R, int n, int half);

// Backward of pk_side_scores_batch (accumulates; dQ or dK may be NULL):
//   dQ (R, half; row stride dq_stride) += dS @ K,   dK (n, half) += dS^T @ Q
void pk_side_scores_batch_backward(real *dQ, int dq_stride, real *dK, const real *dS, const real *Q, int q_stride,
                                   const real *K, int R, int n, int half);

// The search from precomputed side scores s1, s2 (n): slots (k), scores (k),
// best first. The same result as pk_search on the same s1, s2 (same ties),
// found faster: each side's top k by topk_small (memory/topk.h), then a walk
// over the k x k grid from its best corner that visits cells best first
// (rows and columns are sorted, so a cell is never better than the one to its
// left, and a row's first cell never better than the row above's). When
// scores tie near the k-th, the cells at least as good as the k-th are ranked
// by slot as pk_grid_select does. Fills ws's top1/top2 (and values); ws->grid,
// grid_slot hold the visited or ranked cells and sel_cell indexes them.
void pk_select(UmPkSearch *ws, int *slots, real *scores, const real *s1, const real *s2);

// pk_search's steps after the side scores, on ws->s1 and ws->s2 as the
// caller filled them (e.g. copied from a batched product): fills the rest of
// ws (top k per side, the k x k grid, sel_cell) and slots, scores (k). For a
// probe that draws a search a layer did with pk_side_scores_batch/pk_select.
void pk_search_scored(UmPkSearch *ws, int *slots, real *scores);

// Backward of the selection onto the side scores, for pk_side_scores_batch_backward:
// forward was scores[j] = s1[row_j] + s2[col_j]; so ds1[row_j] += dscores[j],
// ds2[col_j] += dscores[j] (ds1, ds2 (n) accumulate).
void pk_select_backward(real *ds1, real *ds2, const real *dscores, const int *slots, int n, int k);

// Backward through the selected scores only (selection is piecewise constant).
// Forward was: scores[j] = <q1, K1[row_j]> + <q2, K2[col_j]>, row_j = slots[j]/n,
// col_j = slots[j]%n. Accumulates (+=) into dq1, dq2 (half), dK1, dK2 (n, half);
// any of them may be NULL.
void pk_backward(real *dq1, real *dq2, real *dK1, real *dK2, const real *dscores, const int *slots, const real *q1,
                 const real *q2, const real *K1, const real *K2, int n, int half, int k);

#endif
