// fuzz_common.h: shared by the fuzz targets (tests/fuzz/fuzz_*.c).
//
// Every loader we fuzz takes a PATH, not a buffer, because that is what the
// CLI hands it. So each input is written to an in-memory file (memfd) and the
// loader gets "/proc/self/fd/N": no disk writes, same code path as a user's file.
//
// A target is one function, LLVMFuzzerTestOneInput(data, size), returning 0.
// It is linked either with libFuzzer (make fuzz) or with driver.c, which runs
// it once per file (make test replays the regression inputs that way).
#ifndef UM_FUZZ_COMMON_H
#define UM_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// Write data into this process's scratch memfd; returns its path.
static inline const char *fuzz_file(const void *data, size_t n) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("um-fuzz", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (n && pwrite(fd, data, n, 0) != (ssize_t)n)) {
        perror("writing the fuzz input file");
        abort();
    }
    return path;
}

// A crash the sanitizers would not see (a wrong result, a broken invariant):
// print why and abort, so libFuzzer saves the input.
#define FUZZ_CHECK(cond, ...)                                      \
    do {                                                           \
        if (!(cond)) {                                             \
            fprintf(stderr, "fuzz invariant failed: %s: ", #cond); \
            fprintf(stderr, __VA_ARGS__);                          \
            fprintf(stderr, "\n");                                 \
            abort();                                               \
        }                                                          \
    } while (0)

#endif
