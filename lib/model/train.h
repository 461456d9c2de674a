// train.h: the training loop.
//
// One step: sample a batch -> forward -> backward -> AdamW with the
// scheduled learning rate. Every eval_every steps: validation loss. Every
// ckpt_every steps and at the end: an atomic checkpoint. A non-finite loss
// or gradient stops the run with a message naming the step and the first
// bad tensor; the last checkpoint on disk is left untouched.
#ifndef UM_TRAIN_H
#define UM_TRAIN_H

#include <stdio.h>

#include "model/checkpoint.h"
#include "model/config.h"
#include "model/data.h"
#include "model/transformer.h"

// What the loop reports after each step (to the visualiser, to tests).
typedef struct {
    int step;             // steps completed
    int total_steps;
    double train_loss;    // nats, this step's batch
    double val_loss;      // nats, latest validation (or -1 before the first)
    double lr;
    double grad_norm;
    double tokens_per_s;
    int evaluated;        // 1 if val_loss was computed at this step
} UmStepInfo;

typedef void (*UmStepHook)(void *ctx, UmModel *model, const UmStepInfo *info);

typedef struct {
    const char *ckpt_path;  // NULL: no checkpoints
    FILE *log;              // progress output (NULL: silent)
    UmStepHook on_step;     // optional, called after every step
    void *hook_ctx;
    volatile int *stop;     // optional: set to 1 from another thread to stop early
} UmTrainRun;

// Train from state->step up to cfg->steps. state holds the step count and
// the batch sampler's RNG; start a fresh run with train_state_fresh.
// Returns 0, or -1 with a reason (divergence, checkpoint write failure).
int train_run(UmModel *model, const UmData *data, const UmTrainConfig *cfg, UmTrainState *state,
              const UmTrainRun *run, UmError *err);

void train_state_fresh(UmTrainState *state, uint64_t seed);

// Name of the first parameter (or gradient) holding a NaN/Inf, or NULL.
const char *first_nonfinite_tensor(const UmModel *model, int *is_grad);

#endif
