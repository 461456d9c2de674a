// golden.h: golden-image checks for the visualiser's drawing (float build only).
//
// check_golden(canvas, name) compares the canvas pixel for pixel with
// tests/golden/<name>.png. On a mismatch it writes out/golden/<name>.actual.png
// and, when the sizes agree, out/golden/<name>.diff.png (differing pixels in
// red over a dimmed golden), then fails the test with the count.
// UM_RECORD_GOLDEN=1 writes the canvas as the new golden instead: look at
// every re-recorded image before committing it.
#ifndef UM_GOLDEN_H
#define UM_GOLDEN_H

#include "canvas.h"

void check_golden(const UmCanvas *c, const char *name);

#endif
