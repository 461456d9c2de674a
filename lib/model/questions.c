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

int questions_load(UmQuestions *q, const char *path, UmError *err) {
    memset(q, 0, sizeof *q);
    FILE *f = fopen(path, "rb");
    if (!f) return um_fail(err, "cannot open question file '%s': %s", path, strerror(errno));
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    int cap = 0, lineno = 0;
    while ((len = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (add_question(q, &cap, line) != 0) {
            free(line);
            fclose(f);
            questions_free(q);
            return um_fail(err, "question file '%s' line %d: expected 'prompt<TAB>answer' with one TAB", path,
                           lineno);
        }
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
