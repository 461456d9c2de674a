#include "fixture_io.h"

#include <check.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "testutil.h"

real *fixture_read_f32(FILE *f, size_t n, const char *path) {
    float *tmp = malloc(n * sizeof *tmp);
    real *out = um_alloc(n * sizeof(real));
    size_t got = fread(tmp, sizeof *tmp, n, f);
    ck_assert_msg(got == n, "%s is truncated", path);
    for (size_t i = 0; i < n; i++) out[i] = (real)tmp[i];
    free(tmp);
    return out;
}

void fixture_assert_grads(const char *const *names, real *const *got, real *const *want, const size_t *sizes, int n,
                          double tol) {
    for (int i = 0; i < n; i++) {
        size_t where;
        double e = max_rel_diff(got[i], want[i], sizes[i], tol, &where);
        ck_assert_msg(e < tol, "d%s: rel diff %g at %zu (C %g, torch %g)", names[i], e, where, (double)got[i][where],
                      (double)want[i][where]);
    }
}
