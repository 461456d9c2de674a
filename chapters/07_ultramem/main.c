// Chapter 07: UltraMem, put together.
//
//   1. The skip-layer wiring of the ultramem presets: which block each memory
//      layer reads and after which block its output is added.
//   2. Init: the mean selected score and the memory output's standard
//      deviation at initialisation for the tiny memory shape, at the ladder's
//      rungs 0 (PKM: softmax), 1 (raw scores, PKM init), 5 (+ query/key norm
//      with weight 1) and with the improved init (score ~1, output variance
//      about 1/(2L) per layer).
//   3. The value learning-rate multiplier over a run (4x -> 1x).
//   4. The accounting of the tiny preset (parameters, FLOPs per token).
// The ablation ladder itself trains 11 models: bin/um ablate --size nano
// (the chapter README has the measured table).
//
// Run: make ch07
#include <math.h>
#include <stdio.h>

#include "base/params.h"
#include "base/rng.h"
#include "model/config.h"
#include "model/transformer.h"

static void wiring(void) {
    printf("1. Skip-layer wiring (memory i reads block r's normalised FFN input, adds after block w)\n");
    const char *sizes[] = {"nano", "tiny", "small"};
    for (int s = 0; s < 3; s++) {
        UmModelConfig m;
        UmTrainConfig t;
        UmError err;
        if (config_preset(&m, &t, sizes[s], ARCH_ULTRAMEM, &err)) continue;
        printf("   %-5s L=%d:", sizes[s], m.n_layers);
        for (int i = 0; i < m.um_layers; i++) printf("  %d:%d", m.um_read[i], m.um_write[i]);
        printf("   (n %d keys/side, m %d, Dv %d, E %d)\n", m.um_keys, m.um_topm, m.um_value_dim, m.um_ive);
    }
    printf("\n");
}

// Forward N random RMS-1 tokens through a layer; mean selected score, output std.
static void init_stats(const char *name, const UmUltraMemConfig *c, int D, UmRng *rng) {
    enum { N = 256 };
    static real x[N * 128], y[N * 128];
    UmParamRegistry reg;
    params_init(&reg);
    UmUltraMem l;
    um_ultramem_init(&l, c, D, N, &reg, rng, "mem.");
    for (int i = 0; i < N * D; i++) x[i] = (real)rng_normal(rng);
    um_ultramem_forward(&l, y, x, N);
    double score = 0, sq = 0;
    int reads = N * l.cfg.H * l.cfg.m;
    for (int i = 0; i < reads; i++) score += l.total[i];
    for (int i = 0; i < N * D; i++) sq += (double)y[i] * y[i];
    printf("   %-13s mean selected score %8.3f | output std %8.4f | 1/sqrt(2L) = %.4f\n", name, score / reads,
           sqrt(sq / (N * D)), 1 / sqrt(2.0 * (c->init_n_layers > 0 ? c->init_n_layers : 1)));
    um_ultramem_free(&l);
    params_free(&reg);
}

static void init(UmRng *rng) {
    UmModelConfig m;
    UmTrainConfig t;
    UmError err;
    config_preset(&m, &t, "tiny", ARCH_ULTRAMEM, &err);
    UmUltraMemConfig um = model_ultramem_config(&m);
    printf("2. Init of one tiny memory layer (D %d, n %d, m %d, H %d, E %d, L %d memory layers)\n", m.dim, um.n,
           um.m, um.H, um.E, um.init_n_layers);
    // The ladder's rungs 0, 1 and 5 (the tricks before them on, PKM init), then
    // the improved init (rung 9): why the raw-score rungs start badly.
    UmUltraMemConfig r0 = um_ultramem_config_pkm_like();
    r0.n = um.n, r0.m = 2 * um.m, r0.H = um.H, r0.Dk = um.Dk, r0.init_n_layers = 1;
    UmUltraMemConfig r1 = r0, r5 = um;
    r1.softmax = 0;
    r5.E = 1, r5.tdqkr = 0, r5.r = 1, r5.cores = 1, r5.improved_init = 0, r5.calibrate_norm = 0, r5.aux_alpha = 0;
    init_stats("rung 0 PKM", &r0, m.dim, rng);
    init_stats("rung 1 raw", &r1, m.dim, rng);
    init_stats("rung 5 qknorm", &r5, m.dim, rng);
    init_stats("improved init", &um, m.dim, rng);
    printf("\n");
}

static void value_lr(void) {
    UmModelConfig m;
    UmTrainConfig t;
    UmError err;
    config_preset(&m, &t, "tiny", ARCH_ULTRAMEM, &err);
    UmUltraMemConfig um = model_ultramem_config(&m);
    printf("3. Value learning-rate multiplier over a %d-step run (the values' lr = base lr x this)\n   ", t.steps);
    for (int s = 0; s <= t.steps; s += t.steps / 8) printf(" step %4d: %.2fx ", s, um_ultramem_value_lr_mult(&um, s, t.steps));
    printf("\n\n");
}

static void accounting(void) {
    const char *archs[] = {"dense", "pkm", "moe", "ultramem"};
    printf("4. tiny presets (matched activated FLOPs; MoE and UltraMem matched total parameters)\n");
    printf("   arch      | params M | activated M | MFLOPs/token\n");
    for (int a = 0; a < 4; a++) {
        UmModelConfig m;
        UmTrainConfig t;
        UmError err;
        UmModel model;
        if (config_preset(&m, &t, "tiny", arch_from_name(archs[a]), &err) || model_init(&model, &m, 1, &err)) {
            printf("   %-9s | (%s)\n", archs[a], err.msg);
            continue;
        }
        printf("   %-9s | %8.3f | %11.3f | %12.3f\n", archs[a], model_total_params(&model) / 1e6,
               model_activated_params(&model) / 1e6, model_flops_per_token(&model) / 1e6);
        model_free(&model);
    }
    printf("\nThe ablation ladder (PKM, then each trick): bin/um ablate --size nano --steps 600\n");
}

int main(void) {
    UmRng rng;
    rng_seed(&rng, 7);
    printf("Chapter 07: UltraMem\n\n");
    wiring();
    init(&rng);
    value_lr();
    accounting();
    return 0;
}
