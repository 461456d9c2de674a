// test_fuzz_replay.c: every input that once crashed a fuzz target (kept in
// tests/fuzz/regressions/<target>/) and every seed (tests/fuzz/seeds/<target>/)
// runs through its target again, so a fixed parser bug stays fixed.
//
// The targets run in the replay drivers hardening.mk builds (bin/fuzz/
// replay_<target>: the fuzz target linked with tests/fuzz/driver.c instead of
// libFuzzer). UM_FUZZ_BIN picks another directory: `make test-asan` points it
// at bin/asan/fuzz, where a heap overflow is a report, not luck.
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *TARGETS[] = {"checkpoint", "data", "questions", "config", "options"};
#define N_TARGETS ((int)(sizeof TARGETS / sizeof TARGETS[0]))

static int count_inputs(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

// Runs the driver on a directory; returns its exit status (128+signal if it
// crashed) and leaves its output (the crash report) in log.
static int replay(const char *target, const char *dir, char *log, size_t len) {
    const char *bindir = getenv("UM_FUZZ_BIN");
    char bin[512];
    snprintf(bin, sizeof bin, "%s/replay_%s", bindir && *bindir ? bindir : "bin/fuzz", target);
    ck_assert_msg(access(bin, X_OK) == 0, "%s is missing (make %s)", bin, bin);
    FILE *out = tmpfile();
    ck_assert(out != NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        dup2(fileno(out), 1);
        dup2(fileno(out), 2);
        execl(bin, bin, dir, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    rewind(out);
    size_t n = fread(log, 1, len - 1, out);
    log[n] = 0;
    // keep the end of a long log: that is where a sanitizer puts the summary
    if (n == len - 1) snprintf(log, len, "...(see the replay output)");
    fclose(out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

START_TEST(test_replay_regressions) {
    const char *target = TARGETS[_i];
    char dir[256], log[8192];
    snprintf(dir, sizeof dir, "tests/fuzz/regressions/%s", target);
    if (count_inputs(dir) == 0) return;  // this target never crashed
    int status = replay(target, dir, log, sizeof log);
    ck_assert_msg(status == 0, "a %s regression input fails again (status %d): %s", target, status, log);
}
END_TEST

START_TEST(test_replay_seeds) {
    const char *target = TARGETS[_i];
    char dir[256], log[8192];
    snprintf(dir, sizeof dir, "tests/fuzz/seeds/%s", target);
    ck_assert_msg(count_inputs(dir) > 0, "no seeds in %s", dir);
    int status = replay(target, dir, log, sizeof log);
    ck_assert_msg(status == 0, "a %s seed fails (status %d): %s", target, status, log);
}
END_TEST

Suite *fuzz_replay_suite(void) {
    Suite *s = suite_create("fuzz_replay");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_replay_regressions, 0, N_TARGETS);
    tcase_add_loop_test(tc, test_replay_seeds, 0, N_TARGETS);
    suite_add_tcase(s, tc);
    return s;
}
