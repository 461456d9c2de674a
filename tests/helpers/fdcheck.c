#include "fdcheck.h"

#include <math.h>
#include <stdio.h>

double fd_rel_err(double analytic, double numeric, double floor) {
    double scale = fabs(analytic) + fabs(numeric);
    return fabs(analytic - numeric) / (scale > floor ? scale : floor);
}

double fd_check_tensor(real *x, const real *analytic, size_t len, const char *name, FdLossFn loss, void *ctx,
                       double eps, double tol, double floor) {
    double worst = 0;
    for (size_t i = 0; i < len; i++) {
        real saved = x[i];
        double up, down;
        x[i] = saved + eps;
        int flip = loss(ctx, &up);
        x[i] = saved - eps;
        flip |= loss(ctx, &down);
        x[i] = saved;
        if (flip) return -1;
        double numeric = (up - down) / (2 * eps), e = fd_rel_err(analytic[i], numeric, floor);
        if (e > tol) fprintf(stderr, "%s[%zu]: analytic %.12g numeric %.12g\n", name, i, analytic[i], numeric);
        if (e > worst) worst = e;
    }
    return worst;
}
