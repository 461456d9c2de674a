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

// Backward through the selected scores only (selection is piecewise constant).
// Forward was: scores[j] = <q1, K1[row_j]> + <q2, K2[col_j]>, row_j = slots[j]/n,
// col_j = slots[j]%n. Accumulates (+=) into dq1, dq2 (half), dK1, dK2 (n, half);
// any of them may be NULL.
void pk_backward(real *dq1, real *dq2, real *dK1, real *dK2, const real *dscores, const int *slots, const real *q1,
                 const real *q2, const real *K1, const real *K2, int n, int half, int k);

#endif
