// grade_util.h: what every exercise test needs.
//
// The exercise tests are compiled in the double build (real = double), linked
// against a library where exactly ONE exercise region is the student's and
// everything else is the reference, plus a copy of the reference object of the
// same lib file whose functions are renamed ref_<name> (objcopy). So a test
// can call the student's pk_backward and the reference ref_pk_backward side
// by side, and an unfinished exercise never breaks another one's grade.
#ifndef UM_GRADE_UTIL_H
#define UM_GRADE_UTIL_H

#include <check.h>
#include <stddef.h>

#include "base/real.h"
#include "base/rng.h"

// Tolerance for student vs reference in double precision: summation order may
// differ, nothing else. |yours - ref| <= GU_TOL * (1 + |ref|).
#define GU_TOL 1e-9
// Finite differences: central, step GU_EPS; |numeric - analytic| <=
// GU_FD_TOL * (|numeric| + |analytic|) + GU_FD_ATOL.
#define GU_EPS 1e-5
#define GU_FD_TOL 1e-6
#define GU_FD_ATOL 1e-8

// One TCase per test function, with a time limit and the exercise's tag.
void gu_add_test(Suite *s, const char *tag, const char *name, const TTest *test);
#define GU_ADD(suite, tag, fn) gu_add_test(suite, tag, #fn, fn)

real *gu_reals(size_t n);            // zeroed, freed by gu_free_all
int *gu_ints(size_t n);              // zeroed
void gu_free_all(void);

void gu_fill(real *x, size_t n, UmRng *rng, double std);  // N(0, std)
void gu_copy(real *dst, const real *src, size_t n);
int gu_between(UmRng *rng, int lo, int hi);               // uniform in [lo, hi]

// Describe an array for a failure message: "name=[1, -0.5, 2]" (first 24 values).
// Appends to buf (a NUL-terminated string of capacity cap).
void gu_describe(char *buf, size_t cap, const char *name, const real *x, size_t n);
void gu_describe_ints(char *buf, size_t cap, const char *name, const int *x, size_t n);

// Fail the test at the first i where yours[i] and ref[i] differ by more than
// GU_TOL, naming the array, the index (row and column when cols > 0), both
// values and the context (shapes, inputs).
void gu_expect_close(const char *what, const real *yours, const real *ref, size_t n, int cols, const char *context);
void gu_expect_ints(const char *what, const int *yours, const int *ref, size_t n, int cols, const char *context);

// Compare an analytic gradient with a central difference of loss(ctx) in x[i].
void gu_expect_fd(const char *what, size_t i, real analytic, real *x, double (*loss)(void *ctx), void *ctx,
                  const char *context);

#endif
