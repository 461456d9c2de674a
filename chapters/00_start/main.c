// Chapter 00: is everything in place?
//
// Prints what this build is made of (number type, SIMD path, threads), checks
// that the bundled data files exist, then trains the smallest model (the
// `nano` preset) for 20 steps and checks that its loss went down. If this
// program ends with "all good", every later chapter will run.
//
// Run: make ch00          (from the repository root)
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/error.h"
#include "base/real.h"
#include "kernels/dispatch.h"
#include "model/config.h"
#include "model/data.h"
#include "model/evaluate.h"
#include "model/train.h"
#include "model/transformer.h"

#define DEMO_STEPS 20

// ------------------------------------------------------------------ the build

static void print_build(void) {
    printf("== the build ==\n");
#if defined(__clang__)
    printf("  compiler       clang %s\n", __clang_version__);
#elif defined(__GNUC__)
    printf("  compiler       gcc %s\n", __VERSION__);
#endif
    // `real` is the one number type of the library: float in this build,
    // double in the gradient-check build (bin/test_f64).
    printf("  real           %s (%zu bytes)\n", sizeof(real) == 4 ? "float" : "double", sizeof(real));
    printf("  SIMD path      %s  (CPU can run: avx2 %s, avx512 %s; force one with UM_SIMD=scalar|avx2|avx512)\n",
           um_simd_path_name(), um_simd_available(UM_SIMD_AVX2) ? "yes" : "no",
           um_simd_available(UM_SIMD_AVX512) ? "yes" : "no");
#ifdef _OPENMP
    printf("  OpenMP         yes, %d threads  (set OMP_NUM_THREADS to change)\n", omp_get_max_threads());
#else
    printf("  OpenMP         no (built with OMP=0 or a compiler without it): 1 thread\n");
#endif
}

// ------------------------------------------------------------------ the data

static const char *DATA_FILES[] = {
    "out/data/fortunes.txt",                 // real English: the default training text
    "out/data/encyclopedia.txt",             // synthetic facts: what memory layers must store
    "out/data/encyclopedia_questions.tsv",   // held-out prompt<TAB>answer lines: fact recall
};
#define N_DATA_FILES ((int)(sizeof DATA_FILES / sizeof DATA_FILES[0]))

// Returns the number of files that are missing.
static int check_data(void) {
    printf("== the data ==\n");
    int missing = 0;
    for (int i = 0; i < N_DATA_FILES; i++) {
        struct stat st;
        if (stat(DATA_FILES[i], &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
            printf("  ok       %-38s %8.2f MB\n", DATA_FILES[i], st.st_size / 1e6);
        } else {
            printf("  MISSING  %s\n", DATA_FILES[i]);
            missing++;
        }
    }
    if (missing) printf("  hint: run `make` from the repository root; it builds the data files.\n");
    return missing;
}

// ------------------------------------------------------------------ a tiny run

// Called by train_run after every optimizer step: print the loss in bits per
// byte, so it reads on the same scale as the 8 bits of a raw byte.
static void print_step(void *ctx, UmModel *model, const UmStepInfo *info) {
    double *first_loss = ctx;
    (void)model;
    if (info->step == 1) *first_loss = info->train_loss;
    if (info->step == 1 || info->step % 5 == 0)
        printf("  step %2d/%d  train loss %.3f bits/byte  (lr %.2e, grad norm %.2f)\n", info->step,
               info->total_steps, info->train_loss * NATS_TO_BITS, info->lr, info->grad_norm);
}

// Trains the nano preset on fortunes for DEMO_STEPS steps. Returns 0 if the
// loss went down, 1 if it did not.
static int nano_run(void) {
    printf("== a %d-step training run (nano preset, fortunes) ==\n", DEMO_STEPS);
    UmError err;
    UmModelConfig mc;
    UmTrainConfig tc;
    if (config_preset(&mc, &tc, "nano", ARCH_DENSE, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    tc.steps = DEMO_STEPS;
    tc.warmup = 2;
    tc.eval_every = 0;  // validate only at the end
    UmData data;
    if (data_load(&data, DATA_FILES[0], mc.block_size, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    UmModel model;
    if (model_init(&model, &mc, tc.seed, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    printf("  model: %d layers, dim %d, %d heads, context %d bytes: %zu parameters\n", mc.n_layers, mc.dim,
           mc.n_heads, mc.block_size, model_total_params(&model));
    printf("  a model that knows nothing spreads its bets over 256 bytes: log2(256) = 8 bits/byte\n");

    double first_loss = 0;
    UmTrainState state;
    train_state_fresh(&state, tc.seed);
    UmTrainRun run = {.on_step = print_step, .hook_ctx = &first_loss};  // no log, no checkpoint
    if (train_run(&model, &data, &tc, &state, &run, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);

    double val = eval_val_loss(&model, &data, tc.batch, tc.eval_batches) * NATS_TO_BITS;
    double first = first_loss * NATS_TO_BITS;
    printf("  validation loss after %d steps: %.3f bits/byte (step 1 was %.3f)\n", DEMO_STEPS, val, first);
    model_free(&model);
    data_free(&data);
    return val < first ? 0 : 1;
}

// ------------------------------------------------------------------ main

static void print_next_steps(void) {
    printf("== next ==\n");
    printf("  1. read chapters/01_backprop_in_c/README.md, then run `make ch01`\n");
    printf("  2. do its exercise, then `make grade`\n");
    printf("  3. `make ch02` trains the dense transformer every later chapter builds on\n");
}

int main(void) {
    printf("ultramem.c, chapter 00: checking the setup\n\n");
    print_build();
    int missing = check_data();
    if (missing) um_die(UM_EXIT_RUNTIME, "%d data file(s) missing (hint: run `make` from the repository root)",
                        missing);
    int bad = nano_run();
    if (bad) um_die(UM_EXIT_RUNTIME, "the loss did not go down (hint: run `make test` to find the broken part)");
    printf("\nall good: the library builds, the data is there, and a model learns.\n\n");
    print_next_steps();
    return 0;
}
