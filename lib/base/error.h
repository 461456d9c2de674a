// error.h: checked calls and one-line errors with a hint.
//
// Library code that can fail because of *outside input* (files, flags,
// configs) reports through these, never through assert(). Two styles:
//  - um_die(): print "error: <what> (hint: <hint>)" and exit(1). Used by the
//    CLI and for things a program cannot recover from (out of memory).
//  - UmError: a message buffer filled by functions that return -1, so a test
//    or a caller can look at the reason without the process exiting.
#ifndef UM_ERROR_H
#define UM_ERROR_H

#include <stddef.h>
#include <stdio.h>

// Exit statuses used by every program in the project.
#define UM_EXIT_RUNTIME 1  // a file, a NaN, an allocation: something failed
#define UM_EXIT_USAGE 2    // the user asked for something impossible

// A reason for failure, filled by functions that return -1.
typedef struct {
    char msg[512];
} UmError;

// Fill err (if not NULL) with a printf-style message; always returns -1 so
// a caller can write `return um_fail(err, "...")`.
int um_fail(UmError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Print "error: <msg>" and exit with the given status.
void um_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

// Checked libc calls: on failure they print file:line, what failed, why
// (strerror) and a hint, then exit(1).
#define fopen_check(path, mode) fopen_check_(path, mode, __FILE__, __LINE__)
#define fread_check(ptr, size, n, f) fread_check_(ptr, size, n, f, __FILE__, __LINE__)
#define fwrite_check(ptr, size, n, f) fwrite_check_(ptr, size, n, f, __FILE__, __LINE__)
#define fclose_check(f) fclose_check_(f, __FILE__, __LINE__)
#define malloc_check(size) malloc_check_(size, __FILE__, __LINE__)
#define calloc_check(n, size) calloc_check_(n, size, __FILE__, __LINE__)

FILE *fopen_check_(const char *path, const char *mode, const char *file, int line);
void fread_check_(void *ptr, size_t size, size_t n, FILE *f, const char *file, int line);
void fwrite_check_(const void *ptr, size_t size, size_t n, FILE *f, const char *file, int line);
void fclose_check_(FILE *f, const char *file, int line);
void *malloc_check_(size_t size, const char *file, int line);
void *calloc_check_(size_t n, size_t size, const char *file, int line);

#endif
