#include "model/sampler.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"

// k-th largest value of x (n), for the top-k cut-off. n = 256, so a simple
// O(n*k) selection is plenty.
static double kth_largest(const double *x, int n, int k) {
    double threshold = INFINITY;
    for (int j = 0; j < k; j++) {
        double best = -INFINITY;
        for (int i = 0; i < n; i++)
            if (x[i] < threshold && x[i] > best) best = x[i];
        if (best == -INFINITY) break;
        threshold = best;
    }
    return threshold;
}

int sample_byte(const real *logits, int V, const UmSampling *s, UmRng *rng) {
    int argmax = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[argmax]) argmax = i;
    if (s->temperature <= 0) return argmax;
    double z[1024];
    for (int i = 0; i < V; i++) z[i] = (logits[i] - logits[argmax]) / s->temperature;
    double cut = (s->top_k > 0 && s->top_k < V) ? kth_largest(z, V, s->top_k) : -INFINITY;
    double total = 0;
    for (int i = 0; i < V; i++) total += z[i] >= cut ? exp(z[i]) : 0;
    double r = rng_uniform(rng) * total;
    for (int i = 0; i < V; i++) {
        if (z[i] < cut) continue;
        r -= exp(z[i]);
        if (r <= 0) return i;
    }
    return argmax;  // rounding left r a hair above 0
}

int generate(UmModel *m, const unsigned char *prompt, int prompt_len, int n_new, const UmSampling *s, UmRng *rng,
             unsigned char *out) {
    int Tmax = m->cfg.block_size, V = m->cfg.vocab;
    memcpy(out, prompt, prompt_len);
    int len = prompt_len;
    int *ctx = um_alloc(Tmax * sizeof(int));
    for (int i = 0; i < n_new; i++) {
        int start = len > Tmax ? len - Tmax : 0;
        int T = len - start;
        if (T == 0) {  // empty prompt: start from a newline, a natural document start
            out[len++] = '\n';
            continue;
        }
        for (int t = 0; t < T; t++) ctx[t] = out[start + t];
        model_forward(m, ctx, NULL, 1, T);
        out[len++] = (unsigned char)sample_byte(m->logits + (size_t)(T - 1) * V, V, s, rng);
    }
    um_free(ctx);
    return len;
}
