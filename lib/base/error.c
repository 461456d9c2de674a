// error.c: see error.h.
#include "base/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int um_fail(UmError *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void um_die(int status, const char *fmt, ...) {
    fflush(stdout);  // keep progress output and the error in order
    fprintf(stderr, "error: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(status);
}

static void die_at(const char *file, int line, const char *what, const char *hint) {
    fflush(stdout);
    fprintf(stderr, "error: %s (%s) at %s:%d\n  hint: %s\n", what, strerror(errno), file, line, hint);
    exit(UM_EXIT_RUNTIME);
}

FILE *fopen_check_(const char *path, const char *mode, const char *file, int line) {
    FILE *f = fopen(path, mode);
    if (!f) {
        char what[600];
        snprintf(what, sizeof what, "cannot open '%s' (mode %s)", path, mode);
        die_at(file, line, what, "check the path exists and is readable/writable");
    }
    return f;
}

void fread_check_(void *ptr, size_t size, size_t n, FILE *f, const char *file, int line) {
    if (fread(ptr, size, n, f) != n) {
        if (feof(f)) errno = 0;
        die_at(file, line, "short read", "the file is truncated or not the expected format");
    }
}

void fwrite_check_(const void *ptr, size_t size, size_t n, FILE *f, const char *file, int line) {
    if (fwrite(ptr, size, n, f) != n) die_at(file, line, "short write", "is the disk full?");
}

void fclose_check_(FILE *f, const char *file, int line) {
    if (fclose(f) != 0) die_at(file, line, "close failed", "is the disk full?");
}

void *malloc_check_(size_t size, const char *file, int line) {
    void *p = malloc(size ? size : 1);
    if (!p) die_at(file, line, "out of memory", "try a smaller --size or batch");
    return p;
}

void *calloc_check_(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die_at(file, line, "out of memory", "try a smaller --size or batch");
    return p;
}
