// png.h: canvases to and from PNG files (stb_image_write / stb_image).
//
// Used for `--png DIR` frames when there is no display, and by the golden
// image tests. The canvas byte order (R,G,B,A in memory) is PNG's own, so
// both directions are a straight copy.
#ifndef UM_PNG_H
#define UM_PNG_H

#include "base/error.h"
#include "canvas.h"

// Write c to path as an RGBA PNG. Returns 0, or -1 with a reason in err.
int um_png_write(const UmCanvas *c, const char *path, UmError *err);

// Read path into a new canvas (*c is created here; free it with
// um_canvas_free). Any PNG is converted to RGBA. Returns 0, or -1 with a
// reason in err (and *c left empty).
int um_png_read(UmCanvas *c, const char *path, UmError *err);

#endif
