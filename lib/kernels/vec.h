// vec.h: the small vector loops of the memory layers and the nn ops.
//
// Each function picks the AVX-512, AVX2 or scalar path like matmul does
// (see dispatch.h); the *_ref versions in vec.c are the plain C definitions
// the fast ones are tested against. Vectors may have any length and any
// alignment. Lengths are int; offsets into tables are computed in size_t.
#ifndef UM_VEC_H
#define UM_VEC_H

#include <stdint.h>

#include "base/real.h"

// a (n), b (n) -> sum_i a[i] * b[i]
real vec_dot(const real *a, const real *b, int n);
// y (n) += alpha * x (n)
void vec_axpy(real *y, real alpha, const real *x, int n);
// x (n) *= alpha
void vec_scale(real *x, real alpha, int n);
// y (n) = a * x (n) + b * z (n): the product a * x rounded, then b * z added (one FMA on the SIMD
// paths, a product and an add in the reference: the same results as zeroing y and two vec_axpy).
// (The selection scores u.S of the memory layers' Tucker search, one pass and no zeroing.)
void vec_lincomb2(real *y, real a, const real *x, real b, const real *z, int n);
// Merge candidates into a top-k list (the insertion step of the memory layers' top-m):
//   list (k) holds c <= k codes sorted descending, list_idx their positions; each candidate code
//   cand[i] (position cand_idx[i]) that ranks above the k-th entry (or any, while c < k) is inserted,
//   the k-th then dropping out. Codes are unique (a value and its tie key in one number); returns the
//   new c. Same result on every path; the AVX-512 one holds the list in registers (k <= 32).
int vec_topk_merge(uint64_t *list, int *list_idx, int c, int k, const uint64_t *cand, const int *cand_idx,
                   int ncand);
// Positions that reach a threshold: writes i0 + i for every i < n with x[i] >= thr (NaN never does),
// in increasing order, to pass; returns how many. pass must hold n ints. (Top-k's filter.)
int vec_indices_at_least(int *pass, const real *x, int n, real thr, int i0);
// Score one query against n keys: keys (n,Dk) row-major, q (Dk) -> s (n), s[i] = keys[i] . q
void vec_score_keys(real *s, const real *q, const real *keys, int n, int Dk);
// Weighted sum of selected rows: V (rows,Dv), idx (m), w (m) -> out (Dv) += sum_i w[i] * V[idx[i]]
void vec_gather_rows(real *out, const real *w, const int *idx, int m, const real *V, int Dv);
// Scatter-add into selected rows (the backward of vec_gather_rows for V):
// g (Dv), idx (m), w (m) -> dV[idx[i]] (Dv) += w[i] * g, in order i = 0..m-1 (repeated rows add up).
// Not thread-safe for overlapping rows: callers partition rows or use per-thread buffers.
void vec_scatter_rows(real *dV, const real *w, const int *idx, int m, const real *g, int Dv);

real vec_dot_ref(const real *a, const real *b, int n);
void vec_axpy_ref(real *y, real alpha, const real *x, int n);
void vec_scale_ref(real *x, real alpha, int n);
void vec_lincomb2_ref(real *y, real a, const real *x, real b, const real *z, int n);
int vec_topk_merge_ref(uint64_t *list, int *list_idx, int c, int k, const uint64_t *cand, const int *cand_idx,
                       int ncand);
int vec_indices_at_least_ref(int *pass, const real *x, int n, real thr, int i0);
void vec_score_keys_ref(real *s, const real *q, const real *keys, int n, int Dk);
void vec_gather_rows_ref(real *out, const real *w, const int *idx, int m, const real *V, int Dv);
void vec_scatter_rows_ref(real *dV, const real *w, const int *idx, int m, const real *g, int Dv);

#ifndef UM_NO_SIMD
// The SIMD versions, callable directly (tests); they exist only in float SIMD builds.
#define UM_VEC_DECLARE(suffix)                                                                     \
    float vec_dot_##suffix(const float *a, const float *b, int n);                                 \
    void vec_axpy_##suffix(float *y, float alpha, const float *x, int n);                          \
    void vec_scale_##suffix(float *x, float alpha, int n);                                         \
    void vec_lincomb2_##suffix(float *y, float a, const float *x, float b, const float *z, int n); \
    int vec_indices_at_least_##suffix(int *pass, const float *x, int n, float thr, int i0);       \
    void vec_score_keys_##suffix(float *s, const float *q, const float *keys, int n, int Dk);      \
    void vec_gather_rows_##suffix(float *out, const float *w, const int *idx, int m, const float *V, int Dv); \
    void vec_scatter_rows_##suffix(float *dV, const float *w, const int *idx, int m, const float *g, int Dv);
UM_VEC_DECLARE(avx2)
UM_VEC_DECLARE(avx512)
#undef UM_VEC_DECLARE
int vec_topk_merge_avx512(uint64_t *list, int *list_idx, int c, int k, const uint64_t *cand, const int *cand_idx,
                          int ncand);
#endif

#endif
