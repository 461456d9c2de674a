// fuzz_questions.c: the question-file reader (prompt<TAB>answer lines).
//
// Every accepted question must have a non-empty prompt and answer with no
// TAB, CR or newline left in them; a refused file must say which line.
#include <string.h>

#include "fuzz_common.h"
#include "model/questions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    UmQuestions q;
    UmError err;
    err.msg[0] = 0;
    if (questions_load(&q, fuzz_file(data, size), &err) != 0) {
        FUZZ_CHECK(err.msg[0] != 0, "a refused question file must say why");
        FUZZ_CHECK(q.count == 0 && q.prompt == NULL, "a refused file must leave no questions behind");
        return 0;
    }
    FUZZ_CHECK(q.count > 0, "accepted a file without questions");
    for (int i = 0; i < q.count; i++) {
        FUZZ_CHECK(q.prompt[i][0] && q.answer[i][0], "question %d has an empty side", i);
        FUZZ_CHECK(!strpbrk(q.prompt[i], "\t\n") && !strpbrk(q.answer[i], "\t\n"), "question %d kept a separator", i);
    }
    questions_free(&q);
    return 0;
}
