// matmul.c: the scalar reference linear layer, and the dispatcher.
//
// The *_ref functions below are the definition: short, obviously right, and
// slow (one multiply-add at a time). The fast paths (AVX2, AVX-512) run the
// same three products through the blocked, packed gemm() of gemm.c with a
// register-tiled micro-kernel from matmul_avx2.c / matmul_avx512.c.
#include "kernels/matmul.h"

#include <stddef.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/dispatch.h"
#include "kernels/gemm.h"
#include "kernels/vec.h"

// inp (N, C), weight (OC, C), bias (OC) or NULL -> out (N, OC)
void matmul_forward_ref(real *out, const real *inp, const real *weight, const real *bias, int N, int C, int OC) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const real *x = inp + (size_t)n * C;
        real *y = out + (size_t)n * OC;
        for (int o = 0; o < OC; o++) {
            const real *w = weight + (size_t)o * C;
            real acc = bias ? bias[o] : 0;
            for (int c = 0; c < C; c++) acc += x[c] * w[c];
            y[o] = acc;
        }
    }
}

// Forward was: out[n][o] = bias[o] + sum_c inp[n][c] * weight[o][c]; so
//   dinp[n][c]    += sum_o dout[n][o] * weight[o][c]
//   dweight[o][c] += sum_n dout[n][o] * inp[n][c]
//   dbias[o]      += sum_n dout[n][o]
// Two loop nests, each parallel over the rows it owns, so threads never
// write to the same element.
/* BEGIN EXERCISE 1.1 */
void matmul_backward_ref(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                         const real *weight, int N, int C, int OC) {
    if (dinp) {
#pragma omp parallel for
        for (int n = 0; n < N; n++) {
            const real *g = dout + (size_t)n * OC;
            real *dx = dinp + (size_t)n * C;
            for (int o = 0; o < OC; o++) {
                const real *w = weight + (size_t)o * C;
                for (int c = 0; c < C; c++) dx[c] += g[o] * w[c];
            }
        }
    }
    if (dweight || dbias) {
#pragma omp parallel for
        for (int o = 0; o < OC; o++) {
            for (int n = 0; n < N; n++) {
                real g = dout[(size_t)n * OC + o];
                if (dbias) dbias[o] += g;
                if (dweight) {
                    const real *x = inp + (size_t)n * C;
                    real *dw = dweight + (size_t)o * C;
                    for (int c = 0; c < C; c++) dw[c] += g * x[c];
                }
            }
        }
    }
}
/* END EXERCISE 1.1 */

#ifndef UM_NO_SIMD
static const GemmKernel *simd_kernel(void) {
    switch (um_simd_path()) {
    case UM_SIMD_AVX512: return &gemm_kernel_avx512;
    case UM_SIMD_AVX2: return &gemm_kernel_avx2;
    default: return NULL;
    }
}

// Row-major matrix with leading dimension ld, read as is or transposed.
// The few-rows forward of this path (see matmul.h), or NULL.
typedef void (*FewRowsFn)(float *out, const float *inp, const float *w, int N, int C, int OC, int o0, int o1);
static FewRowsFn few_rows_kernel(void) {
    switch (um_simd_path()) {
    case UM_SIMD_AVX512: return matmul_few_rows_avx512;
    case UM_SIMD_AVX2: return matmul_few_rows_avx2;
    default: return NULL;
    }
}

// Up to this many rows, matmul_forward reads the weight unpacked instead of
// going through gemm(). Measured on one thread (AVX-512, Zen 4), gemm time /
// few-rows time, cold cache (warm in brackets):
//   rows          4     8     16    24    32
//   512 -> 2048  2.2   1.7   1.5   1.2   1.1    (3.2 2.0 1.6 0.9 1.0)
//   2048 -> 512  2.5   2.0   1.3   1.1   1.1    (3.0 1.8 1.3 0.8 0.9)
//   128 -> 1008  1.6   1.4   1.4   1.0   0.9    (2.6 1.5 1.1 0.7 0.7)
// Past 16 rows gemm's packing is paid back by its bigger register tile.
#define FEW_ROWS_MAX 16

// out (N, OC) = inp @ weight^T (+ bias) with the few-rows kernel, threads
// taking disjoint chunks of 64 outputs (every output is summed the same way
// whichever thread computes it).
static void few_rows_forward(FewRowsFn fn, float *out, const float *inp, const float *weight, const float *bias, int N,
                             int C, int OC) {
    const int chunk = 64, nchunks = (OC + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if ((double)N * C * OC >= 64.0 * 64 * 64 && nchunks > 1)
    for (int ch = 0; ch < nchunks; ch++) {
        const int o0 = ch * chunk, o1 = o0 + chunk < OC ? o0 + chunk : OC;
        fn(out, inp, weight, N, C, OC, o0, o1);
    }
    if (bias)
        for (int n = 0; n < N; n++) vec_axpy(out + (size_t)n * OC, 1, bias, OC);
}

static GemmOperand rowmajor(const float *p, int ld) { return (GemmOperand){p, (size_t)ld, 1}; }
static GemmOperand transposed(const float *p, int ld) { return (GemmOperand){p, 1, (size_t)ld}; }

// dbias[o] += sum_n dout[n][o], summed over n in order like the reference.
// Row by row, so dout streams through memory once: each row is one SIMD
// vec_axpy (dbias += 1 * row, which adds exactly). Threads own disjoint
// column ranges (whole 64-byte lines) and walk all the rows.
static void bias_backward(float *dbias, const float *dout, int N, int OC) {
    int nthreads = 1;
#ifdef _OPENMP
    if ((long)N * OC > 1 << 16 && !omp_in_parallel()) nthreads = omp_get_max_threads();
#endif
    const int cols = (OC + nthreads - 1) / nthreads, per = (cols + 15) / 16 * 16;
#pragma omp parallel for num_threads(nthreads) if (nthreads > 1)
    for (int th = 0; th < nthreads; th++) {
        const int o0 = th * per, o1 = o0 + per < OC ? o0 + per : OC;
        for (int n = 0; n < N && o0 < o1; n++) vec_axpy(dbias + o0, 1, dout + (size_t)n * OC + o0, o1 - o0);
    }
}
#endif

// inp (N, C), weight (OC, C), bias (OC) or NULL -> out (N, OC)
void matmul_forward(real *out, const real *inp, const real *weight, const real *bias, int N, int C, int OC) {
#ifndef UM_NO_SIMD
    const GemmKernel *kern = simd_kernel();
    if (kern && N < 4) {
        // A few rows (sampling one token at a time): packing all of weight
        // would cost more than the product itself, so score each row of inp
        // against the rows of weight directly.
        for (int n = 0; n < N; n++) {
            real *y = out + (size_t)n * OC;
            vec_score_keys(y, inp + (size_t)n * C, weight, OC, C);
            if (bias) vec_axpy(y, 1, bias, OC);
        }
        return;
    }
    if (kern && N <= FEW_ROWS_MAX) {
        // Decode-sized batches: packing all of weight for gemm would cost
        // more than the product (see matmul.h), so stream it as it lies.
        few_rows_forward(few_rows_kernel(), out, inp, weight, bias, N, C, OC);
        return;
    }
    if (kern) {
        // out = bias + inp @ weight^T, with weight read transposed.
        gemm(kern, N, OC, C, rowmajor(inp, C), transposed(weight, C), out, OC, 0, bias);
        return;
    }
#endif
    matmul_forward_ref(out, inp, weight, bias, N, C, OC);
}

// dinp (N,C) += dout @ weight; dweight (OC,C) += dout^T @ inp; dbias (OC) += column sums of dout
void matmul_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                     const real *weight, int N, int C, int OC) {
#ifndef UM_NO_SIMD
    const GemmKernel *kern = simd_kernel();
    if (kern) {
        if (dinp) gemm(kern, N, C, OC, rowmajor(dout, OC), rowmajor(weight, C), dinp, C, 1, NULL);
        if (dweight) gemm(kern, OC, C, N, transposed(dout, OC), rowmajor(inp, C), dweight, C, 1, NULL);
        if (dbias) bias_backward(dbias, dout, N, OC);
        return;
    }
#endif
    matmul_backward_ref(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}

void matrix_transpose(real *dst, size_t ldd, const real *src, size_t lds, int rows, int cols) {
#ifndef UM_NO_SIMD
    transpose_rows(dst, ldd, src, lds, rows, cols);  // 4 x 4 blocks in SSE registers (gemm.c)
#else
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
#endif
}

// C (M,N) (+)= A (M,K) @ B (K,N) over strided views, summed over k in order.
void matmul_views_ref(real *C, size_t ldc, UmMatView A, UmMatView B, int M, int N, int K, int accumulate) {
    for (int i = 0; i < M; i++) {
        real *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++) {
            real sum = 0;
            for (int k = 0; k < K; k++) sum += A.p[i * A.rs + k * A.cs] * B.p[k * B.rs + j * B.cs];
            c[j] = accumulate ? c[j] + sum : sum;
        }
    }
}

void matmul_views(real *C, size_t ldc, UmMatView A, UmMatView B, int M, int N, int K, int accumulate) {
#ifndef UM_NO_SIMD
    const GemmKernel *kern = simd_kernel();
    if (kern) {
        gemm(kern, M, N, K, (GemmOperand){A.p, A.rs, A.cs}, (GemmOperand){B.p, B.rs, B.cs}, C, ldc, accumulate, NULL);
        return;
    }
#endif
    matmul_views_ref(C, ldc, A, B, M, N, K, accumulate);
}
