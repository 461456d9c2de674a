// retrieval.h: looking inside a product-key memory (PKM, UltraMem, PEER).
//
// Two instruments:
//
// UmRetrievalProbe: what the visualiser draws for ONE chosen token t and
//   head h of the last forward pass: the row and column score vectors, the
//   k x k candidate grid, the selected slots and their weights, and running
//   read counts of every slot over all tokens and heads seen so far. A layer
//   fills it only when a probe is attached (layer->probe != NULL), so an
//   unprobed layer pays nothing.
//
// UmMemStats: the memory-health metrics of Lample et al. (XLM's
//   eval_memory_usage), accumulated over many tokens (e.g. the validation
//   set): usage = % of slots read at least once, KL(read distribution ||
//   uniform) (0 = perfectly even, log(n_slots) = one slot only), and the
//   mean top-1 score. Low usage / high KL is the "dead keys" failure mode.
#ifndef UM_RETRIEVAL_H
#define UM_RETRIEVAL_H

#include <stdint.h>

#include "base/real.h"
#include "memory/product_keys.h"

typedef struct {
    int token, head;  // which query to show (set by the caller)
    int n, k;         // keys per side, top-k
    int filled;       // 1 once a forward pass has written the fields below
    real *row_scores, *col_scores;  // (n) s1, s2 of the chosen query
    int *grid_rows, *grid_cols;     // (k) best rows / columns, best first
    real *grid;                     // (k*k) grid[a*k+b]: candidate (grid_rows[a], grid_cols[b])
    int *slots;                     // (k) selected slots, best first (slot = row*n + col)
    int *sel_cell;                  // (k) their positions in grid
    real *scores, *weights;         // (k) raw scores and softmax weights
    uint64_t *read_counts;          // (n*n) running count of reads per slot
    uint64_t total_reads;
} UmRetrievalProbe;

void um_retrieval_probe_init(UmRetrievalProbe *p, int n, int k, int token, int head);
void um_retrieval_probe_free(UmRetrievalProbe *p);
void um_retrieval_probe_reset_counts(UmRetrievalProbe *p);

// Copy one query's search (ws) and its outcome into the probe.
void um_retrieval_probe_record(UmRetrievalProbe *p, const UmPkSearch *ws, const int *slots, const real *scores,
                               const real *weights);

// read_counts[slots[i]] += 1 for i < count.
void um_retrieval_probe_count_reads(UmRetrievalProbe *p, const int *slots, int count);

typedef struct {
    int n_slots;
    double *counts;   // (n_slots) reads per slot
    double *wcounts;  // (n_slots) reads weighted by their softmax weight
    double top1_sum;  // sum over queries of the best raw score
    long queries;     // number of (token, head) queries seen
} UmMemStats;

void um_mem_stats_init(UmMemStats *s, int n_slots);
void um_mem_stats_free(UmMemStats *s);
void um_mem_stats_reset(UmMemStats *s);

// Add n_queries queries of k reads each: slots, weights, scores are
// (n_queries, k), scores best first (weights may be NULL: weight 1/k).
void um_mem_stats_add(UmMemStats *s, const int *slots, const real *weights, const real *scores, int n_queries,
                      int k);

double um_mem_stats_usage(const UmMemStats *s);                    // percent of slots with >= 1 read
double um_mem_stats_kl_uniform(const UmMemStats *s, int weighted);  // KL(p || uniform), nats
double um_mem_stats_mean_top1(const UmMemStats *s);                 // mean best raw score

#endif
