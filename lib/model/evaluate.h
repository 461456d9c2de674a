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

// Mean validation loss in nats over up to max_batches batches of B x T.
double eval_val_loss(UmModel *model, const UmData *data, int B, int max_batches);

// Fraction of the first max_questions questions (all if <= 0) answered exactly.
double eval_fact_recall(UmModel *model, const UmQuestions *q, int max_questions);

#define NATS_TO_BITS 1.4426950408889634

#endif
