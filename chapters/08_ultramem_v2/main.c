// Chapter 08: UltraMemV2 (and PEER), measured.
//
//   1. The V2 init (appendix A, Eq. 26) worked through on the tiny preset:
//      the MLP branch's variance, the Monte-Carlo score moments, sigma_V,
//      then both branches' output variances measured at init.
//   2. The compute-share knob: Dk and the MLP width for MCP 12%..27.5%.
//   3. dense, MoE, UltraMem, UltraMemV2 and PEER trained on the same data,
//      seed and batches at matched activated FLOPs: bits/byte, fact recall,
//      tokens/s.
//
// Run: make ch08                     (demo shape, encyclopedia, 200 steps)
//      bin/ch08 --data out/data/fortunes.txt --questions none
//      bin/ch08 --only ultramem2 --steps 1000 --size tiny
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/rng.h"
#include "base/timer.h"
#include "kernels/matmul.h"
#include "memory/ultramem_v2.h"
#include "model/config.h"
#include "model/data.h"
#include "model/evaluate.h"
#include "model/questions.h"
#include "model/train.h"
#include "model/transformer.h"
#include "nn/mlp.h"

#define EVAL_BATCHES 20
#define MAX_QUESTIONS 400

typedef struct {
    const char *data, *questions, *size, *only;
    int steps;
} Options;

static void usage(int status) {
    printf("usage: bin/ch08 [--data FILE] [--questions FILE.tsv|none] [--steps N] [--size demo|tiny]\n"
           "                [--only dense|moe|ultramem|ultramem2|peer|none]\n"
           "  prints the V2 init worked through and the MCP table, then trains the five models\n"
           "  (same seed and batches). demo (default): D=64, T=64, 4 layers; tiny: the tiny presets.\n"
           "  --only none skips training.\n");
    exit(status);
}

static Options parse_options(int argc, char **argv) {
    Options o = {.data = "out/data/encyclopedia.txt", .questions = "out/data/encyclopedia_questions.tsv",
                 .size = "demo", .steps = 200};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) usage(0);
        if (!v) um_die(UM_EXIT_USAGE, "ch08: %s needs a value (try --help)", a);
        if (strcmp(a, "--data") == 0) o.data = v;
        else if (strcmp(a, "--questions") == 0) o.questions = v;
        else if (strcmp(a, "--size") == 0) o.size = v;
        else if (strcmp(a, "--steps") == 0) o.steps = atoi(v);
        else if (strcmp(a, "--only") == 0) o.only = v;
        else um_die(UM_EXIT_USAGE, "ch08: unknown option %s (try --help)", a);
        i++;
    }
    if (o.steps < 1 || o.steps > 1000000) um_die(UM_EXIT_USAGE, "ch08: --steps must be in 1..1000000");
    if (strcmp(o.size, "demo") && strcmp(o.size, "tiny")) um_die(UM_EXIT_USAGE, "ch08: --size is demo or tiny");
    return o;
}

// ------------------------------------------------------------------ shapes

static double dense_flops(const UmModelConfig *m, int F) {
    double D = m->dim, T = m->block_size;
    return 2 * D * m->vocab + m->n_layers * (2 * D * 3 * D + 4 * T * D + 2 * D * D + 4 * D * F);
}

// The ultramem2 preset's rule (config.c) for any shape: the memory layers
// spend mcp of the dense FLOPs, Dk is the largest that fits, the MLP gives
// the same FLOPs back.
static void v2_shape(UmModelConfig *m, int F_dense, int mcp) {
    UmUltraMemV2Config c = um_ultramem_v2_config_default();
    c.n = m->um2_keys, c.m = m->um2_topm, c.Dv = m->um2_value_dim, c.Dp = m->um2_pre_dim;
    c.cores = m->um2_cores, c.per_rank_query = m->um2_rank_query, c.share_g = m->um2_share;
    m->um2_mcp = mcp;
    m->um2_key_dim = um_ultramem_v2_dk_for_flops(&c, m->dim, dense_flops(m, F_dense) * mcp / 1000.0 / m->n_layers);
    c.Dk = m->um2_key_dim;
    m->mlp_hidden = F_dense - (int)lround(um_ultramem_v2_config_flops(&c, m->dim) / (4.0 * m->dim));
}

// tiny presets, or the demo shape (D=64, T=64: a quarter of tiny's compute)
// with every arch re-matched the way its preset matches it.
static void make_configs(UmModelConfig *mc, UmTrainConfig *tc, int arch, const Options *o) {
    UmError err;
    if (config_preset(mc, tc, "tiny", arch, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    if (strcmp(o->size, "demo") == 0) {
        int F = 256;
        mc->block_size = 64, mc->dim = 64, mc->n_heads = 4, mc->mlp_hidden = F;
        tc->lr = 3e-3, tc->min_lr = 3e-4;
        mc->moe_hidden = F / 2;
        if (arch == ARCH_ULTRAMEM) mc->um_keys = 78, mc->um_key_dim = 8, mc->um_value_dim = 32, mc->mlp_hidden = 208;
        if (arch == ARCH_ULTRAMEM2) {
            mc->um2_keys = 56, mc->um2_value_dim = 16, mc->um2_pre_dim = 16;
            v2_shape(mc, F, 170);
        }
        if (arch == ARCH_PEER) mc->peer_keys = 32, mc->peer_heads = 4, mc->peer_key_dim = 32, mc->peer_topk = 32;
    }
    tc->steps = o->steps;
    tc->warmup = o->steps / 20 + 1;
    tc->eval_every = o->steps / 4 > 0 ? o->steps / 4 : 1;
    tc->eval_batches = 5;
}

// ------------------------------------------------------------------ 1. the init

static double variance(const real *x, size_t n) {
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++) s += x[i], ss += (double)x[i] * x[i];
    return ss / n - (s / n) * (s / n);
}

static void show_init(void) {
    UmModelConfig mc;
    UmTrainConfig tc;
    UmError err;
    config_preset(&mc, &tc, "tiny", ARCH_ULTRAMEM2, &err);
    UmModel m;
    if (model_init_batch(&m, &mc, tc.seed, 4, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    UmUltraMemV2 *l = m.slots[0].um2;
    int D = mc.dim, F = mc.mlp_hidden, L = mc.n_layers, N = 4 * mc.block_size;
    double a_gain = 0.4, w_var = 2.0 / (5.0 * l->cfg.Dv);
    printf("1. the V2 init (appendix A) on the tiny preset: D=%d, L=%d, MLP F=%d, n=%d, m=%d, Dk=%d, Dv=%d, Dp=%d, h=%d\n",
           D, L, F, l->cfg.n, l->cfg.m, l->cfg.Dk, l->cfg.Dv, l->cfg.Dp, l->cfg.cores);
    printf("   MLP branch at init: W1 ~ N(0, 0.02^2), W2 ~ N(0, (0.02/sqrt(2L))^2): var = F std2^2 E[gelu(z)^2], z ~ N(0, %.4f)\n",
           D * 0.0004);
    printf("     = %.4g  (target)\n", (double)l->cfg.init_target_var);
    printf("   Monte-Carlo over 512 x ~ N(0, I): norms calibrated so mean selected score = %.3f; per-core E[s^2] = %.4f\n",
           l->init_score_mean, l->init_score_sq);
    printf("   A ~ N(0, 2/(5D)) -> a_gain %.2f; Wo ~ N(0, 2/(5Dv)) -> w_var %.4g\n", a_gain, w_var);
    printf("   Eq. 26: sigma_V = (target / (m E[s^2] Dp a_gain Dv w_var))^(1/4) = %.4f\n", l->init_value_std);
    printf("   paper's worked example (h=768, k_inner 3.25, m=32, E[s^2]=1.1, Dp=Dv=192, L=20): sigma_V = %.4f\n",
           um_ultramem_v2_value_std(0.064 * 3.25 / 40, 1.1, 32, 1, 192, 192, 0.4, 0.4 / 768));
    // measured: both branches on the same unit-variance input
    real *x = um_alloc((size_t)N * D * sizeof(real)), *y = um_alloc((size_t)N * D * sizeof(real));
    real *pre = um_alloc((size_t)N * F * sizeof(real)), *act = um_alloc((size_t)N * F * sizeof(real));
    UmRng rng;
    rng_seed(&rng, 7);
    for (size_t i = 0; i < (size_t)N * D; i++) x[i] = (real)rng_normal(&rng);
    UmBlockParams *b = &m.blocks[0];
    mlp_forward(y, pre, act, x, b->w1->data, b->b1->data, b->w2->data, b->b2->data, N, D, F);
    double v_mlp = variance(y, (size_t)N * D);
    um_ultramem_v2_forward(l, y, x, N);
    double v_mem = variance(y, (size_t)N * D);
    printf("   measured on %d tokens: MLP branch %.4g, memory branch %.4g, ratio %.3f (the check: within 20%%)\n\n", N,
           v_mlp, v_mem, v_mem / v_mlp);
    um_free(x), um_free(y), um_free(pre), um_free(act);
    model_free(&m);
}

// ------------------------------------------------------------------ 2. the MCP knob

static void show_mcp(void) {
    UmModelConfig mc;
    UmTrainConfig tc;
    UmError err;
    config_preset(&mc, &tc, "tiny", ARCH_ULTRAMEM2, &err);
    printf("2. memory compute share (tiny: dense %.3f MFLOPs/token, L=%d, n=%d, m=%d, Dv=Dp=%d)\n",
           dense_flops(&mc, 512) / 1e6, mc.n_layers, mc.um2_keys, mc.um2_topm, mc.um2_value_dim);
    printf("   %6s %5s %6s %16s\n", "MCP", "Dk", "MLP F", "memory MFLOP/t");
    const int mcps[] = {120, 145, 170, 195, 230, 250, 275};
    for (int i = 0; i < 7; i++) {
        v2_shape(&mc, 512, mcps[i]);
        UmUltraMemV2Config c = um_ultramem_v2_config_default();
        c.n = mc.um2_keys, c.m = mc.um2_topm, c.Dv = mc.um2_value_dim, c.Dp = mc.um2_pre_dim, c.Dk = mc.um2_key_dim;
        printf("   %5.1f%% %5d %6d %16.3f\n", mcps[i] / 10.0, mc.um2_key_dim, mc.mlp_hidden,
               mc.n_layers * um_ultramem_v2_config_flops(&c, mc.dim) / 1e6);
    }
    printf("\n");
}

// ------------------------------------------------------------------ 3. the comparison

typedef struct {
    size_t total, activated;
    double flops, tok_per_s, bpb, recall;
    UmMemReport report;
} Result;

static double fact_recall(UmModel *m, const char *path) {
    if (strcmp(path, "none") == 0) return -1;
    UmQuestions q;
    UmError err;
    if (questions_load(&q, path, &err)) return -1;
    double r = eval_fact_recall(m, &q, MAX_QUESTIONS);
    questions_free(&q);
    return r;
}

static void train_one(int arch, const Options *o, const UmData *data, Result *r) {
    UmModelConfig mc;
    UmTrainConfig tc;
    UmError err;
    make_configs(&mc, &tc, arch, o);
    UmModel model;
    if (model_init(&model, &mc, tc.seed, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    r->total = model_total_params(&model);
    r->activated = model_activated_params(&model);
    r->flops = model_flops_per_token(&model);
    printf("=== %s: %.3fM parameters, %.3fM activated, %.3f MFLOPs/token ===\n", arch_name(arch), r->total / 1e6,
           r->activated / 1e6, r->flops / 1e6);
    UmTrainState state;
    train_state_fresh(&state, tc.seed);
    UmTrainRun run = {.log = stdout};
    double t0 = um_now();
    if (train_run(&model, data, &tc, &state, &run, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    r->tok_per_s = (double)tc.steps * tc.batch * mc.block_size / (um_now() - t0);
    r->bpb = eval_val_loss_report(&model, data, tc.batch, EVAL_BATCHES, &r->report) / log(2.0);
    r->recall = fact_recall(&model, o->questions);
    model_free(&model);
}

static void print_row(int arch, const Result *r) {
    char mem[200];
    mem_report_format(&r->report, mem, sizeof mem);
    printf("%-10s %8.3fM %8.3fM %8.3f %8.1fk %8.3f ", arch_name(arch), r->total / 1e6, r->activated / 1e6,
           r->flops / 1e6, r->tok_per_s / 1e3, r->bpb);
    if (r->recall >= 0) printf("%6.1f%%", 100 * r->recall);
    else printf("%7s", "-");
    printf("  %s\n", mem);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    Options o = parse_options(argc, argv);
    printf("chapter 08: UltraMemV2 and PEER\n\n");
    show_init();
    show_mcp();
    if (o.only && strcmp(o.only, "none") == 0) return 0;
    UmModelConfig mc;
    UmTrainConfig tc;
    make_configs(&mc, &tc, ARCH_DENSE, &o);
    UmError err;
    UmData data;
    if (data_load(&data, o.data, mc.block_size, &err)) um_die(UM_EXIT_RUNTIME, "%s (run `make` first)", err.msg);
    printf("3. %s, shape %s (D=%d, T=%d, L=%d), %d steps x B=%d, seed %llu\n", o.data, o.size, mc.dim, mc.block_size,
           mc.n_layers, tc.steps, tc.batch, (unsigned long long)tc.seed);
    const int archs[5] = {ARCH_DENSE, ARCH_MOE, ARCH_ULTRAMEM, ARCH_ULTRAMEM2, ARCH_PEER};
    static Result res[5];
    int done[5] = {0};
    for (int i = 0; i < 5; i++) {
        if (o.only && strcmp(o.only, arch_name(archs[i]))) continue;
        train_one(archs[i], &o, &data, &res[i]);
        done[i] = 1;
    }
    printf("\n%-10s %9s %9s %8s %9s %8s %7s  %s\n", "model", "params", "activated", "MFLOP/t", "tok/s", "val bpb",
           "recall", "memory (block 0)");
    for (int i = 0; i < 5; i++)
        if (done[i]) print_row(archs[i], &res[i]);
    data_free(&data);
    return 0;
}
