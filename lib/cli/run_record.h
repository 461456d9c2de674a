// run_record.h: machine-readable records of a training run, for scripts.
//
// Two files a harness (chapters/09_results/experiments.mk) reads back:
//
//   summary (--summary FILE): one "name: value" line per figure, e.g.
//       arch: ultramem
//       total_params: 12345678
//       val_bits_per_byte: 1.8123
//       fact_recall: -            ("-" when not measured)
//     written to FILE.tmp and renamed, so a reader never sees half a file.
//
//   history (--history FILE): the loss curve, one point a line, in the same
//     format as the visualiser's out/runs/*.tsv (so `um train` can draw it):
//       # ultramem.c loss history: train|val STEP LOSS (nats/byte)
//       name dense small
//       train 1 5.53541
//       val 200 2.10432
//     flushed after every step. On --resume the lines past the checkpoint's
//     step (written after it by the interrupted process) are dropped, so the
//     file always describes exactly one uninterrupted run.
#ifndef UM_RUN_RECORD_H
#define UM_RUN_RECORD_H

#include <stdio.h>

#include "model/evaluate.h"
#include "model/transformer.h"

// ---------------------------------------------------------------- summary
typedef struct {
    FILE *f;
    char path[4096], tmp[4200];
} UmSummary;

// Opens path.tmp for writing; dies (exit 1) with the reason when it cannot.
void summary_open(UmSummary *s, const char *path);
void summary_text(UmSummary *s, const char *name, const char *value);
void summary_int(UmSummary *s, const char *name, long long value);
void summary_real(UmSummary *s, const char *name, double value);  // NaN is written as "-"
// total_params, activated_params, flops_per_token of the model.
void summary_model(UmSummary *s, const UmModel *m);
// memory_usage_pct, memory_kl_uniform, memory_top1_score and the MoE load
// figures, each "-" when the model has no such layer.
void summary_memory(UmSummary *s, const UmMemReport *r);
// Close and rename into place; dies when the write failed.
void summary_close(UmSummary *s);

// ---------------------------------------------------------------- history
typedef struct {
    FILE *f;           // NULL: not recording to a file (losses are still kept in memory)
    float *train;      // train[i]: the loss of step i+1 (NaN where unknown)
    int n_train, cap;
} UmHistory;

// Start a history. path may be NULL (memory only). resume_step > 0 keeps the
// file's points up to that step and appends after them; 0 starts afresh.
// Dies (exit 1) when the file cannot be written.
void history_open(UmHistory *h, const char *path, const char *run_name, int resume_step);
void history_add_train(UmHistory *h, int step, double loss);
void history_add_val(UmHistory *h, int step, double loss);
// Mean train loss (nats) over the last `window` steps up to `last_step`,
// skipping unknown steps; NaN when none is known.
double history_tail_mean(const UmHistory *h, int last_step, int window);
void history_close(UmHistory *h);

#endif
