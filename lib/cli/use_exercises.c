// use_exercises.c: `um train --use-exercises`, training on the code you wrote.
//
// bin/um is linked with the reference library; bin/um-exercises (make
// bin/um-exercises, see exercises/grade.mk) is the same CLI linked with
// build/student/libum.a, where every exercise region of lib/ is replaced by
// yours from exercises/*.c. Given --use-exercises, bin/um runs
// bin/um-exercises with the same arguments; that binary drops the flag and
// carries on, so `um train --use-exercises --arch moe` trains a model whose
// router uses your top-k and your balance-loss gradient.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"

#define FLAG "--use-exercises"

#ifdef UM_EXERCISES_BUILD
// Removes every FLAG from argv; returns the new argc.
static int strip_flag(int argc, char **argv) {
    int out = 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], FLAG) != 0) argv[out++] = argv[i];
    argv[out] = NULL;
    return out;
}

int cli_use_exercises(int argc, char **argv) {
    fprintf(stderr, "um: running with YOUR exercise code (exercises/*.c, built into build/student/libum.a)\n");
    // The AVX2/AVX-512 matmul never calls matmul_backward_ref: exercise 1.1
    // only runs on the scalar path. Slower, but it is your code that trains.
    if (!getenv("UM_SIMD")) {
        setenv("UM_SIMD", "scalar", 1);
        fprintf(stderr, "um: UM_SIMD=scalar so that your matmul_backward_ref (exercise 1.1) is used "
                        "(set UM_SIMD=avx2 to go faster without it)\n");
    }
    return strip_flag(argc, argv);
}
#else
// Where bin/um-exercises is: beside this executable.
static void sibling_path(char *buf, size_t cap, const char *name) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) um_die(UM_EXIT_RUNTIME, "--use-exercises: cannot find this program's path: %s", strerror(errno));
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0;
    int len = snprintf(buf, cap, "%s/%s", self, name);
    if (len < 0 || (size_t)len >= cap) um_die(UM_EXIT_RUNTIME, "--use-exercises: path too long: %s/%s", self, name);
}

int cli_use_exercises(int argc, char **argv) {
    int wanted = 0;
    for (int i = 1; i < argc; i++) wanted |= strcmp(argv[i], FLAG) == 0;
    if (!wanted) return argc;
    char path[PATH_MAX];
    sibling_path(path, sizeof path, "um-exercises");
    if (access(path, X_OK) != 0)
        um_die(UM_EXIT_USAGE, "--use-exercises needs %s, which links your exercise code (hint: make bin/um-exercises)",
               path);
    execv(path, argv);
    um_die(UM_EXIT_RUNTIME, "--use-exercises: cannot run %s: %s", path, strerror(errno));
}
#endif
