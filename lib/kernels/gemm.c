// gemm.c: cache blocking and packing around a register-tiled micro-kernel.
//
// The loop nest (Goto / BLIS order), from outside in:
//   threads: rows of C split into chunks, one chunk per thread at a time
//   jc: columns of C in panels of NC      B panel (KC x NC) packed per chunk (L2/L3)
//   pc: the K dimension in slices of KC   each C element gets its slices in pc order
//   ic: rows of the chunk in blocks of MC A block (MC x KC) in L2
//   jr: NR-wide slivers of the B panel    the sliver stays in L1 while ...
//   ir: MR-tall slivers of the A block    ... every A sliver streams past it
//   micro-kernel: MR x NR tile of C in registers, kc rank-1 updates.
// Packing copies each block once into the exact order the micro-kernel reads,
// padding ragged edges with zeros so the kernel never needs a remainder case.
#include "kernels/gemm.h"

typedef int um_gemm_nonempty;  // keep the translation unit non-empty under UM_NO_SIMD

#ifndef UM_NO_SIMD

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int min_int(int a, int b) { return a < b ? a : b; }
static int round_up(int x, int m) { return (x + m - 1) / m * m; }

// Packing buffers are kept per thread and reused across calls: allocating
// (and page-faulting) a megabyte per matmul would cost as much as a small
// matmul itself.
typedef struct {
    float *p;
    size_t cap;
} GrowBuf;
static _Thread_local GrowBuf tls_a, tls_b;

static float *growbuf(GrowBuf *g, size_t nfloats) {
    if (g->cap < nfloats) {
        free(g->p);
        size_t bytes = (nfloats * sizeof(float) + 63) / 64 * 64;
        g->p = aligned_alloc(64, bytes);
        if (!g->p) um_die(UM_EXIT_RUNTIME, "out of memory for a %zu-byte matmul packing buffer", bytes);
        g->cap = nfloats;
    }
    return g->p;
}

// A rows [i0, i0+mr) x columns [k0, k0+kc) -> dst[k*MR + i], rows mr..MR zero.
static void pack_a_sliver(float *dst, GemmOperand A, int i0, int mr, int k0, int kc, int MR) {
    if (A.cs == 1) {  // rows contiguous along k: read each row once
        for (int i = 0; i < mr; i++) {
            const float *row = A.p + (size_t)(i0 + i) * A.rs + k0;
            for (int k = 0; k < kc; k++) dst[k * MR + i] = row[k];
        }
    } else {  // columns contiguous along i (A is a transposed view)
        for (int k = 0; k < kc; k++) {
            const float *col = A.p + (size_t)(k0 + k) * A.cs + (size_t)i0 * A.rs;
            for (int i = 0; i < mr; i++) dst[k * MR + i] = col[(size_t)i * A.rs];
        }
    }
    for (int i = mr; i < MR; i++)
        for (int k = 0; k < kc; k++) dst[k * MR + i] = 0;
}

// B rows [k0, k0+kc) x columns [j0, j0+nr) -> dst[k*NR + j], columns nr..NR zero.
static void pack_b_sliver(float *dst, GemmOperand B, int k0, int kc, int j0, int nr, int NR) {
    // Here B's "rows" are k: element (k,j) is B.p[k*B.rs + j*B.cs].
    if (B.cs == 1) {  // row-major B: copy NR contiguous floats per k
        for (int k = 0; k < kc; k++) {
            const float *row = B.p + (size_t)(k0 + k) * B.rs + j0;
            float *d = dst + (size_t)k * NR;
            memcpy(d, row, sizeof(float) * nr);
            for (int j = nr; j < NR; j++) d[j] = 0;
        }
    } else {  // B is a transposed view (forward: B = W^T): read each W row once
        for (int j = 0; j < nr; j++) {
            const float *col = B.p + (size_t)(j0 + j) * B.cs + (size_t)k0 * B.rs;
            for (int k = 0; k < kc; k++) dst[(size_t)k * NR + j] = col[(size_t)k * B.rs];
        }
        for (int k = 0; k < kc; k++)
            for (int j = nr; j < NR; j++) dst[(size_t)k * NR + j] = 0;
    }
}

// One MC x NC block of C from a packed A block and the packed B panel.
// bias (the NC entries for these columns, or NULL) is only passed for the
// first K slice: the tile is preset to it just before the kernel adds to it,
// while the tile is in L1 anyway.
static void macro_kernel(const GemmKernel *kern, int mc, int nc, int kc, const float *Ap, const float *Bp, float *C,
                         size_t ldc, int accumulate, const float *bias) {
    const int MR = kern->MR, NR = kern->NR;
    _Alignas(64) float edge[32 * 32];  // a whole tile, for tiles that hang over C's edge
    for (int jr = 0; jr < nc; jr += NR) {
        const int nr = min_int(NR, nc - jr);
        const float *b = Bp + (size_t)jr * kc;
        for (int ir = 0; ir < mc; ir += MR) {
            const int mr = min_int(MR, mc - ir);
            const float *a = Ap + (size_t)ir * kc;
            float *c = C + (size_t)ir * ldc + jr;
            if (mr == MR && nr == NR) {
                if (bias)
                    for (int i = 0; i < MR; i++) memcpy(c + (size_t)i * ldc, bias + jr, sizeof(float) * NR);
                kern->kernel(kc, a, b, c, ldc, accumulate || bias);
            } else {  // compute the full tile aside, keep only the part inside C
                kern->kernel(kc, a, b, edge, NR, 0);
                for (int i = 0; i < mr; i++)
                    for (int j = 0; j < nr; j++) {
                        float *cij = c + (size_t)i * ldc + j;
                        const float base = accumulate ? *cij : bias ? bias[jr + j] : 0.0f;
                        *cij = base + edge[i * NR + j];
                    }
            }
        }
    }
}

// Rows [r0, r1) of C, all of N and K, on the calling thread, with its own
// packing buffers. Threads never share a buffer or an output row.
static void gemm_rows(const GemmKernel *kern, int r0, int r1, int N, int K, GemmOperand A, GemmOperand B, float *C,
                      size_t ldc, int accumulate, const float *bias) {
    const int MR = kern->MR, NR = kern->NR;
    const int KC = min_int(kern->KC, K), NC = min_int(kern->NC, round_up(N, NR));
    const int MC = min_int(kern->MC, round_up(r1 - r0, MR));
    float *Bp = growbuf(&tls_b, (size_t)KC * NC);
    float *Ap = growbuf(&tls_a, (size_t)MC * KC);
    for (int jc = 0; jc < N; jc += NC) {
        const int nc = min_int(NC, N - jc);
        for (int pc = 0; pc < K; pc += KC) {
            const int kc = min_int(KC, K - pc);
            for (int jr = 0; jr < nc; jr += NR)
                pack_b_sliver(Bp + (size_t)jr * kc, B, pc, kc, jc + jr, min_int(NR, nc - jr), NR);
            for (int ic = r0; ic < r1; ic += MC) {
                const int mc = min_int(MC, r1 - ic);
                for (int ir = 0; ir < mc; ir += MR)
                    pack_a_sliver(Ap + (size_t)ir * kc, A, ic + ir, min_int(MR, mc - ir), pc, kc, MR);
                macro_kernel(kern, mc, nc, kc, Ap, Bp, C + (size_t)ic * ldc + jc, ldc, accumulate || pc > 0,
                             bias && !accumulate && pc == 0 ? bias + jc : NULL);
            }
        }
    }
}

void gemm(const GemmKernel *kern, int M, int N, int K, GemmOperand A, GemmOperand B, float *C, size_t ldc,
          int accumulate, const float *bias) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate)
            for (int i = 0; i < M; i++) {
                float *row = C + (size_t)i * ldc;
                if (bias) memcpy(row, bias, sizeof(float) * N);
                else memset(row, 0, sizeof(float) * N);
            }
        return;
    }
    int nthreads = 1;
#ifdef _OPENMP
    // Tiny products are not worth waking a second thread for.
    if ((double)M * N * K >= 64.0 * 64 * 64 && !omp_in_parallel()) nthreads = omp_get_max_threads();
#endif
    // Split the rows of C into 2 chunks per thread, taken one at a time
    // (dynamic schedule): if another process steals a core for a moment, the
    // other thread takes the spare chunk instead of waiting. No barriers
    // inside: each chunk packs its own copy of B, which is why there are few
    // chunks (measured on 2 cores: 1 chunk/thread 1.95x scaling when idle,
    // 2 chunks 1.86x, 4 chunks 1.79x). Every C element is summed over K in the
    // same KC slices whichever thread computes it, so the result does not
    // depend on the thread count.
    int nchunks = nthreads == 1 ? 1 : nthreads * 2;
    int rows = round_up((M + nchunks - 1) / nchunks, kern->MR);
    nchunks = (M + rows - 1) / rows;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads) if (nchunks > 1)
    for (int ch = 0; ch < nchunks; ch++)
        gemm_rows(kern, ch * rows, min_int(M, (ch + 1) * rows), N, K, A, B, C, ldc, accumulate, bias);
}

#endif
