// gemm.c: cache blocking and packing around a register-tiled micro-kernel.
//
// The loop nest (Goto / BLIS order), from outside in:
//   jc: columns of C in panels of NC      B panel (KC x NC) is shared by all threads (L3)
//   pc: the K dimension in slices of KC   each C element gets its slices in pc order
//   ic: rows of C in blocks of MC         one block per thread at a time, A block in L2
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
static void macro_kernel(const GemmKernel *kern, int mc, int nc, int kc, const float *Ap, const float *Bp, float *C,
                         size_t ldc, int accumulate) {
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
                kern->kernel(kc, a, b, c, ldc, accumulate);
            } else {  // compute the full tile aside, keep only the part inside C
                kern->kernel(kc, a, b, edge, NR, 0);
                for (int i = 0; i < mr; i++)
                    for (int j = 0; j < nr; j++)
                        c[(size_t)i * ldc + j] = accumulate ? c[(size_t)i * ldc + j] + edge[i * NR + j] : edge[i * NR + j];
            }
        }
    }
}

void gemm(const GemmKernel *kern, int M, int N, int K, GemmOperand A, GemmOperand B, float *C, size_t ldc,
          int accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, sizeof(float) * N);
        return;
    }
    const int MR = kern->MR, NR = kern->NR;
    const int KC = min_int(kern->KC, K);
    const int NC = min_int(kern->NC, round_up(N, NR));
    float *Bp = growbuf(&tls_b, (size_t)KC * NC);
    // Tiny products are not worth waking a second thread for.
    const int parallel = (double)M * N * K >= 64.0 * 64 * 64;

#pragma omp parallel if (parallel)
    {
        int nthreads = 1;
#ifdef _OPENMP
        nthreads = omp_get_num_threads();
#endif
        // Rows per block: at most MC, and the block count a multiple of the
        // thread count when that is cheap, so no thread idles at the end.
        int nblocks = (M + kern->MC - 1) / kern->MC;
        nblocks = (nblocks + nthreads - 1) / nthreads * nthreads;
        const int MC = min_int(kern->MC, round_up((M + nblocks - 1) / nblocks, MR));
        nblocks = (M + MC - 1) / MC;
        float *Ap = growbuf(&tls_a, (size_t)MC * KC);

        for (int jc = 0; jc < N; jc += NC) {
            const int nc = min_int(NC, N - jc);
            for (int pc = 0; pc < K; pc += KC) {
                const int kc = min_int(KC, K - pc);
                const int nslivers = (nc + NR - 1) / NR;
#pragma omp for schedule(static)
                for (int s = 0; s < nslivers; s++)
                    pack_b_sliver(Bp + (size_t)s * NR * kc, B, pc, kc, jc + s * NR, min_int(NR, nc - s * NR), NR);
                // (implicit barrier: the panel is complete before anyone reads it)
#pragma omp for schedule(static)
                for (int blk = 0; blk < nblocks; blk++) {
                    const int ic = blk * MC, mc = min_int(MC, M - ic);
                    for (int ir = 0; ir < mc; ir += MR)
                        pack_a_sliver(Ap + (size_t)ir * kc, A, ic + ir, min_int(MR, mc - ir), pc, kc, MR);
                    macro_kernel(kern, mc, nc, kc, Ap, Bp, C + (size_t)ic * ldc + jc, ldc, accumulate || pc > 0);
                }
                // (implicit barrier: nobody repacks the panel while it is in use)
            }
        }
    }
}

#endif
