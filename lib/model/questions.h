// questions.h: held-out fact questions for measuring recall.
//
// A question file (datasets/gen_encyclopedia writes one) has one question per
// line, `prompt<TAB>answer`. The prompt stops right before the answer, which
// follows after one space in natural text:
//   The river that flows through Velmora is the<TAB>Kasrin
// means the model should continue "The river that flows through Velmora is
// the" with " Kasrin". Every line must hold exactly one TAB with text on both
// sides; a trailing CR (Windows line ending) is ignored.
#ifndef UM_QUESTIONS_H
#define UM_QUESTIONS_H

#include "base/error.h"

typedef struct {
    int count;
    char **prompt;  // prompt[i]: NUL-terminated, without the TAB
    char **answer;  // answer[i]: NUL-terminated, without the newline
} UmQuestions;

// Returns 0, or -1 with a one-line reason (missing file, no questions, or the
// number of the first malformed line).
int questions_load(UmQuestions *q, const char *path, UmError *err);
void questions_free(UmQuestions *q);

#endif
