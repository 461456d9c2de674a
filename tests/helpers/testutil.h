// testutil.h: small helpers shared by the test files.
#ifndef UM_TESTUTIL_H
#define UM_TESTUTIL_H

#include <stddef.h>

#include "base/real.h"
#include "base/rng.h"

// Fill x[0..n) with N(0, std) from rng.
void fill_normal(real *x, size_t n, UmRng *rng, double std);

// Largest |a-b| / (|b| + atol) over n elements; *where gets its index.
double max_rel_diff(const real *a, const real *b, size_t n, double atol, size_t *where);

// A fresh temporary directory (mkdtemp under $TMPDIR or /tmp); the path is
// written into buf.
void make_temp_dir(char *buf, size_t len);

#endif
