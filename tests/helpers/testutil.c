#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/error.h"

void fill_normal(real *x, size_t n, UmRng *rng, double std) {
    for (size_t i = 0; i < n; i++) x[i] = (real)(std * rng_normal(rng));
}

double max_rel_diff(const real *a, const real *b, size_t n, double atol, size_t *where) {
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / (fabs((double)b[i]) + atol);
        if (d > worst || isnan(d)) {
            worst = isnan(d) ? INFINITY : d;
            at = i;
        }
    }
    if (where) *where = at;
    return worst;
}

void make_temp_dir(char *buf, size_t len) {
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, len, "%s/umtest.XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(buf)) um_die(UM_EXIT_RUNTIME, "mkdtemp failed for %s", buf);
}
