// Chapter 03: a Product Key Memory against the dense model it is added to.
//
// Trains two models with the same data, steps, batches and seed:
//   dense  the tiny preset (4 layers, D=128, 4 heads, T=128, GELU MLP 512)
//   pkm    the same, plus one PKM beside the MLP of block 2: 128 x 128 =
//          16,384 value slots, 2 heads, Dk=64, top-16 (config.c:pkm_shape)
// The PKM model holds 3.5x the parameters but activates only 4% more FLOPs
// per token, so the comparison is at matched activated compute. Then it
// prints one table: parameters, FLOPs, validation bits/byte, fact recall on
// the encyclopedia's held-out questions (split into answers that must be
// memorised and answers a model can guess from the question's type), memory
// usage and KL to uniform, and training tokens/s.
//
// Run: make ch03          (the demo: both archs, DEMO_STEPS steps, encyclopedia)
// The same binary takes flags for the experiments of the README:
//   bin/ch03 --steps 1500 --arch pkm --value-lr-mult 10 --topk 32
// bin/ch03 --help lists them.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/timer.h"
#include "model/config.h"
#include "model/data.h"
#include "model/evaluate.h"
#include "model/questions.h"
#include "model/train.h"
#include "model/transformer.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define DEMO_STEPS 500

// ------------------------------------------------------------------ options

typedef struct {
    const char *data, *questions, *archs;
    int steps, stop_at, trace_every, eval_batches, max_questions, threads;
    int keys, heads, topk;  // PKM shape overrides (0: the preset's)
    double lr, value_lr_mult;  // 0: the preset's / the layer's default
    unsigned long long seed;
} Options;

static void usage(void) {
    printf("usage: bin/ch03 [flags]   (no flags: the chapter's demo)\n"
           "  --arch dense|pkm|both   which models to train (default both)\n"
           "  --steps N               optimizer steps (default %d; the tiny preset's full run is 2000)\n"
           "  --data FILE             training text (default out/data/encyclopedia.txt)\n"
           "  --questions FILE|none   held-out questions for recall (default out/data/encyclopedia_questions.tsv)\n"
           "  --max-questions N       questions scored (default 2000, 0 = all)\n"
           "  --lr X                  peak learning rate (default: the tiny preset's 2e-3)\n"
           "  --value-lr-mult X       lr multiplier of the PKM value table (default: the layer's, 4)\n"
           "  --keys N --heads H --topk K   PKM shape (default: the tiny preset's 128, 2, 16)\n"
           "  --trace-every N         validation + memory health every N steps (default steps/6)\n"
           "  --stop-at N             stop after N steps (same schedule as --steps; to watch the start)\n"
           "  --eval-batches N        validation batches of the final table (default 40, 0 = all)\n"
           "  --seed N                (default 1337)   --threads N (default: all cores)\n",
           DEMO_STEPS);
}

static void parse_options(Options *o, int argc, char **argv) {
    *o = (Options){.data = "out/data/encyclopedia.txt", .questions = "out/data/encyclopedia_questions.tsv",
                   .archs = "both", .steps = DEMO_STEPS, .eval_batches = 40, .max_questions = 2000, .seed = 1337};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--help") == 0) usage(), exit(0);
        if (i + 1 >= argc) um_die(UM_EXIT_USAGE, "ch03: %s needs a value (try --help)", f);
        const char *v = argv[++i];
        if (strcmp(f, "--arch") == 0) o->archs = v;
        else if (strcmp(f, "--data") == 0) o->data = v;
        else if (strcmp(f, "--questions") == 0) o->questions = strcmp(v, "none") == 0 ? NULL : v;
        else if (strcmp(f, "--steps") == 0) o->steps = atoi(v);
        else if (strcmp(f, "--trace-every") == 0) o->trace_every = atoi(v);
        else if (strcmp(f, "--stop-at") == 0) o->stop_at = atoi(v);
        else if (strcmp(f, "--eval-batches") == 0) o->eval_batches = atoi(v);
        else if (strcmp(f, "--max-questions") == 0) o->max_questions = atoi(v);
        else if (strcmp(f, "--threads") == 0) o->threads = atoi(v);
        else if (strcmp(f, "--keys") == 0) o->keys = atoi(v);
        else if (strcmp(f, "--heads") == 0) o->heads = atoi(v);
        else if (strcmp(f, "--topk") == 0) o->topk = atoi(v);
        else if (strcmp(f, "--lr") == 0) o->lr = atof(v);
        else if (strcmp(f, "--value-lr-mult") == 0) o->value_lr_mult = atof(v);
        else if (strcmp(f, "--seed") == 0) o->seed = strtoull(v, NULL, 10);
        else um_die(UM_EXIT_USAGE, "ch03: unknown flag %s (try --help)", f);
    }
    if (o->steps < 2) um_die(UM_EXIT_USAGE, "ch03: --steps must be >= 2");
    if (strcmp(o->archs, "dense") && strcmp(o->archs, "pkm") && strcmp(o->archs, "both"))
        um_die(UM_EXIT_USAGE, "ch03: --arch must be dense, pkm or both");
    if (o->trace_every <= 0) o->trace_every = o->steps / 6 > 0 ? o->steps / 6 : 1;
}

// ------------------------------------------------------------------ questions by kind

// Some answers come from short fixed lists (professions, instruments,
// colours, products): a model can guess them from the question's type
// without knowing the entity. Others (names, years, populations) are nearly
// unique and have to be memorised. We split the held-out questions by how
// often their answer occurs in the whole file: COMMON_ANSWER times or more
// is "guessable", fewer is "memorised". Recall on the second group is the
// number that measures storage.
#define COMMON_ANSWER 20

typedef struct {
    UmQuestions all, rare, common;  // rare/common own their prompts, borrow all's answers
} QuestionSets;

static const UmQuestions *g_sort_q;  // qsort has no context argument
static int by_answer(const void *a, const void *b) {
    return strcmp(g_sort_q->answer[*(const int *)a], g_sort_q->answer[*(const int *)b]);
}

// In the text an answer follows its prompt after one space ("... was born
// is Kesnoum"), but the file stores "prompt<TAB>answer" without it, and
// eval_fact_recall lays prompt and answer out back to back. Without the space
// the model is asked to predict "K" right after "is", where it has only ever
// seen " ", and every model scores 0%. So the subsets carry their own copy of
// each prompt with the space put back.
static char *with_space(const char *prompt) {
    size_t len = strlen(prompt);
    char *p = malloc(len + 2);
    if (!p) um_die(UM_EXIT_RUNTIME, "ch03: out of memory");
    memcpy(p, prompt, len);
    p[len] = ' ', p[len + 1] = 0;
    if (len > 0 && prompt[len - 1] == ' ') p[len] = 0;  // already there
    return p;
}

static void subset_free(UmQuestions *s) {
    for (int i = 0; i < s->count; i++) free(s->prompt[i]);
    free(s->prompt), free(s->answer);
}

static void subset_alloc(UmQuestions *s, int cap) {
    s->count = 0;
    s->prompt = malloc((size_t)cap * sizeof(char *));
    s->answer = malloc((size_t)cap * sizeof(char *));
    if (!s->prompt || !s->answer) um_die(UM_EXIT_RUNTIME, "ch03: out of memory");
}

// Keep the first `limit` questions of the file (it is shuffled), split by
// the frequency of their answer over the whole file.
static void questions_split(QuestionSets *qs, int limit) {
    UmQuestions *q = &qs->all;
    int n = q->count, *order = malloc((size_t)n * sizeof(int)), *freq = malloc((size_t)n * sizeof(int));
    if (!order || !freq) um_die(UM_EXIT_RUNTIME, "ch03: out of memory");
    for (int i = 0; i < n; i++) order[i] = i;
    g_sort_q = q;
    qsort(order, n, sizeof(int), by_answer);
    for (int i = 0; i < n;) {  // runs of equal answers
        int j = i;
        while (j < n && strcmp(q->answer[order[j]], q->answer[order[i]]) == 0) j++;
        for (int r = i; r < j; r++) freq[order[r]] = j - i;
        i = j;
    }
    int keep = limit > 0 && limit < n ? limit : n;
    subset_alloc(&qs->rare, keep), subset_alloc(&qs->common, keep);
    for (int i = 0; i < keep; i++) {
        UmQuestions *s = freq[i] >= COMMON_ANSWER ? &qs->common : &qs->rare;
        s->prompt[s->count] = with_space(q->prompt[i]), s->answer[s->count] = q->answer[i], s->count++;
    }
    free(order), free(freq);
}

// ------------------------------------------------------------------ one run

typedef struct {
    const char *arch;
    size_t total, activated;
    double flops, val_bpb, recall, recall_rare, recall_common;
    double usage, kl, top1, tok_s;
    int has_memory, n_rare, n_common;
} RunResult;

// How alike are the queries of different tokens? For each head and half,
// the share of the queries' energy that lies in their mean over tokens:
//   shared = |mean_t q_t|^2 / mean_t |q_t|^2      (0: no common direction,
//                                                 1: every token asks the same)
// A shared component adds the same amount to every token's score of a key,
// so when it dominates, every token picks the same few rows and columns.
// LayerNorm (per token) cannot remove it; BatchNorm (per feature, over
// tokens) would. Averaged over heads and halves; qn (N, H*Dk) is the
// normalised query of the layer's last forward.
static UmPkm *model_pkm(UmModel *m) { return m->slots[m->cfg.mem_block].pkm; }

static double query_shared_share(const UmPkm *l) {
    int N = l->N, H = l->cfg.H, Dk = l->cfg.Dk, half = l->half;
    double share = 0;
    for (int h = 0; h < H; h++)
        for (int side = 0; side < 2; side++) {
            double mean_sq = 0, energy = 0;
            for (int c = 0; c < half; c++) {
                double mean = 0;
                for (int t = 0; t < N; t++) {
                    double v = l->qn[((size_t)t * H + h) * Dk + side * half + c];
                    mean += v, energy += v * v;
                }
                mean /= N;
                mean_sq += mean * mean;
            }
            share += mean_sq / (energy / N);
        }
    return share / (2 * H);
}

// Step timing: the hook is called once per step, right after the optimizer
// update. The last step also runs the loop's final validation, so it is
// left out of the tokens/s figure. After a step with a validation, the PKM's
// cache holds the last validation batch: print how alike its queries are.
typedef struct {
    double last, busy;
    int steps, stop_at;
    volatile int stop;
} StepClock;

static void clock_step(void *ctx, UmModel *m, const UmStepInfo *info) {
    StepClock *c = ctx;
    double t0 = um_now();
    if (info->evaluated && m->cfg.arch == ARCH_PKM)
        printf("step %d: queries: %.1f%% of their energy is shared by all tokens\n", info->step,
               100 * query_shared_share(model_pkm(m)));
    double now = um_now();
    if (info->step < info->total_steps && c->last > 0) c->busy += t0 - c->last, c->steps++;
    c->last = now;
    if (c->stop_at > 0 && info->step >= c->stop_at) c->stop = 1;
}

// Before any training: how does the freshly initialised memory spread its reads?
static void report_init(UmModel *m, const UmData *data, int B) {
    UmMemReport rep;
    char health[256];
    double val = eval_val_loss_report(m, data, B, 8, &rep);
    mem_report_format(&rep, health, sizeof health);
    printf("step 0: val %.4f nats | %s\n", val, health);
    printf("step 0: queries: %.1f%% of their energy is shared by all tokens\n", 100 * query_shared_share(model_pkm(m)));
}

static void build_config(const Options *o, int arch, UmModelConfig *mc, UmTrainConfig *tc) {
    UmError err;
    if (config_preset(mc, tc, "tiny", arch, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    tc->steps = o->steps;
    tc->warmup = o->steps / 20 + 1;
    tc->eval_every = o->trace_every;
    tc->eval_batches = 8;  // the trace only; the table uses o->eval_batches
    tc->seed = o->seed;
    if (o->lr > 0) tc->lr = o->lr, tc->min_lr = o->lr / 10;
    if (arch == ARCH_PKM) {
        if (o->keys) mc->pkm_keys = o->keys;
        if (o->heads) mc->pkm_heads = o->heads;
        if (o->topk) mc->pkm_topk = o->topk;
    }
    if (config_validate(mc, &err)) um_die(UM_EXIT_USAGE, "ch03: %s", err.msg);
}

// The value table's optimizer group is created by the layer with its default
// multiplier (pkm.c:um_pkm_config_default); an experiment can change it
// afterwards, before the first step.
static void set_value_lr_mult(UmModel *m, double mult) {
    for (int g = 0; g < m->params.n_groups; g++)
        if (strcmp(m->params.groups[g].name, "memory_values") == 0) m->params.groups[g].lr_mult = (real)mult;
}

static double value_lr_mult(const UmModel *m) {
    for (int g = 0; g < m->params.n_groups; g++)
        if (strcmp(m->params.groups[g].name, "memory_values") == 0) return m->params.groups[g].lr_mult;
    return 0;
}

static RunResult train_and_measure(const Options *o, int arch, const UmData *data, const QuestionSets *qs) {
    UmModelConfig mc;
    UmTrainConfig tc;
    build_config(o, arch, &mc, &tc);
    UmModel model;
    UmError err;
    if (model_init_batch(&model, &mc, tc.seed, tc.batch, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    if (arch == ARCH_PKM && o->value_lr_mult > 0) set_value_lr_mult(&model, o->value_lr_mult);

    RunResult r = {.arch = arch_name(arch)};
    r.total = model_total_params(&model);
    r.activated = model_activated_params(&model);
    r.flops = model_flops_per_token(&model);
    printf("\n== %s: %.3fM parameters, %.3fM activated, %.3f MFLOPs/token", r.arch, r.total / 1e6,
           r.activated / 1e6, r.flops / 1e6);
    if (arch == ARCH_PKM)
        printf("\n   PKM in block %d beside its MLP: %d x %d = %d slots, %d heads, Dk %d, top-%d, value lr x%.3g",
               mc.mem_block, mc.pkm_keys, mc.pkm_keys, mc.pkm_keys * mc.pkm_keys, mc.pkm_heads, mc.pkm_key_dim,
               mc.pkm_topk, value_lr_mult(&model));
    printf("\n   %d steps x B=%d x T=%d, lr %.2g, seed %llu\n", tc.steps, tc.batch, mc.block_size, tc.lr,
           (unsigned long long)tc.seed);
    fflush(stdout);

    UmTrainState state;
    train_state_fresh(&state, tc.seed);
    if (arch == ARCH_PKM) report_init(&model, data, tc.batch);
    StepClock clock = {.stop_at = o->stop_at};
    UmTrainRun run = {.log = stdout, .on_step = clock_step, .hook_ctx = &clock, .stop = &clock.stop};
    if (train_run(&model, data, &tc, &state, &run, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    r.tok_s = clock.busy > 0 ? (double)clock.steps * tc.batch * mc.block_size / clock.busy : 0;

    UmMemReport rep;
    r.val_bpb = eval_val_loss_report(&model, data, tc.batch, o->eval_batches, &rep) * NATS_TO_BITS;
    r.has_memory = rep.has_memory, r.usage = rep.usage_pct, r.kl = rep.kl_uniform, r.top1 = rep.top1_mean;
    if (qs) {
        r.n_rare = qs->rare.count, r.n_common = qs->common.count;
        r.recall_rare = qs->rare.count ? eval_fact_recall(&model, &qs->rare, 0) : 0;
        r.recall_common = qs->common.count ? eval_fact_recall(&model, &qs->common, 0) : 0;
        r.recall = (r.recall_rare * r.n_rare + r.recall_common * r.n_common) / (r.n_rare + r.n_common);
    }
    model_free(&model);
    return r;
}

// ------------------------------------------------------------------ the table

static void print_table(const RunResult *r, int n, const Options *o, const QuestionSets *qs) {
    if (o->eval_batches > 0)
        printf("\n%d steps on %s; validation on the first %d held-out batches\n", o->steps, o->data, o->eval_batches);
    else
        printf("\n%d steps on %s; validation on the whole held-out split\n", o->steps, o->data);
    if (qs)
        printf("fact recall on the first %d held-out questions: %d with a rare answer (memorise), %d with a common "
               "one (guessable)\n",
               qs->rare.count + qs->common.count, qs->rare.count, qs->common.count);
    printf("\n| arch  | params | activated | MFLOPs/tok | val bits/byte | recall | rare | common | usage  | KL    "
           "| tok/s |\n");
    printf("|-------|--------|-----------|------------|---------------|--------|------|--------|--------|-------"
           "|-------|\n");
    for (int i = 0; i < n; i++) {
        char usage[16] = "-", kl[16] = "-";
        if (r[i].has_memory) snprintf(usage, sizeof usage, "%.1f%%", r[i].usage), snprintf(kl, sizeof kl, "%.3f", r[i].kl);
        printf("| %-5s | %5.2fM | %8.3fM | %10.3f | %13.4f | %5.1f%% | %3.1f%% | %5.1f%% | %6s | %5s | %5.0f |\n",
               r[i].arch, r[i].total / 1e6, r[i].activated / 1e6, r[i].flops / 1e6, r[i].val_bpb, 100 * r[i].recall,
               100 * r[i].recall_rare, 100 * r[i].recall_common, usage, kl, r[i].tok_s);
    }
    if (n == 2) {
        printf("\npkm - dense: %+.4f bits/byte, %+.1f points of recall (%+.1f rare, %+.1f common)\n",
               r[1].val_bpb - r[0].val_bpb, 100 * (r[1].recall - r[0].recall),
               100 * (r[1].recall_rare - r[0].recall_rare), 100 * (r[1].recall_common - r[0].recall_common));
    }
}

int main(int argc, char **argv) {
    Options o;
    parse_options(&o, argc, argv);
#ifdef _OPENMP
    if (o.threads > 0) omp_set_num_threads(o.threads);
#endif
    UmError err;
    UmModelConfig mc;
    UmTrainConfig tc;
    if (config_preset(&mc, &tc, "tiny", ARCH_DENSE, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    UmData data;
    if (data_load(&data, o.data, mc.block_size, &err))
        um_die(UM_EXIT_RUNTIME, "%s (hint: run `make` from the repository root)", err.msg);
    QuestionSets qs, *qsp = NULL;
    if (o.questions) {
        if (questions_load(&qs.all, o.questions, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
        questions_split(&qs, o.max_questions);
        qsp = &qs;
    }
    RunResult results[2];
    int n = 0;
    if (strcmp(o.archs, "pkm") != 0) results[n++] = train_and_measure(&o, ARCH_DENSE, &data, qsp);
    if (strcmp(o.archs, "dense") != 0) results[n++] = train_and_measure(&o, ARCH_PKM, &data, qsp);
    print_table(results, n, &o, qsp);
    if (qsp) {
        subset_free(&qs.rare), subset_free(&qs.common);
        questions_free(&qs.all);
    }
    data_free(&data);
    return 0;
}
