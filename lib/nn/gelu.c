// gelu.c: GELU, tanh approximation (as GPT-2).
#include "nn/gelu.h"

#include "kernels/activation.h"
#include "kernels/dispatch.h"

#define GELU_SCALE 0.7978845608028654  // sqrt(2/pi)
#define GELU_CUBIC 0.044715

// SIMD chunk size: big enough to amortise a thread's start, small enough to
// split an (N,F) activation over the cores.
#define GELU_CHUNK 4096

// inp (n) -> out (n):  out = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
void gelu_forward(real *out, const real *inp, size_t n) {
#ifndef UM_NO_SIMD
    // The same formula, 8 or 16 at a time (lib/kernels/activation*.c).
    if (um_simd_path() != UM_SIMD_SCALAR) {
        if (n <= GELU_CHUNK) {
            act_gelu_forward(out, inp, n);
            return;
        }
#pragma omp parallel for
        for (size_t c = 0; c < n; c += GELU_CHUNK) act_gelu_forward(out + c, inp + c, n - c < GELU_CHUNK ? n - c : GELU_CHUNK);
        return;
    }
#endif
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        real x = inp[i];
        real u = (real)GELU_SCALE * (x + (real)GELU_CUBIC * x * x * x);
        out[i] = (real)0.5 * x * ((real)1 + tanh(u));
    }
}

// Forward was: y = 0.5 x (1 + tanh(u)); so
//   dy/dx = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) du/dx,
//   du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
/* BEGIN EXERCISE 1.2 */
real gelu_derivative(real x) {
    real u = (real)GELU_SCALE * (x + (real)GELU_CUBIC * x * x * x);
    real th = tanh(u);
    real du = (real)GELU_SCALE * ((real)1 + (real)(3 * GELU_CUBIC) * x * x);
    return (real)0.5 * ((real)1 + th) + (real)0.5 * x * ((real)1 - th * th) * du;
}
/* END EXERCISE 1.2 */

void gelu_backward(real *dinp, const real *inp, const real *dout, size_t n) {
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) dinp[i] += gelu_derivative(inp[i]) * dout[i];
}
