// grade_util.c: see grade_util.h.
#include "grade_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

// Tests are forked: each allocation lives as long as its test's process, but
// free anyway so running with CK_FORK=no under valgrind stays clean.
static void *g_allocs[256];
static int g_nallocs;

static void *keep(void *p) {
    if (g_nallocs < (int)(sizeof g_allocs / sizeof g_allocs[0])) g_allocs[g_nallocs++] = p;
    return p;
}

real *gu_reals(size_t n) { return keep(um_alloc((n ? n : 1) * sizeof(real))); }
int *gu_ints(size_t n) { return keep(um_alloc((n ? n : 1) * sizeof(int))); }

void gu_free_all(void) {
    while (g_nallocs > 0) um_free(g_allocs[--g_nallocs]);
}

void gu_add_test(Suite *s, const char *tag, const char *name, const TTest *test) {
    TCase *tc = tcase_create(name);
    tcase_set_tags(tc, tag);
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, NULL, gu_free_all);
    _tcase_add_test(tc, test, 0, 0, 0, 1);
    suite_add_tcase(s, tc);
}

void gu_fill(real *x, size_t n, UmRng *rng, double std) {
    for (size_t i = 0; i < n; i++) x[i] = (real)(std * rng_normal(rng));
}

void gu_copy(real *dst, const real *src, size_t n) { memcpy(dst, src, n * sizeof(real)); }

int gu_between(UmRng *rng, int lo, int hi) { return lo + (int)rng_below(rng, (uint32_t)(hi - lo + 1)); }

void gu_describe(char *buf, size_t cap, const char *name, const real *x, size_t n) {
    size_t len = strlen(buf);
    len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, " %s=[", name);
    for (size_t i = 0; i < n && i < 24 && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%.6g", i ? ", " : "", (double)x[i]);
    if (len < cap) snprintf(buf + len, cap - len, "%s]", n > 24 ? ", ..." : "");
}

void gu_describe_ints(char *buf, size_t cap, const char *name, const int *x, size_t n) {
    size_t len = strlen(buf);
    len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, " %s=[", name);
    for (size_t i = 0; i < n && i < 24 && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? ", " : "", x[i]);
    if (len < cap) snprintf(buf + len, cap - len, "%s]", n > 24 ? ", ..." : "");
}

static void where(char *buf, size_t cap, size_t i, int cols) {
    if (cols > 0)
        snprintf(buf, cap, "index %zu (row %zu, column %zu)", i, i / (size_t)cols, i % (size_t)cols);
    else
        snprintf(buf, cap, "index %zu", i);
}

void gu_expect_close(const char *what, const real *yours, const real *ref, size_t n, int cols, const char *context) {
    for (size_t i = 0; i < n; i++) {
        double a = yours[i], b = ref[i];
        if (!(fabs(a - b) <= GU_TOL * (1 + fabs(b)))) {  // written so NaN fails too
            size_t bad = 0;
            for (size_t j = i; j < n; j++) bad += !(fabs((double)yours[j] - ref[j]) <= GU_TOL * (1 + fabs((double)ref[j])));
            char at[96];
            where(at, sizeof at, i, cols);
            ck_abort_msg("%s differs from the reference at %s: yours %.10g, reference %.10g "
                         "(%zu of %zu values differ).%s",
                         what, at, a, b, bad, n, context ? context : "");
        }
    }
}

void gu_expect_ints(const char *what, const int *yours, const int *ref, size_t n, int cols, const char *context) {
    for (size_t i = 0; i < n; i++) {
        if (yours[i] != ref[i]) {
            char at[96];
            where(at, sizeof at, i, cols);
            ck_abort_msg("%s differs from the reference at %s: yours %d, reference %d.%s", what, at, yours[i], ref[i],
                         context ? context : "");
        }
    }
}

void gu_expect_fd(const char *what, size_t i, real analytic, real *x, double (*loss)(void *ctx), void *ctx,
                  const char *context) {
    real saved = x[i];
    x[i] = saved + (real)GU_EPS;
    double up = loss(ctx);
    x[i] = saved - (real)GU_EPS;
    double down = loss(ctx);
    x[i] = saved;
    double numeric = (up - down) / (2 * GU_EPS);
    if (!(fabs(numeric - analytic) <= GU_FD_TOL * (fabs(numeric) + fabs((double)analytic)) + GU_FD_ATOL))
        ck_abort_msg("%s[%zu]: your gradient %.10g, finite difference %.10g (central, step %g).%s", what, i,
                     (double)analytic, numeric, GU_EPS, context ? context : "");
}
