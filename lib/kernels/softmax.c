// softmax.c: plain C definitions of the attention / softmax row kernels
// (softmax.h), and the dispatch to softmax_avx2.c / softmax_avx512.c.
#include "kernels/softmax.h"

#include <math.h>

#include "kernels/dispatch.h"

void attn_dots_ref(real *s, const real *q, const real *rows, int n, int hs, size_t stride, real scale) {
    for (int j = 0; j < n; j++) {
        const real *r = rows + (size_t)j * stride;
        real dot = 0;
        for (int i = 0; i < hs; i++) dot += q[i] * r[i];
        s[j] = dot * scale;
    }
}

void attn_weighted_sum_ref(real *out, real alpha, const real *w, const real *rows, int n, int hs, size_t stride) {
    for (int i = 0; i < hs; i++) {
        real acc = 0;
        for (int j = 0; j < n; j++) acc += w[j] * rows[(size_t)j * stride + i];
        out[i] += alpha * acc;
    }
}

void attn_rows_axpy_ref(real *rows, real alpha, const real *w, const real *x, int n, int hs, size_t stride) {
    for (int j = 0; j < n; j++) {
        real a = alpha * w[j];
        real *r = rows + (size_t)j * stride;
        for (int i = 0; i < hs; i++) r[i] += a * x[i];
    }
}

// Subtracting the max first keeps exp() in range: the largest term is exp(0) = 1.
real softmax_exp_ref(real *p, const real *x, int n, real *maxval) {
    real m = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > m) m = x[i];
    real sum = 0;
    for (int i = 0; i < n; i++) {
        p[i] = (real)exp((double)(x[i] - m));
        sum += p[i];
    }
    *maxval = m;
    return sum;
}

#ifndef UM_NO_SIMD
#define DISPATCH(call_avx512, call_avx2, call_ref) \
    switch (um_simd_path()) {                      \
    case UM_SIMD_AVX512: call_avx512; break;       \
    case UM_SIMD_AVX2: call_avx2; break;           \
    default: call_ref; break;                      \
    }
#else
#define DISPATCH(call_avx512, call_avx2, call_ref) call_ref;
#endif

void attn_dots(real *s, const real *q, const real *rows, int n, int hs, size_t stride, real scale) {
    DISPATCH(attn_dots_avx512(s, q, rows, n, hs, stride, scale), attn_dots_avx2(s, q, rows, n, hs, stride, scale),
             attn_dots_ref(s, q, rows, n, hs, stride, scale))
}

void attn_weighted_sum(real *out, real alpha, const real *w, const real *rows, int n, int hs, size_t stride) {
    DISPATCH(attn_weighted_sum_avx512(out, alpha, w, rows, n, hs, stride),
             attn_weighted_sum_avx2(out, alpha, w, rows, n, hs, stride),
             attn_weighted_sum_ref(out, alpha, w, rows, n, hs, stride))
}

real softmax_exp(real *p, const real *x, int n, real *maxval) {
    DISPATCH(return softmax_exp_avx512(p, x, n, maxval), return softmax_exp_avx2(p, x, n, maxval),
             return softmax_exp_ref(p, x, n, maxval))
}

void attn_rows_axpy(real *rows, real alpha, const real *w, const real *x, int n, int hs, size_t stride) {
    DISPATCH(attn_rows_axpy_avx512(rows, alpha, w, x, n, hs, stride), attn_rows_axpy_avx2(rows, alpha, w, x, n, hs, stride),
             attn_rows_axpy_ref(rows, alpha, w, x, n, hs, stride))
}
