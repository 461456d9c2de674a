// mlp.c: the feed-forward block  out = W2 gelu(W1 x + b1) + b2.
#include "nn/mlp.h"

#include <stddef.h>
#include <string.h>

#include "kernels/activation.h"
#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "nn/gelu.h"

// inp (N,D), w1 (F,D), b1 (F), w2 (D,F), b2 (D) -> out (N,D);
// caches pre (N,F) and act (N,F)
void mlp_forward(real *out, real *pre, real *act, const real *inp, const real *w1, const real *b1, const real *w2,
                 const real *b2, int N, int D, int F) {
    matmul_forward(pre, inp, w1, b1, N, D, F);  // pre = W1 x + b1
    gelu_forward(act, pre, (size_t)N * F);      // act = gelu(pre)
    matmul_forward(out, act, w2, b2, N, F, D);  // out = W2 act + b2
}

// dact (n) *= gelu'(pre) (n): gelu_derivative per element, or on a SIMD path
// the same maths 8 or 16 at a time (lib/kernels/activation*.c).
static void gelu_backward_inplace(real *dact, const real *pre, size_t n) {
#ifndef UM_NO_SIMD
    if (um_simd_path() != UM_SIMD_SCALAR) {
        enum { CHUNK = 4096 };
#pragma omp parallel for
        for (size_t c = 0; c < n; c += CHUNK) act_gelu_backward_inplace(dact + c, pre + c, n - c < CHUNK ? n - c : CHUNK);
        return;
    }
#endif
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) dact[i] *= gelu_derivative(pre[i]);
}

// The forward, read bottom up:
//   out = W2 act + b2  ->  dw2, db2 +=, dact = dout W2   (dact starts at 0)
//   act = gelu(pre)    ->  dpre = gelu'(pre) * dact      (in place, in dact)
//   pre = W1 x + b1    ->  dw1, db1, dinp +=
void mlp_backward(real *dinp, real *dw1, real *db1, real *dw2, real *db2, real *dact, const real *dout,
                  const real *inp, const real *pre, const real *act, const real *w1, const real *w2, int N, int D,
                  int F) {
    size_t NF = (size_t)N * F;
    memset(dact, 0, NF * sizeof(real));  // matmul_backward accumulates; dact is scratch
    matmul_backward(dact, dw2, db2, dout, act, w2, N, F, D);
    // dact becomes dpre: scaling in place saves a second (N,F) buffer.
    gelu_backward_inplace(dact, pre, NF);
    matmul_backward(dinp, dw1, db1, dact, inp, w1, N, D, F);
}
