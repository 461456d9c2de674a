// norm_avx512.c: the LayerNorm row of norm.h, 16 floats per zmm register.
// Ragged ends use a lane mask (masked lanes read as 0 and are not written).
#include <immintrin.h>
#include <math.h>

#include "kernels/norm.h"

static inline __mmask16 first_lanes(int r) { return (__mmask16)((1u << r) - 1u); }

void layernorm_row_avx512(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b, int D,
                          double eps) {
    int tail = D % 16, full = D - tail;
    __mmask16 k = first_lanes(tail);
    __m512 acc = _mm512_setzero_ps();
    for (int d = 0; d < full; d += 16) acc = _mm512_add_ps(acc, _mm512_loadu_ps(x + d));
    if (tail) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(k, x + full));
    float mu = _mm512_reduce_add_ps(acc) / D;
    __m512 vmu = _mm512_set1_ps(mu), v = _mm512_setzero_ps();
    for (int d = 0; d < full; d += 16) {
        __m512 c = _mm512_sub_ps(_mm512_loadu_ps(x + d), vmu);
        v = _mm512_fmadd_ps(c, c, v);
    }
    if (tail) {
        __m512 c = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + full), vmu);
        v = _mm512_fmadd_ps(c, c, v);
    }
    float var = _mm512_reduce_add_ps(v) / D;
    float s = (float)(1.0 / sqrt((double)var + eps));
    __m512 vs = _mm512_set1_ps(s);
    for (int d = 0; d < full; d += 16) {
        __m512 nrm = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + d), vmu), vs);
        _mm512_storeu_ps(y + d, _mm512_fmadd_ps(nrm, _mm512_loadu_ps(w + d), _mm512_loadu_ps(b + d)));
    }
    if (tail) {
        __m512 nrm = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + full), vmu), vs);
        __m512 o = _mm512_fmadd_ps(nrm, _mm512_maskz_loadu_ps(k, w + full), _mm512_maskz_loadu_ps(k, b + full));
        _mm512_mask_storeu_ps(y + full, k, o);
    }
    *mean = mu;
    *rstd = s;
}

// The LayerNorm backward of one row (the maths and the scalar version:
// layernorm_backward_inp in lib/nn/layernorm.c). Two passes: the two means,
// then dx += rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)).
void layernorm_backward_row_avx512(float *dx, const float *dy, const float *x, const float *w, float mean, float rstd,
                                   int D) {
    const int tail = D % 16, full = D - tail;
    const __mmask16 k = first_lanes(tail);
    const __m512 vmu = _mm512_set1_ps(mean), vrs = _mm512_set1_ps(rstd);
    __m512 s_dnorm = _mm512_setzero_ps(), s_dnorm_norm = _mm512_setzero_ps();
    for (int d = 0; d < full + (tail ? 16 : 0); d += 16) {
        const __mmask16 m = d < full ? (__mmask16)0xFFFF : k;
        const __m512 norm = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + d), vmu), vrs);
        const __m512 dnorm = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + d), _mm512_maskz_loadu_ps(m, w + d));
        s_dnorm = _mm512_add_ps(s_dnorm, dnorm);
        s_dnorm_norm = _mm512_fmadd_ps(dnorm, norm, s_dnorm_norm);  // masked lanes: dnorm = 0
    }
    const __m512 mean_dnorm = _mm512_set1_ps(_mm512_reduce_add_ps(s_dnorm) / D);
    const __m512 mean_dnorm_norm = _mm512_set1_ps(_mm512_reduce_add_ps(s_dnorm_norm) / D);
    for (int d = 0; d < full + (tail ? 16 : 0); d += 16) {
        const __mmask16 m = d < full ? (__mmask16)0xFFFF : k;
        const __m512 norm = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + d), vmu), vrs);
        const __m512 dnorm = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + d), _mm512_maskz_loadu_ps(m, w + d));
        const __m512 inner = _mm512_fnmadd_ps(norm, mean_dnorm_norm, _mm512_sub_ps(dnorm, mean_dnorm));
        _mm512_mask_storeu_ps(dx + d, m, _mm512_fmadd_ps(vrs, inner, _mm512_maskz_loadu_ps(m, dx + d)));
    }
}

// RMSNorm (lib/nn/layernorm.c has the maths and the scalar loops): the row's
// rstd = 1/sqrt(mean(x^2) + eps), y = x * rstd * w.
void rmsnorm_row_avx512(float *y, float *rstd, const float *x, const float *w, int D, double eps) {
    const int tail = D % 16, full = D - tail;
    const __mmask16 k = first_lanes(tail);
    __m512 sq = _mm512_setzero_ps();
    for (int d = 0; d < full + (tail ? 16 : 0); d += 16) {
        const __m512 xv = _mm512_maskz_loadu_ps(d < full ? (__mmask16)0xFFFF : k, x + d);
        sq = _mm512_fmadd_ps(xv, xv, sq);
    }
    const float s = (float)(1.0 / sqrt((double)(_mm512_reduce_add_ps(sq) / D) + eps));
    const __m512 vs = _mm512_set1_ps(s);
    for (int d = 0; d < full + (tail ? 16 : 0); d += 16) {
        const __mmask16 m = d < full ? (__mmask16)0xFFFF : k;
        const __m512 norm = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + d), vs);
        _mm512_mask_storeu_ps(y + d, m, _mm512_mul_ps(norm, _mm512_maskz_loadu_ps(m, w + d)));
    }
    *rstd = s;
}

// dx += rstd * (dnorm - norm * mean(dnorm * norm)), norm = x * rstd, dnorm = dy * w.
void rmsnorm_backward_row_avx512(float *dx, const float *dy, const float *x, const float *w, float rstd, int D) {
    const int tail = D % 16, full = D - tail;
    const __mmask16 k = first_lanes(tail);
    const __m512 vrs = _mm512_set1_ps(rstd);
    __m512 s_dnorm_norm = _mm512_setzero_ps();
    for (int d = 0; d < full + (tail ? 16 : 0); d += 16) {
        const __mmask16 m = d < full ? (__mmask16)0xFFFF : k;
        const __m512 norm = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + d), vrs);
        const __m512 dnorm = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + d), _mm512_maskz_loadu_ps(m, w + d));
        s_dnorm_norm = _mm512_fmadd_ps(dnorm, norm, s_dnorm_norm);
    }
    const __m512 mean_dnorm_norm = _mm512_set1_ps(_mm512_reduce_add_ps(s_dnorm_norm) / D);
    for (int d = 0; d < full + (tail ? 16 : 0); d += 16) {
        const __mmask16 m = d < full ? (__mmask16)0xFFFF : k;
        const __m512 norm = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + d), vrs);
        const __m512 dnorm = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + d), _mm512_maskz_loadu_ps(m, w + d));
        const __m512 inner = _mm512_fnmadd_ps(norm, mean_dnorm_norm, dnorm);
        _mm512_mask_storeu_ps(dx + d, m, _mm512_fmadd_ps(vrs, inner, _mm512_maskz_loadu_ps(m, dx + d)));
    }
}
