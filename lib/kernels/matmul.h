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

#include <stddef.h>

#include "base/real.h"

void matmul_forward(real *out, const real *inp, const real *weight, const real *bias, int N, int C, int OC);
void matmul_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                     const real *weight, int N, int C, int OC);

// A product of two matrices that are views into bigger tensors (attention
// reads each head's q, k, v as a column slice of the packed qkv rows):
//   C (M,N) = or += A (M,K) @ B (K,N),  C row stride ldc,
// where element (i,k) of a view sits at p[i*rs + k*cs]: a row-major matrix
// with row stride ld is {p, ld, 1}, the same matrix transposed is {p, 1, ld}.
// accumulate=0 overwrites C, 1 adds to it. Same dispatch as matmul_forward;
// single-threaded when called from inside a parallel region.
typedef struct {
    const real *p;
    size_t rs, cs;
} UmMatView;
void matmul_views(real *C, size_t ldc, UmMatView A, UmMatView B, int M, int N, int K, int accumulate);
void matmul_views_ref(real *C, size_t ldc, UmMatView A, UmMatView B, int M, int N, int K, int accumulate);

// dst (cols, rows), row stride ldd = src (rows, cols), row stride lds,
// transposed: dst[c*ldd + r] = src[r*lds + c]. For operands that several
// products read transposed (attention's K^T and V^T): transpose once, then
// every product reads a row-major matrix in place.
void matrix_transpose(real *dst, size_t ldd, const real *src, size_t lds, int rows, int cols);

#ifndef UM_NO_SIMD
// The forward product for a few rows (decode: one token per sequence), with
// the weight read as it lies, unpacked. matmul_forward uses it for 4..16
// rows (see FEW_ROWS_MAX in matmul.c): the blocked gemm first copies all of
// W into its packed order, and with so few rows that copy costs more than
// the product, because each packed value is then used only a few times.
// Instead a small register tile (a few rows of inp x a few rows of W) runs
// down C with one accumulator per output, so W streams from memory once and
// each of its loads feeds several rows.
//   inp (N, C), w (OC, C) -> out (N, OC) for the outputs o in [o0, o1) only,
//   out[n*OC + o] = sum_c inp[n*C + c] * w[o*C + c].
// Every output is summed in the same order whichever tile or thread computes
// it, so splitting [0, OC) among threads gives the same bits.
void matmul_few_rows_avx2(float *out, const float *inp, const float *w, int N, int C, int OC, int o0, int o1);
void matmul_few_rows_avx512(float *out, const float *inp, const float *w, int N, int C, int OC, int o0, int o1);
#endif

void matmul_forward_ref(real *out, const real *inp, const real *weight, const real *bias, int N, int C, int OC);
void matmul_backward_ref(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                         const real *weight, int N, int C, int OC);

#endif
