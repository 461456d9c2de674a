// snapshot.c: see snapshot.h.
#include "snapshot.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"

const char *viz_layer_kind_name(int kind) {
    switch (kind) {
    case VIZ_LAYER_PKM: return "PKM";
    case VIZ_LAYER_MOE: return "MoE";
    case VIZ_LAYER_ULTRAMEM: return "UltraMem";
    case VIZ_LAYER_ULTRAMEM2: return "UltraMemV2";
    case VIZ_LAYER_PEER: return "PEER";
    default: return "?";
    }
}

VizSnapshot *viz_snapshot_new(void) { return um_alloc(sizeof(VizSnapshot)); }

void viz_snapshot_free(VizSnapshot *s) { um_free(s); }

// ---------------------------------------------------------------- thinning
int viz_thin_offer(VizThin *t, int *n, void (*compact)(void *ctx, int n), void *ctx) {
    if (t->every < 1) t->every = 1;
    if (++t->skipped < t->every) return 0;
    t->skipped = 0;
    if (*n >= VIZ_MAX_HIST) {  // full: keep points 0, 2, 4, ... and halve the rate
        compact(ctx, *n);
        *n = (*n + 1) / 2;
        t->every *= 2;
    }
    return 1;
}

// Keep every other element of an array of n rows of `width` floats.
static void keep_even(float *a, int n, int width) {
    for (int i = 0; 2 * i < n; i++) memmove(a + (size_t)i * width, a + (size_t)2 * i * width, width * sizeof(float));
}

static void compact_train(void *ctx, int n) {
    VizHistory *h = ctx;
    keep_even(h->step, n, 1);
    keep_even(h->train, n, 1);
    keep_even(h->tokens_per_s, n, 1);
}

static void compact_val(void *ctx, int n) {
    VizHistory *h = ctx;
    keep_even(h->val_step, n, 1);
    keep_even(h->val, n, 1);
}

static void compact_moe(void *ctx, int n) {
    VizMoe *m = ctx;
    keep_even(m->hist_step, n, 1);
    keep_even(&m->hist_load[0][0], n, VIZ_MAX_X);
}

static void compact_tucker(void *ctx, int n) {
    VizTuckerHistory *t = ctx;
    keep_even(t->step, n, 1);
    keep_even(&t->sv[0][0], n, VIZ_MAX_RANK);
}

void viz_history_add(VizHistory *h, float step, float train, float tokens_per_s) {
    if (!viz_thin_offer(&h->thin, &h->n, compact_train, h)) return;
    h->step[h->n] = step;
    h->train[h->n] = train;
    h->tokens_per_s[h->n] = tokens_per_s;
    h->n++;
}

void viz_history_add_val(VizHistory *h, float step, float val) {
    if (!viz_thin_offer(&h->val_thin, &h->val_n, compact_val, h)) return;
    h->val_step[h->val_n] = step;
    h->val[h->val_n] = val;
    h->val_n++;
}

void viz_moe_history_add(VizMoe *m, float step, const float *load) {
    if (!viz_thin_offer(&m->hist_thin, &m->hist_n, compact_moe, m)) return;
    m->hist_step[m->hist_n] = step;
    int X = m->X < VIZ_MAX_X ? m->X : VIZ_MAX_X;
    memcpy(m->hist_load[m->hist_n], load, (size_t)X * sizeof(float));
    m->hist_n++;
}

void viz_tucker_add(VizTuckerHistory *t, float step, const float *sv, int rank) {
    if (rank > VIZ_MAX_RANK) rank = VIZ_MAX_RANK;
    t->rank = rank;
    if (!viz_thin_offer(&t->thin, &t->n, compact_tucker, t)) return;
    t->step[t->n] = step;
    memcpy(t->sv[t->n], sv, (size_t)rank * sizeof(float));
    t->n++;
}

// ---------------------------------------------------------------- read stats
// The memory-health numbers of Lample et al.: usage = share of slots read at
// least once; KL(p || uniform) = sum_i p_i log(p_i * n_slots), 0 when every
// slot is read equally often, log(n_slots) when one slot takes every read.
void viz_read_stats(const float *reads, int n_slots, double *usage_pct, double *kl, int *dead) {
    double total = 0;
    int used = 0;
    for (int i = 0; i < n_slots; i++) {
        total += reads[i];
        used += reads[i] > 0;
    }
    double d = 0;
    if (total > 0)
        for (int i = 0; i < n_slots; i++)
            if (reads[i] > 0) {
                double p = reads[i] / total;
                d += p * log(p * n_slots);
            }
    *usage_pct = n_slots > 0 ? 100.0 * used / n_slots : 0;
    *kl = d;
    *dead = n_slots - used;
}

// ---------------------------------------------------------------- exchange
int viz_exchange_init(VizExchange *x) {
    memset(x, 0, sizeof *x);
    for (int i = 0; i < 3; i++)
        if (!(x->buf[i] = viz_snapshot_new())) {
            viz_exchange_free(x);
            return -1;
        }
    x->back = x->buf[0], x->shared = x->buf[1], x->front = x->buf[2];
    pthread_mutex_init(&x->lock, NULL);
    return 0;
}

void viz_exchange_free(VizExchange *x) {
    if (x->buf[0] && x->buf[1] && x->buf[2]) pthread_mutex_destroy(&x->lock);
    for (int i = 0; i < 3; i++) viz_snapshot_free(x->buf[i]);
    memset(x, 0, sizeof *x);
}

VizSnapshot *viz_exchange_publish(VizExchange *x) {
    pthread_mutex_lock(&x->lock);
    VizSnapshot *t = x->shared;
    x->shared = x->back;
    x->back = t;
    x->published++;
    pthread_mutex_unlock(&x->lock);
    return x->back;
}

VizSnapshot *viz_exchange_take(VizExchange *x, int *is_new) {
    pthread_mutex_lock(&x->lock);
    int fresh = x->taken != x->published;
    if (fresh) {
        VizSnapshot *t = x->front;
        x->front = x->shared;
        x->shared = t;
        x->taken = x->published;
    }
    pthread_mutex_unlock(&x->lock);
    if (is_new) *is_new = fresh;
    return x->front;
}
