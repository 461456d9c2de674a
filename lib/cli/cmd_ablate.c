// cmd_ablate.c: `um ablate`, the UltraMem paper's Table 2 at toy scale.
//
// The ladder starts from a PKM-like memory (one layer in the middle block,
// softmax over the m scores, full-width values, one query per head) and turns
// UltraMem's tricks on one at a time, cumulatively, in the paper's order:
//
//   0 PKM                  1 remove softmax        2 half vdim + proj
//   3 share query          4 split + skip          5 query/key norm
//   6 IVE                  7 TDQKR                 8 MCS
//   9 improved init       10 value-LR decay   (rung 10 = the ultramem preset)
//
// Every rung is an edit of the ultramem preset's UmModelConfig and trains with
// the same data, steps, batches and seed. Like the paper, the ladder keeps the
// memory's size roughly constant while the layout changes:
//   - one memory layer (rungs 0-3) holds as many value parameters as the two
//     split layers together (n keys per side, Dv = D), and reads 2m slots per
//     head, the two layers' m each;
//   - halving the value width doubles the slots (n -> n*sqrt(2), rounded);
//   - splitting into two layers halves each (back to n, with Dv = D/2).
// IVE adds virtual slots (E = 4 blocks over the same physical table) and a
// wider output projection, so its dense parameters and FLOPs grow, as in the
// paper's table.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/timer.h"
#include "cli/commands.h"
#include "model/evaluate.h"
#include "model/questions.h"
#include "model/train.h"

#define N_RUNGS 11

static const char *RUNG_NAMES[N_RUNGS] = {
    "PKM",          "remove softmax",  "half vdim + proj", "share query", "split + skip", "query/key norm",
    "IVE",          "TDQKR",           "MCS",              "improved init", "value lr decay",
};

// The paper's Table 2 (V1, 151M activated, C4), validation-loss delta of
// each rung against the one before, for the table's last column.
static const double PAPER_VAL_DELTA[N_RUNGS] = {0,      -0.006, -0.022, +0.003, -0.015, +0.001,
                                                -0.017, -0.008, -0.003, -0.003, -0.022};

typedef struct {
    const char *size, *data, *questions;
    int steps, seed_given, threads, max_questions, eval_batches, from, to, leave_one_out, trace;
    long long seed;
} AblateOptions;

static void usage(FILE *out) {
    fprintf(out,
            "usage: um ablate [flags]\n\n"
            "Train the UltraMem ablation ladder (the paper's Table 2): PKM, then each trick turned on\n"
            "cumulatively, every rung with the same data, steps, batches and seed. Prints one table row per\n"
            "rung: train loss (mean of the last 10%% of steps), validation loss (nats/byte), fact recall,\n"
            "activated MFLOPs/token, total and activated parameters.\n\n"
            "  --size nano|tiny|small  model size preset (default nano)\n"
            "  --data FILE             training text (default out/data/encyclopedia.txt)\n"
            "  --questions FILE|none   held-out questions for recall (default out/data/encyclopedia_questions.tsv)\n"
            "  --steps N               steps per rung (default: the preset's)\n"
            "  --seed S                seed for every rung (default: the preset's)\n"
            "  --threads N             OpenMP threads\n"
            "  --max-questions N       questions scored (default 2000, 0 = all)\n"
            "  --eval-batches N        validation batches for the final loss (default 100, 0 = all)\n"
            "  --from I --to J         run only rungs I..J (default 0..10)\n"
            "  --trace N               print step, train loss and gradient norm every N steps (stderr)\n"
            "  --leave-one-out 1       instead of the ladder: the full UltraMem, then with each trick\n"
            "                          turned off alone (its marginal effect at the top of the ladder)\n\n"
            "Example: um ablate --size nano --steps 300\n");
}

static int int_arg(const char *flag, const char *v, int lo, int hi) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == 0 || *end || x < lo || x > hi)
        um_die(UM_EXIT_USAGE, "um ablate: %s '%s' is not an integer in %d..%d", flag, v, lo, hi);
    return (int)x;
}

static void parse(AblateOptions *o, int argc, char **argv) {
    *o = (AblateOptions){.size = "nano", .data = "out/data/encyclopedia.txt",
                         .questions = "out/data/encyclopedia_questions.tsv", .max_questions = 2000,
                         .eval_batches = 100, .from = 0, .to = N_RUNGS - 1};
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) usage(stdout), exit(0);
        if (i + 1 >= argc) um_die(UM_EXIT_USAGE, "um ablate: %s needs a value (see um ablate --help)", f);
        const char *v = argv[++i];
        if (!strcmp(f, "--size")) o->size = v;
        else if (!strcmp(f, "--data")) o->data = v;
        else if (!strcmp(f, "--questions")) o->questions = strcmp(v, "none") ? v : NULL;
        else if (!strcmp(f, "--steps")) o->steps = int_arg(f, v, 1, 100000000);
        else if (!strcmp(f, "--seed")) o->seed = int_arg(f, v, 0, 0x7fffffff), o->seed_given = 1;
        else if (!strcmp(f, "--threads")) o->threads = int_arg(f, v, 1, 1024);
        else if (!strcmp(f, "--max-questions")) o->max_questions = int_arg(f, v, 0, 100000000);
        else if (!strcmp(f, "--eval-batches")) o->eval_batches = int_arg(f, v, 0, 100000000);
        else if (!strcmp(f, "--from")) o->from = int_arg(f, v, 0, N_RUNGS - 1);
        else if (!strcmp(f, "--to")) o->to = int_arg(f, v, 0, N_RUNGS - 1);
        else if (!strcmp(f, "--leave-one-out")) o->leave_one_out = int_arg(f, v, 0, 1);
        else if (!strcmp(f, "--trace")) o->trace = int_arg(f, v, 0, 100000000);
        else um_die(UM_EXIT_USAGE, "um ablate: unknown flag '%s' (see um ablate --help)", f);
    }
    if (o->from > o->to) um_die(UM_EXIT_USAGE, "um ablate: --from %d is after --to %d", o->from, o->to);
}

// ------------------------------------------------------------------ the rungs

// Rung k's model: the ultramem preset with tricks k+1.. turned off.
static void rung_config(UmModelConfig *m, const UmModelConfig *preset, int k) {
    *m = *preset;
    int L = m->n_layers, n = preset->um_keys, topm = preset->um_topm;
    if (k < 1) m->um_softmax = 1;
    if (k < 2) m->um_value_proj = 0, m->um_value_dim = m->dim;
    if (k < 3) m->um_share_query = 0;
    if (k < 4) {  // one memory in the middle block, as big as the two split ones together
        m->um_layers = 1;
        m->um_read[0] = m->um_write[0] = L / 2;
        m->um_read[1] = m->um_write[1] = 0;
        m->um_topm = 2 * topm;
        // the same value parameters: n^2 rows of D, or 2 n^2 rows of D/2
        m->um_keys = k < 2 ? n : (int)lround(n * sqrt(2.0));
        if (m->um_topm > m->um_keys) m->um_topm = m->um_keys;
    }
    if (k < 5) m->um_qk_norm = 0;
    if (k < 6) m->um_ive = 1;
    if (k < 7) m->um_tdqkr = 0;
    if (k < 8) m->um_cores = 1;
    if (k < 9) m->um_improved_init = 0;
    if (k < 10) m->um_value_lr_decay = 0;
}

// Leave-one-out: the full UltraMem (variant 0), then each trick off alone.
// TDQKR goes with MCS (MCS needs it); "split + skip" goes back to one layer
// of the same total size (the rung-3 layout, everything else on).
#define N_LOO 10
static const char *LOO_NAMES[N_LOO] = {
    "UltraMem (all)", "- softmax", "- share query", "- split + skip", "- query/key norm",
    "- IVE",          "- TDQKR, MCS", "- MCS",      "- improved init", "- value lr decay",
};

static void loo_config(UmModelConfig *m, const UmModelConfig *preset, int k) {
    *m = *preset;
    UmModelConfig one;
    switch (k) {
    case 1: m->um_softmax = 1; break;
    case 2: m->um_share_query = 0; break;
    case 3:
        rung_config(&one, preset, 3);
        m->um_layers = 1;
        m->um_read[0] = one.um_read[0], m->um_write[0] = one.um_write[0];
        m->um_read[1] = m->um_write[1] = 0;
        m->um_keys = one.um_keys, m->um_topm = one.um_topm;
        break;
    case 4: m->um_qk_norm = 0; break;
    case 5: m->um_ive = 1; break;
    case 6: m->um_tdqkr = 0, m->um_cores = 1; break;
    case 7: m->um_cores = 1; break;
    case 8: m->um_improved_init = 0; break;
    case 9: m->um_value_lr_decay = 0; break;
    default: break;
    }
}

// ------------------------------------------------------------------ recall

// The question file stores "prompt<TAB>answer"; in the text the answer
// follows after one space, which eval_fact_recall does not put back (it lays
// prompt and answer out back to back). Without it every model scores 0%.
static void questions_with_space(UmQuestions *q) {
    for (int i = 0; i < q->count; i++) {
        size_t len = strlen(q->prompt[i]);
        if (len > 0 && q->prompt[i][len - 1] == ' ') continue;
        char *p = malloc(len + 2);
        if (!p) um_die(UM_EXIT_RUNTIME, "um ablate: out of memory");
        memcpy(p, q->prompt[i], len);
        p[len] = ' ', p[len + 1] = 0;
        free(q->prompt[i]);
        q->prompt[i] = p;
    }
}

// ------------------------------------------------------------------ one rung

typedef struct {
    double train_loss, val_loss, recall, flops, secs;
    size_t total, activated;
} RungResult;

// Mean training loss over the last tenth of the steps: the last batch alone
// is too noisy to compare rungs by a few thousandths.
// With --trace, also the loss curve, to tell a slow rung from a spiking one.
typedef struct {
    int from_step, trace;
    double sum;
    int count;
} TrainLossTail;

static void tail_hook(void *ctx, UmModel *model, const UmStepInfo *info) {
    (void)model;
    TrainLossTail *t = ctx;
    if (info->step > t->from_step) t->sum += info->train_loss, t->count++;
    if (t->trace && info->step % t->trace == 0)
        fprintf(stderr, "step %5d  train %.4f  grad_norm %.3f\n", info->step, info->train_loss, info->grad_norm);
}

static RungResult run_rung(const UmModelConfig *mc, const UmTrainConfig *tc, const UmData *data,
                           const UmQuestions *q, const AblateOptions *o) {
    RungResult r = {0};
    UmError err;
    UmModel model;
    if (model_init_batch(&model, mc, tc->seed, tc->batch > UM_DEFAULT_MAX_BATCH ? tc->batch : UM_DEFAULT_MAX_BATCH,
                         &err))
        um_die(UM_EXIT_USAGE, "um ablate: %s", err.msg);
    r.total = model_total_params(&model);
    r.activated = model_activated_params(&model);
    r.flops = model_flops_per_token(&model);
    UmTrainState state;
    train_state_fresh(&state, tc->seed);
    TrainLossTail tail = {.from_step = tc->steps - (tc->steps / 10 > 0 ? tc->steps / 10 : 1), .trace = o->trace};
    UmTrainRun run = {.log = NULL, .on_step = tail_hook, .hook_ctx = &tail};
    double t0 = um_now();
    if (train_run(&model, data, tc, &state, &run, &err)) um_die(UM_EXIT_RUNTIME, "um ablate: %s", err.msg);
    r.secs = um_now() - t0;
    r.train_loss = tail.count ? tail.sum / tail.count : 0;
    r.val_loss = eval_val_loss(&model, data, tc->batch, o->eval_batches);
    r.recall = q ? eval_fact_recall(&model, q, o->max_questions) : 0;
    model_free(&model);
    return r;
}

static void print_row(int k, const char *name, const RungResult *r, const RungResult *prev, const UmModelConfig *mc,
                      double paper) {
    char dtrain[16] = "", dval[16] = "";
    if (prev) {
        snprintf(dtrain, sizeof dtrain, "(%+.3f)", r->train_loss - prev->train_loss);
        snprintf(dval, sizeof dval, "(%+.3f)", r->val_loss - prev->val_loss);
    }
    char paper_delta[16] = "n/a";
    if (!isnan(paper)) snprintf(paper_delta, sizeof paper_delta, "%+.3f", paper);
    printf("| %2d | %-16s | %.3f %-8s | %.3f %-8s | %5.1f%% | %7.3f | %7.3f | %7.3f | %2d %4d %3d %3d | %6s | %5.0fs |\n",
           k, name, r->train_loss, dtrain, r->val_loss, dval, 100 * r->recall, r->flops / 1e6,
           r->total / 1e6, r->activated / 1e6, mc->um_layers, mc->um_keys, mc->um_topm,
           mc->um_value_proj ? mc->um_value_dim : mc->dim, paper_delta, r->secs);
    fflush(stdout);
}

int cmd_ablate(int argc, char **argv) {
    AblateOptions o;
    parse(&o, argc, argv);
    UmOptions threads = {.threads = o.threads};
    cli_set_threads(&threads);
    UmModelConfig preset;
    UmTrainConfig tc;
    UmError err;
    if (config_preset(&preset, &tc, o.size, ARCH_ULTRAMEM, &err)) um_die(UM_EXIT_USAGE, "um ablate: %s", err.msg);
    if (o.steps) tc.steps = o.steps;
    if (o.seed_given) tc.seed = (uint64_t)o.seed;
    if (tc.warmup >= tc.steps) tc.warmup = tc.steps / 10;
    tc.eval_every = 0;  // validate once, at the end (the table's number)
    UmData data;
    if (data_load(&data, o.data, preset.block_size, &err)) um_die(UM_EXIT_RUNTIME, "--data: %s", err.msg);
    UmQuestions q, *qp = NULL;
    if (o.questions) {
        if (questions_load(&q, o.questions, &err)) um_die(UM_EXIT_RUNTIME, "--questions: %s", err.msg);
        questions_with_space(&q);
        qp = &q;
    }
    printf("um ablate: size %s, %d steps x %d x %d tokens, lr %.2g, seed %llu, %d threads, data %s\n", o.size,
           tc.steps, tc.batch, preset.block_size, tc.lr, (unsigned long long)tc.seed, cli_threads(), o.data);
    printf("train = mean loss of the last 10%% of steps, val = %s held-out loss, both in nats/byte; recall on %d "
           "questions\n\n",
           o.eval_batches ? "first batches of the" : "whole", qp ? (o.max_questions && o.max_questions < q.count ? o.max_questions : q.count) : 0);
    printf("| rung | trick | train (delta) | val (delta) | recall | MFLOPs/tok | params M | activ. M | layers n m Dv | "
           "paper val delta | time |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    if (o.leave_one_out) {  // deltas against the full model, not the row before
        RungResult full;
        for (int k = 0; k < N_LOO; k++) {
            UmModelConfig mc;
            loo_config(&mc, &preset, k);
            if (config_validate(&mc, &err)) um_die(UM_EXIT_RUNTIME, "um ablate: variant %d: %s", k, err.msg);
            RungResult r = run_rung(&mc, &tc, &data, qp, &o);
            if (k == 0) full = r;
            print_row(k, LOO_NAMES[k], &r, k ? &full : NULL, &mc, NAN);
        }
        if (qp) questions_free(qp);
        data_free(&data);
        return 0;
    }
    RungResult prev;
    int have_prev = 0;
    for (int k = o.from; k <= o.to; k++) {
        UmModelConfig mc;
        rung_config(&mc, &preset, k);
        if (config_validate(&mc, &err)) um_die(UM_EXIT_RUNTIME, "um ablate: rung %d: %s", k, err.msg);
        char diff[128];
        if (k == N_RUNGS - 1 && config_diff(&mc, &preset, diff, sizeof diff))  // the top rung IS UltraMem
            um_die(UM_EXIT_RUNTIME, "um ablate: the last rung differs from the ultramem preset (%s)", diff);
        RungResult r = run_rung(&mc, &tc, &data, qp, &o);
        print_row(k, RUNG_NAMES[k], &r, have_prev ? &prev : NULL, &mc, PAPER_VAL_DELTA[k]);
        prev = r, have_prev = 1;
    }
    if (qp) questions_free(qp);
    data_free(&data);
    return 0;
}
