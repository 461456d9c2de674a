// attention.h: causal multi-head self-attention (the core, without the
// input/output projections, which are plain matmuls).
//
//   qkv (B, T, 3D): for each token, q | k | v, each D = H * hs wide
//   -> out (B, T, D), caching att (B, H, T, T) (softmax over t2 <= t;
//      entries t2 > t are 0) for the backward
//   att[b][h][t][t2] = softmax_t2( q_t . k_t2 / sqrt(hs) ),  t2 <= t
//   out[b][t][h*hs + i] = sum_t2 att[b][h][t][t2] * v_t2[i]
// Backward accumulates into dqkv. The scaled scores (preatt) and their
// gradients are not kept: each thread works in a scratch row or block of them
// (see attention.c), which is faster and saves 2 (B, H, T, T) buffers.
#ifndef UM_ATTENTION_H
#define UM_ATTENTION_H

#include "base/real.h"

void attention_forward(real *out, real *att, const real *qkv, int B, int T, int D, int H);
void attention_backward(real *dqkv, const real *dout, const real *qkv, const real *att, int B, int T, int D, int H);

#endif
