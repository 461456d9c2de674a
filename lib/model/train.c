#include "model/train.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/progress.h"
#include "model/evaluate.h"
#include "nn/adamw.h"
#include "nn/lr_schedule.h"

void train_state_fresh(UmTrainState *state, uint64_t seed) {
    UmRng rng;
    rng_seed(&rng, seed ^ 0xDA7Aull);  // the data stream has its own seed, apart from init
    state->step = 0;
    state->rng_state = rng.state;
}

static int all_finite(const real *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

// Weights first: a bad weight poisons every gradient after it, so the first
// bad weight is the culprit; only if all weights are finite look at grads.
const char *first_nonfinite_tensor(const UmModel *m, int *is_grad) {
    for (int i = 0; i < m->params.count; i++)
        if (!all_finite(m->params.params[i]->data, m->params.params[i]->numel)) return *is_grad = 0, m->params.params[i]->name;
    for (int i = 0; i < m->params.count; i++)
        if (!all_finite(m->params.params[i]->grad, m->params.params[i]->numel)) return *is_grad = 1, m->params.params[i]->name;
    return NULL;
}

static int diverged(const UmModel *m, int step, double loss, double norm, const UmTrainRun *run, UmError *err) {
    int is_grad = 0;
    const char *bad = first_nonfinite_tensor(m, &is_grad);
    return um_fail(err, "training diverged at step %d: loss %g, gradient norm %g%s%s%s; %s", step, loss, norm,
                   bad ? " (first non-finite: " : "", bad ? (is_grad ? "gradient of " : "") : "",
                   bad ? bad : "", run->ckpt_path ? "the last good checkpoint is kept" : "no checkpoint was written");
}

static int save(const UmModel *m, const UmTrainState *s, const UmTrainRun *run, UmError *err) {
    if (!run->ckpt_path) return 0;
    return checkpoint_save(run->ckpt_path, m, s, err);
}

int train_run(UmModel *m, const UmData *d, const UmTrainConfig *cfg, UmTrainState *state, const UmTrainRun *run,
              UmError *err) {
    int B = cfg->batch, T = m->cfg.block_size;
    int *inputs = um_alloc((size_t)B * T * sizeof(int)), *targets = um_alloc((size_t)B * T * sizeof(int));
    UmAdamW opt = adamw_defaults();
    opt.grad_clip = (real)cfg->grad_clip;
    for (int g = 0; g < m->params.n_groups; g++)  // decayed groups take the run's weight decay; no_decay groups keep 0
        if (m->params.groups[g].weight_decay != 0) m->params.groups[g].weight_decay = (real)cfg->weight_decay;
    UmRng rng = {state->rng_state};
    UmProgress progress;
    if (run->log) progress_start(&progress, run->log, cfg->steps, cfg->eval_every > 0 ? cfg->eval_every : 50);
    UmStepInfo info = {.val_loss = -1, .total_steps = cfg->steps};
    int rc = 0;
    for (int step = (int)state->step; step < cfg->steps; step++) {
        if (run->stop && *run->stop) break;
        data_train_batch(d, &rng, B, T, inputs, targets);
        double loss = model_forward(m, inputs, targets, B, T);
        params_zero_grad(&m->params);
        model_backward(m);
        // Check before updating: one NaN step would poison every weight.
        double norm = grad_global_norm(&m->params);
        if (!isfinite(loss) || !isfinite(norm)) {
            rc = diverged(m, step + 1, loss, norm, run, err);
            break;
        }
        double lr = lr_cosine(step, cfg->steps, cfg->warmup, cfg->lr, cfg->min_lr);
        model_update_schedules(m, step, cfg->steps);
        adamw_step(&m->params, &opt, (real)lr, step + 1);
        state->step = step + 1;
        state->rng_state = rng.state;
        info.step = step + 1, info.train_loss = loss, info.lr = lr, info.grad_norm = norm, info.evaluated = 0;
        if (run->log) progress_update(&progress, step + 1, loss, (long)B * T);
        info.tokens_per_s = run->log ? progress_tokens_per_second(&progress) : 0;
        int last = step + 1 == cfg->steps;
        if ((cfg->eval_every > 0 && (step + 1) % cfg->eval_every == 0) || last) {
            UmMemReport report;
            char health[256];
            info.val_loss = eval_val_loss_report(m, d, B, cfg->eval_batches, &report);
            info.evaluated = 1;
            mem_report_format(&report, health, sizeof health);
            if (run->log)
                progress_message(&progress, "step %d: train %.4f | val %.4f nats = %.3f bits/byte%s%s", step + 1,
                                 loss, info.val_loss, info.val_loss * NATS_TO_BITS, health[0] ? " | " : "", health);
        }
        if (run->on_step) run->on_step(run->hook_ctx, m, &info);
        if ((cfg->ckpt_every > 0 && (step + 1) % cfg->ckpt_every == 0) || last) {
            if ((rc = save(m, state, run, err))) break;
        }
    }
    if (rc == 0 && run->stop && *run->stop) rc = save(m, state, run, err);  // stopped early: keep the work
    if (run->log) progress_finish(&progress);
    um_free(inputs), um_free(targets);
    return rc;
}
