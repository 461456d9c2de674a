// png.c: see png.h. This file holds the one copy of stb_image_write's and
// stb_image's implementation in the program.
#include "png.h"

#include <errno.h>
#include <string.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG  // the goldens are PNG; a smaller decoder is less to trust
// Third-party code: don't let our -Wextra -Werror judge it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wtype-limits"
#include <stb_image.h>
#include <stb_image_write.h>
#pragma GCC diagnostic pop

int um_png_write(const UmCanvas *c, const char *path, UmError *err) {
    if (!c->pixels || c->w <= 0 || c->h <= 0)
        return um_fail(err, "cannot write %s: the canvas is empty", path);
    int stride = c->w * 4;
    errno = 0;
    if (!stbi_write_png(path, c->w, c->h, 4, c->pixels, stride))
        return um_fail(err, "cannot write PNG %s: %s", path,
                       errno ? strerror(errno) : "encoder failed");
    return 0;
}

int um_png_read(UmCanvas *c, const char *path, UmError *err) {
    c->pixels = NULL;
    c->w = c->h = 0;
    int w, h, channels;
    unsigned char *data = stbi_load(path, &w, &h, &channels, 4);
    if (!data) return um_fail(err, "cannot read PNG %s: %s", path, stbi_failure_reason());
    if (um_canvas_create(c, w, h, err) != 0) {
        stbi_image_free(data);
        return -1;
    }
    memcpy(c->pixels, data, (size_t)w * (size_t)h * 4);
    stbi_image_free(data);
    return 0;
}
