// cmd_train.c: `um train`, from flags to a trained checkpoint.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/timer.h"
#include "cli/commands.h"
#include "cli/run_record.h"
#include "model/checkpoint.h"
#include "model/evaluate.h"
#include "model/questions.h"
#include "model/train.h"
#include "live.h"

static const char *SUMMARY =
    "Train a byte-level transformer on a text file, validating as it goes, and save a checkpoint.\n"
    "Example: um train --arch dense --size tiny --data out/data/fortunes.txt --ckpt out/run/model.ckpt";

// Preset first, then every flag the user gave overrides it.
static void build_configs(const UmOptions *o, UmModelConfig *m, UmTrainConfig *t) {
    UmError err;
    int arch = arch_from_name(o->arch);
    if (arch < 0) um_die(UM_EXIT_USAGE, "um train: unknown --arch '%s' (allowed: dense, pkm, moe, ultramem, ultramem2, peer)", o->arch);
    if (config_preset(m, t, o->size, arch, &err)) um_die(UM_EXIT_USAGE, "um train: %s", err.msg);
    if (option_given(o, "steps")) t->steps = o->steps;
    if (option_given(o, "batch")) t->batch = o->batch;
    if (option_given(o, "lr")) t->lr = o->lr, t->min_lr = o->lr / 10;
    if (option_given(o, "eval-every")) t->eval_every = o->eval_every;
    if (option_given(o, "eval-batches")) t->eval_batches = o->eval_batches;
    if (option_given(o, "ckpt-every")) t->ckpt_every = o->ckpt_every;
    if (option_given(o, "seed")) t->seed = (uint64_t)o->seed;
    if (t->warmup >= t->steps) t->warmup = t->steps / 10;
    if (o->resume && !o->ckpt) um_die(UM_EXIT_USAGE, "um train: --resume needs --ckpt FILE (the run to continue)");
}

static void print_header(const UmOptions *o, const UmModel *m, const UmTrainConfig *t, const UmData *d) {
    printf("um train: arch %s, size %s: %d layers, dim %d, %d heads, context %d\n", arch_name(m->cfg.arch), o->size,
           m->cfg.n_layers, m->cfg.dim, m->cfg.n_heads, m->cfg.block_size);
    printf("  parameters %.3fM (activated %.3fM), %.2f MFLOPs/token forward\n", model_total_params(m) / 1e6,
           model_activated_params(m) / 1e6, model_flops_per_token(m) / 1e6);
    printf("  data %s: %zu train + %zu validation bytes, unigram entropy %.3f bits/byte\n", o->data,
           data_train_bytes(d), data_val_bytes(d), data_unigram_entropy_bits(d->bytes, d->n));
    printf("  %d steps x %d x %d tokens, lr %.2g, %d threads, seed %llu\n", t->steps, t->batch, m->cfg.block_size,
           t->lr, cli_threads(), (unsigned long long)t->seed);
}

// Fact recall on --questions (NaN without it); *asked gets how many were scored.
static double report_recall(const UmOptions *o, UmModel *m, int *asked) {
    *asked = 0;
    if (!o->questions) return NAN;
    UmQuestions q;
    UmError err;
    if (questions_load(&q, o->questions, &err)) um_die(UM_EXIT_RUNTIME, "--questions: %s", err.msg);
    double recall = eval_fact_recall(m, &q, o->max_questions);
    *asked = o->max_questions > 0 && o->max_questions < q.count ? o->max_questions : q.count;
    printf("fact recall: %.1f%% of %d questions\n", 100 * recall, *asked);
    questions_free(&q);
    return recall;
}

// What the run measured, for --summary.
typedef struct {
    double train_bits, val_bits, recall, tokens_per_s, seconds;
    int questions, first_step, steps_done;
    UmMemReport mem;
} RunResults;

static void write_summary(const char *path, const UmOptions *o, const UmModel *m, const UmTrainConfig *t,
                          const UmData *d, const RunResults *r) {
    UmSummary s;
    summary_open(&s, path);
    summary_model(&s, m);
    summary_text(&s, "size", o->size);
    summary_text(&s, "data", o->data);
    summary_int(&s, "steps", t->steps);
    summary_int(&s, "steps_done", r->steps_done);  // fewer when the visualiser was closed early
    summary_int(&s, "batch", t->batch);
    summary_int(&s, "context", m->cfg.block_size);
    summary_int(&s, "seed", (long long)t->seed);
    summary_int(&s, "threads", cli_threads());
    summary_real(&s, "train_bits_per_byte", r->train_bits);
    summary_real(&s, "val_bits_per_byte", r->val_bits);
    summary_real(&s, "unigram_entropy_bits", data_unigram_entropy_bits(d->bytes, d->n));
    summary_real(&s, "fact_recall", r->recall);
    summary_int(&s, "questions", r->questions);
    summary_memory(&s, &r->mem);
    // Speed of this process only: a resumed run reports its last stretch.
    summary_int(&s, "steps_this_process", r->steps_done - r->first_step);
    summary_real(&s, "tokens_per_s", r->tokens_per_s);
    summary_real(&s, "train_seconds", r->seconds);
    summary_close(&s);
}

// The training run, as the visualiser calls it (on a worker thread when a
// window is open): hook publishes snapshots, stop is set when the user quits.
typedef struct {
    UmModel *model;
    const UmData *data;
    const UmTrainConfig *tc;
    UmTrainState *state;
    const char *ckpt;
    UmError *err;
    UmHistory *history;      // every step's loss (and the file of --history)
    double tokens_per_s;     // as of the last step
    UmStepHook viz_hook;     // the visualiser's hook, called after ours (or NULL)
    void *viz_ctx;
} TrainJob;

// Runs after every step: record the losses, then let the visualiser draw.
static void record_step(void *ctx, UmModel *model, const UmStepInfo *info) {
    TrainJob *j = ctx;
    history_add_train(j->history, info->step, info->train_loss);
    if (info->evaluated) history_add_val(j->history, info->step, info->val_loss);
    j->tokens_per_s = info->tokens_per_s;
    if (j->viz_hook) j->viz_hook(j->viz_ctx, model, info);
}

static int train_job(void *ctx, UmStepHook hook, void *hook_ctx, volatile int *stop) {
    TrainJob *j = ctx;
    j->viz_hook = hook, j->viz_ctx = hook_ctx;
    UmTrainRun run = {.ckpt_path = j->ckpt, .log = stdout, .on_step = record_step, .hook_ctx = j, .stop = stop};
    return train_run(j->model, j->data, j->tc, j->state, &run, j->err);
}

int cmd_train(int argc, char **argv) {
    UmOptions o = {.arch = "dense", .size = "tiny", .data = DEFAULT_DATA, .max_questions = 1000};
    options_parse(&o, CMD_TRAIN, "train", SUMMARY, argc, argv, 2);
    cli_set_threads(&o);
    UmModelConfig mc;
    UmTrainConfig tc;
    build_configs(&o, &mc, &tc);
    UmError err;
    UmData data;
    if (data_load(&data, o.data, mc.block_size, &err)) um_die(UM_EXIT_RUNTIME, "--data: %s", err.msg);
    UmModel model;
    int max_batch = tc.batch > UM_DEFAULT_MAX_BATCH ? tc.batch : UM_DEFAULT_MAX_BATCH;
    if (model_init_batch(&model, &mc, tc.seed, max_batch, &err)) um_die(UM_EXIT_USAGE, "um train: %s", err.msg);
    if (option_given(&o, "moe-alpha") || option_given(&o, "moe-zloss")) {
        if (mc.arch != ARCH_MOE) um_die(UM_EXIT_USAGE, "um train: --moe-alpha/--moe-zloss need --arch moe");
        model_set_moe_aux(&model, option_given(&o, "moe-alpha") ? o.moe_alpha : 0.01,
                          option_given(&o, "moe-zloss") ? o.moe_zloss : 1e-3);
    }
    UmTrainState state;
    train_state_fresh(&state, tc.seed);
    if (o.resume) {
        if (checkpoint_load(o.ckpt, &model, &state, &err)) um_die(UM_EXIT_RUNTIME, "--resume: %s", err.msg);
        if ((uint64_t)tc.steps <= state.step)
            um_die(UM_EXIT_USAGE, "um train: --steps %d is not past the checkpoint's step %llu: nothing to train", tc.steps,
                   (unsigned long long)state.step);
        printf("resuming %s at step %llu\n", o.ckpt, (unsigned long long)state.step);
    }
    cli_require_val_batches(&data, tc.batch, mc.block_size);
    if (o.ckpt) cli_make_parent_dirs(o.ckpt);
    print_header(&o, &model, &tc, &data);
    char run_name[64];
    snprintf(run_name, sizeof run_name, "%s %s", arch_name(mc.arch), o.size);
    UmHistory history;
    history_open(&history, o.history, run_name, (int)state.step);
    RunResults res = {.first_step = (int)state.step};
    double t0 = um_now();
    TrainJob job = {&model, &data, &tc, &state, o.ckpt, &err, &history, 0, NULL, NULL};
    UmVizOptions viz = {.png_dir = o.png, .png_every = 100, .no_window = o.no_viz || o.png, .title = run_name,
                        .text_context_source = o.data};
    int rc = o.no_viz && !o.png ? train_job(&job, NULL, NULL, NULL) : viz_run_training(&viz, &model, train_job, &job);
    if (rc) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    double secs = um_now() - t0;
    double val = eval_val_loss_report(&model, &data, tc.batch, 0, &res.mem);
    printf("done in %.1fs: validation %.4f bits/byte on the whole held-out split (unigram entropy %.3f)\n", secs,
           val * NATS_TO_BITS, data_unigram_entropy_bits(data.bytes, data.n));
    res.recall = report_recall(&o, &model, &res.questions);
    if (o.ckpt) printf("checkpoint: %s\n", o.ckpt);
    if (o.summary) {
        // The train figure: mean batch loss over the last 5% of steps (one
        // batch is too noisy), which a resumed run has from --history.
        int window = tc.steps / 20 > 0 ? tc.steps / 20 : 1;
        res.train_bits = history_tail_mean(&history, (int)state.step, window) * NATS_TO_BITS;
        res.val_bits = val * NATS_TO_BITS;
        res.tokens_per_s = job.tokens_per_s, res.seconds = secs, res.steps_done = (int)state.step;
        write_summary(o.summary, &o, &model, &tc, &data, &res);
        printf("summary: %s\n", o.summary);
    }
    history_close(&history);
    model_free(&model);
    data_free(&data);
    return 0;
}
