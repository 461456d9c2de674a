// softmax_avx512.c: softmax_exp of softmax.h, 16 floats per zmm register.
// A ragged end uses a lane mask: masked-off lanes are neither read nor
// written, so any length and alignment is safe.
#include <immintrin.h>
#include <math.h>

#include "kernels/simd_exp_avx512.h"
#include "kernels/softmax.h"

static inline __mmask16 first_lanes(int r) { return (__mmask16)((1u << r) - 1u); }

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

void softmax_scaled_avx512(float *p, const float *x, int n, float scale) {
    const int tail = n % 16, full = n - tail;
    const __mmask16 k = first_lanes(tail);
    const __m512 vs = _mm512_set1_ps(scale);
    __m512 vm = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < full; i += 16) vm = _mm512_max_ps(vm, _mm512_mul_ps(_mm512_loadu_ps(x + i), vs));
    if (tail) vm = _mm512_mask_max_ps(vm, k, vm, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + full), vs));
    const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < full; i += 16) {
        __m512 e = exp_avx512(_mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), vs), vmax));
        _mm512_storeu_ps(p + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (tail) {
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + full), vs);
        __m512 e = _mm512_maskz_mov_ps(k, exp_avx512(_mm512_sub_ps(v, vmax)));
        _mm512_mask_storeu_ps(p + full, k, e);
        sum = _mm512_add_ps(sum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int i = 0; i < full; i += 16) _mm512_storeu_ps(p + i, _mm512_mul_ps(_mm512_loadu_ps(p + i), inv));
    if (tail) _mm512_mask_storeu_ps(p + full, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + full), inv));
}

void softmax_scaled_backward_avx512(float *ds, const float *p, const float *dp, int n, float scale) {
    const int tail = n % 16, full = n - tail;
    const __mmask16 k = first_lanes(tail);
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < full; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(p + i), _mm512_loadu_ps(dp + i), acc);
    if (tail) acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, p + full), _mm512_maskz_loadu_ps(k, dp + full), acc);
    const __m512 w = _mm512_set1_ps(_mm512_reduce_add_ps(acc)), vs = _mm512_set1_ps(scale);
    for (int i = 0; i < full; i += 16) {
        __m512 sp = _mm512_mul_ps(vs, _mm512_loadu_ps(p + i));
        _mm512_storeu_ps(ds + i, _mm512_mul_ps(sp, _mm512_sub_ps(_mm512_loadu_ps(dp + i), w)));
    }
    if (tail) {
        __m512 sp = _mm512_mul_ps(vs, _mm512_maskz_loadu_ps(k, p + full));
        _mm512_mask_storeu_ps(ds + full, k, _mm512_mul_ps(sp, _mm512_sub_ps(_mm512_maskz_loadu_ps(k, dp + full), w)));
    }
}
