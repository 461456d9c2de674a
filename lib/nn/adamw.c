// adamw.c: AdamW with global-norm gradient clipping over a parameter registry.
#include "nn/adamw.h"

#include <math.h>

#include "kernels/dispatch.h"
#include "kernels/optim.h"

UmAdamW adamw_defaults(void) {
    UmAdamW opt = {.beta1 = (real)0.9, .beta2 = (real)0.95, .eps = (real)1e-8, .grad_clip = (real)1.0};
    return opt;
}

// Serial and in double: the norm decides the clip factor for every weight,
// so it must not depend on how threads split the sum.
double grad_global_norm(const UmParamRegistry *reg) {
    double sumsq = 0;
    for (int i = 0; i < reg->count; i++) {
        const UmParam *p = reg->params[i];
        for (size_t j = 0; j < p->numel; j++) sumsq += (double)p->grad[j] * p->grad[j];
    }
    return sqrt(sumsq);
}

// The SIMD loop of kernels/optim.h for this path, or NULL (scalar).
#ifndef UM_NO_SIMD
typedef size_t (*ElementsFn)(float *w, const float *g, float *m, float *v, size_t n, const AdamWConsts *c);
static ElementsFn simd_elements(void) {
    switch (um_simd_path()) {
    case UM_SIMD_AVX512: return adamw_elements_avx512;
    case UM_SIMD_AVX2: return adamw_elements_avx2;
    default: return NULL;
    }
}
#endif

// One weight's step, the maths of adamw.h (bc1, bc2: the bias corrections).
static inline void adamw_element(real *w, real g, real *m, real *v, real lr, real weight_decay, real grad_scale,
                                 const UmAdamW *opt, real bc1, real bc2) {
    real gi = g * grad_scale;
    *m = opt->beta1 * *m + (1 - opt->beta1) * gi;
    *v = opt->beta2 * *v + (1 - opt->beta2) * gi * gi;
    real m_hat = *m / bc1;
    real v_hat = *v / bc2;
    // Decoupled weight decay: it shrinks w directly instead of being
    // added to the gradient, so Adam's scaling does not touch it.
    *w -= lr * (m_hat / ((real)sqrt((double)v_hat) + opt->eps) + weight_decay * *w);
}

// w, g, m, v (n): one AdamW step of one tensor. Elementwise, so parallel;
// but waking a second thread costs more than updating a small tensor (a
// LayerNorm's D weights), so only tensors of 16k+ elements are split.
void adamw_update(real *w, const real *g, real *m, real *v, size_t n, real lr, real weight_decay, real grad_scale,
                  const UmAdamW *opt, int t) {
    // Bias correction: m and v start at 0, so early on they underestimate
    // the true moments by a factor (1 - beta^t).
    real bc1 = (real)(1.0 - pow((double)opt->beta1, t));
    real bc2 = (real)(1.0 - pow((double)opt->beta2, t));
#ifndef UM_NO_SIMD
    ElementsFn simd = simd_elements();
    if (simd) {  // 8 or 16 weights at a time (same bits), in chunks of 4096 per thread
        const AdamWConsts c = {lr, weight_decay, grad_scale, opt->beta1, opt->beta2, 1 - opt->beta1, 1 - opt->beta2,
                               opt->eps, bc1, bc2};
        const size_t chunk = 4096, nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for if (n >= 1 << 14)
        for (size_t ch = 0; ch < nchunks; ch++) {
            const size_t i0 = ch * chunk, len = n - i0 < chunk ? n - i0 : chunk;
            for (size_t i = i0 + simd(w + i0, g + i0, m + i0, v + i0, len, &c); i < i0 + len; i++)
                adamw_element(&w[i], g[i], &m[i], &v[i], lr, weight_decay, grad_scale, opt, bc1, bc2);
        }
        return;
    }
#endif
#pragma omp parallel for if (n >= 1 << 14)
    for (size_t i = 0; i < n; i++)
        adamw_element(&w[i], g[i], &m[i], &v[i], lr, weight_decay, grad_scale, opt, bc1, bc2);
}

double adamw_step(UmParamRegistry *reg, const UmAdamW *opt, real base_lr, int t) {
    double norm = grad_global_norm(reg);
    // Scale every gradient by the same factor, so the update direction is
    // unchanged and only its size is limited.
    real scale = 1;
    if (opt->grad_clip > 0 && norm > opt->grad_clip) scale = (real)(opt->grad_clip / norm);
    for (int i = 0; i < reg->count; i++) {
        UmParam *p = reg->params[i];
        const UmParamGroup *grp = &reg->groups[p->group];
        adamw_update(p->data, p->grad, p->adam_m, p->adam_v, p->numel, base_lr * grp->lr_mult, grp->weight_decay,
                     scale, opt, t);
    }
    return norm;
}
