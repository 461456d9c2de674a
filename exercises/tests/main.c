// main.c: runs the one suite of an exercise test binary and prints a line the
// grader reads:  GRADE passed=<p> total=<t>
// Check forks each test (the grader sets CK_FORK=yes), so a crash or a
// timeout in the student's code fails that test only.
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

Suite *exercise_suite(void);

int main(void) {
    SRunner *runner = srunner_create(exercise_suite());
    srunner_run_all(runner, CK_VERBOSE);
    int total = srunner_ntests_run(runner), failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    printf("GRADE passed=%d total=%d\n", total - failed, total);
    return failed == 0 && total > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
