// retrieval.c: see retrieval.h.
#include "probe/retrieval.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"

void um_retrieval_probe_init(UmRetrievalProbe *p, int n, int k, int token, int head) {
    memset(p, 0, sizeof *p);
    p->token = token;
    p->head = head;
    p->n = n;
    p->k = k;
    p->row_scores = um_alloc((size_t)n * sizeof(real));
    p->col_scores = um_alloc((size_t)n * sizeof(real));
    p->grid_rows = um_alloc((size_t)k * sizeof(int));
    p->grid_cols = um_alloc((size_t)k * sizeof(int));
    p->grid = um_alloc((size_t)k * k * sizeof(real));
    p->slots = um_alloc((size_t)k * sizeof(int));
    p->sel_cell = um_alloc((size_t)k * sizeof(int));
    p->scores = um_alloc((size_t)k * sizeof(real));
    p->weights = um_alloc((size_t)k * sizeof(real));
    p->read_counts = um_alloc((size_t)n * n * sizeof(uint64_t));
}

void um_retrieval_probe_free(UmRetrievalProbe *p) {
    um_free(p->row_scores);
    um_free(p->col_scores);
    um_free(p->grid_rows);
    um_free(p->grid_cols);
    um_free(p->grid);
    um_free(p->slots);
    um_free(p->sel_cell);
    um_free(p->scores);
    um_free(p->weights);
    um_free(p->read_counts);
    memset(p, 0, sizeof *p);
}

void um_retrieval_probe_reset_counts(UmRetrievalProbe *p) {
    memset(p->read_counts, 0, (size_t)p->n * p->n * sizeof(uint64_t));
    p->total_reads = 0;
}

void um_retrieval_probe_record(UmRetrievalProbe *p, const UmPkSearch *ws, const int *slots, const real *scores,
                               const real *weights) {
    int n = p->n, k = p->k;
    memcpy(p->row_scores, ws->s1, (size_t)n * sizeof(real));
    memcpy(p->col_scores, ws->s2, (size_t)n * sizeof(real));
    memcpy(p->grid_rows, ws->top1, (size_t)k * sizeof(int));
    memcpy(p->grid_cols, ws->top2, (size_t)k * sizeof(int));
    memcpy(p->grid, ws->grid, (size_t)k * k * sizeof(real));
    memcpy(p->sel_cell, ws->sel_cell, (size_t)k * sizeof(int));
    memcpy(p->slots, slots, (size_t)k * sizeof(int));
    memcpy(p->scores, scores, (size_t)k * sizeof(real));
    memcpy(p->weights, weights, (size_t)k * sizeof(real));
    p->filled = 1;
}

void um_retrieval_probe_count_reads(UmRetrievalProbe *p, const int *slots, int count) {
    for (int i = 0; i < count; i++) p->read_counts[slots[i]]++;
    p->total_reads += (uint64_t)count;
}

void um_mem_stats_init(UmMemStats *s, int n_slots) {
    memset(s, 0, sizeof *s);
    s->n_slots = n_slots;
    s->counts = um_alloc((size_t)n_slots * sizeof(double));
    s->wcounts = um_alloc((size_t)n_slots * sizeof(double));
}

void um_mem_stats_free(UmMemStats *s) {
    um_free(s->counts);
    um_free(s->wcounts);
    memset(s, 0, sizeof *s);
}

void um_mem_stats_reset(UmMemStats *s) {
    memset(s->counts, 0, (size_t)s->n_slots * sizeof(double));
    memset(s->wcounts, 0, (size_t)s->n_slots * sizeof(double));
    s->top1_sum = 0;
    s->queries = 0;
}

void um_mem_stats_add(UmMemStats *s, const int *slots, const real *weights, const real *scores, int n_queries,
                      int k) {
    for (int q = 0; q < n_queries; q++) {
        for (int j = 0; j < k; j++) {
            int slot = slots[(size_t)q * k + j];
            s->counts[slot] += 1;
            s->wcounts[slot] += weights ? (double)weights[(size_t)q * k + j] : 1.0 / k;
        }
        if (scores) s->top1_sum += (double)scores[(size_t)q * k];
        s->queries++;
    }
}

double um_mem_stats_usage(const UmMemStats *s) {
    int used = 0;
    for (int i = 0; i < s->n_slots; i++) used += s->counts[i] > 0;
    return 100.0 * used / s->n_slots;
}

// KL(p || uniform) = sum_i p_i log(p_i / (1/N)) = log N + sum_i p_i log p_i,
// with 0 log 0 = 0. An empty histogram has no distribution: report 0.
double um_mem_stats_kl_uniform(const UmMemStats *s, int weighted) {
    const double *c = weighted ? s->wcounts : s->counts;
    double total = 0;
    for (int i = 0; i < s->n_slots; i++) total += c[i];
    if (total <= 0) return 0;
    double kl = log((double)s->n_slots);
    for (int i = 0; i < s->n_slots; i++)
        if (c[i] > 0) {
            double p = c[i] / total;
            kl += p * log(p);
        }
    return kl;
}

double um_mem_stats_mean_top1(const UmMemStats *s) { return s->queries ? s->top1_sum / s->queries : 0; }
