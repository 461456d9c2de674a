// gemm.h: the blocked matrix product behind every fast matmul path (internal).
//
//   C (M,N) = or += A (M,K) @ B (K,N)        (float only: SIMD builds)
//
// The three products of a linear layer are all this one shape once we say
// how to read A and B: element (i,k) of A sits at a[i*rs + k*cs], so a
// row-major matrix has (rs,cs) = (ld,1) and a transposed one (1,ld).
//   forward  out  = inp  @ W^T : A = inp (N,C),     B = W^T (read W (OC,C) transposed)
//   backward dinp += dout @ W  : A = dout (N,OC),   B = W (OC,C)
//   backward dW   += dout^T @ inp : A = dout^T (read dout transposed), B = inp (N,C)
//
// The driver sizes blocks of A and B so each stays in one cache level, and
// copies ("packs") into the order the micro-kernel reads only what it cannot
// read in place: a transposed B and the ragged edges (see gemm.c).
#ifndef UM_GEMM_H
#define UM_GEMM_H

#include <stddef.h>

#ifndef UM_NO_SIMD

typedef struct {
    const float *p;
    size_t rs, cs;  // element (i,k) is p[i*rs + k*cs]
} GemmOperand;

// A micro-kernel computes one MR x NR tile of C:
//   a: the tile's MR rows of A for kc steps, element (i,k) at a[i*a_rs + k*a_cs]
//      (a packed sliver has a_rs = 1, a_cs = MR; gemm.c also passes A as it lies),
//   b: kc rows of NR values (row k of the tile's B columns) at b + k*b_rs
//      (a packed sliver has b_rs = NR; gemm.c also passes a row-major B as it lies).
// It stores the tile into c (row stride ldc), or adds it to c if accumulate.
typedef void (*GemmMicroKernel)(int kc, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t b_rs,
                                float *c, size_t ldc, int accumulate);

typedef struct {
    const char *name;
    GemmMicroKernel kernel;
    int MR, NR;      // register tile
    int KC, MC, NC;  // cache blocks: kc x NR sliver of B in L1, MC x KC block of A in L2, KC x NC panel of B in L3
} GemmKernel;

// dst[k*ld + i] = src[i*src_ld + k] for i < rows, k < kc: `rows` rows of src
// become columns of dst (the transposing copy of packing; SSE 4 x 4 blocks).
void transpose_rows(float *dst, size_t ld, const float *src, size_t src_ld, int rows, int kc);

extern const GemmKernel gemm_kernel_avx2;
extern const GemmKernel gemm_kernel_avx512;

// C (M,N), row stride ldc. accumulate=0 overwrites C with bias + A @ B
// (bias (N) added to every row, or NULL for none); accumulate=1 adds A @ B to
// C and ignores bias. Parallel (OpenMP) over chunks of C rows; every element
// of C is summed in the same order whatever the thread count, so results are
// bit-identical.
void gemm(const GemmKernel *kern, int M, int N, int K, GemmOperand A, GemmOperand B, float *C, size_t ldc,
          int accumulate, const float *bias);

#endif
#endif
