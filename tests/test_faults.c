// test_faults.c: what happens when things go wrong around a training run.
//
//  - SIGKILL while a checkpoint is being written: the previous checkpoint is
//    still there, loads, and `um train --resume` continues from it.
//  - The disk fills up (a file size limit, and a small tmpfs when user
//    namespaces allow mounting one): a clear message, exit 1, and the old
//    checkpoint byte for byte as it was.
//  - A NaN in the weights: training stops naming the tensor and the step, and
//    the checkpoint on disk stays the last good one.
//  - `--resume` with a checkpoint of another size or arch is refused with the
//    field that differs.
// The CLI parts run the real bin/um (UM_BIN), through the runner in test_cli.c.
#include <check.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/crc32.h"
#include "helpers/model_fixtures.h"
#include "helpers/testutil.h"
#include "model/checkpoint.h"
#include "model/train.h"

// In test_cli.c.
const char *hardening_um_bin(void);
int hardening_run_um(const char *const *args, char *err, size_t err_len, int timeout_s);
int hardening_run_um_ex(const char *const *args, char *err, size_t err_len, int timeout_s, void (*before_exec)(void));

static char dir[256], text[320], ckpt[320], tmp[330], copy[320];

static void setup(void) {
    make_temp_dir(dir, sizeof dir);
    snprintf(text, sizeof text, "%s/text.txt", dir);
    snprintf(ckpt, sizeof ckpt, "%s/model.ckpt", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", ckpt);
    snprintf(copy, sizeof copy, "%s/good.ckpt", dir);
    write_test_text(text, 20000);
}

static void teardown(void) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

// ---------------------------------------------------------------- helpers
static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n + 1);
    ck_assert(fread(b, 1, *n, f) == *n);
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert(f && fwrite(b, 1, n, f) == n);
    fclose(f);
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return same;
}

// Loads a checkpoint the way the CLI does; returns its step, or -1 (reason in err).
static long long load_step(const char *path, UmError *err) {
    UmModelConfig cfg;
    UmModel m;
    UmTrainState s;
    if (checkpoint_read_config(path, &cfg, err)) return -1;
    if (model_init(&m, &cfg, 0, err)) return -1;
    int rc = checkpoint_load(path, &m, &s, err);
    model_free(&m);
    return rc ? -1 : (long long)s.step;
}

// `um train --size nano` on the test text, with extra flags.
static int um_train(char *out, size_t len, const char *steps, const char *extra) {
    const char *args[] = {"train", "--size", "nano", "--data", text, "--ckpt", ckpt, "--steps", steps, "--eval-every",
                          "0", "--eval-batches", "1", "--threads", "1", "--no-viz", extra, NULL};
    return hardening_run_um(args, out, len, 120);
}

static void make_good_checkpoint(int steps) {
    char out[8192], n[16];
    snprintf(n, sizeof n, "%d", steps);
    ck_assert_msg(um_train(out, sizeof out, n, NULL) == 0, "training failed: %s", out);
    size_t len;
    unsigned char *b = slurp(ckpt, &len);
    spit(copy, b, len);
    free(b);
}

// Rewrites the CRC after editing a checkpoint's bytes.
static void fix_crc(unsigned char *b, size_t n) {
    uint32_t crc = crc32_update(0, b, n - 4);
    memcpy(b + n - 4, &crc, 4);
}

// Byte offset of element `index` of tensor `name`'s data in a checkpoint.
static size_t tensor_offset(const unsigned char *b, const char *name, size_t index) {
    uint32_t cfg_len, count;
    memcpy(&cfg_len, b + 12, 4);
    size_t pos = 16 + cfg_len + 16;
    memcpy(&count, b + pos, 4);
    pos += 4;
    for (uint32_t t = 0; t < count; t++) {
        uint16_t nl;
        uint32_t ndim, dim;
        size_t numel = 1;
        memcpy(&nl, b + pos, 2);
        int match = strlen(name) == nl && memcmp(b + pos + 2, name, nl) == 0;
        pos += 2 + nl;
        memcpy(&ndim, b + pos, 4);
        pos += 4;
        for (uint32_t d = 0; d < ndim; d++, pos += 4) memcpy(&dim, b + pos, 4), numel *= dim;
        if (match) return pos + 4 * index;
        pos += 12 * numel;
    }
    ck_abort_msg("tensor %s not in checkpoint", name);
    return 0;
}

// ---------------------------------------------------------------- SIGKILL
// Checkpoints every step; the parent watches for "<ckpt>.tmp" (a write in
// progress) and kills the run with SIGKILL the moment it appears. Whatever
// instant the kill lands on, the file at <ckpt> must load. Repeated until
// three kills landed mid-write (the .tmp still there afterwards), each new run
// resuming (over the stale .tmp) from what the last one left.
START_TEST(test_sigkill_during_checkpoint_write) {
    make_good_checkpoint(2);
    UmError err;
    long long step = load_step(ckpt, &err);
    ck_assert_msg(step == 2, "%s", err.msg);
    int mid_write = 0;
    for (int attempt = 0; attempt < 20 && mid_write < 3; attempt++) {
        pid_t pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
            if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
            const char *bin = hardening_um_bin();
            execl(bin, bin, "train", "--size", "nano", "--data", text, "--ckpt", ckpt, "--resume", "--steps", "100000",
                  "--ckpt-every", "1", "--eval-every", "0", "--eval-batches", "1", "--threads", "1", "--no-viz",
                  (char *)NULL);
            _exit(127);
        }
        // wait for a write in progress (at most 60 s), then kill at once
        int saw_tmp = 0, status;
        for (double t0 = (double)time(NULL); !saw_tmp && time(NULL) - t0 < 60;) {
            if (exists(tmp)) saw_tmp = 1;
            else if (waitpid(pid, &status, WNOHANG) == pid) ck_abort_msg("training exited early (status %d)", status);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_assert_msg(saw_tmp, "no checkpoint write seen in 60 s");
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        mid_write += exists(tmp);  // the rename had not happened yet
        long long now = load_step(ckpt, &err);
        ck_assert_msg(now >= step, "after SIGKILL %d the checkpoint does not load: %s", attempt, err.msg);
        step = now;
    }
    ck_assert_msg(mid_write >= 1, "no SIGKILL landed during a write in 20 tries");
    // and the run can be resumed to completion over the stale .tmp
    char out[8192], until[32];
    snprintf(until, sizeof until, "%lld", step + 3);
    ck_assert_msg(um_train(out, sizeof out, until, "--resume") == 0, "resume failed: %s", out);
    ck_assert_msg(strstr(out, "resuming"), "%s", out);
    ck_assert_int_eq(load_step(ckpt, &err), step + 3);
    ck_assert_msg(!exists(tmp), "a finished run leaves no .tmp");
}
END_TEST

// ---------------------------------------------------------------- full disk
static rlim_t fsize_limit;
static void limit_file_size(void) {
    signal(SIGXFSZ, SIG_IGN);  // then write() fails with EFBIG instead of killing
    struct rlimit r = {fsize_limit, fsize_limit};
    setrlimit(RLIMIT_FSIZE, &r);
}

// A file size limit below the checkpoint's size: the write fails half-way.
START_TEST(test_file_size_limit_keeps_old_checkpoint) {
    make_good_checkpoint(2);
    struct stat st;
    ck_assert(stat(ckpt, &st) == 0);
    fsize_limit = (rlim_t)st.st_size / 2;
    char out[8192];
    const char *args[] = {"train", "--size", "nano", "--data", text, "--ckpt", ckpt, "--resume", "--steps", "4",
                          "--eval-every", "0", "--eval-batches", "1", "--threads", "1", "--no-viz", NULL};
    int status = hardening_run_um_ex(args, out, sizeof out, 120, limit_file_size);
    ck_assert_msg(status == 1, "exit %d, want 1: %s", status, out);
    ck_assert_msg(strstr(out, "error: ") && strstr(out, "File too large") && strstr(out, "old checkpoint kept"),
                  "unclear message: %s", out);
    ck_assert_msg(same_file(ckpt, copy), "the old checkpoint changed");
    ck_assert_msg(!exists(tmp), "the partial .tmp must be removed");
    UmError err;
    ck_assert_int_eq(load_step(ckpt, &err), 2);
}
END_TEST

// A real "No space left on device": a tmpfs just big enough for the old
// checkpoint, mounted in a private user+mount namespace (no root needed).
// Skipped (with a note) where the kernel or container forbids that.
START_TEST(test_full_tmpfs_keeps_old_checkpoint) {
    if (system("unshare -rm true >/dev/null 2>&1") != 0) {
        fprintf(stderr, "note: unshare -rm unavailable, tmpfs full-disk test skipped (file size limit test still ran)\n");
        return;
    }
    make_good_checkpoint(2);
    struct stat st;
    ck_assert(stat(copy, &st) == 0);
    char mnt[300], script[16384], result[300];
    snprintf(mnt, sizeof mnt, "%s/mnt", dir);
    snprintf(result, sizeof result, "%s/result", dir);
    ck_assert(mkdir(mnt, 0755) == 0);
    long size_kb = (long)(st.st_size * 3 / 2) / 1024 + 8;  // room for one checkpoint, not two
    snprintf(script, sizeof script,
             "unshare -rm sh -c 'mount -t tmpfs -o size=%ldk tmpfs %s && cp %s %s/model.ckpt && "
             "%s train --size nano --data %s --ckpt %s/model.ckpt --resume --steps 4 --eval-every 0 --eval-batches 1 "
             "--threads 1 --no-viz >%s.out 2>&1; echo $? >%s.rc; cmp -s %s/model.ckpt %s && echo same >%s.same; "
             "ls %s >%s.ls; cp %s/model.ckpt %s.ckpt'",
             size_kb, mnt, copy, mnt, hardening_um_bin(), text, mnt, result, result, mnt, copy, result, mnt, result,
             mnt, result);
    ck_assert_msg(system(script) == 0, "the tmpfs script failed: %s", script);
    char path[320], buf[4096] = {0};
    size_t n;
    snprintf(path, sizeof path, "%s.rc", result);
    unsigned char *rc = slurp(path, &n);
    ck_assert_msg(atoi((char *)rc) == 1, "exit %s, want 1", (char *)rc);
    free(rc);
    snprintf(path, sizeof path, "%s.out", result);
    unsigned char *msg = slurp(path, &n);
    snprintf(buf, sizeof buf, "%.*s", (int)n, (char *)msg);
    free(msg);
    ck_assert_msg(strstr(buf, "No space left on device") && strstr(buf, "old checkpoint kept"), "unclear message: %s", buf);
    snprintf(path, sizeof path, "%s.same", result);
    ck_assert_msg(exists(path), "the old checkpoint changed on the full disk");
    snprintf(path, sizeof path, "%s.ls", result);
    unsigned char *ls = slurp(path, &n);
    ck_assert_msg(!memmem(ls, n, ".tmp", 4), "partial .tmp left on the full disk");
    free(ls);
}
END_TEST

// ---------------------------------------------------------------- NaN
// Injects a NaN into a weight after step `at` (from the per-step hook).
typedef struct {
    int at;
    const char *tensor;
} Inject;

static void inject_nan(void *ctx, UmModel *m, const UmStepInfo *info) {
    const Inject *in = ctx;
    if (info->step == in->at) params_find(&m->params, in->tensor)->data[3] = NAN;
}

static void nan_run(int at, int ckpt_every, UmError *err, int *rc) {
    UmData d;
    UmModelConfig mc = tiny_test_config();
    ck_assert(data_load(&d, text, mc.block_size, err) == 0);
    UmModel m;
    ck_assert(model_init(&m, &mc, 1, err) == 0);
    UmTrainConfig tc;
    config_preset(&mc, &tc, "nano", ARCH_DENSE, NULL);
    tc.steps = 20, tc.eval_every = 0, tc.eval_batches = 1, tc.ckpt_every = ckpt_every;
    UmTrainState s;
    train_state_fresh(&s, 1);
    Inject in = {at, "blocks.0.attn.wqkv"};
    UmTrainRun run = {.ckpt_path = ckpt, .on_step = inject_nan, .hook_ctx = &in};
    *rc = train_run(&m, &d, &tc, &s, &run, err);
    model_free(&m);
    data_free(&d);
}

// The NaN goes in between checkpoints: the next step's loss is NaN, the run
// stops naming the step and the tensor, the step-5 checkpoint stays.
START_TEST(test_nan_between_checkpoints) {
    UmError err;
    int rc;
    nan_run(7, 5, &err, &rc);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.msg, "step 8") && strstr(err.msg, "blocks.0.attn.wqkv"), "%s", err.msg);
    UmError lerr;
    ck_assert_msg(load_step(ckpt, &lerr) == 5, "last good checkpoint: %s", lerr.msg);
}
END_TEST

// The NaN goes in right before a checkpoint is due: the save refuses, naming
// the step and the tensor; the step-5 checkpoint stays.
START_TEST(test_nan_before_checkpoint) {
    UmError err;
    int rc;
    nan_run(10, 5, &err, &rc);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.msg, "step 10") && strstr(err.msg, "blocks.0.attn.wqkv") && strstr(err.msg, "NaN"), "%s",
                  err.msg);
    UmError lerr;
    ck_assert_msg(load_step(ckpt, &lerr) == 5, "last good checkpoint: %s", lerr.msg);
}
END_TEST

// A checkpoint holding a NaN (a valid CRC: saved that way, not damaged) is
// refused by --resume and by sample, naming the tensor.
START_TEST(test_nan_checkpoint_refused) {
    make_good_checkpoint(2);
    size_t n;
    unsigned char *b = slurp(ckpt, &n);
    float nan = NAN;
    memcpy(b + tensor_offset(b, "blocks.1.mlp.w2", 7), &nan, 4);
    fix_crc(b, n);
    spit(ckpt, b, n);
    free(b);
    char out[8192];
    ck_assert_int_eq(um_train(out, sizeof out, "4", "--resume"), 1);
    ck_assert_msg(strstr(out, "blocks.1.mlp.w2") && strstr(out, "NaN"), "%s", out);
    const char *sample[] = {"sample", "--ckpt", ckpt, "--tokens", "5", NULL};
    ck_assert_int_eq(hardening_run_um(sample, out, sizeof out, 60), 1);
    ck_assert_msg(strstr(out, "blocks.1.mlp.w2") && strstr(out, "NaN"), "%s", out);
}
END_TEST

// ---------------------------------------------------------------- resume mismatch
START_TEST(test_resume_other_size_refused) {
    make_good_checkpoint(2);
    char out[8192];
    const char *args[] = {"train", "--size", "tiny", "--data", text, "--ckpt", ckpt, "--resume", "--steps", "4",
                          "--no-viz", NULL};
    int status = hardening_run_um(args, out, sizeof out, 120);
    ck_assert_msg(status == 1, "exit %d: %s", status, out);
    ck_assert_msg(strstr(out, "different model") && strstr(out, "block_size: 16 vs 128"), "%s", out);
    ck_assert_msg(same_file(ckpt, copy), "a refused resume must not touch the checkpoint");
}
END_TEST

START_TEST(test_resume_other_arch_refused) {
    char out[8192];
    const char *pkm[] = {"train", "--arch", "pkm", "--size", "nano", "--data", text, "--ckpt", ckpt, "--steps", "2",
                         "--eval-every", "0", "--eval-batches", "1", "--threads", "1", "--no-viz", NULL};
    ck_assert_msg(hardening_run_um(pkm, out, sizeof out, 120) == 0, "pkm training failed: %s", out);
    ck_assert_int_eq(um_train(out, sizeof out, "4", "--resume"), 1);  // --arch dense is the default
    ck_assert_msg(strstr(out, "different model") && strstr(out, "arch: pkm vs dense"), "%s", out);
}
END_TEST

Suite *faults_suite(void) {
    Suite *s = suite_create("faults");
    TCase *kill = tcase_create("sigkill");
    tcase_add_checked_fixture(kill, setup, teardown);
    tcase_set_timeout(kill, 240);
    tcase_add_test(kill, test_sigkill_during_checkpoint_write);
    suite_add_tcase(s, kill);
    TCase *disk = tcase_create("disk_full");
    tcase_add_checked_fixture(disk, setup, teardown);
    tcase_set_timeout(disk, 120);
    tcase_add_test(disk, test_file_size_limit_keeps_old_checkpoint);
    tcase_add_test(disk, test_full_tmpfs_keeps_old_checkpoint);
    suite_add_tcase(s, disk);
    TCase *nan = tcase_create("nan");
    tcase_add_checked_fixture(nan, setup, teardown);
    tcase_set_timeout(nan, 120);
    tcase_add_test(nan, test_nan_between_checkpoints);
    tcase_add_test(nan, test_nan_before_checkpoint);
    tcase_add_test(nan, test_nan_checkpoint_refused);
    suite_add_tcase(s, nan);
    TCase *resume = tcase_create("resume_mismatch");
    tcase_add_checked_fixture(resume, setup, teardown);
    tcase_set_timeout(resume, 120);
    tcase_add_test(resume, test_resume_other_size_refused);
    tcase_add_test(resume, test_resume_other_arch_refused);
    suite_add_tcase(s, resume);
    return s;
}
