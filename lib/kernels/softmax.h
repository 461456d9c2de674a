// softmax.h: the row loops of attention and of the softmax over the
// vocabulary: scores of one query against strided key rows, a weighted sum
// of strided value rows, and exp(x - max) with its sum.
//
// "Strided rows" are n vectors of length hs, row j starting at rows + j * stride:
// the keys or values of one head inside the packed (B,T,3D) q|k|v tensor.
// Any length, any alignment; path chosen like matmul (dispatch.h). The SIMD
// versions add in a different order than the *_ref ones (and use a polynomial
// exp, simd_exp_*.h), so they agree to a few ulps of the terms, not bit for bit.
#ifndef UM_KERNELS_SOFTMAX_H
#define UM_KERNELS_SOFTMAX_H

#include <stddef.h>

#include "base/real.h"

// q (hs), rows (n strided, hs) -> s (n):  s[j] = scale * (q . rows_j)
void attn_dots(real *s, const real *q, const real *rows, int n, int hs, size_t stride, real scale);
// w (n), rows (n strided, hs) -> out (hs) += alpha * sum_j w[j] * rows_j
void attn_weighted_sum(real *out, real alpha, const real *w, const real *rows, int n, int hs, size_t stride);
// x (hs), w (n), rows (n strided, hs) -> rows_j += (alpha * w[j]) * x for each j
// (attention backward: dk_j and dv_j of every earlier key; same bits as one
// vec_axpy per row, without a call and a reload of x per row).
void attn_rows_axpy(real *rows, real alpha, const real *w, const real *x, int n, int hs, size_t stride);
// x (n), n >= 1 -> p (n) = exp(x - max(x)); returns sum(p), *maxval = max(x).
// p may be x (in place).
real softmax_exp(real *p, const real *x, int n, real *maxval);

void attn_dots_ref(real *s, const real *q, const real *rows, int n, int hs, size_t stride, real scale);
void attn_weighted_sum_ref(real *out, real alpha, const real *w, const real *rows, int n, int hs, size_t stride);
real softmax_exp_ref(real *p, const real *x, int n, real *maxval);
void attn_rows_axpy_ref(real *rows, real alpha, const real *w, const real *x, int n, int hs, size_t stride);

#ifndef UM_NO_SIMD
#define UM_SOFTMAX_DECLARE(suffix)                                                                              \
    void attn_dots_##suffix(float *s, const float *q, const float *rows, int n, int hs, size_t stride, float scale); \
    void attn_weighted_sum_##suffix(float *out, float alpha, const float *w, const float *rows, int n, int hs,    \
                                    size_t stride);                                                             \
    float softmax_exp_##suffix(float *p, const float *x, int n, float *maxval);                                  \
    void attn_rows_axpy_##suffix(float *rows, float alpha, const float *w, const float *x, int n, int hs,         \
                                 size_t stride);
UM_SOFTMAX_DECLARE(avx2)
UM_SOFTMAX_DECLARE(avx512)
#undef UM_SOFTMAX_DECLARE
#endif

#endif
