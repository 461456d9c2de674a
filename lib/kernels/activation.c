// activation.c: plain C GELU (the definition the SIMD versions are tested
// against) and the dispatch to activation_avx2.c / activation_avx512.c.
#include "kernels/activation.h"

#include <math.h>

#include "kernels/dispatch.h"

#define GELU_SCALE 0.7978845608028654  // sqrt(2/pi)
#define GELU_CUBIC 0.044715

void act_gelu_forward_ref(real *y, const real *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        real u = (real)GELU_SCALE * (x[i] + (real)GELU_CUBIC * x[i] * x[i] * x[i]);
        y[i] = (real)0.5 * x[i] * ((real)1 + tanh(u));
    }
}

// Forward was: y = 0.5 x (1 + tanh(u)); so dy/dx = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) du/dx
void act_gelu_backward_inplace_ref(real *d, const real *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        real u = (real)GELU_SCALE * (x[i] + (real)GELU_CUBIC * x[i] * x[i] * x[i]);
        real th = tanh(u);
        real du = (real)GELU_SCALE * ((real)1 + (real)(3 * GELU_CUBIC) * x[i] * x[i]);
        d[i] *= (real)0.5 * ((real)1 + th) + (real)0.5 * x[i] * ((real)1 - th * th) * du;
    }
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

void act_gelu_forward(real *y, const real *x, size_t n) {
    DISPATCH(act_gelu_forward_avx512(y, x, n), act_gelu_forward_avx2(y, x, n), act_gelu_forward_ref(y, x, n))
}

void act_gelu_backward_inplace(real *d, const real *x, size_t n) {
    DISPATCH(act_gelu_backward_inplace_avx512(d, x, n), act_gelu_backward_inplace_avx2(d, x, n),
             act_gelu_backward_inplace_ref(d, x, n))
}
