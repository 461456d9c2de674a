// matmul.h: the linear layer, the hottest loop of every model here.
//
//   forward:  out = inp @ weight^T + bias
//   inp (N, C), weight (OC, C) (PyTorch's Linear layout), bias (OC) or NULL
//   -> out (N, OC)
//
// backward (accumulates, +=, into whichever of dinp/dweight/dbias is not NULL):
//   dinp    (N, C)  += dout @ weight
//   dweight (OC, C) += dout^T @ inp
//   dbias   (OC)    += sum over rows of dout
//
// matmul_forward/backward pick the fastest path this CPU supports at run time
// (AVX-512, AVX2+FMA, or the scalar reference). The *_ref functions are the
// plain C definitions every fast path is tested against. UM_SIMD=scalar in
// the environment forces the reference path.
#ifndef UM_MATMUL_H
#define UM_MATMUL_H

#include "base/real.h"

void matmul_forward(real *out, const real *inp, const real *weight, const real *bias, int N, int C, int OC);
void matmul_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                     const real *weight, int N, int C, int OC);

void matmul_forward_ref(real *out, const real *inp, const real *weight, const real *bias, int N, int C, int OC);
void matmul_backward_ref(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                         const real *weight, int N, int C, int OC);

#endif
