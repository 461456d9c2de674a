// test_cli.c: every flag of bin/um is validated. A wrong flag, a value of
// the wrong type, out of range, or flags that do not go together get ONE line
// on stderr naming the flag, the value and what is allowed, and exit status 2;
// nothing starts running. Runs the real program (UM_BIN, default bin/um; the
// ASan build sets bin/asan/um) so the whole path from argv is covered.
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// ---------------------------------------------------------------- running bin/um
// Shared with test_faults.c (declared there): runs bin/um with the given
// arguments (NULL-terminated), stdin from /dev/null, and captures stderr (and
// stdout) into the buffers. Returns the exit status, or 128+signal if it died
// by a signal, or -1 if it ran past timeout_s seconds (then it is killed).
const char *hardening_um_bin(void) {
    const char *bin = getenv("UM_BIN");
    return bin && *bin ? bin : "bin/um";
}

int hardening_run_um_ex(const char *const *args, char *err, size_t err_len, int timeout_s, void (*before_exec)(void));

static void read_all(int fd, char *buf, size_t len) {
    size_t used = 0;
    ssize_t got;
    char sink[4096];
    while ((got = read(fd, used + 1 < len ? buf + used : sink, used + 1 < len ? len - 1 - used : sizeof sink)) > 0)
        if (used + 1 < len) used += (size_t)got;
    if (len) buf[used] = 0;
}

int hardening_run_um(const char *const *args, char *err, size_t err_len, int timeout_s) {
    return hardening_run_um_ex(args, err, err_len, timeout_s, NULL);
}

// The same, calling before_exec() in the child first (to set limits).
int hardening_run_um_ex(const char *const *args, char *err, size_t err_len, int timeout_s, void (*before_exec)(void)) {
    char path[4096];
    snprintf(path, sizeof path, "%s/hardening_stderr.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp failed");
    unlink(path);  // the open descriptor keeps it alive
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        const char *argv[64];
        int n = 0;
        argv[n++] = hardening_um_bin();
        for (int i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
        argv[n] = NULL;
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(fd, 2);
        dup2(fd, 1);
        if (before_exec) before_exec();
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0, waited = 0;
    for (int ms = 0; !waited; ms += 10) {
        if (waitpid(pid, &status, WNOHANG) == pid) waited = 1;
        else if (ms > timeout_s * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            close(fd);
            return -1;
        } else usleep(10000);
    }
    lseek(fd, 0, SEEK_SET);
    read_all(fd, err, err_len);
    close(fd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// ---------------------------------------------------------------- the table
// Each case: the command line after "um", then text the one-line message must
// contain (the flag, the value, what is allowed). All must exit 2.
typedef struct {
    const char *args[8];
    const char *expect[3];
} CliCase;

static const CliCase CASES[] = {
    // numbers: type
    {{"train", "--steps", "abc"}, {"--steps", "'abc'", "allowed: 1..100000000"}},
    {{"train", "--steps", "1.5"}, {"--steps", "'1.5'", "whole number"}},
    {{"train", "--steps", "1e300"}, {"--steps", "'1e300'", "allowed: 1..100000000"}},
    {{"train", "--steps="}, {"--steps", "''", "whole number"}},
    {{"train", "--batch", "0x10"}, {"--batch", "'0x10'", "allowed: 1..4096"}},
    {{"train", "--seed", "1e5"}, {"--seed", "'1e5'", "whole number"}},
    {{"train", "--lr", "nan"}, {"--lr", "'nan'", "allowed: 1e-07..1"}},
    {{"train", "--lr", "inf"}, {"--lr", "'inf'", "allowed: 1e-07..1"}},
    {{"train", "--lr", " 0.1"}, {"--lr", "' 0.1'", "expects a number"}},
    {{"train", "--lr", "0.1x"}, {"--lr", "'0.1x'", "expects a number"}},
    // numbers: range
    {{"train", "--steps", "0"}, {"--steps 0", "out of range", "allowed: 1..100000000"}},
    {{"train", "--steps", "99999999999999999999"}, {"--steps 99999999999999999999", "out of range", "1..100000000"}},
    {{"train", "--batch", "5000"}, {"--batch 5000", "out of range", "allowed: 1..4096"}},
    {{"train", "--lr", "0"}, {"--lr 0", "out of range", "allowed: 1e-07..1"}},
    {{"train", "--lr", "2"}, {"--lr 2", "out of range", "allowed: 1e-07..1"}},
    {{"train", "--lr", "1e-400"}, {"--lr 1e-400", "out of range", "allowed: 1e-07..1"}},
    {{"train", "--eval-every", "-1"}, {"--eval-every -1", "out of range", "allowed: 0..100000000"}},
    {{"train", "--eval-batches", "0"}, {"--eval-batches 0", "out of range", "allowed: 1..1000000"}},
    {{"train", "--ckpt-every", "-5"}, {"--ckpt-every -5", "out of range", "allowed: 0..100000000"}},
    {{"train", "--seed", "-1"}, {"--seed -1", "out of range", "allowed: 0..9200000000000000000"}},
    {{"train", "--seed", "18446744073709551615"}, {"--seed 18446744073709551615", "out of range", "0..9200000000000000000"}},
    {{"train", "--threads", "0"}, {"--threads 0", "out of range", "allowed: 1..1024"}},
    {{"train", "--threads", "2000"}, {"--threads 2000", "out of range", "allowed: 1..1024"}},
    {{"train", "--max-questions", "-1"}, {"--max-questions -1", "out of range", "allowed: 0..100000000"}},
    {{"sample", "--ckpt", "m", "--temperature", "-1"}, {"--temperature -1", "out of range", "allowed: 0..100"}},
    {{"sample", "--ckpt", "m", "--temperature", "101"}, {"--temperature 101", "out of range", "allowed: 0..100"}},
    {{"sample", "--ckpt", "m", "--top-k", "257"}, {"--top-k 257", "out of range", "allowed: 0..256"}},
    {{"sample", "--ckpt", "m", "--tokens", "0"}, {"--tokens 0", "out of range", "allowed: 1..1000000"}},
    {{"eval", "--ckpt", "m", "--batch", "0"}, {"--batch 0", "out of range", "allowed: 1..4096"}},
    // names
    {{"train", "--arch", "foo"}, {"--arch 'foo'", "not allowed", "allowed: dense, pkm, moe, ultramem, ultramem2, peer"}},
    {{"params", "--size", "huge"}, {"--size 'huge'", "not allowed", "allowed: nano, tiny, small"}},
    {{"train", "--data", ""}, {"--data", "non-empty", "see: um train --help"}},
    // flags themselves
    {{"train", "--bogus", "1"}, {"unknown flag", "'--bogus'", "see: um train --help"}},
    {{"train", "--tokens", "5"}, {"--tokens", "not a flag of um train", "see: um train --help"}},
    {{"params", "--steps", "5"}, {"--steps", "not a flag of um params", "see: um params --help"}},
    {{"train", "extra"}, {"unexpected argument", "'extra'", "flags start with --"}},
    {{"train", "-s", "5"}, {"unexpected argument", "'-s'", "flags start with --"}},
    {{"train", "--steps"}, {"--steps", "needs a value", "see: um train --help"}},
    {{"train", "--steps", "5", "--steps", "6"}, {"--steps", "given twice", "see: um train --help"}},
    {{"train", "--resume=yes", "--ckpt", "m"}, {"--resume", "takes no value", "'yes'"}},
    {{"train", "--ckpt", "--resume"}, {"--ckpt", "needs a value", "'--resume'"}},
    // combinations
    {{"train", "--resume"}, {"--resume", "needs --ckpt", "see: um train --help"}},
    {{"sample", "--prompt", "hi"}, {"--ckpt", "required", "see: um sample --help"}},
    {{"eval", "--data", "x.txt"}, {"--ckpt", "required", "see: um eval --help"}},
    // run records
    {{"train", "--summary", ""}, {"--summary", "non-empty", "see: um train --help"}},
    {{"train", "--history"}, {"--history", "needs a value", "see: um train --help"}},
    {{"eval", "--ckpt", "m", "--history", "h"}, {"--history", "not a flag of um eval", "see: um eval --help"}},
};
#define N_CASES ((int)(sizeof CASES / sizeof CASES[0]))

static void describe(const CliCase *c, char *buf, size_t len) {
    size_t used = snprintf(buf, len, "um");
    for (int i = 0; c->args[i] && used < len; i++) used += snprintf(buf + used, len - used, " %s", c->args[i]);
}

START_TEST(test_flag_refused) {
    const CliCase *c = &CASES[_i];
    char cmd[256], err[4096];
    describe(c, cmd, sizeof cmd);
    int status = hardening_run_um(c->args, err, sizeof err, 20);
    ck_assert_msg(status == 2, "'%s' exited %d, want 2; output: %s", cmd, status, err);
    size_t len = strlen(err);
    ck_assert_msg(len > 0 && err[len - 1] == '\n' && strchr(err, '\n') == err + len - 1,
                  "'%s' must print exactly one line, got: %s", cmd, err);
    ck_assert_msg(strncmp(err, "error: um ", 10) == 0, "'%s': message should start 'error: um ': %s", cmd, err);
    for (int k = 0; k < 3 && c->expect[k]; k++)
        ck_assert_msg(strstr(err, c->expect[k]), "'%s': message lacks \"%s\": %s", cmd, c->expect[k], err);
}
END_TEST

// The front door: no command or an unknown one is also exit 2.
START_TEST(test_commands_refused) {
    char err[4096];
    const char *none[] = {NULL};
    ck_assert_int_eq(hardening_run_um(none, err, sizeof err, 20), 2);
    const char *bad[] = {"frobnicate", NULL};
    ck_assert_int_eq(hardening_run_um(bad, err, sizeof err, 20), 2);
    ck_assert_msg(strstr(err, "unknown command 'frobnicate'") && strstr(err, "allowed: train"), "%s", err);
}
END_TEST

// Values that are fine must still be accepted (the checks are not too strict):
// `um params` parses and prints without touching any file.
START_TEST(test_valid_flags_accepted) {
    char out[8192];
    const char *args[] = {"params", "--arch", "dense", "--size=nano", "--threads", "1", NULL};
    ck_assert_msg(hardening_run_um(args, out, sizeof out, 30) == 0, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "total_params:"));
    const char *help[] = {"train", "--help", NULL};
    ck_assert_int_eq(hardening_run_um(help, out, sizeof out, 30), 0);
    ck_assert_ptr_nonnull(strstr(out, "--steps"));
}
END_TEST

// A file that is not what it should be is a runtime error (exit 1) with the
// path and the reason, never a crash or a hang.
START_TEST(test_bad_files_runtime_error) {
    char err[4096];
    const char *missing[] = {"sample", "--ckpt", "/nonexistent/model.ckpt", NULL};
    ck_assert_int_eq(hardening_run_um(missing, err, sizeof err, 30), 1);
    ck_assert_msg(strstr(err, "/nonexistent/model.ckpt") && strstr(err, "No such file"), "%s", err);
    const char *dir[] = {"sample", "--ckpt", "tests", NULL};
    ck_assert_int_eq(hardening_run_um(dir, err, sizeof err, 30), 1);
    ck_assert_msg(strstr(err, "not a regular file"), "%s", err);
    const char *dev[] = {"eval", "--ckpt", "/dev/zero", NULL};
    ck_assert_int_eq(hardening_run_um(dev, err, sizeof err, 30), 1);
    ck_assert_msg(strstr(err, "not a regular file"), "%s", err);
    const char *nodata[] = {"train", "--size", "nano", "--data", "/nonexistent.txt", "--no-viz", NULL};
    ck_assert_int_eq(hardening_run_um(nodata, err, sizeof err, 30), 1);
    ck_assert_msg(strstr(err, "--data") && strstr(err, "/nonexistent.txt"), "%s", err);
    const char *dirdata[] = {"train", "--size", "nano", "--data", "tests", "--no-viz", NULL};
    ck_assert_int_eq(hardening_run_um(dirdata, err, sizeof err, 30), 1);
    ck_assert_msg(strstr(err, "directory"), "%s", err);
}
END_TEST

// Combinations that cannot work: a batch the validation split cannot fill
// (it would report a loss of 0), a resume with nothing left to train, and a
// MoE knob on another arch.
START_TEST(test_impossible_combinations) {
    char dir[256], text[300], ckpt[300], err[4096];
    snprintf(dir, sizeof dir, "%s/umcli.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(text, sizeof text, "%s/t.txt", dir), snprintf(ckpt, sizeof ckpt, "%s/m.ckpt", dir);
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 2000; i++) fputs("abcdefghij", f);  // 20 kB: 2 kB held out
    fclose(f);
    const char *big_batch[] = {"train", "--size", "nano", "--data", text, "--batch", "4000", "--no-viz", NULL};
    ck_assert_int_eq(hardening_run_um(big_batch, err, sizeof err, 60), 2);
    ck_assert_msg(strstr(err, "--batch 4000") && strstr(err, "validation split"), "%s", err);
    const char *train[] = {"train", "--size", "nano", "--data", text, "--steps", "3", "--ckpt", ckpt, "--no-viz", NULL};
    ck_assert_int_eq(hardening_run_um(train, err, sizeof err, 60), 0);
    const char *again[] = {"train", "--size", "nano", "--data", text, "--steps", "3",
                           "--ckpt", ckpt, "--resume", "--no-viz", NULL};
    ck_assert_int_eq(hardening_run_um(again, err, sizeof err, 60), 2);
    ck_assert_msg(strstr(err, "--steps 3 is not past the checkpoint's step 3"), "%s", err);
    const char *knob[] = {"train", "--size", "nano", "--data", text, "--moe-alpha", "0", "--no-viz", NULL};
    ck_assert_int_eq(hardening_run_um(knob, err, sizeof err, 60), 2);
    ck_assert_msg(strstr(err, "--moe-alpha") && strstr(err, "--arch moe"), "%s", err);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}
END_TEST

// ---------------------------------------------------------------- run records
// The whole file (or "" when it cannot be read) in a buffer the caller frees.
static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

// The value of "name: value" in a summary, copied into out ("" when absent).
static const char *summary_value(const char *text, const char *name, char *out, size_t len) {
    out[0] = 0;
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ':' && p[n + 1] == ' ') {
            snprintf(out, len, "%.*s", (int)strcspn(p + n + 2, "\n"), p + n + 2);
            break;
        }
    return out;
}

static int count_lines_starting(const char *text, const char *prefix) {
    int n = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += strncmp(p, prefix, strlen(prefix)) == 0;
    return n;
}

// --summary writes every figure the experiments harness reads; --history
// writes one train line per step, and on --resume drops what the interrupted
// process wrote past the checkpoint (here: a fake step 7 appended to the
// file), so the file describes one run; `um eval --summary` measures the
// same validation figure as the run's own summary.
START_TEST(test_summary_and_history) {
    char dir[256], text[300], qs[300], ckpt[300], hist[300], sum[300], sum2[300], sum3[300], out[8192], v[128], w[128];
    snprintf(dir, sizeof dir, "%s/umrec.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(text, sizeof text, "%s/t.txt", dir), snprintf(qs, sizeof qs, "%s/q.tsv", dir);
    snprintf(ckpt, sizeof ckpt, "%s/m.ckpt", dir), snprintf(hist, sizeof hist, "%s/h.tsv", dir);
    snprintf(sum, sizeof sum, "%s/s.txt", dir), snprintf(sum2, sizeof sum2, "%s/s2.txt", dir);
    snprintf(sum3, sizeof sum3, "%s/s3.txt", dir);
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 2000; i++) fputs("abcdefghij", f);
    fclose(f);
    f = fopen(qs, "w");
    fputs("abcde\tfghij\nfghij\tabcde\n", f);
    fclose(f);

    const char *train[] = {"train", "--size", "nano", "--data", text, "--questions", qs, "--steps", "6",
                           "--eval-every", "3", "--ckpt", ckpt, "--history", hist, "--summary", sum, "--no-viz", NULL};
    ck_assert_msg(hardening_run_um(train, out, sizeof out, 60) == 0, "%s", out);
    char *s = slurp(sum);
    const char *numbers[] = {"total_params", "activated_params", "flops_per_token", "train_bits_per_byte",
                             "val_bits_per_byte", "fact_recall", "tokens_per_s", "steps"};
    for (int i = 0; i < 8; i++) {
        summary_value(s, numbers[i], v, sizeof v);
        char *end;
        double x = strtod(v, &end);
        ck_assert_msg(*v && *end == 0 && x >= 0, "summary %s: '%s' is not a number:\n%s", numbers[i], v, s);
    }
    ck_assert_str_eq(summary_value(s, "arch", v, sizeof v), "dense");
    ck_assert_str_eq(summary_value(s, "memory_usage_pct", v, sizeof v), "-");  // dense has no memory
    ck_assert_str_eq(summary_value(s, "questions", v, sizeof v), "2");
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s.tmp", sum);
    ck_assert_msg(access(tmp, F_OK) != 0, "the summary's temporary file was left behind");
    free(s);

    char *h = slurp(hist);
    ck_assert_int_eq(count_lines_starting(h, "train "), 6);
    ck_assert_int_eq(count_lines_starting(h, "val "), 2);  // steps 3 and 6
    ck_assert_ptr_nonnull(strstr(h, "\ntrain 6 "));
    f = fopen(hist, "a");  // what a process killed after step 6's checkpoint might have written
    fputs("train 7 99.00000\nval 7 99.00000\n", f);
    fclose(f);

    const char *resume[] = {"train", "--size", "nano", "--data", text, "--steps", "9", "--eval-every", "3",
                            "--ckpt", ckpt, "--resume", "--history", hist, "--summary", sum3, "--no-viz", NULL};
    ck_assert_msg(hardening_run_um(resume, out, sizeof out, 60) == 0, "%s", out);
    char *h2 = slurp(hist);
    ck_assert_int_eq(count_lines_starting(h2, "train "), 9);
    ck_assert_int_eq(count_lines_starting(h2, "val "), 3);
    ck_assert_msg(!strstr(h2, "99.0"), "lines past the checkpoint were kept:\n%s", h2);
    const char *cut = strstr(h, "val 3 ");  // everything up to step 6 is unchanged
    ck_assert_msg(strncmp(h, h2, (size_t)(cut - h)) == 0, "history before the checkpoint changed");
    s = slurp(sum3);
    ck_assert_str_eq(summary_value(s, "fact_recall", v, sizeof v), "-");  // no --questions this time
    ck_assert_str_eq(summary_value(s, "steps_this_process", v, sizeof v), "3");

    const char *eval[] = {"eval", "--ckpt", ckpt, "--data", text, "--batch", "8", "--summary", sum2, NULL};
    ck_assert_msg(hardening_run_um(eval, out, sizeof out, 60) == 0, "%s", out);
    char *e = slurp(sum2);
    ck_assert_str_eq(summary_value(e, "val_bits_per_byte", v, sizeof v), summary_value(s, "val_bits_per_byte", w, sizeof w));
    ck_assert_str_eq(summary_value(e, "total_params", v, sizeof v), summary_value(s, "total_params", w, sizeof w));
    free(h), free(h2), free(s), free(e);

    const char *help[] = {"train", "--help", NULL};
    ck_assert_int_eq(hardening_run_um(help, out, sizeof out, 30), 0);
    ck_assert_msg(strstr(out, "--summary TEXT") && strstr(out, "--history TEXT"), "%s", out);
    const char *ehelp[] = {"eval", "--help", NULL};
    ck_assert_int_eq(hardening_run_um(ehelp, out, sizeof out, 30), 0);
    ck_assert_msg(strstr(out, "--summary TEXT") && !strstr(out, "--history"), "%s", out);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}
END_TEST

Suite *cli_suite(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("flags");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_flag_refused, 0, N_CASES);
    tcase_add_test(tc, test_commands_refused);
    tcase_add_test(tc, test_valid_flags_accepted);
    tcase_add_test(tc, test_bad_files_runtime_error);
    tcase_add_test(tc, test_impossible_combinations);
    tcase_add_test(tc, test_summary_and_history);
    suite_add_tcase(s, tc);
    return s;
}
