// Chapter 04: Mixture of Experts, measured.
//
// Three models on the same data, seed, batches and number of steps:
//   dense     a GELU MLP of width F = 4D in every block
//   moe       top-2 of 8 experts of width F/2 in every block (balance alpha 0.01, z-loss 1e-3):
//             the two experts a token uses cost what the dense MLP costs,
//             the model holds 4x the MLP parameters
//   moe a=0   the same MoE with the balance loss switched off (z-loss kept)
// For each: validation bits/byte, fact recall, and for the MoE models the
// share of token-slots each expert received on validation, layer by layer.
// Then the "experts touched by a batch of b tokens" curve, from the uniform
// formula X(1 - (1 - k/X)^b) and measured from the routers' actual choices:
// why decoding with a small batch reads almost every expert's weights.
//
// Run: make ch04                       (the demo shape below, encyclopedia)
//      bin/ch04 --data out/data/fortunes.txt --steps 600 --size tiny
//      bin/ch04 --help
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/rng.h"
#include "base/timer.h"
#include "model/config.h"
#include "model/data.h"
#include "model/evaluate.h"
#include "model/questions.h"
#include "model/train.h"
#include "model/transformer.h"
#include "probe/moe_probe.h"

#define DEFAULT_DATA "out/data/encyclopedia.txt"
#define DEFAULT_QUESTIONS "out/data/encyclopedia_questions.tsv"
#define EVAL_BATCHES 40    // validation batches of B x T for loss and loads
#define MAX_QUESTIONS 400  // fact-recall questions asked
#define CURVE_SEQS 64      // validation sequences routed for the touched-experts curve
#define CURVE_TRIALS 400   // random draws of b tokens per point
#define MAX_LAYERS 16

// ------------------------------------------------------------------ options

typedef struct {
    const char *data, *questions, *size, *only;
    int steps;
} Options;

static void usage(int status) {
    printf("usage: bin/ch04 [--data FILE] [--questions FILE.tsv|none] [--steps N] [--size demo|tiny]\n"
           "                [--only dense|moe|moe0]\n"
           "  trains dense, MoE (alpha 0.01) and MoE (alpha 0) on FILE with the same seed and batches.\n"
           "  demo (default): 4 layers, D=64, T=64, 300 steps; tiny: the tiny preset's shape (D=128, T=128).\n"
           "  --only trains one of the three (to run them as parallel processes).\n");
    exit(status);
}

static Options parse_options(int argc, char **argv) {
    Options o = {.data = DEFAULT_DATA, .questions = DEFAULT_QUESTIONS, .size = "demo", .steps = 300};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) usage(0);
        if (!v) um_die(UM_EXIT_USAGE, "ch04: %s needs a value (try --help)", a);
        if (strcmp(a, "--data") == 0) o.data = v;
        else if (strcmp(a, "--questions") == 0) o.questions = v;
        else if (strcmp(a, "--size") == 0) o.size = v;
        else if (strcmp(a, "--steps") == 0) o.steps = atoi(v);
        else if (strcmp(a, "--only") == 0) o.only = v;
        else um_die(UM_EXIT_USAGE, "ch04: unknown option %s (try --help)", a);
        i++;
    }
    if (o.steps < 1 || o.steps > 1000000) um_die(UM_EXIT_USAGE, "ch04: --steps must be in 1..1000000");
    if (strcmp(o.size, "demo") && strcmp(o.size, "tiny")) um_die(UM_EXIT_USAGE, "ch04: --size is demo or tiny");
    if (o.only && strcmp(o.only, "dense") && strcmp(o.only, "moe") && strcmp(o.only, "moe0"))
        um_die(UM_EXIT_USAGE, "ch04: --only is dense, moe or moe0");
    return o;
}

// ------------------------------------------------------------------ the models

// The tiny preset, optionally shrunk to the demo shape (a quarter of tiny's
// FLOPs per token at half its context) so three runs fit in a few minutes.
static void make_configs(UmModelConfig *mc, UmTrainConfig *tc, int arch, const Options *o) {
    UmError err;
    if (config_preset(mc, tc, "tiny", arch, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    if (strcmp(o->size, "demo") == 0) {
        mc->block_size = 64, mc->dim = 64, mc->n_heads = 4, mc->mlp_hidden = 256;
        tc->lr = 3e-3, tc->min_lr = 3e-4;
    }
    mc->moe_hidden = mc->mlp_hidden / 2;  // top-2 experts of F/2: one dense MLP's FLOPs
    tc->steps = o->steps;
    tc->warmup = o->steps / 20 + 1;
    tc->eval_every = o->steps / 5 > 0 ? o->steps / 5 : 1;
    tc->eval_batches = 10;
}

typedef struct {
    const char *name;
    int arch;
    double alpha, beta;  // MoE balance-loss and z-loss coefficients
} RunSpec;

// What one run measured.
typedef struct {
    size_t total_params, activated_params;
    double flops, secs, tok_per_s;
    double val_bpb, recall;
    UmMemReport report;
    int layers, X, k;
    double load[MAX_LAYERS][64];  // share of token-slots per expert, validation
    double lse[MAX_LAYERS];       // mean router logsumexp on the last batch
    double touched_rand[9], touched_seq[9];  // curve, averaged over layers
} RunResult;

// ------------------------------------------------------------------ loads

// Attach a probe to every MoE layer; each keeps the loads of the last
// `window` forward passes, i.e. of the whole validation pass below.
static void attach_probes(UmModel *m, UmMoeProbe *probes, int window) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        UmMoe *moe = m->slots[l].moe;
        if (!moe) continue;
        um_moe_probe_init(&probes[l], moe->X, moe->k, 1, window);
        um_moe_attach_probe(moe, &probes[l]);
    }
}

static void read_probes(UmModel *m, UmMoeProbe *probes, RunResult *r) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        UmMoe *moe = m->slots[l].moe;
        if (!moe) continue;
        um_moe_probe_window_fraction(&probes[l], r->load[l]);
        um_moe_attach_probe(moe, NULL);
        um_moe_probe_free(&probes[l]);
        r->lse[l] = moe->mean_lse;
    }
}

// ------------------------------------------------------------------ experts touched by b tokens

static const int CURVE_B[9] = {1, 2, 4, 8, 16, 32, 64, 128, 256};

// Distinct experts among the k choices of the given tokens. chosen (N, k).
static int distinct_experts(const int *chosen, const int *tokens, int b, int k) {
    unsigned long long seen = 0;  // X <= 64
    for (int i = 0; i < b; i++)
        for (int j = 0; j < k; j++) seen |= 1ull << chosen[tokens[i] * k + j];
    return __builtin_popcountll(seen);
}

// b tokens drawn at random from N (different sequences, mostly): what one
// decoding step of a batch of b independent requests reads.
static double touched_random(const int *chosen, int N, int k, int b, UmRng *rng) {
    int *perm = um_alloc((size_t)N * sizeof(int));
    for (int i = 0; i < N; i++) perm[i] = i;
    double sum = 0;
    for (int trial = 0; trial < CURVE_TRIALS; trial++) {
        for (int i = 0; i < b; i++) {  // partial Fisher-Yates: b distinct tokens
            int j = i + (int)rng_below(rng, (uint32_t)(N - i));
            int t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        sum += distinct_experts(chosen, perm, b, k);
    }
    um_free(perm);
    return sum / CURVE_TRIALS;
}

// b consecutive tokens of one sequence (what a prompt of b bytes reads).
// Windows that do not fit in T are skipped; returns -1 when b > T.
static double touched_consecutive(const int *chosen, int S, int T, int k, int b) {
    if (b > T) return -1;
    int tokens[256];
    double sum = 0;
    int count = 0;
    for (int s = 0; s < S; s++)
        for (int t0 = 0; t0 + b <= T; t0 += b) {
            for (int i = 0; i < b; i++) tokens[i] = s * T + t0 + i;
            sum += distinct_experts(chosen, tokens, b, k);
            count++;
        }
    return sum / count;
}

// Route CURVE_SEQS validation sequences and measure both curves per layer.
static void measure_touched(UmModel *m, const UmData *d, RunResult *r) {
    int T = m->cfg.block_size, N = CURVE_SEQS * T;
    int *inputs = um_alloc((size_t)N * sizeof(int)), *targets = um_alloc((size_t)N * sizeof(int));
    data_val_batch(d, 0, CURVE_SEQS, T, inputs, targets);
    model_forward(m, inputs, NULL, CURVE_SEQS, T);
    UmRng rng;
    rng_seed(&rng, 4);
    for (int i = 0; i < 9; i++) r->touched_rand[i] = r->touched_seq[i] = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const UmMoe *moe = m->slots[l].moe;
        for (int i = 0; i < 9; i++) {
            r->touched_rand[i] += touched_random(moe->chosen, N, moe->k, CURVE_B[i], &rng) / m->cfg.n_layers;
            double seq = touched_consecutive(moe->chosen, CURVE_SEQS, T, moe->k, CURVE_B[i]);
            r->touched_seq[i] = seq < 0 ? -1 : r->touched_seq[i] + seq / m->cfg.n_layers;
        }
    }
    um_free(inputs), um_free(targets);
}

// ------------------------------------------------------------------ one run

static double fact_recall(UmModel *m, const char *path) {
    if (strcmp(path, "none") == 0) return -1;
    UmQuestions q;
    UmError err;
    if (questions_load(&q, path, &err)) {
        fprintf(stderr, "note: no fact recall: %s\n", err.msg);
        return -1;
    }
    double recall = eval_fact_recall(m, &q, MAX_QUESTIONS);
    questions_free(&q);
    return recall;
}

static void train_one(const RunSpec *spec, const Options *o, const UmData *data, RunResult *r) {
    UmModelConfig mc;
    UmTrainConfig tc;
    UmError err;
    make_configs(&mc, &tc, spec->arch, o);
    UmModel model;
    if (model_init_batch(&model, &mc, tc.seed, CURVE_SEQS, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    model_set_moe_aux(&model, spec->alpha, spec->beta);  // no-op for dense
    memset(r, 0, sizeof *r);
    r->total_params = model_total_params(&model);
    r->activated_params = model_activated_params(&model);
    r->flops = model_flops_per_token(&model);
    r->layers = mc.n_layers, r->X = mc.moe_experts, r->k = mc.moe_topk;
    printf("\n=== %s: %.3fM parameters, %.3fM activated, %.3f MFLOPs/token forward ===\n", spec->name,
           r->total_params / 1e6, r->activated_params / 1e6, r->flops / 1e6);

    UmTrainState state;
    train_state_fresh(&state, tc.seed);  // same seed: the same batches for every model
    UmTrainRun run = {.log = stdout};
    double t0 = um_now();
    if (train_run(&model, data, &tc, &state, &run, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    r->secs = um_now() - t0;
    r->tok_per_s = (double)tc.steps * tc.batch * mc.block_size / r->secs;

    static UmMoeProbe probes[MAX_LAYERS];
    if (mc.arch == ARCH_MOE) attach_probes(&model, probes, EVAL_BATCHES);
    r->val_bpb = eval_val_loss_report(&model, data, tc.batch, EVAL_BATCHES, &r->report) * NATS_TO_BITS;
    if (mc.arch == ARCH_MOE) {
        read_probes(&model, probes, r);
        measure_touched(&model, data, r);
    }
    r->recall = fact_recall(&model, o->questions);
    model_free(&model);
}

// ------------------------------------------------------------------ printing

static void print_summary(const RunSpec *specs, const RunResult *res, int n) {
    printf("\n%-10s %9s %9s %8s %9s %9s %8s %13s %9s\n", "model", "params", "activated", "MFLOP/t", "tok/s",
           "val bpb", "recall", "busiest/even", "overflow");
    for (int i = 0; i < n; i++) {
        const RunResult *r = &res[i];
        printf("%-10s %8.3fM %8.3fM %8.3f %8.1fk %9.3f", specs[i].name, r->total_params / 1e6,
               r->activated_params / 1e6, r->flops / 1e6, r->tok_per_s / 1e3, r->val_bpb);
        if (r->recall >= 0) printf(" %7.1f%%", 100 * r->recall);
        else printf(" %8s", "-");
        if (r->report.has_moe) printf(" %13.2f %8.1f%%\n", r->report.moe_max_load_ratio, 100 * r->report.moe_overflow);
        else printf(" %13s %9s\n", "-", "-");
    }
}

// One line per layer: each expert's share of the token-slots, in percent.
static void print_loads(const RunSpec *spec, const RunResult *r) {
    printf("\n%s: share of token-slots per expert on validation (even = %.1f%%), router mean logsumexp\n",
           spec->name, 100.0 / r->X);
    for (int l = 0; l < r->layers; l++) {
        printf("  layer %d:", l);
        double top = 0;
        for (int e = 0; e < r->X; e++) {
            printf(" %5.1f", 100 * r->load[l][e]);
            top = fmax(top, r->load[l][e]);
        }
        printf("   max/even %.2f  lse %.2f\n", top * r->X, r->lse[l]);
    }
}

// specs/res: MoE runs only; the first one gives X, k and the bytes column.
static void print_touched(const RunSpec *specs, const RunResult *res, int n) {
    const RunResult *ref = &res[0];
    int X = ref->X, k = ref->k;
    printf("\nexperts touched by a batch of b tokens (of X=%d, k=%d; mean over layers)\n", X, k);
    printf("  uniform: X(1-(1-k/X)^b) | rand: b validation tokens drawn at random (one decoding step of b requests)\n"
           "  | prompt: b consecutive tokens of one sequence | MLP weights read vs dense = touched * F_e / F\n");
    printf("%5s %8s", "b", "uniform");
    for (int i = 0; i < n; i++) printf(" | %-7s rand  prompt", specs[i].name);
    printf(" | weights vs dense (%s rand)\n", specs[0].name);
    for (int i = 0; i < 9; i++) {
        printf("%5d %8.2f", CURVE_B[i], X * (1 - pow(1 - (double)k / X, CURVE_B[i])));
        for (int s = 0; s < n; s++) {
            printf(" | %12.2f", res[s].touched_rand[i]);
            if (res[s].touched_seq[i] >= 0) printf(" %7.2f", res[s].touched_seq[i]);
            else printf(" %7s", "-");
        }
        printf(" | %6.2fx\n", ref->touched_rand[i] / k);
    }
}

// ------------------------------------------------------------------ main

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);  // progress shows up in logs, not only at exit
    Options o = parse_options(argc, argv);
    UmModelConfig mc;
    UmTrainConfig tc;
    make_configs(&mc, &tc, ARCH_DENSE, &o);
    UmError err;
    UmData data;
    if (data_load(&data, o.data, mc.block_size, &err))
        um_die(UM_EXIT_RUNTIME, "%s (hint: run `make` from the repository root)", err.msg);
    printf("chapter 04: dense vs mixture of experts on %s (%zu train + %zu validation bytes)\n", o.data,
           data_train_bytes(&data), data_val_bytes(&data));
    printf("  shape %s: %d layers, D=%d, H=%d, T=%d, F=%d; MoE: top-2 of 8 experts of width F/2\n", o.size,
           mc.n_layers, mc.dim, mc.n_heads, mc.block_size, mc.mlp_hidden);
    printf("  %d steps x B=%d x T=%d, lr %.g, seed %llu (the same batches for every model)\n", tc.steps, tc.batch,
           mc.block_size, tc.lr, (unsigned long long)tc.seed);

    static const char *keys[3] = {"dense", "moe", "moe0"};
    const RunSpec specs[3] = {
        {"dense", ARCH_DENSE, 0, 0},
        {"moe", ARCH_MOE, 0.01, 1e-3},
        {"moe a=0", ARCH_MOE, 0.0, 1e-3},
    };
    static RunResult res[3];
    for (int i = 0; i < 3; i++) {
        if (o.only && strcmp(o.only, keys[i])) continue;
        train_one(&specs[i], &o, &data, &res[i]);
        print_summary(&specs[i], &res[i], 1);  // each run's numbers as soon as they exist
        if (res[i].report.has_moe) print_loads(&specs[i], &res[i]);
    }
    if (!o.only) {
        printf("\n==================== results (%s, %d steps, validation: %d batches of %dx%d) ====================\n",
               o.data, tc.steps, EVAL_BATCHES, tc.batch, mc.block_size);
        print_summary(specs, res, 3);
        for (int i = 1; i < 3; i++) print_loads(&specs[i], &res[i]);
        print_touched(specs + 1, res + 1, 2);
    } else if (strcmp(o.only, "dense")) {
        int i = strcmp(o.only, "moe") == 0 ? 1 : 2;
        print_touched(specs + i, res + i, 1);
    }
    data_free(&data);
    return 0;
}
