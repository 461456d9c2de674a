// softmax.c: the plain C definition of softmax_exp (softmax.h), and the
// dispatch to softmax_avx2.c / softmax_avx512.c.
#include "kernels/softmax.h"

#include <math.h>

#include "kernels/dispatch.h"

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

// The same steps as softmax_exp_ref on v = scale * x, then p *= 1/sum.
void softmax_scaled_ref(real *p, const real *x, int n, real scale) {
    real m = x[0] * scale;
    for (int i = 1; i < n; i++)
        if (x[i] * scale > m) m = x[i] * scale;
    real sum = 0;
    for (int i = 0; i < n; i++) {
        p[i] = (real)exp((double)(x[i] * scale - m));
        sum += p[i];
    }
    real inv = 1 / sum;
    for (int i = 0; i < n; i++) p[i] *= inv;
}

// Forward was p_i = exp(v_i) / sum_j exp(v_j) with v = scale * x; so
// dp_i/dv_k = p_i (delta_ik - p_k), and ds_k = scale * p_k * (dp_k - sum_i p_i dp_i).
void softmax_scaled_backward_ref(real *ds, const real *p, const real *dp, int n, real scale) {
    real weighted = 0;
    for (int i = 0; i < n; i++) weighted += p[i] * dp[i];
    for (int i = 0; i < n; i++) ds[i] = scale * p[i] * (dp[i] - weighted);
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

real softmax_exp(real *p, const real *x, int n, real *maxval) {
    DISPATCH(return softmax_exp_avx512(p, x, n, maxval), return softmax_exp_avx2(p, x, n, maxval),
             return softmax_exp_ref(p, x, n, maxval))
}

void softmax_scaled(real *p, const real *x, int n, real scale) {
    DISPATCH(softmax_scaled_avx512(p, x, n, scale), softmax_scaled_avx2(p, x, n, scale),
             softmax_scaled_ref(p, x, n, scale))
}

void softmax_scaled_backward(real *ds, const real *p, const real *dp, int n, real scale) {
    DISPATCH(softmax_scaled_backward_avx512(ds, p, dp, n, scale), softmax_scaled_backward_avx2(ds, p, dp, n, scale),
             softmax_scaled_backward_ref(ds, p, dp, n, scale))
}
