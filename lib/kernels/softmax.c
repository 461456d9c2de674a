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
