// topk.h: exact top-k of a real array by partial selection.
//
//   x (n) -> idx (k), val (k), sorted by descending value
//
// Why not sort everything? A memory layer asks for the best 16 of 128 row
// scores, then the best 16 of a 256-cell grid, for every token and head.
// Keeping only the k best seen so far in a small min-heap costs O(n log k)
// instead of O(n log n), and the heap's root is the cheapest thing to beat.
//
// Ties are broken deterministically: at equal value the lower index (or the
// lower tie key, see topk_tiekey) ranks first. This keeps results identical
// from run to run and makes product-key search agree with brute force even
// when scores tie. Inputs must be finite (NaN compares false and would be
// placed arbitrarily); 1 <= k <= n.
#ifndef UM_TOPK_H
#define UM_TOPK_H

#include "base/real.h"

// idx[i] = position in x of the i-th largest value, val[i] = x[idx[i]].
// val may be NULL.
void topk(int *idx, real *val, const real *x, int n, int k);

// Same, but at equal value the element with the lower tiekey[i] ranks first
// (topk is topk_tiekey with tiekey[i] = i). idx still holds positions in x.
void topk_tiekey(int *idx, real *val, const real *x, const int *tiekey, int n, int k);

#endif
