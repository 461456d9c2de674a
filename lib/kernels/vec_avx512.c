// vec_avx512.c: AVX-512 versions of the vector kernels in vec.h.
//
// 16 floats per zmm register. Ragged ends use a lane mask instead of a
// scalar remainder loop: masked-off lanes are neither read nor written, so
// any length and any alignment is safe.
#include <immintrin.h>
#include <stddef.h>

#include "kernels/vec.h"
#include "kernels/simd_sum_avx512.h"

// The first r lanes (0 <= r <= 16).
static inline __mmask16 first_lanes(int r) { return (__mmask16)((1u << r) - 1u); }

// Dot product with four independent accumulators: one FMA chain would wait
// 4 cycles per step for the previous sum.
float vec_dot_avx512(const float *a, const float *b, int n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = first_lanes(n - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

void vec_axpy_avx512(float *y, float alpha, const float *x, int n) {
    const __m512 va = _mm512_set1_ps(alpha);
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = first_lanes(n - i);
        __m512 r = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(y + i, m, r);
    }
}

// y = fma(b, z, a * x): the reference's a x rounded first, then the add fused with b z.
void vec_lincomb2_avx512(float *y, float a, const float *x, float b, const float *z, int n) {
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(vb, _mm512_loadu_ps(z + i), _mm512_mul_ps(va, _mm512_loadu_ps(x + i))));
    if (i < n) {
        __mmask16 m = first_lanes(n - i);
        __m512 ax = _mm512_mul_ps(va, _mm512_maskz_loadu_ps(m, x + i));
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, z + i), ax));
    }
}

void vec_scale_avx512(float *x, float alpha, int n) {
    const __m512 va = _mm512_set1_ps(alpha);
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(va, _mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = first_lanes(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(va, _mm512_maskz_loadu_ps(m, x + i)));
    }
}

// 16 comparisons at a time; the kept positions are packed together with a
// compress store (ordered compare: NaN gives false, as in the reference).
int vec_indices_at_least_avx512(int *pass, const float *x, int n, float thr, int i0) {
    const __m512 vt = _mm512_set1_ps(thr);
    __m512i pos = _mm512_add_epi32(_mm512_set1_epi32(i0), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m512i step = _mm512_set1_epi32(16);
    int np = 0, i = 0;
    for (; i + 16 <= n; i += 16) {
        const __mmask16 keep = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), vt, _CMP_GE_OQ);
        _mm512_mask_compressstoreu_epi32(pass + np, keep, pos);
        np += __builtin_popcount(keep);
        pos = _mm512_add_epi32(pos, step);
    }
    if (i < n) {
        const __mmask16 keep = _mm512_mask_cmp_ps_mask(first_lanes(n - i), _mm512_maskz_loadu_ps(first_lanes(n - i), x + i), vt, _CMP_GE_OQ);
        _mm512_mask_compressstoreu_epi32(pass + np, keep, pos);
        np += __builtin_popcount(keep);
    }
    return np;
}

// keys (n,Dk), q (Dk) -> s (n). Four keys at a time share each load of q and
// give four independent FMA chains.
void vec_score_keys_avx512(float *s, const float *q, const float *keys, int n, int Dk) {
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *k0 = keys + (size_t)i * Dk, *k1 = k0 + Dk, *k2 = k1 + Dk, *k3 = k2 + Dk;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int j = 0;
        for (; j + 16 <= Dk; j += 16) {
            const __m512 qv = _mm512_loadu_ps(q + j);
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(k0 + j), qv, a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(k1 + j), qv, a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(k2 + j), qv, a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(k3 + j), qv, a3);
        }
        if (j < Dk) {
            const __mmask16 m = first_lanes(Dk - j);
            const __m512 qv = _mm512_maskz_loadu_ps(m, q + j);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, k0 + j), qv, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, k1 + j), qv, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, k2 + j), qv, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, k3 + j), qv, a3);
        }
        _mm_storeu_ps(s + i, sum_each_of_4(a0, a1, a2, a3));
    }
    for (; i < n; i++) s[i] = vec_dot_avx512(keys + (size_t)i * Dk, q, Dk);
}

// out (Dv) += sum_i w[i] * V[idx[i]]. Walk out in blocks of 64 floats held in
// four registers while every selected row streams past, so out is loaded and
// stored once per block instead of once per row.
void vec_gather_rows_avx512(float *out, const float *w, const int *idx, int m, const float *V, int Dv) {
    int j = 0;
    for (; j + 64 <= Dv; j += 64) {
        __m512 o0 = _mm512_loadu_ps(out + j), o1 = _mm512_loadu_ps(out + j + 16);
        __m512 o2 = _mm512_loadu_ps(out + j + 32), o3 = _mm512_loadu_ps(out + j + 48);
        for (int i = 0; i < m; i++) {
            const float *v = V + (size_t)idx[i] * Dv + j;
            const __m512 wi = _mm512_set1_ps(w[i]);
            o0 = _mm512_fmadd_ps(wi, _mm512_loadu_ps(v), o0);
            o1 = _mm512_fmadd_ps(wi, _mm512_loadu_ps(v + 16), o1);
            o2 = _mm512_fmadd_ps(wi, _mm512_loadu_ps(v + 32), o2);
            o3 = _mm512_fmadd_ps(wi, _mm512_loadu_ps(v + 48), o3);
        }
        _mm512_storeu_ps(out + j, o0);
        _mm512_storeu_ps(out + j + 16, o1);
        _mm512_storeu_ps(out + j + 32, o2);
        _mm512_storeu_ps(out + j + 48, o3);
    }
    for (; j < Dv; j += 16) {  // the last < 64 floats, 16 (or fewer, masked) at a time
        const __mmask16 lanes = first_lanes(Dv - j < 16 ? Dv - j : 16);
        __m512 o = _mm512_maskz_loadu_ps(lanes, out + j);
        for (int i = 0; i < m; i++)
            o = _mm512_fmadd_ps(_mm512_set1_ps(w[i]), _mm512_maskz_loadu_ps(lanes, V + (size_t)idx[i] * Dv + j), o);
        _mm512_mask_storeu_ps(out + j, lanes, o);
    }
}

// dV[idx[i]] += w[i] * g, one row at a time in order (rows may repeat).
void vec_scatter_rows_avx512(float *dV, const float *w, const int *idx, int m, const float *g, int Dv) {
    for (int i = 0; i < m; i++) vec_axpy_avx512(dV + (size_t)idx[i] * Dv, w[i], g, Dv);
}

// The list in registers: codes in 4 x 8 u64 lanes L0..L3, positions in 2 x 16
// i32 lanes I0, I1; lanes past c hold code 0, below every real code (a real
// code's high half is a mapped non-NaN float, never 0), so the lanes that
// rank above a newcomer are always a prefix, of length pos. Inserting: lanes
// before pos keep their entry, lane pos takes the newcomer, later lanes take
// their left neighbour's (alignr shifts by one lane across two registers).
// Entries pushed past lane k-1 stay sorted below it and are never read.
int vec_topk_merge_avx512(uint64_t *list, int *list_idx, int c, int k, const uint64_t *cand, const int *cand_idx,
                          int ncand) {
    if (k > 32) return vec_topk_merge_ref(list, list_idx, c, k, cand, cand_idx, ncand);
    uint64_t lbuf[32] = {0};
    int ibuf[32] = {0};
    for (int j = 0; j < c; j++) lbuf[j] = list[j], ibuf[j] = list_idx[j];
    __m512i L0 = _mm512_loadu_si512(lbuf), L1 = _mm512_loadu_si512(lbuf + 8);
    __m512i L2 = _mm512_loadu_si512(lbuf + 16), L3 = _mm512_loadu_si512(lbuf + 24);
    __m512i I0 = _mm512_loadu_si512(ibuf), I1 = _mm512_loadu_si512(ibuf + 16);
    uint64_t kth = c == k ? lbuf[k - 1] : 0;
    for (int i = 0; i < ncand; i++) {
        uint64_t code = cand[i];
        if (c == k && code <= kth) continue;
        const __m512i v = _mm512_set1_epi64((long long)code);
        __mmask8 g0 = _mm512_cmpgt_epu64_mask(L0, v), g1 = _mm512_cmpgt_epu64_mask(L1, v);
        __mmask8 g2 = _mm512_cmpgt_epu64_mask(L2, v), g3 = _mm512_cmpgt_epu64_mask(L3, v);
        uint32_t keep = (uint32_t)g0 | (uint32_t)g1 << 8 | (uint32_t)g2 << 16 | (uint32_t)g3 << 24;  // a prefix
        int pos = __builtin_popcount(keep);
        uint32_t at = 1u << pos;  // pos < k <= 32 here
        // shifted by one lane: P_r[j] = L_r[j-1], P_r[0] = L_{r-1}[7]
        __m512i P0 = _mm512_alignr_epi64(L0, L0, 7), P1 = _mm512_alignr_epi64(L1, L0, 7);
        __m512i P2 = _mm512_alignr_epi64(L2, L1, 7), P3 = _mm512_alignr_epi64(L3, L2, 7);
        L0 = _mm512_mask_set1_epi64(_mm512_mask_mov_epi64(P0, (__mmask8)keep, L0), (__mmask8)at, (long long)code);
        L1 = _mm512_mask_set1_epi64(_mm512_mask_mov_epi64(P1, (__mmask8)(keep >> 8), L1), (__mmask8)(at >> 8),
                                    (long long)code);
        L2 = _mm512_mask_set1_epi64(_mm512_mask_mov_epi64(P2, (__mmask8)(keep >> 16), L2), (__mmask8)(at >> 16),
                                    (long long)code);
        L3 = _mm512_mask_set1_epi64(_mm512_mask_mov_epi64(P3, (__mmask8)(keep >> 24), L3), (__mmask8)(at >> 24),
                                    (long long)code);
        __m512i Q0 = _mm512_alignr_epi32(I0, I0, 15), Q1 = _mm512_alignr_epi32(I1, I0, 15);
        I0 = _mm512_mask_set1_epi32(_mm512_mask_mov_epi32(Q0, (__mmask16)keep, I0), (__mmask16)at, cand_idx[i]);
        I1 = _mm512_mask_set1_epi32(_mm512_mask_mov_epi32(Q1, (__mmask16)(keep >> 16), I1), (__mmask16)(at >> 16),
                                    cand_idx[i]);
        if (c < k) c++;
        if (c == k) {  // the k-th code: lane k-1
            _mm512_storeu_si512(lbuf, L0), _mm512_storeu_si512(lbuf + 8, L1);
            _mm512_storeu_si512(lbuf + 16, L2), _mm512_storeu_si512(lbuf + 24, L3);
            kth = lbuf[k - 1];
        }
    }
    _mm512_storeu_si512(lbuf, L0), _mm512_storeu_si512(lbuf + 8, L1);
    _mm512_storeu_si512(lbuf + 16, L2), _mm512_storeu_si512(lbuf + 24, L3);
    _mm512_storeu_si512(ibuf, I0), _mm512_storeu_si512(ibuf + 16, I1);
    for (int j = 0; j < c; j++) list[j] = lbuf[j], list_idx[j] = ibuf[j];
    return c;
}
