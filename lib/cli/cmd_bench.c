// cmd_bench.c: `um bench --decode`, the UltraMem paper's figure 1b/1c at toy scale.
//
// One decoding step of one FFN slot (sequence length 1, so N = batch tokens),
// timed at batch 1, 2, 4, ..., 4096, for four slots built to the papers'
// matching rules:
//   dense      a GELU MLP, F = 4D                                  (the baseline)
//   moe        top-2 of X GELU experts of width F/2: the same FLOPs as dense,
//              X/2 times its parameters
//   ultramem   UltraMem V1 (every trick on) in parallel with a smaller MLP,
//              the MLP's width F' chosen so the slot's FLOPs equal the MoE's,
//              and the value table sized so the slot's total parameters equal
//              the MoE's (the paper compares whole models: dense FFNs
//              everywhere plus memory layers, at equal compute and parameters)
//   ultramem2  UltraMemV2 in parallel with a smaller MLP, the same two
//              matchings, the memory's share of FLOPs ~17% (the V2 paper's MCP)
// With hundreds of MB per sparse slot the tables cannot sit in the 32 MB L3,
// and the cache is flushed before every timed step, as it is in a real model
// where the other layers evict this one between two steps.
//
// Bytes of parameters read per step (each byte counted once per step, the
// whole batch shares it):
//   dense     every weight
//   moe       the router + every expert the batch routed to (from the router's choices)
//   ultramem  query, norms, keys, cores, output projection, the parallel MLP,
//             + distinct value rows read x Dv x 4
//   ultramem2 the same, + distinct rows x (Dv + Dp) x 4 (values and pre-values)
// A STREAM-like triad in the same run measures this machine's bandwidth, so
// each point can be read as "bytes / bandwidth" (the floor a memory-bound step
// cannot beat) against the time it took.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/alloc.h"
#include "base/error.h"
#include "base/params.h"
#include "base/rng.h"
#include "base/timer.h"
#include "cli/commands.h"
#include "kernels/matmul.h"
#include "kernels/vec.h"
#include "memory/moe.h"
#include "memory/ultramem.h"
#include "nn/mlp.h"
#include "plot.h"
#include "png.h"
#include "theme.h"

// UltraMemV2 is optional: the bench builds without its header (and
// -DBENCH_NO_V2 builds it as if the header were missing).
#if defined(__has_include) && !defined(BENCH_NO_V2)
#if __has_include("memory/ultramem_v2.h")
#include "memory/ultramem_v2.h"
#define BENCH_HAVE_V2 1
#endif
#endif
#ifndef BENCH_HAVE_V2
#define BENCH_HAVE_V2 0
#endif

#define MAX_BATCHES 16
#define N_SLOTS 4
#define FLUSH_BYTES (96u << 20)  // 3x the L3: what a step finds in cache is what it left there itself
#define V2_MEMORY_SHARE 0.17     // V2 paper: ~17% of the FLOPs in the memory layer

enum { SLOT_DENSE, SLOT_MOE, SLOT_ULTRAMEM, SLOT_ULTRAMEM2 };
static const char *SLOT_NAMES[N_SLOTS] = {"dense", "moe", "ultramem", "ultramem2"};

typedef struct {
    int decode, quick, threads, reps, max_batch, dim, experts;
    const char *png_dir;
} BenchOptions;

// The sizes of one run. full: D 512, X 64 (268 MB per sparse slot, 32x the
// dense MLP); quick: X 16 (67 MB, still twice the L3).
typedef struct {
    int D, F, X, Fe, max_batch;
} BenchSizes;

// A GELU MLP with its own weights and caches: the dense slot, and the MLP
// that runs in parallel with a memory layer.
typedef struct {
    int D, F;
    UmParam *w1, *b1, *w2, *b2;
    real *pre, *act;  // (max_tokens, F)
} BenchMlp;

typedef struct {
    int built;
    double flops_per_token;  // forward multiply-adds x 2
    double total_params;
    double fixed_bytes;      // read by every step whatever the batch
    double row_bytes;        // bytes of one value row (memory slots)
    BenchMlp mlp;            // dense slot, or the MLP beside a memory layer (F = 0: none)
    UmMoe moe;
    UmUltraMem um;
#if BENCH_HAVE_V2
    UmUltraMemV2 um2;
#endif
    int *stamp;  // (rows) step number of each row's last read: distinct rows without clearing
    int step;
    real *tmp;   // (max_tokens, D) memory output before it is added to the MLP's
    double t_mem;  // seconds the memory layer took in the last step
} BenchSlot;

typedef struct {
    int n_batch;
    int batch[MAX_BATCHES];
    double ms[N_SLOTS][MAX_BATCHES];      // best of the repetitions
    double ms_med[N_SLOTS][MAX_BATCHES];  // median of the repetitions
    double mb[N_SLOTS][MAX_BATCHES];      // MB of parameters read (last repetition)
    double triad_gbs, read_gbs, gflops;
    double mem_ms[N_SLOTS][MAX_BATCHES];  // ultramem slots: the memory layer's part of the best step
} BenchResults;

// ---------------------------------------------------------------- usage

static void usage(FILE *out) {
    fprintf(out,
            "usage: um bench --decode [--quick] [--png DIR] [--reps N] [--max-batch B] [--threads N]\n\n"
            "Time one decoding step (sequence length 1) of four FFN slots at batch 1, 2, 4, ... and count the\n"
            "bytes of parameters each step reads: dense MLP, top-2 MoE, UltraMem (+ MLP), UltraMemV2 (+ MLP),\n"
            "the sparse ones with equal total parameters and all with equal FLOPs per token. Also measures the\n"
            "memory bandwidth (a STREAM-like triad). Prints name: value lines; writes PNG plots.\n\n"
            "  --decode         the decode-step benchmark (the only one so far)\n"
            "  --quick          16 experts (67 MB per sparse slot), batch up to 256, 3 reps (a development run)\n"
            "  --png DIR        where the plots go (default out/bench)\n"
            "  --reps N         timed repetitions per point, the best is reported (default 5; 3 with --quick)\n"
            "  --max-batch B    largest batch, a power of two (default 4096; 1024 with --quick)\n"
            "  --dim D          model dim (default 512); dense F = 4D, experts F/2 wide\n"
            "  --experts X      MoE experts (default 64: 268 MB per sparse slot at D 512; 16 with --quick)\n"
            "  --threads N      OpenMP threads (default 1, timed by the thread's CPU clock, which a busy machine\n"
            "                   does not inflate; with N > 1 the wall clock)\n");
}

static int parse_int_arg(const char *flag, const char *v, int lo, int hi) {
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < lo || x > hi) {
        fprintf(stderr, "error: um bench %s wants an integer in %d..%d, got '%s'\n", flag, lo, hi, v ? v : "");
        exit(UM_EXIT_USAGE);
    }
    return (int)x;
}

static void parse_args(BenchOptions *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->png_dir = "out/bench";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--decode")) {
            o->decode = 1;
        } else if (!strcmp(a, "--quick")) {
            o->quick = 1;
        } else if (!strcmp(a, "--png")) {
            if (!v) fprintf(stderr, "error: um bench --png wants a directory\n"), exit(UM_EXIT_USAGE);
            o->png_dir = v, i++;
        } else if (!strcmp(a, "--reps")) {
            o->reps = parse_int_arg(a, v, 1, 100), i++;
        } else if (!strcmp(a, "--max-batch")) {
            o->max_batch = parse_int_arg(a, v, 1, 65536), i++;
            if (o->max_batch & (o->max_batch - 1))
                fprintf(stderr, "error: um bench --max-batch %d is not a power of two\n", o->max_batch),
                    exit(UM_EXIT_USAGE);
        } else if (!strcmp(a, "--dim")) {
            o->dim = parse_int_arg(a, v, 8, 8192), i++;
            if (o->dim % 8) fprintf(stderr, "error: um bench --dim %d is not a multiple of 8\n", o->dim), exit(UM_EXIT_USAGE);
        } else if (!strcmp(a, "--experts")) {
            o->experts = parse_int_arg(a, v, 2, 1 << 16), i++;
        } else if (!strcmp(a, "--threads")) {
            o->threads = parse_int_arg(a, v, 1, 1024), i++;
        } else {
            fprintf(stderr, "error: um bench: unknown flag '%s' (see: um bench --help)\n", a);
            exit(UM_EXIT_USAGE);
        }
    }
    if (!o->decode) {
        fprintf(stderr, "error: um bench needs --decode (the only benchmark so far; see: um bench --help)\n");
        exit(UM_EXIT_USAGE);
    }
}

// ---------------------------------------------------------------- the clock

// On a shared machine a wall clock measures the other tenants as much as the
// step. With one thread (the default) the bench reads the thread's CPU time
// instead: time the core spent on this thread, stalls on memory included,
// time spent descheduled excluded. With more threads it must use the wall.
static int g_cpu_clock = 1;

static double bench_now(void) {
    if (!g_cpu_clock) return um_now();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ---------------------------------------------------------------- memory bandwidth

// STREAM's triad a = b + s c over three arrays far larger than the caches,
// on all threads; best of 5. Counts 3 arrays x 4 bytes per element (STREAM's
// convention: the write-allocate read of a is not counted).
static double triad_gbs(size_t n) {
    float *a = um_alloc(n * sizeof(float)), *b = um_alloc(n * sizeof(float)), *c = um_alloc(n * sizeof(float));
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) b[i] = 1.0f, c[i] = 2.0f;
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = bench_now();
        float s = 0.5f + (float)rep;
#pragma omp parallel for
        for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
        double dt = bench_now() - t0;
        if (dt < best) best = dt;
    }
    if (a[n / 2] != 1.0f + 4.5f * 2.0f) um_die(UM_EXIT_RUNTIME, "bench: triad computed %g", a[n / 2]);
    um_free(a), um_free(b), um_free(c);
    return 3.0 * n * sizeof(float) / best / 1e9;
}

// Read-only bandwidth: a sum over an array far larger than the caches (what
// streaming weights through the cores costs; no write traffic). Best of 5.
#define READ_BLOCK 4096
static double read_gbs(size_t n) {
    float *a = um_alloc(n * sizeof(float)), ones[READ_BLOCK];
    for (int i = 0; i < READ_BLOCK; i++) ones[i] = 1.0f;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 7);
    double best = 1e30, sum = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = bench_now(), s = 0;
        // the SIMD dot kernel against a block of ones that stays in L1: a
        // plain serial sum would measure the adder's latency, not the memory
#pragma omp parallel for reduction(+ : s)
        for (size_t i = 0; i < n; i += READ_BLOCK) s += vec_dot(a + i, ones, READ_BLOCK);
        double dt = bench_now() - t0;
        if (dt < best) best = dt;
        sum += s;
    }
    if (sum != 5 * 3.5 * (double)n) um_die(UM_EXIT_RUNTIME, "bench: read sum %g", sum);
    um_free(a);
    return (double)n * sizeof(float) / best / 1e9;
}

// The compute ceiling: GFLOP/s of the library's matmul on a warm (D -> F)
// layer with 256 rows, best of 5. With the read bandwidth it gives the
// machine's ridge point: the FLOPs per byte above which a step is
// compute-bound (an A100: ~150 per bf16 byte; a CPU core: about 1).
static double matmul_gflops(int D, int F) {
    int N = 256;
    real *x = um_alloc((size_t)N * D * sizeof(real)), *w = um_alloc((size_t)F * D * sizeof(real));
    real *y = um_alloc((size_t)N * F * sizeof(real));
    for (size_t i = 0; i < (size_t)N * D; i++) x[i] = (real)((i % 13) * 0.01);
    for (size_t i = 0; i < (size_t)F * D; i++) w[i] = (real)((i % 7) * 0.01);
    matmul_forward(y, x, w, NULL, N, D, F);
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = bench_now();
        matmul_forward(y, x, w, NULL, N, D, F);
        double dt = bench_now() - t0;
        if (dt < best) best = dt;
    }
    um_free(x), um_free(w), um_free(y);
    return 2.0 * N * D * F / best / 1e9;
}

// Evict the previous step's weights: read-modify-write a buffer 3x the L3.
static void flush_cache(float *buf, size_t n) {
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) buf[i] = buf[i] * 0.5f + 1.0f;
}

// ---------------------------------------------------------------- the slots

// A registered (D, F) GELU MLP; F = 0 makes an empty one.
static void mlp_make(BenchMlp *m, int D, int F, int max_tokens, UmParamRegistry *reg, UmRng *rng, const char *prefix) {
    memset(m, 0, sizeof *m);
    m->D = D, m->F = F;
    if (F <= 0) return;
    char name[64];
    int g = params_group(reg, "bench", 1, 0);
    snprintf(name, sizeof name, "%s.w1", prefix), m->w1 = params_add(reg, name, g, 2, (int[]){F, D});
    snprintf(name, sizeof name, "%s.b1", prefix), m->b1 = params_add(reg, name, g, 1, (int[]){F});
    snprintf(name, sizeof name, "%s.w2", prefix), m->w2 = params_add(reg, name, g, 2, (int[]){D, F});
    snprintf(name, sizeof name, "%s.b2", prefix), m->b2 = params_add(reg, name, g, 1, (int[]){D});
    param_normal(m->w1, rng, 0.02f);
    param_normal(m->w2, rng, 0.02f);
    m->pre = um_alloc((size_t)max_tokens * F * sizeof(real));
    m->act = um_alloc((size_t)max_tokens * F * sizeof(real));
}

static double mlp_params(const BenchMlp *m) { return m->F > 0 ? 2.0 * m->F * m->D + m->F + m->D : 0; }
static double mlp_flops(const BenchMlp *m) { return 2.0 * 2.0 * m->F * m->D; }

// The parameter registry keeps gradients and Adam moments beside every
// tensor; a forward-only benchmark needs none of them (3x the table in RAM).
static void drop_optimizer_state(UmParamRegistry *reg) {
    for (int i = 0; i < reg->count; i++) {
        UmParam *p = reg->params[i];
        um_free(p->grad), um_free(p->adam_m), um_free(p->adam_v);
        p->grad = p->adam_m = p->adam_v = NULL;
    }
}

static double param_bytes(const UmParam *p) { return p ? (double)p->numel * sizeof(real) : 0; }

static void build_dense(BenchSlot *s, const BenchSizes *z, UmParamRegistry *reg, UmRng *rng) {
    mlp_make(&s->mlp, z->D, z->F, z->max_batch, reg, rng, "dense");
    s->flops_per_token = mlp_flops(&s->mlp);
    s->total_params = mlp_params(&s->mlp);
    s->fixed_bytes = s->total_params * sizeof(real);
    s->built = 1;
}

static void build_moe(BenchSlot *s, const BenchSizes *z, UmParamRegistry *reg, UmRng *rng) {
    UmMoeConfig c;
    um_moe_config_default(&c);
    c.n_experts = z->X, c.top_k = 2, c.expert_hidden = z->Fe;
    um_moe_init(&s->moe, &c, z->D, z->max_batch, reg, rng, "moe.");
    s->flops_per_token = um_moe_flops_per_token(&s->moe);
    s->total_params = (double)(s->moe.router->numel + s->moe.w1->numel + s->moe.b1->numel + s->moe.w2->numel +
                               s->moe.b2->numel);
    s->fixed_bytes = param_bytes(s->moe.router);
    s->row_bytes = (2.0 * z->Fe * z->D + z->Fe + z->D) * sizeof(real);  // one whole expert
    s->built = 1;
}

// The MLP width that brings a slot whose memory costs mem_flops up to target.
static int parallel_mlp_width(double target_flops, double mem_flops, int D) {
    double F = (target_flops - mem_flops) / (4.0 * D);
    return F > 0 ? (int)lround(F) : 0;
}

// UltraMem's dense parts (everything but the value table) for a table of n*n rows.
static double ultramem_dense_params(const UmUltraMem *l) {
    return (double)(l->wq->numel + l->keys->numel + (l->qnorm_w ? l->qnorm_w->numel : 0) +
                    (l->knorm_w ? l->knorm_w->numel : 0) + (l->cores ? l->cores->numel : 0) +
                    (l->wo ? l->wo->numel : 0));
}

// Sizes the UltraMem slot in two passes: a probe layer gives the memory's
// FLOPs (they hardly depend on n) and dense parts, then n is chosen so that
// values + dense parts + the parallel MLP = target_params.
static void build_ultramem(BenchSlot *s, const BenchSizes *z, double target_flops, double target_params,
                           UmParamRegistry *reg, UmRng *rng) {
    UmUltraMemConfig c = um_ultramem_config_default();
    UmParamRegistry probe_reg;
    params_init(&probe_reg);
    UmRng probe_rng;
    rng_seed(&probe_rng, 1);
    UmUltraMemConfig pc = c;
    pc.n = 64, pc.calibrate_norm = 0;
    UmUltraMem probe;
    um_ultramem_init(&probe, &pc, z->D, 1, &probe_reg, &probe_rng, "probe.");
    // memory FLOPs grow with n through the keys: 2 H 2 r sqrt(E) n (Dk + 1) (scores + selection)
    double side = 2.0 * c.H * 2 * probe.cfg.r * probe.side * (probe.cfg.Dk + 1);
    double probe_flops = um_ultramem_flops_per_token(&probe) - side * pc.n;
    double Dv = probe.cfg.Dv, dense = ultramem_dense_params(&probe) - (double)probe.keys->numel;
    double keys_per_n = (double)c.H * 2 * probe.cfg.r * probe.side * probe.cfg.Dk;
    um_ultramem_free(&probe);
    params_free(&probe_reg);
    // solve for n by a few fixed-point steps (the keys and the MLP width move with it)
    int n = 64, Fm = 0;
    for (int it = 0; it < 20; it++) {
        Fm = parallel_mlp_width(target_flops, probe_flops + side * n, z->D);
        double mlp = Fm > 0 ? 2.0 * Fm * z->D + Fm + z->D : 0;
        double rows = (target_params - dense - keys_per_n * n - mlp) / Dv;
        n = rows > 1 ? (int)floor(sqrt(rows)) : 1;
    }
    Fm = parallel_mlp_width(target_flops, probe_flops + side * n, z->D);
    c.n = n;
    mlp_make(&s->mlp, z->D, Fm, z->max_batch, reg, rng, "ultramem.mlp");
    um_ultramem_init(&s->um, &c, z->D, z->max_batch, reg, rng, "ultramem.");
    // decoding serves frozen weights: normalise the keys (and SVD the cores)
    // once, as an inference engine would fold them, not on every step
    um_ultramem_set_inference(&s->um, 1);
    s->flops_per_token = um_ultramem_flops_per_token(&s->um) + mlp_flops(&s->mlp);
    s->total_params = ultramem_dense_params(&s->um) + (double)s->um.values->numel + mlp_params(&s->mlp);
    s->fixed_bytes = (ultramem_dense_params(&s->um) + mlp_params(&s->mlp)) * sizeof(real);
    s->row_bytes = s->um.cfg.Dv * sizeof(real);
    s->stamp = um_alloc((size_t)s->um.n_phys * sizeof(int));
    s->tmp = um_alloc((size_t)z->max_batch * z->D * sizeof(real));
    s->built = 1;
}

#if BENCH_HAVE_V2
static double v2_dense_params(const UmUltraMemV2 *l) {
    const UmParam *ps[] = {l->wq, l->qnorm_w, l->keys, l->knorm_w, l->cores, l->wa, l->wo};
    double p = 0;
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) p += ps[i] ? (double)ps[i]->numel : 0;
    return p;
}

// V2: single head, m 32 (the V2 paper raises top-m), Dv = Dp = D/4, Dk from
// the 17% memory share, the MLP takes the remaining 83%, and n so that the
// two tables (P and V) + dense parts + MLP = target_params.
static void build_ultramem2(BenchSlot *s, const BenchSizes *z, double target_flops, double target_params,
                            UmParamRegistry *reg, UmRng *rng) {
    UmUltraMemV2Config c = um_ultramem_v2_config_default();
    c.m = 32, c.n = 64, c.Dv = z->D / 4, c.Dp = z->D / 4, c.n_layers = 1;
    // keys (2 r n Dk) grow with n and Dk follows the FLOP budget: iterate
    int n = 64;
    for (int it = 0; it < 20; it++) {
        c.n = n;
        c.Dk = um_ultramem_v2_dk_for_flops(&c, z->D, V2_MEMORY_SHARE * target_flops);
        if (c.Dk < 1) c.Dk = 1;
        double mem = um_ultramem_v2_config_flops(&c, z->D);
        int Fm = parallel_mlp_width(target_flops, mem, z->D);
        double mlp = Fm > 0 ? 2.0 * Fm * z->D + Fm + z->D : 0;
        double dense = 2.0 * 2 * c.r * c.Dk * z->D + 2.0 * c.r * n * c.Dk + (double)c.Dp * z->D + (double)z->D * c.Dv;
        double rows = (target_params - dense - mlp) / (c.Dv + c.Dp);
        n = rows > 1 ? (int)floor(sqrt(rows)) : 1;
    }
    c.n = n;
    c.Dk = um_ultramem_v2_dk_for_flops(&c, z->D, V2_MEMORY_SHARE * target_flops);
    if (c.Dk < 1) c.Dk = 1;
    int Fm = parallel_mlp_width(target_flops, um_ultramem_v2_config_flops(&c, z->D), z->D);
    mlp_make(&s->mlp, z->D, Fm, z->max_batch, reg, rng, "ultramem2.mlp");
    um_ultramem_v2_init(&s->um2, &c, z->D, z->max_batch, reg, rng, "ultramem2.");
    um_ultramem_v2_set_inference(&s->um2, 1);  // frozen weights, as for V1
    s->flops_per_token = um_ultramem_v2_flops_per_token(&s->um2) + mlp_flops(&s->mlp);
    double tables = (double)s->um2.values->numel + (double)s->um2.pre_values->numel;
    s->total_params = v2_dense_params(&s->um2) + tables + mlp_params(&s->mlp);
    s->fixed_bytes = (v2_dense_params(&s->um2) + mlp_params(&s->mlp)) * sizeof(real);
    s->row_bytes = (double)(s->um2.cfg.Dv + s->um2.cfg.Dp) * sizeof(real);
    s->stamp = um_alloc((size_t)s->um2.n_tab * sizeof(int));
    s->tmp = um_alloc((size_t)z->max_batch * z->D * sizeof(real));
    s->built = 1;
}
#endif

// ---------------------------------------------------------------- one step

// out = MLP(inp) (or 0 without one) + mem, the memory's output in s->tmp.
static void add_parallel_mlp(BenchSlot *s, real *out, const real *inp, int N) {
    size_t nd = (size_t)N * s->mlp.D;
    if (s->mlp.F > 0) {
        mlp_forward(out, s->mlp.pre, s->mlp.act, inp, s->mlp.w1->data, s->mlp.b1->data, s->mlp.w2->data,
                    s->mlp.b2->data, N, s->mlp.D, s->mlp.F);
        for (size_t i = 0; i < nd; i++) out[i] += s->tmp[i];
    } else {
        memcpy(out, s->tmp, nd * sizeof(real));
    }
}

static void slot_forward(BenchSlot *s, int kind, real *out, const real *inp, int N) {
    switch (kind) {
    case SLOT_DENSE:
        mlp_forward(out, s->mlp.pre, s->mlp.act, inp, s->mlp.w1->data, s->mlp.b1->data, s->mlp.w2->data,
                    s->mlp.b2->data, N, s->mlp.D, s->mlp.F);
        break;
    case SLOT_MOE: um_moe_forward(&s->moe, out, inp, N); break;
    case SLOT_ULTRAMEM:
        s->t_mem = bench_now();
        um_ultramem_forward(&s->um, s->tmp, inp, N);
        s->t_mem = bench_now() - s->t_mem;
        add_parallel_mlp(s, out, inp, N);
        break;
#if BENCH_HAVE_V2
    case SLOT_ULTRAMEM2:
        s->t_mem = bench_now();
        um_ultramem_v2_forward(&s->um2, s->tmp, inp, N);
        s->t_mem = bench_now() - s->t_mem;
        add_parallel_mlp(s, out, inp, N);
        break;
#endif
    default: um_die(UM_EXIT_RUNTIME, "bench: slot %d not built", kind);
    }
}

// How many of the `count` row indices are distinct (stamp: last step that saw a row).
static int distinct_rows(BenchSlot *s, const int *rows, int count) {
    int fresh = 0, step = ++s->step;
    for (int i = 0; i < count; i++)
        if (s->stamp[rows[i]] != step) s->stamp[rows[i]] = step, fresh++;
    return fresh;
}

// Bytes of parameters the last step of N tokens read.
static double slot_bytes(BenchSlot *s, int kind, int N) {
    double rows = 0;
    if (kind == SLOT_MOE)
        for (int e = 0; e < s->moe.X; e++) rows += s->moe.load[e] > 0;
    if (kind == SLOT_ULTRAMEM) rows = distinct_rows(s, s->um.phys, N * s->um.cfg.H * s->um.cfg.m);
#if BENCH_HAVE_V2
    if (kind == SLOT_ULTRAMEM2) rows = distinct_rows(s, s->um2.win, N * s->um2.cfg.m);
#endif
    return s->fixed_bytes + rows * s->row_bytes;
}

// ---------------------------------------------------------------- the sweep

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// All slots at one batch size, interleaved rep by rep so a burst of load on
// the shared machine hits every slot alike; cold cache before every step.
static void time_batch(BenchResults *res, int bi, BenchSlot *slots, const real *x, int xrows, real *out, float *flush,
                       int reps) {
    int N = res->batch[bi];
    double t[N_SLOTS][100], tm[N_SLOTS][100];
    for (int rep = 0; rep < reps; rep++) {
        const real *inp = x + (size_t)((rep * 977) % (xrows - N + 1)) * slots[SLOT_DENSE].mlp.D;  // fresh tokens
        for (int k = 0; k < N_SLOTS; k++) {
            if (!slots[k].built) continue;
            flush_cache(flush, FLUSH_BYTES / sizeof(float));
            double t0 = bench_now();
            slot_forward(&slots[k], k, out, inp, N);
            t[k][rep] = (bench_now() - t0) * 1e3;
            tm[k][rep] = slots[k].t_mem * 1e3;
            res->mb[k][bi] = slot_bytes(&slots[k], k, N) / 1e6;
        }
    }
    for (int k = 0; k < N_SLOTS; k++) {
        if (!slots[k].built) continue;
        int best = 0;
        for (int rep = 1; rep < reps; rep++)
            if (t[k][rep] < t[k][best]) best = rep;
        res->mem_ms[k][bi] = tm[k][best];
        qsort(t[k], reps, sizeof(double), cmp_double);
        res->ms[k][bi] = t[k][0];
        res->ms_med[k][bi] = reps % 2 ? t[k][reps / 2] : 0.5 * (t[k][reps / 2 - 1] + t[k][reps / 2]);
    }
}

// ---------------------------------------------------------------- plots

static void plot_series(const char *path, const char *title, const char *y_label, const BenchResults *res,
                        const BenchSlot *slots, double (*value)(const BenchResults *, int, int), const float *extra,
                        const char *extra_label) {
    UmCanvas c;
    UmError err;
    if (um_canvas_create(&c, 900, 560, &err)) um_die(UM_EXIT_RUNTIME, "bench: %s", err.msg);
    um_canvas_clear(&c, UM_THEME_BG);
    UmRect body = um_draw_panel(&c, um_canvas_rect(&c), title);
    float xs[MAX_BATCHES], ys[N_SLOTS + 1][MAX_BATCHES];
    UmSeries series[N_SLOTS + 1];
    int ns = 0;
    for (int i = 0; i < res->n_batch; i++) xs[i] = (float)log2(res->batch[i]);
    for (int k = 0; k < N_SLOTS; k++) {
        if (!slots[k].built) continue;
        for (int i = 0; i < res->n_batch; i++) ys[ns][i] = (float)value(res, k, i);
        series[ns] = (UmSeries){.x = xs, .y = ys[ns], .n = res->n_batch, .label = SLOT_NAMES[k]};
        ns++;
    }
    if (extra) series[ns++] = (UmSeries){.x = xs, .y = extra, .n = res->n_batch, .label = extra_label};
    UmLinePlotStyle st = {.log_y = 1, .line_width = 2, .legend = 1, .x_label = "log2(batch)", .y_label = y_label};
    um_draw_line_plot(&c, body, series, ns, &st);
    if (um_png_write(&c, path, &err)) um_die(UM_EXIT_RUNTIME, "bench: %s", err.msg);
    um_canvas_free(&c);
    printf("plot: %s\n", path);
}

static double value_ms(const BenchResults *r, int k, int i) { return r->ms[k][i]; }
static double value_mb(const BenchResults *r, int k, int i) { return r->mb[k][i]; }
static double value_gbs(const BenchResults *r, int k, int i) { return r->mb[k][i] / r->ms[k][i]; }  // MB/ms = GB/s

static void write_plots(const BenchResults *res, const BenchSlot *slots, const char *dir) {
    char path[1024];
    cli_make_parent_dirs(strcat(strcpy(path, dir), "/x"));
    float triad[MAX_BATCHES];
    for (int i = 0; i < res->n_batch; i++) triad[i] = (float)res->read_gbs;
    snprintf(path, sizeof path, "%s/decode_latency.png", dir);
    plot_series(path, "decode step latency vs batch (best of reps, cold cache)", "ms", res, slots, value_ms, NULL,
                NULL);
    snprintf(path, sizeof path, "%s/decode_bytes.png", dir);
    plot_series(path, "MB of parameters read per decode step vs batch", "MB", res, slots, value_mb, NULL, NULL);
    snprintf(path, sizeof path, "%s/decode_bandwidth.png", dir);
    plot_series(path, "effective bandwidth (bytes read / step time) vs the read bandwidth", "GB/s", res, slots, value_gbs,
                triad, "read bw");
}

// ---------------------------------------------------------------- report

static void print_setup(const BenchSizes *z, const BenchSlot *slots, const BenchOptions *o, int threads) {
    printf("bench: decode\nthreads: %d\nclock: %s\nreps: %d\nD: %d\ndense_hidden: %d\n", threads,
           g_cpu_clock ? "thread cpu time" : "wall", o->reps, z->D, z->F);
    printf("moe: top-2 of %d experts of width %d\n", z->X, z->Fe);
    printf("ultramem: n %d (%d value rows of Dv %d), H %d, m %d, Dk %d, E %d, r %d, cores %d, parallel mlp %d\n",
           slots[SLOT_ULTRAMEM].um.cfg.n, slots[SLOT_ULTRAMEM].um.n_phys, slots[SLOT_ULTRAMEM].um.cfg.Dv,
           slots[SLOT_ULTRAMEM].um.cfg.H, slots[SLOT_ULTRAMEM].um.cfg.m, slots[SLOT_ULTRAMEM].um.cfg.Dk,
           slots[SLOT_ULTRAMEM].um.cfg.E, slots[SLOT_ULTRAMEM].um.cfg.r, slots[SLOT_ULTRAMEM].um.cfg.cores,
           slots[SLOT_ULTRAMEM].mlp.F);
#if BENCH_HAVE_V2
    if (slots[SLOT_ULTRAMEM2].built) {
        const UmUltraMemV2 *v = &slots[SLOT_ULTRAMEM2].um2;
        printf("ultramem2: n %d (%d rows of Dv %d + Dp %d), m %d, Dk %d, r %d, cores %d, parallel mlp %d\n", v->cfg.n,
               v->n_tab, v->cfg.Dv, v->cfg.Dp, v->cfg.m, v->cfg.Dk, v->cfg.r, v->cfg.cores, slots[SLOT_ULTRAMEM2].mlp.F);
    }
#endif
    if (!slots[SLOT_ULTRAMEM2].built) printf("ultramem2: not built (TODO: lib/memory/ultramem_v2.h was not available)\n");
    for (int k = 0; k < N_SLOTS; k++) {
        if (!slots[k].built) continue;
        printf("%s_total_params_mb: %.1f\n", SLOT_NAMES[k], slots[k].total_params * sizeof(real) / 1e6);
        printf("%s_flops_per_token_m: %.2f\n", SLOT_NAMES[k], slots[k].flops_per_token / 1e6);
        printf("%s_flops_vs_moe: %.3f\n", SLOT_NAMES[k], slots[k].flops_per_token / slots[SLOT_MOE].flops_per_token);
        printf("%s_params_vs_moe: %.3f\n", SLOT_NAMES[k], slots[k].total_params / slots[SLOT_MOE].total_params);
    }
    printf("matching: moe = top-2 experts of F/2 (FLOPs of the dense MLP); ultramem/ultramem2 = memory + a parallel\n"
           "  MLP whose width brings the slot's FLOPs to the moe's; value tables sized so total params = moe's\n");
    printf("inference: ultramem/ultramem2 keys normalised and cores decomposed once at load (frozen weights),\n"
           "  not per step; every step still scores all keys\n");
}

static void print_crossings(const BenchResults *r, const BenchSlot *slots) {
    static const int pairs[][2] = {{SLOT_ULTRAMEM, SLOT_MOE}, {SLOT_DENSE, SLOT_MOE}, {SLOT_ULTRAMEM, SLOT_DENSE},
                                   {SLOT_ULTRAMEM2, SLOT_MOE}};
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        int a = pairs[p][0], b = pairs[p][1];
        if (!slots[a].built || !slots[b].built) continue;
        printf("crossings_%s_vs_%s:", SLOT_NAMES[a], SLOT_NAMES[b]);
        int any = 0;
        for (int i = 1; i < r->n_batch; i++) {
            int before = r->ms[a][i - 1] < r->ms[b][i - 1], now = r->ms[a][i] < r->ms[b][i];
            if (before != now) printf(" %s faster from batch %d;", now ? SLOT_NAMES[a] : SLOT_NAMES[b], r->batch[i]), any = 1;
        }
        printf(any ? "\n" : " none (%s %s throughout)\n", r->ms[a][0] < r->ms[b][0] ? SLOT_NAMES[a] : SLOT_NAMES[b],
               "faster");
    }
}

// The fastest a step could be here: limited by reading its bytes or by
// running its FLOPs at the matmul's speed, whichever takes longer.
static double roofline_ms(const BenchResults *r, const BenchSlot *s, int k, int i) {
    return fmax(r->mb[k][i] / r->read_gbs, s->flops_per_token * r->batch[i] / r->gflops / 1e6);
}

static void print_results(const BenchResults *r, const BenchSlot *slots) {
    printf("triad_gbs: %.2f\nread_gbs: %.2f\nmatmul_gflops: %.2f\n", r->triad_gbs, r->read_gbs, r->gflops);
    printf("ridge_flops_per_byte: %.2f (a step with fewer FLOPs per byte read is memory-bound)\n",
           r->gflops / r->read_gbs);
    printf("moe_vs_dense_bound: %.2f (at most this much slower: 2 B experts of D*F/2 read once, 2 FLOPs each,\n"
           "  vs the same FLOPs at full matmul speed; = 2 * ridge)\n",
           2 * r->gflops / r->read_gbs);
    printf("# batch | ms best (median):");
    for (int k = 0; k < N_SLOTS; k++)
        if (slots[k].built) printf(" %s", SLOT_NAMES[k]);
    printf(" | MB read | GB/s effective\n");
    for (int i = 0; i < r->n_batch; i++) {
        printf("#%6d |", r->batch[i]);
        for (int k = 0; k < N_SLOTS; k++)
            if (slots[k].built) printf(" %8.3f (%8.3f)", r->ms[k][i], r->ms_med[k][i]);
        printf(" |");
        for (int k = 0; k < N_SLOTS; k++)
            if (slots[k].built) printf(" %8.1f", r->mb[k][i]);
        printf(" |");
        for (int k = 0; k < N_SLOTS; k++)
            if (slots[k].built) printf(" %6.2f", r->mb[k][i] / r->ms[k][i]);
        printf("\n");
    }
    for (int i = 0; i < r->n_batch; i++)
        for (int k = 0; k < N_SLOTS; k++) {
            if (!slots[k].built) continue;
            printf("decode_b%d_%s_ms: %.3f\n", r->batch[i], SLOT_NAMES[k], r->ms[k][i]);
            printf("decode_b%d_%s_ms_median: %.3f\n", r->batch[i], SLOT_NAMES[k], r->ms_med[k][i]);
            printf("decode_b%d_%s_mb: %.2f\n", r->batch[i], SLOT_NAMES[k], r->mb[k][i]);
            if (k >= SLOT_ULTRAMEM)
                printf("decode_b%d_%s_memory_layer_ms: %.3f (%.1f GFLOP/s; the rest is the parallel MLP)\n",
                       r->batch[i], SLOT_NAMES[k], r->mem_ms[k][i],
                       (slots[k].flops_per_token - mlp_flops(&slots[k].mlp)) * r->batch[i] / r->mem_ms[k][i] / 1e6);
            double mem = r->mb[k][i] / r->read_gbs, fl = slots[k].flops_per_token * r->batch[i] / r->gflops / 1e6;
            printf("decode_b%d_%s_roofline_ms: %.3f (bytes/read_bw %.3f, flops/matmul_gflops %.3f)\n", r->batch[i],
                   SLOT_NAMES[k], fmax(mem, fl), mem, fl);
        }
}

// The targets: in batch 8..512 UltraMem >= 2x faster and >= 5x fewer bytes
// than MoE; within 1.5x of dense at every batch <= 512.
static void print_targets(const BenchResults *r, const BenchSlot *slots) {
    for (int u = SLOT_ULTRAMEM; u <= SLOT_ULTRAMEM2; u++) {
        if (!slots[u].built) continue;
        double min_speed = 1e30, min_speed_med = 1e30, min_bytes = 1e30, max_vs_dense = 0, max_vs_dense_med = 0;
        int seen = 0;
        for (int i = 0; i < r->n_batch; i++) {
            int b = r->batch[i];
            if (b <= 512) {
                max_vs_dense = fmax(max_vs_dense, r->ms[u][i] / r->ms[SLOT_DENSE][i]);
                max_vs_dense_med = fmax(max_vs_dense_med, r->ms_med[u][i] / r->ms_med[SLOT_DENSE][i]);
            }
            if (b < 8 || b > 512) continue;
            seen = 1;
            min_speed = fmin(min_speed, r->ms[SLOT_MOE][i] / r->ms[u][i]);
            min_speed_med = fmin(min_speed_med, r->ms_med[SLOT_MOE][i] / r->ms_med[u][i]);
            min_bytes = fmin(min_bytes, r->mb[SLOT_MOE][i] / r->mb[u][i]);
        }
        const char *n = SLOT_NAMES[u];
        double min_roof = 1e30;  // the same ratio if every step ran at the roofline (see roofline_ms)
        for (int i = 0; i < r->n_batch; i++) {
            if (r->batch[i] < 8 || r->batch[i] > 512) continue;
            min_roof = fmin(min_roof, roofline_ms(r, &slots[SLOT_MOE], SLOT_MOE, i) / roofline_ms(r, &slots[u], u, i));
        }
        if (seen) {
            printf("target_%s_roofline_speedup_vs_moe_min_b8_512: %.2f (what this machine allows: max(bytes/bw,"
                   " flops/matmul speed))\n", n, min_roof);
            printf("target_%s_speedup_vs_moe_min_b8_512: %.2f (best-of-reps; median-based %.2f; target >= 2)\n", n,
                   min_speed, min_speed_med);
            printf("target_%s_bytes_fewer_than_moe_min_b8_512: %.2f (target >= 5)\n", n, min_bytes);
        }
        printf("target_%s_slowdown_vs_dense_max_b1_512: %.2f (median-based %.2f; target <= 1.5)\n", n, max_vs_dense,
               max_vs_dense_med);
    }
    for (int i = 0; i < r->n_batch; i++) {
        printf("ratio_b%d: moe/dense %.2fx time %.2fx bytes, moe/ultramem %.2fx time %.2fx bytes (roofline %.2fx)",
               r->batch[i], r->ms[SLOT_MOE][i] / r->ms[SLOT_DENSE][i], r->mb[SLOT_MOE][i] / r->mb[SLOT_DENSE][i],
               r->ms[SLOT_MOE][i] / r->ms[SLOT_ULTRAMEM][i], r->mb[SLOT_MOE][i] / r->mb[SLOT_ULTRAMEM][i],
               roofline_ms(r, &slots[SLOT_MOE], SLOT_MOE, i) / roofline_ms(r, &slots[SLOT_ULTRAMEM], SLOT_ULTRAMEM, i));
        if (slots[SLOT_ULTRAMEM2].built)
            printf(", moe/ultramem2 %.2fx time", r->ms[SLOT_MOE][i] / r->ms[SLOT_ULTRAMEM2][i]);
        printf("\n");
    }
}

// ---------------------------------------------------------------- main

static void free_slots(BenchSlot *slots) {
    for (int k = 0; k < N_SLOTS; k++) {
        BenchSlot *s = &slots[k];
        um_free(s->mlp.pre), um_free(s->mlp.act), um_free(s->stamp), um_free(s->tmp);
    }
    if (slots[SLOT_MOE].built) um_moe_free(&slots[SLOT_MOE].moe);
    if (slots[SLOT_ULTRAMEM].built) um_ultramem_free(&slots[SLOT_ULTRAMEM].um);
#if BENCH_HAVE_V2
    if (slots[SLOT_ULTRAMEM2].built) um_ultramem_v2_free(&slots[SLOT_ULTRAMEM2].um2);
#endif
}

static void build_slots(BenchSlot *slots, const BenchSizes *z, UmParamRegistry *reg) {
    UmRng rng;
    rng_seed(&rng, 1234);
    double t0 = um_now();
    build_dense(&slots[SLOT_DENSE], z, reg, &rng);
    build_moe(&slots[SLOT_MOE], z, reg, &rng);
    drop_optimizer_state(reg);
    double flops = slots[SLOT_MOE].flops_per_token, params = slots[SLOT_MOE].total_params;
    build_ultramem(&slots[SLOT_ULTRAMEM], z, flops, params, reg, &rng);
    drop_optimizer_state(reg);
#if BENCH_HAVE_V2
    build_ultramem2(&slots[SLOT_ULTRAMEM2], z, flops, params, reg, &rng);
    drop_optimizer_state(reg);
#endif
    printf("init_seconds: %.1f\n", um_now() - t0);
}

int cmd_bench(int argc, char **argv) {
    BenchOptions o;
    parse_args(&o, argc, argv);
    if (o.threads == 0) o.threads = 1;  // steady numbers on a shared machine; --threads N for more
#ifdef _OPENMP
    omp_set_num_threads(o.threads);
#endif
    g_cpu_clock = o.threads == 1;
    BenchSizes z = o.quick ? (BenchSizes){.D = 512, .X = 16, .max_batch = 256}
                           : (BenchSizes){.D = 512, .X = 64, .max_batch = 4096};
    if (o.max_batch) z.max_batch = o.max_batch;
    if (o.dim) z.D = o.dim;
    if (o.experts) z.X = o.experts;
    if (!o.reps) o.reps = o.quick ? 3 : 5;
    z.F = 4 * z.D, z.Fe = z.F / 2;
    double t_start = um_now();
    BenchResults res = {0};
    res.triad_gbs = triad_gbs((size_t)32 << 20);  // 3 x 128 MB
    res.read_gbs = read_gbs((size_t)64 << 20);     // 256 MB
    res.gflops = matmul_gflops(z.D, z.F);
    UmParamRegistry reg;
    params_init(&reg);
    BenchSlot slots[N_SLOTS] = {0};
    build_slots(slots, &z, &reg);
    print_setup(&z, slots, &o, cli_threads());
    fflush(stdout);

    int xrows = 2 * z.max_batch;
    real *x = um_alloc((size_t)xrows * z.D * sizeof(real)), *out = um_alloc((size_t)z.max_batch * z.D * sizeof(real));
    UmRng rng;
    rng_seed(&rng, 99);
    for (size_t i = 0; i < (size_t)xrows * z.D; i++) x[i] = (real)rng_normal(&rng);  // RMS-normalised input ~ N(0, 1)
    float *flush = um_alloc(FLUSH_BYTES);
    for (int b = 1; b <= z.max_batch && res.n_batch < MAX_BATCHES; b *= 2) {
        res.batch[res.n_batch] = b;
        int reps = b >= 1024 && o.reps > 2 ? 2 : o.reps;  // big batches: long steps, little relative noise
        time_batch(&res, res.n_batch, slots, x, xrows, out, flush, reps);
        fprintf(stderr, "bench: batch %d done (%.0f s)\n", b, um_now() - t_start);
        res.n_batch++;
    }
    print_results(&res, slots);
    print_targets(&res, slots);
    print_crossings(&res, slots);
    write_plots(&res, slots, o.png_dir);
    printf("seconds: %.1f\n", um_now() - t_start);
    um_free(x), um_free(out), um_free(flush);
    free_slots(slots);
    params_free(&reg);
    return 0;
}
