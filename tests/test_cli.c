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

Suite *cli_suite(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("flags");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_flag_refused, 0, N_CASES);
    tcase_add_test(tc, test_commands_refused);
    tcase_add_test(tc, test_valid_flags_accepted);
    tcase_add_test(tc, test_bad_files_runtime_error);
    tcase_add_test(tc, test_impossible_combinations);
    suite_add_tcase(s, tc);
    return s;
}
