// bench_train.c: training throughput of the tiny preset, tokens per second,
// for every architecture at 1 and 2 OpenMP threads. Prints `name: value` lines:
//   train_tokens_per_s_<arch>_<threads>t   (arch: dense pkm moe ultramem)
//   thread_scaling                         (dense, 2 threads / 1 thread)
//   thread_scaling_<arch>
//   torch_tokens_per_s_<threads>t, train_vs_torch_<threads>t
//                                          (only when /usr/bin/python3 can import torch:
//                                           tests/bench/torch_tiny.py builds the same dense model)
// A "step" is what the trainer does per batch: forward with targets, zero the
// grads, backward, AdamW (with global-norm clipping). Data loading is included
// (it is a copy of B*T bytes). Each figure is the best of a few timed runs of
// a few steps after warmup steps: on a shared machine, the least disturbed run.
// Not a test: nothing here asserts a time.
//
// Usage (from the repository root): bin/bench_train [seconds per measurement, default 3]
// Environment: UM_BENCH_ARCHS=dense,moe limits the archs; UM_BENCH_TORCH=0 skips PyTorch.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/alloc.h"
#include "base/error.h"
#include "base/rng.h"
#include "base/timer.h"
#include "kernels/dispatch.h"
#include "model/config.h"
#include "model/data.h"
#include "model/transformer.h"
#include "nn/adamw.h"

#define DATA_PATH "out/data/fortunes.txt"
#define TORCH_SCRIPT "tests/bench/torch_tiny.py"
#define PYTHON "/usr/bin/python3"
enum { WARMUP_STEPS = 3, REPEATS = 5, MAX_THREADS = 2 };

static const char *ARCHS[] = {"dense", "pkm", "moe", "ultramem"};

typedef struct {
    UmModel model;
    UmAdamW opt;
    int B, T, step;
    int *inputs, *targets;
    UmRng rng;
} Trainer;

static void set_threads(int t) {
#ifdef _OPENMP
    omp_set_num_threads(t);
#else
    (void)t;
#endif
}

static int trainer_init(Trainer *tr, const char *arch, UmError *err) {
    UmModelConfig cfg;
    UmTrainConfig tc;
    if (config_preset(&cfg, &tc, "tiny", arch_from_name(arch), err)) return -1;
    tr->B = tc.batch, tr->T = cfg.block_size, tr->step = 0;
    if (model_init_batch(&tr->model, &cfg, tc.seed, tr->B, err)) return -1;
    tr->opt = adamw_defaults();
    for (int g = 0; g < tr->model.params.n_groups; g++)
        if (tr->model.params.groups[g].weight_decay != 0) tr->model.params.groups[g].weight_decay = (real)0.1;
    tr->inputs = um_alloc((size_t)tr->B * tr->T * sizeof(int));
    tr->targets = um_alloc((size_t)tr->B * tr->T * sizeof(int));
    rng_seed(&tr->rng, 42);
    return 0;
}

static void trainer_free(Trainer *tr) {
    model_free(&tr->model);
    um_free(tr->inputs), um_free(tr->targets);
}

// One training step, exactly the work train_run does per batch (minus logging).
static double train_step(Trainer *tr, const UmData *d) {
    data_train_batch(d, &tr->rng, tr->B, tr->T, tr->inputs, tr->targets);
    double loss = model_forward(&tr->model, tr->inputs, tr->targets, tr->B, tr->T);
    params_zero_grad(&tr->model.params);
    model_backward(&tr->model);
    tr->step++;
    model_update_schedules(&tr->model, tr->step, 1000);
    adamw_step(&tr->model.params, &tr->opt, (real)1e-3, tr->step);
    return loss;
}

// Seconds per step of `steps` steps at t threads.
static double time_steps(Trainer *tr, const UmData *d, int steps, int t) {
    set_threads(t);
    train_step(tr, d);  // wakes the thread team at this size
    double t0 = um_now();
    for (int s = 0; s < steps; s++) train_step(tr, d);
    return (um_now() - t0) / steps;
}

// tokens/s of one arch at 1..MAX_THREADS threads into tps[t-1].
static int bench_arch(const char *arch, const UmData *d, double seconds, double *tps) {
    UmError err = {{0}};
    Trainer tr;
    if (trainer_init(&tr, arch, &err)) {
        fprintf(stderr, "note: %s skipped: %s\n", arch, err.msg);
        return -1;
    }
    // Calibrate the number of timed steps on one warm step at 1 thread.
    set_threads(1);
    for (int s = 0; s < WARMUP_STEPS; s++) train_step(&tr, d);
    double t0 = um_now();
    train_step(&tr, d);
    double one = um_now() - t0;
    int steps = (int)(seconds / REPEATS / MAX_THREADS / one);
    if (steps < 2) steps = 2;
    // Thread counts take turns within each repeat, so a burst of load on a
    // shared machine hits both; each keeps its best (least disturbed) run.
    double best[MAX_THREADS];
    for (int t = 0; t < MAX_THREADS; t++) best[t] = INFINITY;
    for (int r = 0; r < REPEATS; r++)
        for (int t = 1; t <= MAX_THREADS; t++) {
            double dt = time_steps(&tr, d, steps, t);
            if (dt < best[t - 1]) best[t - 1] = dt;
        }
    for (int t = 0; t < MAX_THREADS; t++) tps[t] = (double)tr.B * tr.T / best[t];
    fprintf(stderr, "note: %s: %d steps x %d x %d tokens per timed run, loss now %.4f\n", arch, steps, tr.B, tr.T,
            tr.model.loss);
    trainer_free(&tr);
    return 0;
}

// PyTorch's tokens/s for the same dense model at 1..MAX_THREADS threads
// into tps[t-1] (-1 where it gave none). Returns 0, or -1 if the script failed.
static int torch_tokens_per_s(double *tps, double seconds) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s %s --threads 1,2 --seconds %.2f", PYTHON, TORCH_SCRIPT, seconds);
    for (int t = 0; t < MAX_THREADS; t++) tps[t] = -1;
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        int t;
        double v;
        if (sscanf(line, "torch_tokens_per_s_%dt: %lf", &t, &v) == 2 && t >= 1 && t <= MAX_THREADS) tps[t - 1] = v;
    }
    return pclose(f) == 0 ? 0 : -1;
}

static int torch_available(void) {
    const char *env = getenv("UM_BENCH_TORCH");
    if (env && strcmp(env, "0") == 0) return 0;
    if (system(PYTHON " -c 'import torch' >/dev/null 2>&1") == 0) return 1;
    fprintf(stderr, "note: no PyTorch (%s -c 'import torch' failed): train_vs_torch skipped\n", PYTHON);
    return 0;
}

static int arch_wanted(const char *arch) {
    const char *env = getenv("UM_BENCH_ARCHS");
    if (!env || !*env) return 1;
    size_t n = strlen(arch);
    for (const char *p = env; (p = strstr(p, arch)); p += n)
        if ((p == env || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return 1;
    return 0;
}

// PyTorch right after our dense figures, so both see about the same machine load.
static void bench_torch(const double *dense, double seconds) {
    if (!torch_available()) return;
    double torch[MAX_THREADS];
    if (torch_tokens_per_s(torch, seconds) != 0) fprintf(stderr, "note: %s failed\n", TORCH_SCRIPT);
    for (int t = 1; t <= MAX_THREADS; t++) {
        if (torch[t - 1] <= 0) continue;
        printf("torch_tokens_per_s_%dt: %.0f\n", t, torch[t - 1]);
        printf("train_vs_torch_%dt: %.3f\n", t, dense[t - 1] / torch[t - 1]);
    }
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    if (!(seconds > 0)) um_die(UM_EXIT_USAGE, "usage: bench_train [seconds per measurement > 0]");
    UmError err = {{0}};
    UmData d;
    UmModelConfig probe;
    UmTrainConfig tc;
    if (config_preset(&probe, &tc, "tiny", ARCH_DENSE, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    if (data_load(&d, DATA_PATH, probe.block_size, &err))
        um_die(UM_EXIT_RUNTIME, "%s (run from the repository root after `make datasets`)", err.msg);
    fprintf(stderr, "note: kernels %s, tiny preset, data %s\n", um_simd_path_name(), DATA_PATH);

    for (int a = 0; a < (int)(sizeof ARCHS / sizeof *ARCHS); a++) {
        if (!arch_wanted(ARCHS[a])) continue;
        double tps[MAX_THREADS];
        if (bench_arch(ARCHS[a], &d, seconds, tps)) continue;
        for (int t = 1; t <= MAX_THREADS; t++) printf("train_tokens_per_s_%s_%dt: %.0f\n", ARCHS[a], t, tps[t - 1]);
        printf("thread_scaling_%s: %.3f\n", ARCHS[a], tps[1] / tps[0]);
        if (a == 0) {
            printf("thread_scaling: %.3f\n", tps[1] / tps[0]);
            fflush(stdout);
            bench_torch(tps, seconds);
        }
        fflush(stdout);
    }
    data_free(&d);
    return 0;
}
