#include "golden.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "colormap.h"
#include "png.h"

// The evidence for a mismatch: the actual image and, if sizes agree, a diff.
static void write_evidence(const UmCanvas *c, const UmCanvas *g, const char *actual, const char *diff_path) {
    mkdir("out", 0755);
    mkdir("out/golden", 0755);
    um_png_write(c, actual, NULL);
    if (g->w != c->w || g->h != c->h) return;
    UmCanvas d;
    ck_assert_int_eq(um_canvas_create(&d, c->w, c->h, NULL), 0);
    for (size_t i = 0; i < (size_t)c->w * c->h; i++) {
        uint8_t grey = (uint8_t)(um_luma(g->pixels[i]) * 80.0f);
        d.pixels[i] = c->pixels[i] != g->pixels[i] ? um_rgb(255, 0, 0) : um_rgb(grey, grey, grey);
    }
    um_png_write(&d, diff_path, NULL);
    um_canvas_free(&d);
}

void check_golden(const UmCanvas *c, const char *name) {
    char path[256], actual[256], diff_path[256];
    UmError err = {{0}};
    snprintf(path, sizeof path, "tests/golden/%s.png", name);
    const char *rec = getenv("UM_RECORD_GOLDEN");
    if (rec && strcmp(rec, "1") == 0) {
        ck_assert_msg(um_png_write(c, path, &err) == 0, "%s", err.msg);
        return;
    }
    UmCanvas g;
    if (um_png_read(&g, path, &err) != 0)
        ck_abort_msg("%s (record goldens with UM_RECORD_GOLDEN=1, see tests/helpers/golden.h)", err.msg);
    long differ = 0;
    int same_size = g.w == c->w && g.h == c->h;
    if (same_size)
        for (size_t i = 0; i < (size_t)c->w * c->h; i++) differ += c->pixels[i] != g.pixels[i];
    if (same_size && differ == 0) {
        um_canvas_free(&g);
        return;
    }
    snprintf(actual, sizeof actual, "out/golden/%s.actual.png", name);
    snprintf(diff_path, sizeof diff_path, "out/golden/%s.diff.png", name);
    write_evidence(c, &g, actual, diff_path);
    int gw = g.w, gh = g.h;
    um_canvas_free(&g);
    if (!same_size) ck_abort_msg("%s: size %dx%d, golden is %dx%d (see %s)", name, c->w, c->h, gw, gh, actual);
    ck_abort_msg("%s: %ld pixels differ from %s (see %s and %s)", name, differ, path, actual, diff_path);
}
