// vec_avx2.c: AVX2+FMA versions of the vector kernels in vec.h.
//
// 8 floats per ymm register; the last n % 8 elements go through a plain
// scalar loop (AVX2 has masked loads but no cheap masked stores of floats).
#include <immintrin.h>
#include <stddef.h>

#include "kernels/vec.h"
#include "kernels/simd_sum_avx2.h"

// Dot product with four independent accumulators (hides the FMA latency).
float vec_dot_avx2(const float *a, const float *b, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float acc = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) acc += a[i] * b[i];
    return acc;
}

void vec_axpy_avx2(float *y, float alpha, const float *x, int n) {
    const __m256 va = _mm256_set1_ps(alpha);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += alpha * x[i];
}

// y = fma(b, z, a * x); the scalar tail rounds like vec_axpy_avx2's tail.
void vec_lincomb2_avx2(float *y, float a, const float *x, float b, const float *z, int n) {
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(vb, _mm256_loadu_ps(z + i), _mm256_mul_ps(va, _mm256_loadu_ps(x + i))));
    for (; i < n; i++) {
        float ax = a * x[i];
        y[i] = ax + b * z[i];
    }
}

void vec_scale_avx2(float *x, float alpha, int n) {
    const __m256 va = _mm256_set1_ps(alpha);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(va, _mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] *= alpha;
}

// 8 comparisons at a time; most blocks keep nothing (a top-k threshold is
// high), so only a block with a kept lane writes its positions one by one.
int vec_indices_at_least_avx2(int *pass, const float *x, int n, float thr, int i0) {
    const __m256 vt = _mm256_set1_ps(thr);
    int np = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        unsigned keep = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vt, _CMP_GE_OQ));
        while (keep) {
            pass[np++] = i0 + i + __builtin_ctz(keep);
            keep &= keep - 1;
        }
    }
    for (; i < n; i++) {
        pass[np] = i0 + i;
        np += x[i] >= thr;
    }
    return np;
}

// y = (x * alpha) * w: the same two roundings as the reference (no FMA here).
// keys (n,Dk), q (Dk) -> s (n). Four keys at a time share each load of q.
void vec_score_keys_avx2(float *s, const float *q, const float *keys, int n, int Dk) {
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *k0 = keys + (size_t)i * Dk, *k1 = k0 + Dk, *k2 = k1 + Dk, *k3 = k2 + Dk;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int j = 0;
        for (; j + 8 <= Dk; j += 8) {
            const __m256 qv = _mm256_loadu_ps(q + j);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + j), qv, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(k1 + j), qv, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(k2 + j), qv, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(k3 + j), qv, a3);
        }
        float r0 = hsum8(a0), r1 = hsum8(a1), r2 = hsum8(a2), r3 = hsum8(a3);
        for (; j < Dk; j++) {
            r0 += k0[j] * q[j];
            r1 += k1[j] * q[j];
            r2 += k2[j] * q[j];
            r3 += k3[j] * q[j];
        }
        s[i] = r0, s[i + 1] = r1, s[i + 2] = r2, s[i + 3] = r3;
    }
    for (; i < n; i++) s[i] = vec_dot_avx2(keys + (size_t)i * Dk, q, Dk);
}

// out (Dv) += sum_i w[i] * V[idx[i]], 32 floats of out held in registers
// while all selected rows stream past.
void vec_gather_rows_avx2(float *out, const float *w, const int *idx, int m, const float *V, int Dv) {
    int j = 0;
    for (; j + 32 <= Dv; j += 32) {
        __m256 o0 = _mm256_loadu_ps(out + j), o1 = _mm256_loadu_ps(out + j + 8);
        __m256 o2 = _mm256_loadu_ps(out + j + 16), o3 = _mm256_loadu_ps(out + j + 24);
        for (int i = 0; i < m; i++) {
            const float *v = V + (size_t)idx[i] * Dv + j;
            const __m256 wi = _mm256_set1_ps(w[i]);
            o0 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(v), o0);
            o1 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(v + 8), o1);
            o2 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(v + 16), o2);
            o3 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(v + 24), o3);
        }
        _mm256_storeu_ps(out + j, o0);
        _mm256_storeu_ps(out + j + 8, o1);
        _mm256_storeu_ps(out + j + 16, o2);
        _mm256_storeu_ps(out + j + 24, o3);
    }
    for (; j + 8 <= Dv; j += 8) {
        __m256 o = _mm256_loadu_ps(out + j);
        for (int i = 0; i < m; i++)
            o = _mm256_fmadd_ps(_mm256_set1_ps(w[i]), _mm256_loadu_ps(V + (size_t)idx[i] * Dv + j), o);
        _mm256_storeu_ps(out + j, o);
    }
    for (; j < Dv; j++)
        for (int i = 0; i < m; i++) out[j] += w[i] * V[(size_t)idx[i] * Dv + j];
}

// dV[idx[i]] += w[i] * g, one row at a time in order (rows may repeat).
void vec_scatter_rows_avx2(float *dV, const float *w, const int *idx, int m, const float *g, int Dv) {
    for (int i = 0; i < m; i++) vec_axpy_avx2(dV + (size_t)idx[i] * Dv, w[i], g, Dv);
}
