// runner.c: runs every Check suite of one build.
//
// The Makefile writes suites.gen.h from the `Suite *name_suite(void)`
// definitions it finds in the test files, so adding a test file is enough to
// have it run. CK_NORMAL prints one summary line, e.g.
//   100%: Checks: 42, Failures: 0, Errors: 0
//
// No OpenMP here: Check forks each test, and a thread pool started in this
// parent before the fork would make OpenMP code in the children hang.
#include <check.h>
#include <stdlib.h>

#include "suites.gen.h"

int main(void) {
    SRunner *runner = srunner_create(NULL);
#define X(name) srunner_add_suite(runner, name());
    UM_ALL_SUITES
#undef X
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
