// moe_probe.c: see moe_probe.h.
#include "probe/moe_probe.h"

#include <string.h>

#include "base/alloc.h"
#include "base/error.h"

void um_moe_probe_init(UmMoeProbe *p, int X, int k, int max_tokens, int window) {
    if (X <= 0 || k <= 0 || k > X || max_tokens <= 0 || window <= 0)
        um_die(UM_EXIT_USAGE, "moe probe: bad sizes X=%d k=%d max_tokens=%d window=%d", X, k, max_tokens, window);
    memset(p, 0, sizeof *p);
    p->X = X;
    p->k = k;
    p->max_tokens = max_tokens;
    p->window = window;
    p->probs = um_alloc((size_t)max_tokens * X * sizeof(float));
    p->chosen = um_alloc((size_t)max_tokens * k * sizeof(int));
    p->gates = um_alloc((size_t)max_tokens * k * sizeof(float));
    p->loads = um_alloc((size_t)window * X * sizeof(int));
    p->batch_n = um_alloc((size_t)window * sizeof(int));
}

void um_moe_probe_free(UmMoeProbe *p) {
    um_free(p->probs);
    um_free(p->chosen);
    um_free(p->gates);
    um_free(p->loads);
    um_free(p->batch_n);
    memset(p, 0, sizeof *p);
}

void um_moe_probe_record(UmMoeProbe *p, const real *probs, const int *chosen, const real *gates, const int *load,
                         int N) {
    int X = p->X, k = p->k;
    int n = N < p->max_tokens ? N : p->max_tokens;
    p->n_tokens = n;
    for (size_t i = 0; i < (size_t)n * X; i++) p->probs[i] = (float)probs[i];
    for (size_t i = 0; i < (size_t)n * k; i++) {
        p->chosen[i] = chosen[i];
        p->gates[i] = (float)gates[i];
    }
    // the load ring keeps the whole batch's counts, not only the kept tokens
    memcpy(p->loads + (size_t)p->head * X, load, (size_t)X * sizeof(int));
    p->batch_n[p->head] = N;
    p->head = (p->head + 1) % p->window;
    if (p->filled < p->window) p->filled++;
    p->steps++;
}

void um_moe_probe_window_fraction(const UmMoeProbe *p, double *frac) {
    double slots = 0;
    for (int i = 0; i < p->X; i++) frac[i] = 0;
    for (int r = 0; r < p->filled; r++) {
        for (int i = 0; i < p->X; i++) frac[i] += p->loads[(size_t)r * p->X + i];
        slots += (double)p->batch_n[r] * p->k;
    }
    if (slots > 0)
        for (int i = 0; i < p->X; i++) frac[i] /= slots;
}
