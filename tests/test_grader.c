// test_grader.c: the grader's self-test (exercises/README.md).
//
// A teacher trusts `make grade` because of these three checks:
//   - fresh stubs made from lib/ score 0 on every exercise, exit non-zero,
//     and never crash, hang or fail to compile;
//   - the reference regions of lib/, pasted into student files, score full marks;
//   - the student files in exercises/ have not drifted from lib/.
// They run the real `make grade` through system(), so they also build the
// per-exercise test programs (about 20 s each the first time, 3 s after).
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

// make must not think it is a sub-make of the `make test` that started us.
#define CLEAN_ENV "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CK_RUN_SUITE -u CK_RUN_CASE "

typedef struct {
    int n_exercises, max_points;
    char ids[64][16];
} Manifest;

static void read_manifest(Manifest *m) {
    FILE *f = fopen("exercises/manifest.tsv", "r");
    ck_assert_msg(f != NULL, "cannot open exercises/manifest.tsv (tests run from the repository root)");
    memset(m, 0, sizeof *m);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char id[16];
        int points;
        if (line[0] == '#' || sscanf(line, "%15s %d", id, &points) != 2) continue;
        ck_assert_int_lt(m->n_exercises, 64);
        snprintf(m->ids[m->n_exercises++], sizeof m->ids[0], "%s", id);
        m->max_points += points;
    }
    fclose(f);
    ck_assert_msg(m->n_exercises > 0, "exercises/manifest.tsv lists no exercise");
}

// Runs cmd (stdout and stderr to log); returns its exit status, failing the
// test if it was killed by a signal.
static int run(const char *cmd, const char *log) {
    char full[1024];
    snprintf(full, sizeof full, "%s > %s 2>&1", cmd, log);
    int st = system(full);
    ck_assert_msg(st != -1 && WIFEXITED(st), "'%s' did not exit normally (see %s)", cmd, log);
    return WEXITSTATUS(st);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = 0;
    fclose(f);
    return buf;
}

// The grader's line for one exercise: "exercise 1.1  <title>  <got>/<max>  ...".
static const char *exercise_line(const char *out, const char *id) {
    char key[32];
    snprintf(key, sizeof key, "exercise %s ", id);
    for (const char *p = strstr(out, key); p; p = strstr(p + 1, key))
        if (p == out || p[-1] == '\n') return p;
    return NULL;
}

START_TEST(stubs_score_zero) {
    Manifest m;
    read_manifest(&m);
    const char *log = "build/grade/selftest-stubs.txt";
    int status = run(CLEAN_ENV "make --no-print-directory grade SOLUTIONS=stubs", log);
    char *out = slurp(log);
    ck_assert_msg(status != 0, "make grade SOLUTIONS=stubs exited 0; the stubs must fail (see %s)", log);
    char total[64];
    snprintf(total, sizeof total, "TOTAL: 0/%d points", m.max_points);
    ck_assert_msg(strstr(out, total) != NULL, "stubs: no '%s' in %s", total, log);
    const char *bad[] = {"CRASH", "TIMEOUT", "does not compile", "test program", "exercise.sh:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(strstr(out, bad[i]) == NULL, "stubs: '%s' in %s: a stub must fail cleanly", bad[i], log);
    for (int i = 0; i < m.n_exercises; i++) {
        const char *line = exercise_line(out, m.ids[i]);
        ck_assert_msg(line != NULL, "stubs: no line for exercise %s in %s", m.ids[i], log);
        ck_assert_msg(strstr(line, " 0/") && strstr(line, " 0/") < strchr(line, '\n'),
                      "stubs: exercise %s scored points: %.80s", m.ids[i], line);
        char todo[64];
        snprintf(todo, sizeof todo, "exercise %s is not implemented yet", m.ids[i]);
        ck_assert_msg(strstr(out, todo) != NULL, "stubs: no '%s' in %s", todo, log);
    }
    free(out);
}
END_TEST

START_TEST(reference_scores_full_marks) {
    Manifest m;
    read_manifest(&m);
    const char *log = "build/grade/selftest-reference.txt";
    int status = run(CLEAN_ENV "make --no-print-directory grade SOLUTIONS=reference", log);
    char *out = slurp(log);
    char total[64];
    snprintf(total, sizeof total, "TOTAL: %d/%d points", m.max_points, m.max_points);
    ck_assert_msg(strstr(out, total) != NULL, "reference: no '%s' in %s", total, log);
    ck_assert_msg(status == 0, "make grade SOLUTIONS=reference exited %d (see %s)", status, log);
    free(out);
    // The files it graded are student files with the reference pasted in:
    // they must pass the drift check like a student's would.
    ck_assert_msg(run("exercises/tools/exercise.sh check build/grade/solutions-src", "build/grade/selftest-drift-ref.txt") == 0,
                  "the generated solution files fail the drift check (see build/grade/selftest-drift-ref.txt)");
}
END_TEST

START_TEST(student_files_match_lib) {
    const char *log = "build/grade/selftest-drift.txt";
    ck_assert_msg(run("mkdir -p build/grade && exercises/tools/exercise.sh check exercises", log) == 0,
                  "exercises/*.c drifted from lib/ (see %s; a teacher regenerates them with make exercises-stubs)",
                  log);
}
END_TEST

Suite *grader_suite(void) {
    Suite *s = suite_create("grader");
    TCase *tc = tcase_create("selftest");
    tcase_set_timeout(tc, 300);  // a first build of every exercise on 2 cores takes ~20 s
    tcase_add_test(tc, student_files_match_lib);
    tcase_add_test(tc, stubs_score_zero);
    tcase_add_test(tc, reference_scores_full_marks);
    suite_add_tcase(s, tc);
    return s;
}
