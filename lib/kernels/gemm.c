// gemm.c: cache blocking and packing around a register-tiled micro-kernel.
//
// The loop nest (Goto / BLIS order), from outside in:
//   threads: rows of C split into chunks, one chunk per thread at a time
//   jc: columns of C in panels of NC      B panel (KC x NC) per chunk (L2/L3)
//   pc: the K dimension in slices of KC   each C element gets its slices in pc order
//   ic: rows of the chunk in blocks of MC A block (MC x KC) in L2
//   jr: NR-wide slivers of the B panel    the sliver stays in L1 while ...
//   ir: MR-tall slivers of the A block    ... every A sliver streams past it
//   micro-kernel: MR x NR tile of C in registers, kc rank-1 updates.
// Packing copies a block once into the exact order the micro-kernel reads,
// padding ragged edges with zeros so the kernel never needs a remainder case.
// Only what needs it is packed: the kernel reads full slivers of A, and of a
// row-major B, where they lie (see ABlock / BPanel below).
#include "kernels/gemm.h"

#include <pthread.h>

typedef int um_gemm_nonempty;  // keep the translation unit non-empty under UM_NO_SIMD

#ifndef UM_NO_SIMD

#include <stdlib.h>
#include <string.h>
#include <xmmintrin.h>

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

// Every live packing buffer is also listed here, so a leak checker (which
// may not see the thread-local pointers of OpenMP's worker threads at exit)
// knows they are still in use, not leaked. Touched only when a buffer grows.
#define MAX_LIVE_BUFFERS 256
static float *live_buffers[MAX_LIVE_BUFFERS];
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;

static void track_buffer(float *old, float *new_buf) {
    pthread_mutex_lock(&live_lock);
    for (int i = 0; i < MAX_LIVE_BUFFERS; i++) {
        if (live_buffers[i] == old) {  // old is NULL for a first allocation: takes a free slot
            live_buffers[i] = new_buf;
            break;
        }
    }
    pthread_mutex_unlock(&live_lock);
}

static float *growbuf(GrowBuf *g, size_t nfloats) {
    if (g->cap < nfloats) {
        size_t bytes = (nfloats * sizeof(float) + 63) / 64 * 64;
        float *bigger = aligned_alloc(64, bytes);
        if (!bigger) um_die(UM_EXIT_RUNTIME, "out of memory for a %zu-byte matmul packing buffer", bytes);
        track_buffer(g->p, bigger);
        free(g->p);
        g->p = bigger;
        g->cap = nfloats;
    }
    return g->p;
}

// dst[k*ld + i] = src[i*src_ld + k] for i < rows, k < kc: copy `rows` rows
// of src into columns of dst. This transposing copy is most of the packing
// work, so it goes 4 x 4 blocks at a time with SSE (every x86-64 has it):
// four row loads, a register transpose, four column stores, instead of 16
// scalar loads and stores.
void transpose_rows(float *dst, size_t ld, const float *src, size_t src_ld, int rows, int kc) {
    int i = 0;
    for (; i + 4 <= rows; i += 4) {
        const float *r0 = src + (size_t)i * src_ld, *r1 = r0 + src_ld, *r2 = r1 + src_ld, *r3 = r2 + src_ld;
        int k = 0;
        for (; k + 4 <= kc; k += 4) {
            __m128 a = _mm_loadu_ps(r0 + k), b = _mm_loadu_ps(r1 + k), c = _mm_loadu_ps(r2 + k), d = _mm_loadu_ps(r3 + k);
            _MM_TRANSPOSE4_PS(a, b, c, d);  // now a = column k, b = column k+1, ...
            _mm_storeu_ps(dst + (size_t)k * ld + i, a);
            _mm_storeu_ps(dst + (size_t)(k + 1) * ld + i, b);
            _mm_storeu_ps(dst + (size_t)(k + 2) * ld + i, c);
            _mm_storeu_ps(dst + (size_t)(k + 3) * ld + i, d);
        }
        for (; k < kc; k++) {
            float *d = dst + (size_t)k * ld + i;
            d[0] = r0[k], d[1] = r1[k], d[2] = r2[k], d[3] = r3[k];
        }
    }
    for (; i < rows; i++) {
        const float *row = src + (size_t)i * src_ld;
        for (int k = 0; k < kc; k++) dst[(size_t)k * ld + i] = row[k];
    }
}

// The ragged last sliver of an A block: rows [i0, i0+mr) (mr < MR) x
// columns [k0, k0+kc) -> dst[k*MR + i], rows mr..MR zero (full slivers are
// read in place, see ABlock below).
static void pack_a_sliver(float *dst, GemmOperand A, int i0, int mr, int k0, int kc, int MR) {
    if (A.cs == 1) {  // rows contiguous along k: transpose the rows into columns
        transpose_rows(dst, MR, A.p + (size_t)i0 * A.rs + k0, A.rs, mr, kc);
    } else {  // a transposed view (backward dW: A = dout^T): column k is a run of mr values
        for (int k = 0; k < kc; k++) {
            const float *run = A.p + (size_t)(k0 + k) * A.cs + (size_t)i0 * A.rs;
            for (int i = 0; i < mr; i++) dst[(size_t)k * MR + i] = run[(size_t)i * A.rs];
        }
    }
    for (int k = 0; k < kc; k++)
        for (int i = mr; i < MR; i++) dst[(size_t)k * MR + i] = 0;
}

// B rows [k0, k0+kc) x columns [j0, j0+nr) -> dst[k*NR + j], columns nr..NR zero.
static void pack_b_sliver(float *dst, GemmOperand B, int k0, int kc, int j0, int nr, int NR) {
    // Here B's "rows" are k: element (k,j) is B.p[k*B.rs + j*B.cs].
    if (B.cs == 1) {  // row-major B: copy NR contiguous floats per k
        for (int k = 0; k < kc; k++) {
            const float *row = B.p + (size_t)(k0 + k) * B.rs + j0;
            float *d = dst + (size_t)k * NR;
            for (int j = 0; j < nr; j++) d[j] = row[j];
            for (int j = nr; j < NR; j++) d[j] = 0;
        }
    } else {  // B is a transposed view (forward: B = W^T): rows of W become columns
        transpose_rows(dst, NR, B.p + (size_t)j0 * B.cs + k0, B.cs, nr, kc);
        for (int k = 0; k < kc; k++)
            for (int j = nr; j < NR; j++) dst[(size_t)k * NR + j] = 0;
    }
}

// Where the micro-kernel reads its slivers from. Packing costs a pass over
// the operand (a transposing copy for a row-major A or a transposed B), and
// the kernel can often read the operand as it lies just as fast:
//   A: each k step broadcasts MR single values, from any layout; an MR x kc
//      sliver stays in L1 while every B sliver of the panel passes it.
//   B: each k step loads NR contiguous values, so a row-major B (the
//      backward products' W and inp, attention's V, K and Q) can be read in
//      place; a transposed B (the forward's W^T) must be packed.
// Slivers hanging over the edge of A or B are always packed, because their
// missing rows or columns must read as zero.
typedef struct {
    GemmOperand A;  // the whole A
    float *edge;    // a packed copy of the block's ragged last sliver (or unused)
    int i0, k0;     // the block's first row and K slice
} ABlock;

typedef struct {
    GemmOperand B;  // the whole B
    float *packed;  // the panel's packed slivers: all of them, or only the ragged last one if in_place
    int in_place;   // full slivers are read from B itself
    int k0, j0;     // the panel's K slice and first column
} BPanel;

// The B sliver at panel column jr (nr wide): its first row and row stride.
static const float *b_sliver(const BPanel *bp, int jr, int nr, int NR, int kc, size_t *b_rs) {
    if (bp->in_place && nr == NR) {
        *b_rs = bp->B.rs;
        return bp->B.p + (size_t)bp->k0 * bp->B.rs + (size_t)(bp->j0 + jr);
    }
    *b_rs = (size_t)NR;
    return bp->in_place ? bp->packed : bp->packed + (size_t)jr * kc;
}

// One MC x NC block of C from a block of A and a panel of B.
// bias (the NC entries for these columns, or NULL) is only passed for the
// first K slice: the tile is preset to it just before the kernel adds to it,
// while the tile is in L1 anyway.
static void macro_kernel(const GemmKernel *kern, int mc, int nc, int kc, const ABlock *ab, const BPanel *bp, float *C,
                         size_t ldc, int accumulate, const float *bias) {
    const int MR = kern->MR, NR = kern->NR;
    _Alignas(64) float edge[32 * 32];  // a whole tile (MR x NR <= 32 x 32), for tiles hanging over C's edge
    for (int jr = 0; jr < nc; jr += NR) {
        const int nr = min_int(NR, nc - jr);
        size_t brs;
        const float *b = b_sliver(bp, jr, nr, NR, kc, &brs);
        for (int ir = 0; ir < mc; ir += MR) {
            const int mr = min_int(MR, mc - ir);
            // the A sliver: A itself for a full one, the packed copy for the ragged one
            const float *a_here = ab->A.p + (size_t)(ab->i0 + ir) * ab->A.rs + (size_t)ab->k0 * ab->A.cs;
            const float *a = mr == MR ? a_here : ab->edge;
            const size_t ars = mr == MR ? ab->A.rs : 1, acs = mr == MR ? ab->A.cs : (size_t)MR;
            float *c = C + (size_t)ir * ldc + jr;
            if (mr == MR && nr == NR) {
                if (bias)
                    for (int i = 0; i < MR; i++) memcpy(c + (size_t)i * ldc, bias + jr, sizeof(float) * NR);
                kern->kernel(kc, a, ars, acs, b, brs, c, ldc, accumulate || bias);
            } else {  // compute the full tile aside, keep only the part inside C
                kern->kernel(kc, a, ars, acs, b, brs, edge, NR, 0);
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
    const int b_in_place = B.cs == 1;
    float *Bp = growbuf(&tls_b, b_in_place ? (size_t)KC * NR : (size_t)KC * NC);
    float *edge = growbuf(&tls_a, (size_t)MR * KC);
    for (int jc = 0; jc < N; jc += NC) {
        const int nc = min_int(NC, N - jc);
        for (int pc = 0; pc < K; pc += KC) {
            const int kc = min_int(KC, K - pc);
            const BPanel bp = {B, Bp, b_in_place, pc, jc};
            for (int jr = 0; jr < nc; jr += NR) {
                const int nr = min_int(NR, nc - jr);
                if (!b_in_place) pack_b_sliver(Bp + (size_t)jr * kc, B, pc, kc, jc + jr, nr, NR);
                else if (nr < NR) pack_b_sliver(Bp, B, pc, kc, jc + jr, nr, NR);
            }
            for (int ic = r0; ic < r1; ic += MC) {
                const int mc = min_int(MC, r1 - ic), full = mc / MR * MR;
                if (full < mc) pack_a_sliver(edge, A, ic + full, mc - full, pc, kc, MR);
                const ABlock ab = {A, edge, ic, pc};
                macro_kernel(kern, mc, nc, kc, &ab, &bp, C + (size_t)ic * ldc + jc, ldc, accumulate || pc > 0,
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
    // chunks, and only one per thread when that would leave under 96 rows
    // each (measured on 2 cores: 1 chunk/thread 1.95x scaling when idle,
    // 2 chunks 1.86x, 4 chunks 1.79x). Every C element is summed over K in the
    // same KC slices whichever thread computes it, so the result does not
    // depend on the thread count.
    int nchunks = nthreads == 1 ? 1 : M >= nthreads * 2 * 96 ? nthreads * 2 : nthreads;
    int rows = round_up((M + nchunks - 1) / nchunks, kern->MR);
    nchunks = (M + rows - 1) / rows;
    if (nchunks == 1) {  // no parallel region at all: even an idle one costs about a microsecond
        gemm_rows(kern, 0, M, N, K, A, B, C, ldc, accumulate, bias);
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (int ch = 0; ch < nchunks; ch++)
        gemm_rows(kern, ch * rows, min_int(M, (ch + 1) * rows), N, K, A, B, C, ldc, accumulate, bias);
}

#endif
