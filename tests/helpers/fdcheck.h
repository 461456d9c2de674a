// fdcheck.h: finite-difference gradient checks shared by the layer tests.
//
// The gradient of a scalar loss L with respect to each entry of a tensor is
// estimated by central differences, (L(x+eps) - L(x-eps)) / 2 eps, and
// compared with the analytic gradient the backward pass produced.
#ifndef UM_FDCHECK_H
#define UM_FDCHECK_H

#include <stddef.h>

#include "base/real.h"

// Computes the loss at the current parameters. Returns -1 instead when a
// discrete choice (a top-k selection) differs from the reference run: the
// loss then jumps, and a finite difference would measure the jump.
typedef int (*FdLossFn)(void *ctx, double *loss);

// |analytic - numeric| / max(|analytic| + |numeric|, floor): relative, with
// an absolute floor for entries whose true gradient is ~0 (where only the
// finite difference's rounding noise is left).
double fd_rel_err(double analytic, double numeric, double floor);

// Checks every entry of x (len) against analytic; prints each entry over tol
// to stderr with its name. Returns the worst error, or -1 if some
// perturbation changed a discrete choice.
double fd_check_tensor(real *x, const real *analytic, size_t len, const char *name, FdLossFn loss, void *ctx,
                       double eps, double tol, double floor);

#endif
