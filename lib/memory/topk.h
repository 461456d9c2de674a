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

// The same result as topk_tiekey (same order, same ties; tiekey may be NULL),
// by insertion into a sorted list of the k best instead of a heap. Each
// candidate is compared with the current k-th best first, and most are
// rejected there; a winner shifts the worse ones down. No indirection through
// a heap of positions, so it is the faster of the two for the small n and k of
// the memory layers (a few hundred candidates, k up to ~64). val may be NULL.
void topk_insert(int *idx, real *val, const real *x, const int *tiekey, int n, int k);

// The same result again, by counting each element's rank (how many elements
// rank above it) and writing the ones with rank < k straight to their place.
// O(n^2) comparisons, but without branches: the compiler vectorises the count,
// which beats any heap or list for n up to ~64 (and k close to n, where most
// elements are winners). val may be NULL.
void topk_rank(int *idx, real *val, const real *x, const int *tiekey, int n, int k);

// topk_rank for n <= TOPK_RANK_MAX_N; for larger n with k <= n/4, a
// threshold (the k-th best of >= k group maxima) first drops the elements
// that cannot win and the rest are ranked; otherwise topk_insert. Same
// result as topk_tiekey in every case.
#define TOPK_RANK_MAX_N 64
void topk_small(int *idx, real *val, const real *x, const int *tiekey, int n, int k);

#endif
