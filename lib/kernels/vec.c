// vec.c: plain C definitions of the vector kernels, and the dispatch to the
// AVX2 / AVX-512 versions (vec_avx2.c, vec_avx512.c).
#include "kernels/vec.h"

#include <stddef.h>

#include "kernels/dispatch.h"

real vec_dot_ref(const real *a, const real *b, int n) {
    real acc = 0;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

void vec_axpy_ref(real *y, real alpha, const real *x, int n) {
    for (int i = 0; i < n; i++) y[i] += alpha * x[i];
}

void vec_scale_ref(real *x, real alpha, int n) {
    for (int i = 0; i < n; i++) x[i] *= alpha;
}

void vec_lincomb2_ref(real *y, real a, const real *x, real b, const real *z, int n) {
    for (int i = 0; i < n; i++) {
        real ax = a * x[i];  // rounded on its own, as 0 + a x would be
        y[i] = ax + b * z[i];
    }
}

// Insertion: walk down from the end while the newcomer ranks above.
int vec_topk_merge_ref(uint64_t *list, int *list_idx, int c, int k, const uint64_t *cand, const int *cand_idx,
                       int ncand) {
    for (int i = 0; i < ncand; i++) {
        uint64_t code = cand[i];
        if (c == k && code <= list[k - 1]) continue;
        int j = c < k ? c++ : k - 1;  // full: the last one drops out
        for (; j > 0 && code > list[j - 1]; j--) list[j] = list[j - 1], list_idx[j] = list_idx[j - 1];
        list[j] = code, list_idx[j] = cand_idx[i];
    }
    return c;
}

// Branch-free: always write the position, advance only if it is kept.
int vec_indices_at_least_ref(int *pass, const real *x, int n, real thr, int i0) {
    int np = 0;
    for (int i = 0; i < n; i++) {
        pass[np] = i0 + i;
        np += x[i] >= thr;
    }
    return np;
}

// keys (n,Dk), q (Dk) -> s (n)
void vec_score_keys_ref(real *s, const real *q, const real *keys, int n, int Dk) {
    for (int i = 0; i < n; i++) s[i] = vec_dot_ref(keys + (size_t)i * Dk, q, Dk);
}

// V (rows,Dv), idx (m), w (m) -> out (Dv) += sum_i w[i] * V[idx[i]]
void vec_gather_rows_ref(real *out, const real *w, const int *idx, int m, const real *V, int Dv) {
    for (int i = 0; i < m; i++) vec_axpy_ref(out, w[i], V + (size_t)idx[i] * Dv, Dv);
}

// Forward was: out += w[i] * V[idx[i]]; so the gradient of row idx[i] is w[i] * g:
// g (Dv) -> dV[idx[i]] (Dv) += w[i] * g
void vec_scatter_rows_ref(real *dV, const real *w, const int *idx, int m, const real *g, int Dv) {
    for (int i = 0; i < m; i++) vec_axpy_ref(dV + (size_t)idx[i] * Dv, w[i], g, Dv);
}

// Each public function: the path chosen at run time, or the reference when
// the build has no SIMD files (SIMD=0, or `real` = double).
#ifndef UM_NO_SIMD
#define DISPATCH(call_avx512, call_avx2, call_ref)     \
    switch (um_simd_path()) {                          \
    case UM_SIMD_AVX512: call_avx512; break;           \
    case UM_SIMD_AVX2: call_avx2; break;               \
    default: call_ref; break;                          \
    }
#else
#define DISPATCH(call_avx512, call_avx2, call_ref) call_ref;
#endif

real vec_dot(const real *a, const real *b, int n) {
    DISPATCH(return vec_dot_avx512(a, b, n), return vec_dot_avx2(a, b, n), return vec_dot_ref(a, b, n))
}

void vec_axpy(real *y, real alpha, const real *x, int n) {
    DISPATCH(vec_axpy_avx512(y, alpha, x, n), vec_axpy_avx2(y, alpha, x, n), vec_axpy_ref(y, alpha, x, n))
}

void vec_scale(real *x, real alpha, int n) {
    DISPATCH(vec_scale_avx512(x, alpha, n), vec_scale_avx2(x, alpha, n), vec_scale_ref(x, alpha, n))
}

void vec_lincomb2(real *y, real a, const real *x, real b, const real *z, int n) {
    DISPATCH(vec_lincomb2_avx512(y, a, x, b, z, n), vec_lincomb2_avx2(y, a, x, b, z, n),
             vec_lincomb2_ref(y, a, x, b, z, n))
}

int vec_topk_merge(uint64_t *list, int *list_idx, int c, int k, const uint64_t *cand, const int *cand_idx,
                   int ncand) {
    DISPATCH(return vec_topk_merge_avx512(list, list_idx, c, k, cand, cand_idx, ncand),
             return vec_topk_merge_ref(list, list_idx, c, k, cand, cand_idx, ncand),
             return vec_topk_merge_ref(list, list_idx, c, k, cand, cand_idx, ncand))
}

int vec_indices_at_least(int *pass, const real *x, int n, real thr, int i0) {
    DISPATCH(return vec_indices_at_least_avx512(pass, x, n, thr, i0),
             return vec_indices_at_least_avx2(pass, x, n, thr, i0), return vec_indices_at_least_ref(pass, x, n, thr, i0))
}

void vec_score_keys(real *s, const real *q, const real *keys, int n, int Dk) {
    DISPATCH(vec_score_keys_avx512(s, q, keys, n, Dk), vec_score_keys_avx2(s, q, keys, n, Dk),
             vec_score_keys_ref(s, q, keys, n, Dk))
}

void vec_gather_rows(real *out, const real *w, const int *idx, int m, const real *V, int Dv) {
    DISPATCH(vec_gather_rows_avx512(out, w, idx, m, V, Dv), vec_gather_rows_avx2(out, w, idx, m, V, Dv),
             vec_gather_rows_ref(out, w, idx, m, V, Dv))
}

void vec_scatter_rows(real *dV, const real *w, const int *idx, int m, const real *g, int Dv) {
    DISPATCH(vec_scatter_rows_avx512(dV, w, idx, m, g, Dv), vec_scatter_rows_avx2(dV, w, idx, m, g, Dv),
             vec_scatter_rows_ref(dV, w, idx, m, g, Dv))
}
