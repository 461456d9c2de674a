// softmax_avx512.c: the attention / softmax row kernels of softmax.h, 16
// floats per zmm register. Ragged ends use a lane mask: masked-off lanes are
// neither read nor written, so any length, stride and alignment is safe.
#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#include "kernels/simd_exp_avx512.h"
#include "kernels/softmax.h"

static inline __mmask16 first_lanes(int r) { return (__mmask16)((1u << r) - 1u); }

// q . r over hs floats, two accumulators (hides the FMA latency).
static inline float dot_row(const float *q, const float *r, int hs) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 32 <= hs; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(r + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), _mm512_loadu_ps(r + i + 16), s1);
    }
    for (; i + 16 <= hs; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(r + i), s0);
    if (i < hs) {
        __mmask16 m = first_lanes(hs - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), _mm512_maskz_loadu_ps(m, r + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

// q . r over hs floats, left as 16 partial sums (the reduction comes later).
static inline __m512 dot_lanes(const float *q, const float *r, int hs) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 32 <= hs; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(r + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), _mm512_loadu_ps(r + i + 16), s1);
    }
    for (; i + 16 <= hs; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(r + i), s0);
    if (i < hs) {
        __mmask16 m = first_lanes(hs - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), _mm512_maskz_loadu_ps(m, r + i), s1);
    }
    return _mm512_add_ps(s0, s1);
}

static inline __m256 halves(__m512 a) {
    return _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
}

// Four keys at a time: their four horizontal sums share one shuffle tree
// (hadd), which is most of the work when hs is small (32 in the tiny model).
void attn_dots_avx512(float *s, const float *q, const float *rows, int n, int hs, size_t stride, float scale) {
    const __m128 vscale = _mm_set1_ps(scale);
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *r = rows + (size_t)j * stride;
        __m256 y0 = halves(dot_lanes(q, r, hs)), y1 = halves(dot_lanes(q, r + stride, hs));
        __m256 y2 = halves(dot_lanes(q, r + 2 * stride, hs)), y3 = halves(dot_lanes(q, r + 3 * stride, hs));
        __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(y0, y1), _mm256_hadd_ps(y2, y3));
        __m128 d = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        _mm_storeu_ps(s + j, _mm_mul_ps(d, vscale));
    }
    for (; j < n; j++) s[j] = dot_row(q, rows + (size_t)j * stride, hs) * scale;
}

// One block of up to 16 columns: the sum over rows stays in registers (two
// accumulators, even and odd rows), then out += alpha * sum once.
void attn_weighted_sum_avx512(float *out, float alpha, const float *w, const float *rows, int n, int hs,
                              size_t stride) {
    int c = 0;
    // Two full blocks per pass over the rows (hs = 32 in the tiny model): one
    // broadcast of w[j] serves both; each lane adds in the same order as below.
    for (; c + 32 <= hs; c += 32) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
        const float *r = rows + c;
        int j = 0;
        for (; j + 2 <= n; j += 2, r += 2 * stride) {
            __m512 w0 = _mm512_set1_ps(w[j]), w1 = _mm512_set1_ps(w[j + 1]);
            a0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(r), a0);
            b0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(r + 16), b0);
            a1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(r + stride), a1);
            b1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(r + stride + 16), b1);
        }
        if (j < n) {
            __m512 w0 = _mm512_set1_ps(w[j]);
            a0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(r), a0);
            b0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(r + 16), b0);
        }
        __m512 va = _mm512_set1_ps(alpha);
        _mm512_storeu_ps(out + c, _mm512_fmadd_ps(va, _mm512_add_ps(a0, a1), _mm512_loadu_ps(out + c)));
        _mm512_storeu_ps(out + c + 16, _mm512_fmadd_ps(va, _mm512_add_ps(b0, b1), _mm512_loadu_ps(out + c + 16)));
    }
    for (; c < hs; c += 16) {
        __mmask16 m = hs - c >= 16 ? (__mmask16)0xFFFF : first_lanes(hs - c);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        const float *r = rows + c;
        int j = 0;
        for (; j + 2 <= n; j += 2, r += 2 * stride) {
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[j]), _mm512_maskz_loadu_ps(m, r), a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(w[j + 1]), _mm512_maskz_loadu_ps(m, r + stride), a1);
        }
        if (j < n) a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[j]), _mm512_maskz_loadu_ps(m, r), a0);
        __m512 o = _mm512_fmadd_ps(_mm512_set1_ps(alpha), _mm512_add_ps(a0, a1), _mm512_maskz_loadu_ps(m, out + c));
        _mm512_mask_storeu_ps(out + c, m, o);
    }
}

float softmax_exp_avx512(float *p, const float *x, int n, float *maxval) {
    __m512 vm = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + i));
    if (i < n) vm = _mm512_max_ps(vm, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), first_lanes(n - i), x + i));
    float m = _mm512_reduce_max_ps(vm);
    __m512 vmax = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vmax));
        _mm512_storeu_ps(p + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (i < n) {
        __mmask16 k = first_lanes(n - i);
        __m512 e = _mm512_maskz_mov_ps(k, exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vmax)));
        _mm512_mask_storeu_ps(p + i, k, e);
        sum = _mm512_add_ps(sum, e);
    }
    *maxval = m;
    return _mm512_reduce_add_ps(sum);
}

// One block of up to 16 columns of x stays in a register while every row
// takes its fma: y = a_j * x + y, the same operation as vec_axpy_avx512.
void attn_rows_axpy_avx512(float *rows, float alpha, const float *w, const float *x, int n, int hs, size_t stride) {
    int c = 0;
    for (; c + 32 <= hs; c += 32) {  // two blocks per pass over the rows
        __m512 x0 = _mm512_loadu_ps(x + c), x1 = _mm512_loadu_ps(x + c + 16);
        float *r = rows + c;
        for (int j = 0; j < n; j++, r += stride) {
            __m512 a = _mm512_set1_ps(alpha * w[j]);
            _mm512_storeu_ps(r, _mm512_fmadd_ps(a, x0, _mm512_loadu_ps(r)));
            _mm512_storeu_ps(r + 16, _mm512_fmadd_ps(a, x1, _mm512_loadu_ps(r + 16)));
        }
    }
    for (; c < hs; c += 16) {
        __mmask16 m = hs - c >= 16 ? (__mmask16)0xFFFF : first_lanes(hs - c);
        __m512 vx = _mm512_maskz_loadu_ps(m, x + c);
        float *r = rows + c;
        for (int j = 0; j < n; j++, r += stride) {
            __m512 y = _mm512_fmadd_ps(_mm512_set1_ps(alpha * w[j]), vx, _mm512_maskz_loadu_ps(m, r));
            _mm512_mask_storeu_ps(r, m, y);
        }
    }
}
