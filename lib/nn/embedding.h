// embedding.h: token + position embedding (the model's first layer).
//
//   tokens (B, T) ints in [0, V), wte (V, D), wpe (Tmax, D) -> out (B, T, D)
//   out[b][t] = wte[tokens[b][t]] + wpe[t]
#ifndef UM_EMBEDDING_H
#define UM_EMBEDDING_H

#include "base/real.h"

void embedding_forward(real *out, const int *tokens, const real *wte, const real *wpe, int B, int T, int D);
// Scatter-add: dwte[token] += dout, dwpe[t] += dout.
void embedding_backward(real *dwte, real *dwpe, const real *dout, const int *tokens, int B, int T, int D);

#endif
