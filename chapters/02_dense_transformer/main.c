// Chapter 02: train the dense byte-level transformer.
//
// The `tiny` preset (4 layers, width 128, 4 heads, context 128 bytes:
// 842,496 parameters) trained on fortunes for DEMO_STEPS steps instead of the
// preset's 2000, so the demo takes a minute or two on 2 cores. Then:
//   - the loss curve, as ASCII here and as a PNG in out/ch02/loss.png;
//   - validation bits per byte on the whole held-out split, next to the
//     unigram entropy (the best any model that ignores context can do);
//   - 200 bytes sampled from the model.
// The checkpoint is saved to out/ch02/model.ckpt, so you can keep playing:
//   bin/um sample --ckpt out/ch02/model.ckpt --prompt "Q: " --tokens 300
//
// Run: make ch02
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/rng.h"
#include "base/timer.h"
#include "model/config.h"
#include "model/data.h"
#include "model/evaluate.h"
#include "model/sampler.h"
#include "model/train.h"
#include "model/transformer.h"
#include "plot.h"
#include "png.h"
#include "theme.h"

#ifndef DEMO_STEPS
#define DEMO_STEPS 300  // the preset trains 2000; -DDEMO_STEPS=N to try another length
#endif
#ifndef EVAL_EVERY
#define EVAL_EVERY 50
#endif
#define EVAL_BATCHES 10  // validation batches per evaluation during training (the final one uses all)
#define DATA_PATH "out/data/fortunes.txt"
#define OUT_DIR "out/ch02"

// ------------------------------------------------------------------ recording the run

// What the step hook collects: the training loss of every step and the
// validation loss whenever the loop computed one (all in bits per byte).
typedef struct {
    double train[DEMO_STEPS];
    int n_train;
    int val_step[DEMO_STEPS];
    double val[DEMO_STEPS];
    int n_val;
} LossLog;

static void record_step(void *ctx, UmModel *model, const UmStepInfo *info) {
    LossLog *log = ctx;
    (void)model;
    if (log->n_train < DEMO_STEPS) log->train[log->n_train++] = info->train_loss * NATS_TO_BITS;
    if (info->evaluated && log->n_val < DEMO_STEPS) {
        log->val_step[log->n_val] = info->step;
        log->val[log->n_val++] = info->val_loss * NATS_TO_BITS;
    }
}

// ------------------------------------------------------------------ the ASCII curve

enum { PLOT_W = 60, PLOT_H = 14 };

static int plot_row(double v, double lo, double hi) {
    int r = (int)lround((hi - v) / (hi - lo) * (PLOT_H - 1));
    return r < 0 ? 0 : r > PLOT_H - 1 ? PLOT_H - 1 : r;
}

// '*' training loss (mean of the steps in each column), 'o' validation,
// '-' the unigram entropy. Later marks overwrite earlier ones.
static void ascii_curve(const LossLog *log, double unigram) {
    char grid[PLOT_H][PLOT_W + 1];
    memset(grid, ' ', sizeof grid);
    double col_mean[PLOT_W];
    double lo = unigram, hi = unigram;
    for (int c = 0; c < PLOT_W; c++) {
        int s0 = c * log->n_train / PLOT_W, s1 = (c + 1) * log->n_train / PLOT_W;
        double sum = 0;
        for (int s = s0; s < s1; s++) sum += log->train[s];
        col_mean[c] = s1 > s0 ? sum / (s1 - s0) : NAN;
        if (s1 > s0) lo = fmin(lo, col_mean[c]), hi = fmax(hi, col_mean[c]);
    }
    for (int i = 0; i < log->n_val; i++) lo = fmin(lo, log->val[i]), hi = fmax(hi, log->val[i]);
    for (int c = 0; c < PLOT_W; c++) grid[plot_row(unigram, lo, hi)][c] = '-';
    for (int c = 0; c < PLOT_W; c++)
        if (!isnan(col_mean[c])) grid[plot_row(col_mean[c], lo, hi)][c] = '*';
    for (int i = 0; i < log->n_val; i++) {
        int c = (log->val_step[i] - 1) * PLOT_W / log->n_train;
        grid[plot_row(log->val[i], lo, hi)][c] = 'o';
    }
    printf("\nloss in bits/byte:  * train (mean per column)   o validation   - unigram entropy %.3f\n", unigram);
    for (int r = 0; r < PLOT_H; r++) {
        grid[r][PLOT_W] = 0;
        double v = hi - (hi - lo) * r / (PLOT_H - 1);
        printf("%6.2f |%s\n", v, grid[r]);
    }
    printf("       +");
    for (int c = 0; c < PLOT_W; c++) putchar('-');
    char last[32];
    snprintf(last, sizeof last, "step %d", log->n_train);
    printf("\n        step 1%*s\n", PLOT_W - 6, last);
}

// ------------------------------------------------------------------ the PNG curve

static void png_curve(const LossLog *log, double unigram, const char *path) {
    float xs[DEMO_STEPS], ys[DEMO_STEPS], vx[DEMO_STEPS], vy[DEMO_STEPS], ux[2], uy[2];
    for (int i = 0; i < log->n_train; i++) xs[i] = (float)(i + 1), ys[i] = (float)log->train[i];
    for (int i = 0; i < log->n_val; i++) vx[i] = (float)log->val_step[i], vy[i] = (float)log->val[i];
    ux[0] = 1, ux[1] = (float)log->n_train, uy[0] = uy[1] = (float)unigram;
    UmSeries series[3] = {
        {.x = xs, .y = ys, .n = log->n_train, .label = "train"},
        {.x = vx, .y = vy, .n = log->n_val, .label = "validation"},
        {.x = ux, .y = uy, .n = 2, .label = "unigram entropy"},
    };
    UmLinePlotStyle style = {.legend = 1, .line_width = 2, .x_label = "step", .y_label = "bits per byte"};
    UmCanvas canvas;
    UmError err;
    if (um_canvas_create(&canvas, 720, 420, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    um_canvas_clear(&canvas, UM_THEME_BG);
    UmRect body = um_draw_panel(&canvas, um_rect_inset(um_canvas_rect(&canvas), 8), "dense tiny on fortunes");
    um_draw_line_plot(&canvas, body, series, 3, &style);
    if (um_png_write(&canvas, path, &err)) fprintf(stderr, "note: no PNG written: %s\n", err.msg);
    else printf("picture: %s\n", path);
    um_canvas_free(&canvas);
}

// ------------------------------------------------------------------ sampling

// Print generated bytes, showing control characters (other than newline
// and tab) as '?' so the terminal stays sane.
static void print_sample(const unsigned char *text, int n) {
    for (int i = 0; i < n; i++) {
        unsigned char ch = text[i];
        putchar(ch == '\n' || ch == '\t' || ch >= 32 ? ch : '?');
    }
    putchar('\n');
}

static void sample_text(UmModel *model) {
    static const char prompt[] = "The ";
    enum { N_NEW = 200 };
    unsigned char out[sizeof prompt + N_NEW];
    UmSampling s = {.temperature = 0.8, .top_k = 40};
    UmRng rng;
    rng_seed(&rng, 1337);
    int n = generate(model, (const unsigned char *)prompt, (int)strlen(prompt), N_NEW, &s, &rng, out);
    printf("\n200 bytes sampled after \"%s\" (temperature %.1f, top-k %d):\n----\n", prompt, s.temperature, s.top_k);
    print_sample(out, n);
    printf("----\n");
}

// ------------------------------------------------------------------ main

static void print_header(const UmModel *m, const UmTrainConfig *tc, const UmData *d, double unigram) {
    const UmModelConfig *c = &m->cfg;
    double fwd = model_flops_per_token(m);
    printf("dense transformer, tiny preset: %d layers, D=%d, H=%d, T=%d, F=%d, V=%d\n", c->n_layers, c->dim,
           c->n_heads, c->block_size, c->mlp_hidden, c->vocab);
    printf("  %zu parameters, %.2f MFLOPs per token forward (about 3x that to train)\n", model_total_params(m),
           fwd / 1e6);
    printf("  data %s: %zu train + %zu validation bytes, unigram entropy %.3f bits/byte\n", DATA_PATH,
           data_train_bytes(d), data_val_bytes(d), unigram);
    printf("  %d steps x B=%d x T=%d = %.2fM training bytes, peak lr %.g, warmup %d, cosine to %.g\n\n", tc->steps,
           tc->batch, c->block_size, (double)tc->steps * tc->batch * c->block_size / 1e6, tc->lr, tc->warmup,
           tc->min_lr);
}

int main(void) {
    UmError err;
    UmModelConfig mc;
    UmTrainConfig tc;
    if (config_preset(&mc, &tc, "tiny", ARCH_DENSE, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    // The preset's optimizer settings, on a shorter schedule.
    tc.steps = DEMO_STEPS;
    tc.warmup = DEMO_STEPS / 20 + 1;
    tc.eval_every = EVAL_EVERY;
    tc.eval_batches = EVAL_BATCHES;

    UmData data;
    if (data_load(&data, DATA_PATH, mc.block_size, &err))
        um_die(UM_EXIT_RUNTIME, "%s (hint: run `make` from the repository root)", err.msg);
    double unigram = data_unigram_entropy_bits(data.bytes, data.n);
    UmModel model;
    if (model_init(&model, &mc, tc.seed, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    print_header(&model, &tc, &data, unigram);

    mkdir("out", 0755), mkdir(OUT_DIR, 0755);
    static LossLog log;  // static: a few KB that need not live on the stack
    UmTrainState state;
    train_state_fresh(&state, tc.seed);
    UmTrainRun run = {.ckpt_path = OUT_DIR "/model.ckpt", .log = stdout, .on_step = record_step, .hook_ctx = &log};
    double t0 = um_now();
    if (train_run(&model, &data, &tc, &state, &run, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    double secs = um_now() - t0;
    double tokens = (double)tc.steps * tc.batch * mc.block_size;
    printf("trained in %.1fs: %.1fk tokens/s (with validation every %d steps)\n", secs, tokens / secs / 1e3,
           EVAL_EVERY);

    ascii_curve(&log, unigram);
    png_curve(&log, unigram, OUT_DIR "/loss.png");

    double val = eval_val_loss(&model, &data, tc.batch, 0) * NATS_TO_BITS;  // 0: the whole held-out split
    printf("\nvalidation (whole held-out split): %.3f bits/byte\n", val);
    printf("  unigram entropy of the file:      %.3f bits/byte  (byte frequencies only, no context)\n", unigram);
    printf("  knowing nothing:                   8.000 bits/byte  (log2 256)\n");
    printf("  the model saves %.2f bits per byte over the unigram baseline\n", unigram - val);

    sample_text(&model);
    printf("checkpoint: %s/model.ckpt  (try: bin/um sample --ckpt %s/model.ckpt --prompt \"Q: \")\n", OUT_DIR,
           OUT_DIR);
    model_free(&model);
    data_free(&data);
    return 0;
}
