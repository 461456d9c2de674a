// test_datasets.c: the encyclopedia generator's promises, checked on its real
// output (bin/gen_encyclopedia, which `make` builds before the tests run):
// determinism, every answer stated next to its entity, held-out phrasings,
// unambiguous prompts and usage errors.
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "helpers/testutil.h"
#include "model/questions.h"

#define GEN "bin/gen_encyclopedia"

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    if (n) *n = (size_t)len;
    return buf;
}

// Runs the generator with extra flags, writing dir/<tag>.txt and .tsv;
// returns its exit status.
static int generate(const char *dir, const char *tag, const char *flags) {
    ck_assert_msg(system("test -x " GEN) == 0, GEN " is missing: run `make bin/gen_encyclopedia` first");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, GEN " %s --out %s/%s.txt --questions %s/%s.tsv >/dev/null 2>&1", flags, dir, tag,
             dir, tag);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void remove_dir(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = read_all(a, &na), *y = read_all(b, &nb);
    int same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

START_TEST(test_deterministic) {
    char dir[256], a[512], b[512], c[512];
    make_temp_dir(dir, sizeof dir);
    ck_assert_int_eq(generate(dir, "a", "--entities 150 --seed 7"), 0);
    ck_assert_int_eq(generate(dir, "b", "--entities 150 --seed 7"), 0);
    ck_assert_int_eq(generate(dir, "c", "--entities 150 --seed 8"), 0);
    for (int ext = 0; ext < 2; ext++) {
        const char *e = ext ? "tsv" : "txt";
        snprintf(a, sizeof a, "%s/a.%s", dir, e);
        snprintf(b, sizeof b, "%s/b.%s", dir, e);
        snprintf(c, sizeof c, "%s/c.%s", dir, e);
        ck_assert_msg(same_file(a, b), "same seed gave different %s files", e);
        ck_assert_msg(!same_file(a, c), "different seeds gave the same %s file", e);
    }
    remove_dir(dir);
}
END_TEST

// Does word occur in s as a whole token (not inside a longer word or number)?
static int has_token(const char *s, const char *word) {
    size_t len = strlen(word);
    for (const char *p = strstr(s, word); p; p = strstr(p + 1, word)) {
        int left_ok = p == s || !isalnum((unsigned char)p[-1]);
        int right_ok = !isalnum((unsigned char)p[len]) && !(p[len] == ',' && isdigit((unsigned char)p[len + 1]));
        if (left_ok && right_ok) return 1;
    }
    return 0;
}

// The entity's name words: the capitalised words of a prompt after its first.
static int name_words(const char *prompt, char words[][64], int max) {
    int n = 0;
    const char *p = strchr(prompt, ' ');
    while (p && n < max) {
        p++;
        size_t len = strcspn(p, " ");
        if (isupper((unsigned char)p[0]) && len < 64) {
            memcpy(words[n], p, len);
            words[n++][len] = '\0';
        }
        p = strchr(p, ' ');
    }
    return n;
}

// How many sentences state both the entity and the answer.
static int sentences_with(char **sent, int nsent, char words[][64], int nwords, const char *answer) {
    int found = 0;
    for (int i = 0; i < nsent; i++) {
        int ok = has_token(sent[i], answer);
        for (int w = 0; ok && w < nwords; w++) ok = has_token(sent[i], words[w]);
        found += ok;
    }
    return found;
}

// Cuts text in place into sentences (they end with ". " or ".\n"; no value
// contains a full stop); *nlines gets the number of lines (articles).
static char **split_sentences(char *text, int *nsent, int *nlines) {
    char **sent = NULL;
    int n = 0;
    *nlines = 0;
    for (char *p = text; *p;) {
        char *end = p + strcspn(p, ".");
        if (!*end) break;
        sent = realloc(sent, sizeof(char *) * (size_t)(n + 1));
        sent[n++] = p;
        *nlines += end[1] == '\n';
        *end = '\0';
        p = end + 1;
        while (*p == ' ' || *p == '\n') p++;
    }
    *nsent = n;
    return sent;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

START_TEST(test_questions_are_answerable_and_held_out) {
    char dir[256], path[512];
    make_temp_dir(dir, sizeof dir);
    ck_assert_int_eq(generate(dir, "e", "--entities 120 --mentions 3"), 0);
    snprintf(path, sizeof path, "%s/e.txt", dir);
    char *text = read_all(path, NULL);
    int nsent, nlines;
    char **sent = split_sentences(text, &nsent, &nlines);
    ck_assert_int_eq(nlines, 120 * 3);  // one line per article, `mentions` articles per entity

    UmQuestions q;
    UmError err;
    snprintf(path, sizeof path, "%s/e.tsv", dir);
    ck_assert_msg(questions_load(&q, path, &err) == 0, "%s", err.msg);
    ck_assert_int_gt(q.count, 120 * 3);
    for (int i = 0; i < q.count; i++) {
        char words[8][64];
        int nw = name_words(q.prompt[i], words, 8);
        ck_assert_msg(nw >= 1, "no entity name in prompt '%s'", q.prompt[i]);
        int found = sentences_with(sent, nsent, words, nw, q.answer[i]);
        ck_assert_msg(found >= 3, "'%s' -> '%s' is stated in %d sentences, want 3", q.prompt[i], q.answer[i],
                      found);
        for (int l = 0; l < nsent; l++)  // the question's phrasing is held out
            ck_assert_msg(strstr(sent[l], q.prompt[i]) == NULL, "prompt '%s' occurs in the training text",
                          q.prompt[i]);
    }
    // unambiguous: no prompt is asked twice (with possibly different answers)
    char **sorted = malloc(sizeof(char *) * (size_t)q.count);
    memcpy(sorted, q.prompt, sizeof(char *) * (size_t)q.count);
    qsort(sorted, (size_t)q.count, sizeof(char *), cmp_str);
    for (int i = 1; i < q.count; i++) ck_assert_str_ne(sorted[i - 1], sorted[i]);
    free(sorted);
    questions_free(&q);
    free(sent);
    free(text);
    remove_dir(dir);
}
END_TEST

START_TEST(test_bad_usage_exits_2) {
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    ck_assert_int_eq(generate(dir, "x", "--frobnicate 3"), 2);
    ck_assert_int_eq(generate(dir, "x", "--entities lots"), 2);
    ck_assert_int_eq(generate(dir, "x", "--entities 3"), 2);  // below the minimum of 10
    ck_assert_int_eq(generate(dir, "x", "--mentions"), 2);    // --mentions swallows --out: value not a number
    int status = system(GEN " --entities 20 >/dev/null 2>&1");  // no --out
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    status = system(GEN " --help >/dev/null 2>&1");
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    remove_dir(dir);
}
END_TEST

Suite *datasets_suite(void) {
    Suite *s = suite_create("datasets");
    TCase *tc = tcase_create("encyclopedia");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_questions_are_answerable_and_held_out);
    tcase_add_test(tc, test_bad_usage_exits_2);
    suite_add_tcase(s, tc);
    return s;
}
