// crossentropy.h: softmax + cross-entropy over a vocabulary, fused.
//
//   logits (N, V), targets (N) -> probs (N, V), losses (N) (natural log units)
//   losses[n] = -log softmax(logits[n])[targets[n]]
// Backward: the mean loss over N tokens has gradient
//   dlogits[n][v] += scale * (probs[n][v] - [v == targets[n]])
// with scale = 1/N for a mean (passed in so callers can weight tokens).
#ifndef UM_CROSSENTROPY_H
#define UM_CROSSENTROPY_H

#include "base/real.h"

void softmax_crossentropy_forward(real *losses, real *probs, const real *logits, const int *targets, int N, int V);
void softmax_crossentropy_backward(real *dlogits, const real *probs, const int *targets, real scale, int N, int V);

// Softmax of one row in place (numerically stable: subtract the max first).
void softmax_inplace(real *x, int n);

#endif
