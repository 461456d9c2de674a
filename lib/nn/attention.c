// attention.c: causal multi-head self-attention (the core; the qkv and
// output projections are plain matmuls done by the caller).
//
// qkv (B,T,3D) -> out (B,T,D), caches att (B,H,T,T) for the backward
// hs = D/H is the head size; head h of token t reads
//   q = qkv[b][t][h*hs ..],  k = qkv[b][t][D + h*hs ..],  v = qkv[b][t][2D + h*hs ..]
#include "nn/attention.h"

#include <stddef.h>
#include <string.h>

#include "base/alloc.h"
#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "kernels/softmax.h"

// Pointers into the packed q|k|v row of token (b,t) for head h.
static const real *head_q(const real *qkv, int b, int t, int h, int T, int D, int hs) {
    return qkv + ((size_t)b * T + t) * 3 * D + (size_t)h * hs;
}
static const real *head_k(const real *qkv, int b, int t, int h, int T, int D, int hs) {
    return head_q(qkv, b, t, h, T, D, hs) + D;
}
static const real *head_v(const real *qkv, int b, int t, int h, int T, int D, int hs) {
    return head_q(qkv, b, t, h, T, D, hs) + 2 * D;
}

// One query row: preatt[t2] = q.k_t2 / sqrt(hs) for t2 <= t (a scratch
// row), att = softmax over those, 0 in the future (t2 > t) so the cache can
// be read directly.
static void attention_row_forward(real *out_h, real *preatt_row, real *att_row, const real *qkv, int b, int t,
                                  int h, int T, int D, int hs) {
    real scale = (real)(1.0 / sqrt((double)hs));
    const real *q = head_q(qkv, b, t, h, T, D, hs);
    real maxval = -INFINITY;
    for (int t2 = 0; t2 <= t; t2++) {
        const real *k = head_k(qkv, b, t2, h, T, D, hs);
        real dot = 0;
        for (int i = 0; i < hs; i++) dot += q[i] * k[i];
        preatt_row[t2] = dot * scale;
        if (preatt_row[t2] > maxval) maxval = preatt_row[t2];
    }
    // Stable softmax: subtracting the max keeps exp() from overflowing.
    real sum = 0;
    for (int t2 = 0; t2 <= t; t2++) {
        att_row[t2] = (real)exp((double)(preatt_row[t2] - maxval));
        sum += att_row[t2];
    }
    for (int t2 = 0; t2 <= t; t2++) att_row[t2] /= sum;
    for (int t2 = t + 1; t2 < T; t2++) att_row[t2] = 0;  // exactly 0: the future is never read
    for (int i = 0; i < hs; i++) out_h[i] = 0;
    for (int t2 = 0; t2 <= t; t2++) {
        const real *v = head_v(qkv, b, t2, h, T, D, hs);
        for (int i = 0; i < hs; i++) out_h[i] += att_row[t2] * v[i];
    }
}

// The fast path works on a whole head at once (one b, h): the row loops
// above become matrix products with a softmax between them,
//   S = Q K^T,  P = softmax(scale * S) row by row,  O = P V,
// which the blocked matmul kernel runs at full speed, where a row at a time
// is a string of short hs-long dot products. It goes one block of
// QUERY_BLOCK query rows at a time, for two reasons:
//   causality: a block only needs the keys up to its last row, so about 5/8
//     of the full T x T square is computed instead of all of it (the few
//     future entries inside a block are computed and then zeroed);
//   memory: a block's scores (QUERY_BLOCK x T, 24 KB at T = 128) fit in L1,
//     so S is a per-thread scratch block that never goes to memory. Only P
//     is kept (in att) for the backward.
enum { QUERY_BLOCK = 48 };

static int min_int(int a, int b) { return a < b ? a : b; }

// A row-major view of `rows` with row stride ld, as is or transposed.
static UmMatView rows_view(const real *p, size_t ld) { return (UmMatView){p, ld, 1}; }
static UmMatView cols_view(const real *p, size_t ld) { return (UmMatView){p, 1, ld}; }

// q, k, v (T, hs strided 3D) of head (b,h) -> out (T, hs strided D) and
// P = att (T,T) of this head. Scratch: S (QUERY_BLOCK, T) and KT (hs, T).
// The keys are transposed once per head into KT: S = Q K^T then reads a
// row-major matrix, which the matmul uses in place, instead of packing
// (transposing) the keys again for every query block.
static void attention_head_forward_fast(real *out, real *P, real *S, real *KT, const real *qkv, int b, int h, int T,
                                        int D, int hs) {
    real scale = (real)(1.0 / sqrt((double)hs));
    size_t stride = (size_t)3 * D;
    const real *q0 = head_q(qkv, b, 0, h, T, D, hs), *k0 = head_k(qkv, b, 0, h, T, D, hs);
    const real *v0 = head_v(qkv, b, 0, h, T, D, hs);
    matrix_transpose(KT, T, k0, stride, T, hs);
    for (int r0 = 0; r0 < T; r0 += QUERY_BLOCK) {
        int r1 = min_int(T, r0 + QUERY_BLOCK), rows = r1 - r0;
        // S (rows, r1) = Q[r0:r1] K[:r1]^T
        matmul_views(S, T, rows_view(q0 + r0 * stride, stride), rows_view(KT, T), rows, r1, hs, 0);
        for (int t = r0; t < r1; t++) {  // P[t] = softmax(scale * S[t, :t+1]), exact 0 in the future
            real *p = P + (size_t)t * T;
            softmax_scaled(p, S + (size_t)(t - r0) * T, t + 1, scale);
            memset(p + t + 1, 0, (size_t)(T - t - 1) * sizeof(real));
        }
        // O[r0:r1] = P[r0:r1, :r1] V[:r1]
        matmul_views(out + (size_t)r0 * D, D, rows_view(P + (size_t)r0 * T, T), rows_view(v0, stride), rows, hs, r1,
                     0);
    }
}

// 1 when the per-head matmul path should run (float builds, path not scalar).
static int use_fast_path(void) {
#ifndef UM_NO_SIMD
    return um_simd_path() != UM_SIMD_SCALAR;
#else
    return 0;
#endif
}

// Every (b, t, h) writes only its own out slice and its own att row, so the
// loops are parallel without races (the fast path: every (b, h)). Each
// thread has its own scratch: a row of scores, or a block of them. The
// (b, h) heads are handed out one at a time (dynamic): if another process
// takes a core for a moment, the other thread does more heads instead of
// waiting; each head's result does not depend on which thread ran it.
void attention_forward(real *out, real *att, const real *qkv, int B, int T, int D, int H) {
    int hs = D / H, fast = use_fast_path();
#pragma omp parallel
    {
        // fast: S (QUERY_BLOCK, T) and KT (hs, T); rows: one row of scores
        real *scratch = um_alloc((size_t)(fast ? QUERY_BLOCK + hs : 1) * T * sizeof(real));
        if (fast) {
#pragma omp for collapse(2) schedule(dynamic)
            for (int b = 0; b < B; b++)
                for (int h = 0; h < H; h++) {
                    real *att_h = att + ((size_t)b * H + h) * T * T;
                    real *out_h = out + (size_t)b * T * D + (size_t)h * hs;
                    real *kt = scratch + (size_t)QUERY_BLOCK * T;
                    attention_head_forward_fast(out_h, att_h, scratch, kt, qkv, b, h, T, D, hs);
                }
        } else {
#pragma omp for collapse(3)
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                    for (int h = 0; h < H; h++) {
                        real *att_row = att + (((size_t)b * H + h) * T + t) * T;
                        real *out_h = out + ((size_t)b * T + t) * D + (size_t)h * hs;
                        attention_row_forward(out_h, scratch, att_row, qkv, b, t, h, T, D, hs);
                    }
        }
        um_free(scratch);
    }
}

// Backward of one query row t (of one b, h). dq_t, dk_*, dv_* are slices
// of dqkv; datt_row and dpreatt_row are scratch rows (T), overwritten.
static void attention_row_backward(real *dqkv, real *dpreatt_row, real *datt_row, const real *dout_h,
                                   const real *qkv, const real *att_row, int b, int t, int h, int T, int D,
                                   int hs) {
    real scale = (real)(1.0 / sqrt((double)hs));
    // The same offsets into dqkv as into qkv (both are (B,T,3D)).
    real *dq = dqkv + (head_q(qkv, b, t, h, T, D, hs) - qkv);

    // Forward was: out[i] = sum_t2 att[t2] * v_t2[i]; so
    //   datt[t2] = sum_i dout[i] * v_t2[i],   dv_t2[i] += att[t2] * dout[i]
    for (int t2 = 0; t2 <= t; t2++) {
        const real *v = head_v(qkv, b, t2, h, T, D, hs);
        real *dv = dqkv + (v - qkv);
        real g = 0;
        for (int i = 0; i < hs; i++) {
            g += dout_h[i] * v[i];
            dv[i] += att_row[t2] * dout_h[i];
        }
        datt_row[t2] = g;
    }
    // Forward was: att = softmax(preatt) over t2 <= t; so
    //   dpreatt[t2] = att[t2] * (datt[t2] - sum_t3 att[t3] * datt[t3])
    real weighted = 0;
    for (int t2 = 0; t2 <= t; t2++) weighted += att_row[t2] * datt_row[t2];
    for (int t2 = 0; t2 <= t; t2++) dpreatt_row[t2] = att_row[t2] * (datt_row[t2] - weighted);

    // Forward was: preatt[t2] = scale * q . k_t2; so
    //   dq[i] += scale * dpreatt[t2] * k_t2[i],  dk_t2[i] += scale * dpreatt[t2] * q[i]
    const real *q = head_q(qkv, b, t, h, T, D, hs);
    for (int t2 = 0; t2 <= t; t2++) {
        const real *k = head_k(qkv, b, t2, h, T, D, hs);
        real *dk = dqkv + (k - qkv);
        real g = scale * dpreatt_row[t2];
        for (int i = 0; i < hs; i++) {
            dq[i] += g * k[i];
            dk[i] += g * q[i];
        }
    }
}

// The same backward for a whole head (one b, h), as matrix products, one
// query block [r0, r1) at a time:
//   dP = dO V^T,  dS = scale * P * (dP - rowsum(P * dP)),
//   dV[:r1] += P^T dO,  dQ[r0:r1] += dS K[:r1],  dK[:r1] += dS^T Q.
// dA = dP and dS of the block are scratch (QUERY_BLOCK, T) each, in L1; dS
// holds the gradient of the scaled scores, i.e. scale * dpreatt. VT (hs, T)
// is scratch for V^T, transposed once per head like K^T in the forward.
static void attention_head_backward_fast(real *dqkv, real *dA, real *dS, real *VT, const real *dout, const real *qkv,
                                         const real *P, int b, int h, int T, int D, int hs) {
    real scale = (real)(1.0 / sqrt((double)hs));
    size_t stride = (size_t)3 * D;
    const real *q0 = head_q(qkv, b, 0, h, T, D, hs), *k0 = head_k(qkv, b, 0, h, T, D, hs);
    const real *v0 = head_v(qkv, b, 0, h, T, D, hs);
    real *dq0 = dqkv + (q0 - qkv), *dk0 = dqkv + (k0 - qkv), *dv0 = dqkv + (v0 - qkv);
    matrix_transpose(VT, T, v0, stride, T, hs);
    for (int r0 = 0; r0 < T; r0 += QUERY_BLOCK) {
        int r1 = min_int(T, r0 + QUERY_BLOCK), rows = r1 - r0;
        const real *P_blk = P + (size_t)r0 * T, *dO_blk = dout + (size_t)r0 * D;
        // dA (rows, r1) = dO[r0:r1] V[:r1]^T
        matmul_views(dA, T, rows_view(dO_blk, D), rows_view(VT, T), rows, r1, hs, 0);
        for (int t = r0; t < r1; t++) {  // softmax backward, row by row; the future stays 0
            real *ds = dS + (size_t)(t - r0) * T;
            softmax_scaled_backward(ds, P + (size_t)t * T, dA + (size_t)(t - r0) * T, t + 1, scale);
            for (int t2 = t + 1; t2 < r1; t2++) ds[t2] = 0;
        }
        // dV[:r1] += P[r0:r1, :r1]^T dO[r0:r1]
        matmul_views(dv0, stride, cols_view(P_blk, T), rows_view(dO_blk, D), r1, hs, rows, 1);
        // dQ[r0:r1] += dS (rows, r1) K[:r1]
        matmul_views(dq0 + r0 * stride, stride, rows_view(dS, T), rows_view(k0, stride), rows, hs, r1, 1);
        // dK[:r1] += dS^T Q[r0:r1]
        matmul_views(dk0, stride, cols_view(dS, T), rows_view(q0 + r0 * stride, stride), r1, hs, rows, 1);
    }
}

// A query row t adds into dk and dv of every earlier token, so rows of the
// same (b, h) must not run at once. Different (b, h) touch disjoint slices
// of dqkv (their own batch row, their own head columns): parallel over
// those, serial over t inside. Each thread has its own two scratch rows (or
// blocks, on the fast path).
void attention_backward(real *dqkv, const real *dout, const real *qkv, const real *att, int B, int T, int D, int H) {
    int hs = D / H, fast = use_fast_path();
    size_t rows = fast ? QUERY_BLOCK : 1;
#pragma omp parallel
    {
        // two blocks (fast) or rows of scratch, and VT (hs, T) on the fast path
        real *scratch = um_alloc((2 * rows + (fast ? hs : 0)) * T * sizeof(real));
        real *s1 = scratch, *s2 = scratch + rows * T, *vt = scratch + 2 * rows * T;
#pragma omp for collapse(2) schedule(dynamic)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                const real *att_h = att + ((size_t)b * H + h) * T * T;
                if (fast) {
                    const real *dout_h = dout + (size_t)b * T * D + (size_t)h * hs;
                    attention_head_backward_fast(dqkv, s1, s2, vt, dout_h, qkv, att_h, b, h, T, D, hs);
                    continue;
                }
                for (int t = 0; t < T; t++) {
                    const real *dout_h = dout + ((size_t)b * T + t) * D + (size_t)h * hs;
                    attention_row_backward(dqkv, s1, s2, dout_h, qkv, att_h + (size_t)t * T, b, t, h, T, D, hs);
                }
            }
        um_free(scratch);
    }
}
