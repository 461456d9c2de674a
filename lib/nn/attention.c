// attention.c: causal multi-head self-attention (the core; the qkv and
// output projections are plain matmuls done by the caller).
//
// qkv (B,T,3D) -> out (B,T,D), caches preatt (B,H,T,T) and att (B,H,T,T)
// hs = D/H is the head size; head h of token t reads
//   q = qkv[b][t][h*hs ..],  k = qkv[b][t][D + h*hs ..],  v = qkv[b][t][2D + h*hs ..]
#include "nn/attention.h"

#include <stddef.h>

#include "kernels/dispatch.h"
#include "kernels/softmax.h"
#include "kernels/vec.h"

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

// One query row: preatt[t2] = q.k_t2 / sqrt(hs) for t2 <= t, softmax over
// those, 0 in the future (t2 > t) so the cache can be read directly.
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
    for (int t2 = t + 1; t2 < T; t2++) {
        preatt_row[t2] = 0;
        att_row[t2] = 0;  // exactly 0: the future is never read
    }
    for (int i = 0; i < hs; i++) out_h[i] = 0;
    for (int t2 = 0; t2 <= t; t2++) {
        const real *v = head_v(qkv, b, t2, h, T, D, hs);
        for (int i = 0; i < hs; i++) out_h[i] += att_row[t2] * v[i];
    }
}

// The same row on a SIMD path: each loop above is one kernel of
// lib/kernels/softmax.h (keys and values are rows 3D apart in qkv).
static void attention_row_forward_fast(real *out_h, real *preatt_row, real *att_row, const real *qkv, int b,
                                       int t, int h, int T, int D, int hs) {
    real scale = (real)(1.0 / sqrt((double)hs));
    size_t stride = (size_t)3 * D;
    attn_dots(preatt_row, head_q(qkv, b, t, h, T, D, hs), head_k(qkv, b, 0, h, T, D, hs), t + 1, hs, stride, scale);
    real maxval;
    real sum = softmax_exp(att_row, preatt_row, t + 1, &maxval);
    vec_scale(att_row, 1 / sum, t + 1);
    for (int t2 = t + 1; t2 < T; t2++) preatt_row[t2] = att_row[t2] = 0;
    for (int i = 0; i < hs; i++) out_h[i] = 0;
    attn_weighted_sum(out_h, 1, att_row, head_v(qkv, b, 0, h, T, D, hs), t + 1, hs, stride);
}

// 1 when the SIMD row kernels should run (float builds, path not scalar).
static int use_fast_rows(void) {
#ifndef UM_NO_SIMD
    return um_simd_path() != UM_SIMD_SCALAR;
#else
    return 0;
#endif
}

// Every (b, t, h) writes only its own out slice and its own cache row, so
// the three loops are parallel without races.
void attention_forward(real *out, real *preatt, real *att, const real *qkv, int B, int T, int D, int H) {
    int hs = D / H;
    int fast = use_fast_rows();
#pragma omp parallel for collapse(3)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < H; h++) {
                size_t row = (((size_t)b * H + h) * T + t) * T;
                real *out_h = out + ((size_t)b * T + t) * D + (size_t)h * hs;
                if (fast) attention_row_forward_fast(out_h, preatt + row, att + row, qkv, b, t, h, T, D, hs);
                else attention_row_forward(out_h, preatt + row, att + row, qkv, b, t, h, T, D, hs);
            }
        }
    }
}

// Backward of one query row t (of one b, h). dq_t, dk_*, dv_* are slices
// of dqkv; datt_row and dpreatt_row are scratch rows, overwritten.
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
    for (int t2 = t + 1; t2 < T; t2++) datt_row[t2] = dpreatt_row[t2] = 0;

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

// The same backward on a SIMD path, loop by loop with the kernels of
// lib/kernels/softmax.h and vec.h.
static void attention_row_backward_fast(real *dqkv, real *dpreatt_row, real *datt_row, const real *dout_h,
                                        const real *qkv, const real *att_row, int b, int t, int h, int T, int D,
                                        int hs) {
    real scale = (real)(1.0 / sqrt((double)hs));
    size_t stride = (size_t)3 * D;
    const real *q = head_q(qkv, b, t, h, T, D, hs);
    const real *k0 = head_k(qkv, b, 0, h, T, D, hs), *v0 = head_v(qkv, b, 0, h, T, D, hs);
    real *dq = dqkv + (q - qkv), *dk0 = dqkv + (k0 - qkv), *dv0 = dqkv + (v0 - qkv);
    // datt[t2] = dout . v_t2,  dv_t2 += att[t2] * dout
    attn_dots(datt_row, dout_h, v0, t + 1, hs, stride, 1);
    attn_rows_axpy(dv0, 1, att_row, dout_h, t + 1, hs, stride);
    // dpreatt[t2] = att[t2] * (datt[t2] - sum_t3 att[t3] * datt[t3])
    real weighted = vec_dot(att_row, datt_row, t + 1);
    for (int t2 = 0; t2 <= t; t2++) dpreatt_row[t2] = att_row[t2] * (datt_row[t2] - weighted);
    for (int t2 = t + 1; t2 < T; t2++) datt_row[t2] = dpreatt_row[t2] = 0;
    // dq += scale * sum_t2 dpreatt[t2] k_t2,  dk_t2 += scale * dpreatt[t2] * q
    attn_weighted_sum(dq, scale, dpreatt_row, k0, t + 1, hs, stride);
    attn_rows_axpy(dk0, scale, dpreatt_row, q, t + 1, hs, stride);
}

// A query row t adds into dk and dv of every earlier token, so rows of the
// same (b, h) must not run at once. Different (b, h) touch disjoint slices
// of dqkv (their own batch row, their own head columns): parallel over
// those, serial over t inside.
void attention_backward(real *dqkv, real *dpreatt, real *datt, const real *dout, const real *qkv, const real *att,
                        int B, int T, int D, int H) {
    int hs = D / H;
    int fast = use_fast_rows();
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            for (int t = 0; t < T; t++) {
                size_t row = (((size_t)b * H + h) * T + t) * T;
                const real *dout_h = dout + ((size_t)b * T + t) * D + (size_t)h * hs;
                if (fast)
                    attention_row_backward_fast(dqkv, dpreatt + row, datt + row, dout_h, qkv, att + row, b, t, h, T,
                                                D, hs);
                else
                    attention_row_backward(dqkv, dpreatt + row, datt + row, dout_h, qkv, att + row, b, t, h, T, D,
                                           hs);
            }
        }
    }
}
