// mlp.h: the feed-forward block  out = W2 gelu(W1 x + b1) + b2.
//
//   inp (N, D), w1 (F, D), b1 (F), w2 (D, F), b2 (D) -> out (N, D)
//   caches pre (N, F) = W1 x + b1 and act (N, F) = gelu(pre)
// Backward accumulates into dinp, dw1, db1, dw2, db2; it needs a scratch
// buffer dact of N*F reals (overwritten).
// The experts of the MoE layer are these same MLPs on a subset of tokens.
#ifndef UM_MLP_H
#define UM_MLP_H

#include "base/real.h"

void mlp_forward(real *out, real *pre, real *act, const real *inp, const real *w1, const real *b1, const real *w2,
                 const real *b2, int N, int D, int F);
void mlp_backward(real *dinp, real *dw1, real *db1, real *dw2, real *db2, real *dact, const real *dout,
                  const real *inp, const real *pre, const real *act, const real *w1, const real *w2, int N, int D,
                  int F);

#endif
