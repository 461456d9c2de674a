// test_model.c: the dense model end to end: training lowers the loss, runs
// are deterministic, checkpoints round-trip, resume is bit-identical, and
// damaged or mismatched checkpoints are refused with a reason.
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>

#include "base/rng.h"
#include "helpers/model_fixtures.h"
#include "helpers/testutil.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/evaluate.h"
#include "model/train.h"
#include "model/transformer.h"

static char dir[256], text_path[300], ckpt_path[300];

static void setup(void) {
    make_temp_dir(dir, sizeof dir);
    snprintf(text_path, sizeof text_path, "%s/text.txt", dir);
    snprintf(ckpt_path, sizeof ckpt_path, "%s/model.ckpt", dir);
    write_test_text(text_path, 20000);
}

static void teardown(void) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

// Train a nano model for `steps` steps; record each step's loss.
typedef struct {
    double losses[256];
    int n;
} LossLog;

static void record_loss(void *ctx, UmModel *m, const UmStepInfo *info) {
    (void)m;
    LossLog *log = ctx;
    if (log->n < 256) log->losses[log->n++] = info->train_loss;
}

static UmTrainConfig test_train_config(int steps) {
    UmModelConfig mc;
    UmTrainConfig tc;
    config_preset(&mc, &tc, "nano", ARCH_DENSE, NULL);
    tc.steps = steps;
    tc.eval_every = 0;
    tc.eval_batches = 2;
    return tc;
}

static void train_steps(UmModel *m, UmData *d, UmTrainConfig *tc, UmTrainState *s, const char *ckpt, LossLog *log) {
    UmTrainRun run = {.ckpt_path = ckpt, .on_step = record_loss, .hook_ctx = log};
    UmError err;
    ck_assert_msg(train_run(m, d, tc, s, &run, &err) == 0, "train_run failed: %s", err.msg);
}

START_TEST(test_loss_falls) {
    UmData d;
    UmError err;
    UmModelConfig mc = tiny_test_config();
    ck_assert_msg(data_load(&d, text_path, mc.block_size, &err) == 0, "%s", err.msg);
    UmModel m;
    ck_assert(model_init(&m, &mc, 1, &err) == 0);
    UmTrainConfig tc = test_train_config(80);
    UmTrainState s;
    train_state_fresh(&s, 1);
    double before = eval_val_loss(&m, &d, 8, 4);
    LossLog log = {0};
    train_steps(&m, &d, &tc, &s, NULL, &log);
    double after = eval_val_loss(&m, &d, 8, 4);
    // A fresh model predicts ~uniformly: ln(256) = 5.55 nats. 16 words make
    // this text far more predictable, and 80 steps must get well below.
    ck_assert_msg(before > 5.0, "initial val loss %.3f should be near ln 256", before);
    ck_assert_msg(after < 0.6 * before, "val loss fell only from %.3f to %.3f", before, after);
    model_free(&m);
    data_free(&d);
}
END_TEST

// Same seed, same threads (the test process has no OpenMP pool: 1 thread
// unless OMP_NUM_THREADS says otherwise): identical losses, bit for bit.
static void run_losses(LossLog *log, int steps) {
    UmData d;
    UmError err;
    UmModelConfig mc = tiny_test_config();
    ck_assert(data_load(&d, text_path, mc.block_size, &err) == 0);
    UmModel m;
    ck_assert(model_init(&m, &mc, 42, &err) == 0);
    UmTrainConfig tc = test_train_config(steps);
    UmTrainState s;
    train_state_fresh(&s, 42);
    train_steps(&m, &d, &tc, &s, NULL, log);
    model_free(&m);
    data_free(&d);
}

START_TEST(test_deterministic) {
    LossLog a = {0}, b = {0};
    run_losses(&a, 20);
    run_losses(&b, 20);
    ck_assert_int_eq(a.n, 20);
    for (int i = 0; i < 20; i++) ck_assert_msg(a.losses[i] == b.losses[i], "step %d: %.9g vs %.9g", i, a.losses[i], b.losses[i]);
}
END_TEST

// A hook that logs losses and asks the loop to stop after `stop_at` steps,
// as a user pressing Ctrl-C would (the loop then saves a checkpoint).
typedef struct {
    LossLog log;
    int stop_at;
    volatile int stop;
} StopAt;

static void log_and_stop(void *ctx, UmModel *m, const UmStepInfo *info) {
    StopAt *s = ctx;
    record_loss(&s->log, m, info);
    if (info->step == s->stop_at) s->stop = 1;
}

static int same_weights(const UmModel *a, const UmModel *b) {
    for (int i = 0; i < a->params.count; i++) {
        const UmParam *p = a->params.params[i], *q = b->params.params[i];
        if (memcmp(p->data, q->data, p->numel * sizeof(real)) != 0) return 0;
    }
    return 1;
}

// 30 steps in one go, versus 15 + checkpoint + load into a fresh model + 15:
// the last 15 losses and the final weights must be identical.
START_TEST(test_resume_bit_identical) {
    UmData d;
    UmError err;
    UmModelConfig mc = tiny_test_config();
    ck_assert(data_load(&d, text_path, mc.block_size, &err) == 0);
    UmTrainConfig tc = test_train_config(30);

    UmModel whole;
    model_init(&whole, &mc, 5, &err);
    UmTrainState s_whole;
    train_state_fresh(&s_whole, 5);
    LossLog log_whole = {0};
    train_steps(&whole, &d, &tc, &s_whole, NULL, &log_whole);

    UmModel first;
    model_init(&first, &mc, 5, &err);
    UmTrainState s_first;
    train_state_fresh(&s_first, 5);
    StopAt stopper = {.stop_at = 15};
    UmTrainRun run = {.ckpt_path = ckpt_path, .on_step = log_and_stop, .hook_ctx = &stopper, .stop = &stopper.stop};
    ck_assert_msg(train_run(&first, &d, &tc, &s_first, &run, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(stopper.log.n, 15);
    model_free(&first);

    UmModel second;
    model_init(&second, &mc, 999, &err);  // different init: the checkpoint must overwrite everything
    UmTrainState s_second;
    ck_assert_msg(checkpoint_load(ckpt_path, &second, &s_second, &err) == 0, "%s", err.msg);
    ck_assert_int_eq((int)s_second.step, 15);
    LossLog log_second = {0};
    train_steps(&second, &d, &tc, &s_second, NULL, &log_second);
    ck_assert_int_eq(log_second.n, 15);
    for (int i = 0; i < 15; i++)
        ck_assert_msg(log_second.losses[i] == log_whole.losses[15 + i], "step %d: resumed %.9g vs whole %.9g",
                      16 + i, log_second.losses[i], log_whole.losses[15 + i]);
    ck_assert_msg(same_weights(&whole, &second), "final weights differ after resume");
    model_free(&second);
    model_free(&whole);
    data_free(&d);
}
END_TEST

// ---------------------------------------------------------------- checkpoint files

static void save_fresh(const char *path, int seed) {
    UmModelConfig mc = tiny_test_config();
    UmModel m;
    UmError err;
    model_init(&m, &mc, seed, &err);
    UmTrainState s = {.step = 7, .rng_state = 1234};
    ck_assert_msg(checkpoint_save(path, &m, &s, &err) == 0, "%s", err.msg);
    model_free(&m);
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

// Try to load path into a fresh nano model; return the reason (or "" if it loaded).
static const char *load_reason(const char *path, UmError *err) {
    UmModelConfig mc = tiny_test_config();
    UmModel m;
    model_init(&m, &mc, 3, err);
    int rc = checkpoint_load(path, &m, NULL, err);
    model_free(&m);
    return rc == 0 ? "" : err->msg;
}

START_TEST(test_checkpoint_round_trip) {
    UmModelConfig mc = tiny_test_config();
    UmModel a, b;
    UmError err;
    model_init(&a, &mc, 11, &err);
    a.params.params[3]->adam_m[0] = 0.5f;  // optimizer state travels too
    UmTrainState s = {.step = 42, .rng_state = 987654321};
    ck_assert(checkpoint_save(ckpt_path, &a, &s, &err) == 0);
    model_init(&b, &mc, 12, &err);
    UmTrainState t;
    ck_assert_msg(checkpoint_load(ckpt_path, &b, &t, &err) == 0, "%s", err.msg);
    ck_assert(same_weights(&a, &b));
    ck_assert(b.params.params[3]->adam_m[0] == 0.5f);
    ck_assert_int_eq((int)t.step, 42);
    ck_assert(t.rng_state == 987654321ull);
    UmModelConfig read;
    ck_assert(checkpoint_read_config(ckpt_path, &read, &err) == 0);
    char diff[64];
    ck_assert(config_diff(&read, &mc, diff, sizeof diff) == 0);
    model_free(&a);
    model_free(&b);
}
END_TEST

// The write goes through "<path>.tmp" and a rename: no temp file is left,
// and an existing checkpoint is replaced whole.
START_TEST(test_checkpoint_atomic) {
    save_fresh(ckpt_path, 1);
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s.tmp", ckpt_path);
    ck_assert_int_eq((int)file_size(tmp), -1);
    // A stale temp file from a crashed writer must not confuse the next save.
    FILE *f = fopen(tmp, "wb");
    fputs("half-written garbage", f);
    fclose(f);
    save_fresh(ckpt_path, 2);
    ck_assert_int_eq((int)file_size(tmp), -1);
    UmError err;
    ck_assert_str_eq(load_reason(ckpt_path, &err), "");
    // Saving into a directory that does not exist fails with a reason and no crash.
    UmModelConfig mc = tiny_test_config();
    UmModel m;
    model_init(&m, &mc, 1, &err);
    UmTrainState s = {0};
    ck_assert(checkpoint_save("/nonexistent-dir/x.ckpt", &m, &s, &err) == -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot write"));
    model_free(&m);
}
END_TEST

static void truncate_to(const char *path, long n) {
    ck_assert(truncate(path, n) == 0);
}

START_TEST(test_checkpoint_truncated) {
    UmError err;
    save_fresh(ckpt_path, 1);
    long n = file_size(ckpt_path);
    long cuts[] = {0, 3, 12, 40, n / 2, n - 1};
    for (int i = 0; i < 6; i++) {
        save_fresh(ckpt_path, 1);
        truncate_to(ckpt_path, cuts[i]);
        const char *why = load_reason(ckpt_path, &err);
        ck_assert_msg(*why, "a checkpoint cut to %ld of %ld bytes loaded", cuts[i], n);
    }
}
END_TEST

// Flip one bit at many places: every flip must be caught (by the magic,
// version or CRC check) and the model left unchanged.
START_TEST(test_checkpoint_bit_flips) {
    UmError err;
    save_fresh(ckpt_path, 1);
    long n = file_size(ckpt_path);
    FILE *f = fopen(ckpt_path, "rb");
    ck_assert(n > 0);
    unsigned char *orig = malloc((size_t)n);
    ck_assert(fread(orig, 1, n, f) == (size_t)n);
    fclose(f);
    for (long pos = 0; pos < n; pos += n / 37 + 1) {
        orig[pos] ^= 0x10;
        f = fopen(ckpt_path, "wb");
        fwrite(orig, 1, n, f);
        fclose(f);
        orig[pos] ^= 0x10;
        UmModelConfig mc = tiny_test_config();
        UmModel m;
        model_init(&m, &mc, 3, &err);
        real before = m.params.params[0]->data[0];
        ck_assert_msg(checkpoint_load(ckpt_path, &m, NULL, &err) == -1, "bit flip at byte %ld not detected", pos);
        ck_assert_msg(m.params.params[0]->data[0] == before, "a refused load changed the model");
        model_free(&m);
    }
    free(orig);
}
END_TEST

START_TEST(test_checkpoint_mismatch) {
    UmError err;
    save_fresh(ckpt_path, 1);
    UmModelConfig other = tiny_test_config();
    other.n_layers = 3;
    UmModel m;
    model_init(&m, &other, 1, &err);
    ck_assert(checkpoint_load(ckpt_path, &m, NULL, &err) == -1);
    ck_assert_msg(strstr(err.msg, "n_layers"), "reason should name the field: %s", err.msg);
    model_free(&m);
    // Not a checkpoint at all, and a wrong version.
    FILE *f = fopen(ckpt_path, "wb");
    fputs("hello, this is a text file and no checkpoint", f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(load_reason(ckpt_path, &err), "bad magic"));
    save_fresh(ckpt_path, 1);
    f = fopen(ckpt_path, "r+b");
    fseek(f, 8, SEEK_SET);
    unsigned char v = 9;
    fwrite(&v, 1, 1, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(load_reason(ckpt_path, &err), "version"));
    ck_assert_ptr_nonnull(strstr(load_reason("/nonexistent.ckpt", &err), "cannot open"));
}
END_TEST

// A NaN in the weights stops training with a message naming the step, and
// the checkpoint on disk stays the last good one.
START_TEST(test_nan_stops_training) {
    UmData d;
    UmError err;
    UmModelConfig mc = tiny_test_config();
    ck_assert(data_load(&d, text_path, mc.block_size, &err) == 0);
    UmModel m;
    model_init(&m, &mc, 1, &err);
    UmTrainConfig tc = test_train_config(10);
    UmTrainState s;
    train_state_fresh(&s, 1);
    train_steps(&m, &d, &tc, &s, ckpt_path, &(LossLog){0});
    long good_size = file_size(ckpt_path);
    UmParam *w = params_find(&m.params, "blocks.1.mlp.w1");
    w->data[5] = NAN;
    tc.steps = 20;
    UmTrainRun run = {.ckpt_path = ckpt_path};
    ck_assert(train_run(&m, &d, &tc, &s, &run, &err) == -1);
    ck_assert_msg(strstr(err.msg, "diverged at step 11"), "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "blocks.1.mlp.w1"), "should name the tensor: %s", err.msg);
    ck_assert_str_eq(load_reason(ckpt_path, &err), "");
    ck_assert_int_eq((int)file_size(ckpt_path), (int)good_size);
    model_free(&m);
    data_free(&d);
}
END_TEST

// ---------------------------------------------------------------- causality

// No architecture may look ahead: re-drawing every token after position t
// (in every sequence of the batch) must leave the logits at positions <= t
// bit-identical, and must change later ones. Tiny preset, 4 x 128 tokens, so
// the memory layers that score tokens in chunks of 256 cross a chunk edge.
START_TEST(test_every_arch_is_causal) {
    static const char *ARCHS[] = {"dense", "pkm", "moe", "ultramem", "ultramem2", "peer"};
    for (int a = 0; a < 6; a++) {
        UmModelConfig cfg;
        UmTrainConfig tc;
        UmError err = {{0}};
        ck_assert_int_eq(config_preset(&cfg, &tc, "tiny", arch_from_name(ARCHS[a]), &err), 0);
        UmModel m;
        const int B = 4, T = cfg.block_size, t = T / 2 + 3;
        ck_assert_int_eq(model_init_batch(&m, &cfg, 7, B, &err), 0);
        int *tokens = malloc(sizeof(int) * B * T);
        UmRng rng;
        rng_seed(&rng, 3);
        for (int i = 0; i < B * T; i++) tokens[i] = (int)rng_below(&rng, 256);
        const size_t nlogits = (size_t)B * T * cfg.vocab;
        real *before = malloc(nlogits * sizeof(real));
        model_forward(&m, tokens, NULL, B, T);
        memcpy(before, m.logits, nlogits * sizeof(real));
        for (int b = 0; b < B; b++)
            for (int s = t + 1; s < T; s++) tokens[b * T + s] = (int)rng_below(&rng, 256);
        model_forward(&m, tokens, NULL, B, T);
        int later_changed = 0;
        for (int b = 0; b < B; b++)
            for (int s = 0; s < T; s++) {
                size_t row = ((size_t)b * T + s) * cfg.vocab;
                int same = memcmp(before + row, m.logits + row, cfg.vocab * sizeof(real)) == 0;
                if (s <= t) ck_assert_msg(same, "%s: logits at position %d of sequence %d saw the future", ARCHS[a], s, b);
                else later_changed |= !same;
            }
        ck_assert_msg(later_changed, "%s: no logit after position %d reacted to new tokens", ARCHS[a], t);
        model_free(&m);
        free(tokens), free(before);
    }
}
END_TEST

Suite *model_suite(void) {
    Suite *s = suite_create("model");
    TCase *train = tcase_create("training");
    tcase_add_checked_fixture(train, setup, teardown);
    tcase_set_timeout(train, 120);
    tcase_add_test(train, test_loss_falls);
    tcase_add_test(train, test_every_arch_is_causal);
    tcase_add_test(train, test_deterministic);
    tcase_add_test(train, test_resume_bit_identical);
    tcase_add_test(train, test_nan_stops_training);
    suite_add_tcase(s, train);
    TCase *ckpt = tcase_create("checkpoint");
    tcase_add_checked_fixture(ckpt, setup, teardown);
    tcase_set_timeout(ckpt, 60);
    tcase_add_test(ckpt, test_checkpoint_round_trip);
    tcase_add_test(ckpt, test_checkpoint_atomic);
    tcase_add_test(ckpt, test_checkpoint_truncated);
    tcase_add_test(ckpt, test_checkpoint_bit_flips);
    tcase_add_test(ckpt, test_checkpoint_mismatch);
    suite_add_tcase(s, ckpt);
    return s;
}
