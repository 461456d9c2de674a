// driver.c: runs a fuzz target on files, without libFuzzer.
//
//   bin/fuzz/replay_checkpoint tests/fuzz/regressions/checkpoint/ FILE ...
//
// Each argument is a file or a directory of files; the target runs once per
// file. Exit 0 when every input ran; a crash is the target's own (abort, a
// signal, or a sanitizer report in the ASan build). `make test` replays every
// regression input and seed through these drivers (tests/test_fuzz_replay.c).
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return perror(path), 1;
    size_t cap = 1 << 16, n = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) return fprintf(stderr, "%s: out of memory\n", path), 1;
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int run_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return perror(path), 1;
    if (!S_ISDIR(st.st_mode)) return run_file(path);
    DIR *dir = opendir(path);
    if (!dir) return perror(path), 1;
    int failed = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.') continue;  // ".", "..", and hidden notes
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        failed |= run_path(child);
    }
    closedir(dir);
    return failed;
}

int main(int argc, char **argv) {
    int failed = 0;
    for (int i = 1; i < argc; i++) failed |= run_path(argv[i]);
    return failed;
}
