// questions.c: see questions.h.
#include "model/questions.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *copy_span(const char *s, size_t len) {
    char *p = malloc_check(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

// Splits one line (no newline) into a new question; -1 if it is not
// `prompt<TAB>answer` with both parts non-empty.
static int add_question(UmQuestions *q, int *cap, const char *line) {
    const char *tab = strchr(line, '\t');
    if (!tab || tab == line || tab[1] == '\0' || strchr(tab + 1, '\t')) return -1;
    if (q->count == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        char **p = realloc(q->prompt, sizeof(char *) * (size_t)*cap);
        char **a = p ? realloc(q->answer, sizeof(char *) * (size_t)*cap) : NULL;
        if (!p || !a) um_die(UM_EXIT_RUNTIME, "out of memory reading questions");
        q->prompt = p;
        q->answer = a;
    }
    q->prompt[q->count] = copy_span(line, (size_t)(tab - line));
    q->answer[q->count] = copy_span(tab + 1, strlen(tab + 1));
    q->count++;
    return 0;
}

// Limits that turn a wrong file (a binary, /dev/zero, a runaway pipe) into a
// clear error instead of unbounded memory: no real question is this long.
#define QUESTION_MAX_LINE 65536
#define QUESTION_MAX_COUNT (1 << 24)

// Reads one line into buf (without the newline), at most QUESTION_MAX_LINE
// bytes. Returns its length, -1 at end of file, -2 when the line is too long.
static long read_line(FILE *f, char *buf) {
    long len = 0;
    int c;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (len == QUESTION_MAX_LINE) return -2;
        buf[len++] = (char)c;
    }
    if (c == EOF && len == 0) return -1;
    buf[len] = '\0';
    return len;
}

static int fail_at(UmQuestions *q, FILE *f, char *line, UmError *err, const char *path, int lineno, const char *why) {
    free(line);
    fclose(f);
    questions_free(q);
    return um_fail(err, "question file '%s' line %d: %s", path, lineno, why);
}

int questions_load(UmQuestions *q, const char *path, UmError *err) {
    memset(q, 0, sizeof *q);
    FILE *f = fopen(path, "rb");
    if (!f) return um_fail(err, "cannot open question file '%s': %s", path, strerror(errno));
    char *line = malloc_check(QUESTION_MAX_LINE + 1);
    long len;
    int cap = 0, lineno = 0;
    while ((len = read_line(f, line)) != -1) {
        lineno++;
        if (len == -2) return fail_at(q, f, line, err, path, lineno, "longer than 65536 bytes (is this a question file?)");
        if (q->count == QUESTION_MAX_COUNT) return fail_at(q, f, line, err, path, lineno, "more than 16777216 questions");
        while (len > 0 && line[len - 1] == '\r') line[--len] = '\0';
        if ((long)strlen(line) != len) return fail_at(q, f, line, err, path, lineno, "holds a NUL byte (is this a text file?)");
        if (add_question(q, &cap, line) != 0)
            return fail_at(q, f, line, err, path, lineno, "expected 'prompt<TAB>answer' with one TAB");
    }
    free(line);
    fclose(f);
    if (q->count == 0) return um_fail(err, "question file '%s' holds no questions", path);
    return 0;
}

void questions_free(UmQuestions *q) {
    for (int i = 0; i < q->count; i++) {
        free(q->prompt[i]);
        free(q->answer[i]);
    }
    free(q->prompt);
    free(q->answer);
    memset(q, 0, sizeof *q);
}
