// evaluate.h: how good is a model? Two numbers.
//
// Validation loss: mean cross-entropy on the held-out split, reported in
// bits per byte (nats / ln 2), the unit in which a byte-level model is
// compared with the corpus's unigram entropy.
//
// Fact recall: for each (prompt, answer) question, does greedy decoding
// after the prompt produce exactly the answer bytes? Computed with one
// teacher-forced forward: the model reads prompt+answer and we check that
// at every answer position its argmax is the next answer byte. That is the
// same as greedy decoding producing the answer (each argmax it would
// generate is the byte we feed), at a fraction of the cost, and questions
// are batched B at a time.
#ifndef UM_EVALUATE_H
#define UM_EVALUATE_H

#include "model/data.h"
#include "model/questions.h"
#include "model/transformer.h"

// Mean validation loss in nats over up to max_batches batches of B x T
// (all of them if max_batches <= 0).
double eval_val_loss(UmModel *model, const UmData *data, int B, int max_batches);

// How many validation batches of B x T the data holds (0: the held-out split
// is too small for that batch; eval_val_loss then returns NaN).
int eval_batches_available(const UmData *data, int B, int T);

// Health of the sparse layers over the same validation batches.
//   PKM: usage (% of slots read at least once), KL of the read distribution
//        to uniform (0 = perfectly even), mean top-1 score.
//   MoE: load imbalance (busiest expert's share / the even share, averaged
//        over layers) and the fraction of token-slots that would overflow
//        capacity factor 1.25.
typedef struct {
    int has_memory, has_moe;
    double usage_pct, kl_uniform, top1_mean;
    double moe_max_load_ratio, moe_overflow;
} UmMemReport;

double eval_val_loss_report(UmModel *model, const UmData *data, int B, int max_batches, UmMemReport *report);

// One line like "memory usage 87.3% | KL 0.41 | top-1 2.13", or "" for dense.
void mem_report_format(const UmMemReport *r, char *buf, int len);

// Fraction of the first max_questions questions (all if <= 0) answered exactly.
double eval_fact_recall(UmModel *model, const UmQuestions *q, int max_questions);

#define NATS_TO_BITS 1.4426950408889634

#endif
