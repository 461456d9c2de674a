// fixture_io.h: reading the PyTorch reference fixtures (tests/fixtures/*.bin,
// format in tests/fixtures/README.md) and comparing against them.
#ifndef UM_FIXTURE_IO_H
#define UM_FIXTURE_IO_H

#include <stddef.h>
#include <stdio.h>

#include "base/real.h"

// Read n float32s from f into a new um_alloc'd real array (free with um_free);
// fails the test, naming `path`, if the file ends first.
real *fixture_read_f32(FILE *f, size_t n, const char *path);

// For each of the n tensors: max_rel_diff(got[i], want[i], sizes[i], tol) < tol,
// or fail naming d<names[i]> and the worst element (C value, torch value).
void fixture_assert_grads(const char *const *names, real *const *got, real *const *want, const size_t *sizes, int n,
                          double tol);

#endif
