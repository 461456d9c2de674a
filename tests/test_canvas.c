// test_canvas.c: the visualiser's drawing layer (viz/), without SDL.
//
// Suites:
//   canvas         unit tests: clipping never writes outside the canvas (a
//                  canvas surrounded by guard pixels, drawn on with wild
//                  coordinates), colormap endpoints and monotone lightness,
//                  text measuring, "nice" ticks and their labels.
//   canvas_golden  golden images: each primitive is drawn into a canvas and
//                  compared pixel for pixel with tests/golden/<name>.png. On
//                  a mismatch the test writes out/golden/<name>.actual.png and
//                  out/golden/<name>.diff.png (differing pixels in red over a
//                  dimmed copy of the expected image) and fails with the count.
//
// Re-recording the goldens after an intended change of the drawing:
//   make bin/test_f32 && UM_RECORD_GOLDEN=1 CK_RUN_SUITE=canvas_golden bin/test_f32
// then LOOK at every tests/golden/*.png before committing them.
#include <check.h>

#include "helpers/golden.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/rng.h"
#include "canvas.h"
#include "colormap.h"
#include "plot.h"
#include "png.h"
#include "text.h"
#include "theme.h"

// ================================================================ guarded canvas
// A canvas whose pixel block sits inside a larger buffer, with GUARD pixels of
// a known value before and after it. Any write past either end changes them.

#define GUARD 4096
#define GUARD_VALUE 0xA5A5A5A5u
#define GW 40
#define GH 30

typedef struct {
    uint32_t *buf;
    UmCanvas c;
} Guarded;

static Guarded guarded_new(void) {
    Guarded g;
    size_t n = (size_t)GW * GH + 2 * GUARD;
    g.buf = malloc(n * sizeof(uint32_t));
    ck_assert_ptr_nonnull(g.buf);
    for (size_t i = 0; i < n; i++) g.buf[i] = GUARD_VALUE;
    g.c.pixels = g.buf + GUARD;
    g.c.w = GW;
    g.c.h = GH;
    um_canvas_clear(&g.c, 0);
    return g;
}

static void guards_intact(const Guarded *g, const char *what) {
    for (size_t i = 0; i < GUARD; i++) {
        if (g->buf[i] != GUARD_VALUE)
            ck_abort_msg("%s wrote %zu pixels before the canvas", what, GUARD - i);
        if (g->buf[GUARD + (size_t)GW * GH + i] != GUARD_VALUE)
            ck_abort_msg("%s wrote %zu pixels after the canvas", what, i + 1);
    }
}

static const int WILD[] = {INT_MIN, INT_MIN + 1, -1000000000, -100, -1, 0, 1, 5, 39, 40, 41,
                           1000000000, INT_MAX - 1, INT_MAX};
#define N_WILD ((int)(sizeof WILD / sizeof WILD[0]))

static int inside64(int64_t x0, int64_t y0, int64_t w, int64_t h, int px, int py) {
    return w > 0 && h > 0 && px >= x0 && py >= y0 && px < x0 + w && py < y0 + h;
}

// ================================================================ unit tests

START_TEST(test_create_rejects_bad_sizes) {
    UmCanvas c;
    UmError err = {{0}};
    ck_assert_int_eq(um_canvas_create(&c, 0, 10, &err), -1);
    ck_assert_msg(strstr(err.msg, "0x10") != NULL, "reason: %s", err.msg);
    ck_assert_int_eq(um_canvas_create(&c, 10, -3, &err), -1);
    ck_assert_int_eq(um_canvas_create(&c, 20000, 10, &err), -1);
    ck_assert_ptr_null(c.pixels);
    ck_assert_int_eq(um_canvas_create(&c, 3, 2, &err), 0);
    ck_assert_uint_eq(um_get_pixel(&c, 2, 1), um_rgb(0, 0, 0));
    ck_assert_uint_eq(um_get_pixel(&c, 3, 1), 0);  // outside: 0, no read
    um_canvas_free(&c);
    um_canvas_free(&c);  // twice is harmless
}
END_TEST

START_TEST(test_byte_order_is_rgba_in_memory) {
    // stb_image_write and SDL_PIXELFORMAT_RGBA32 both read bytes R,G,B,A.
    uint32_t px = um_rgba(1, 2, 3, 4);
    const uint8_t *b = (const uint8_t *)&px;
    ck_assert_int_eq(b[0], 1);
    ck_assert_int_eq(b[1], 2);
    ck_assert_int_eq(b[2], 3);
    ck_assert_int_eq(b[3], 4);
    ck_assert_int_eq(um_channel(px, 2), 3);
}
END_TEST

START_TEST(test_fill_rect_clips_exactly) {
    Guarded g = guarded_new();
    uint32_t ink = um_rgb(255, 0, 0);
    for (int a = 0; a < N_WILD; a++)
        for (int b = 0; b < N_WILD; b++)
            for (int cw = 0; cw < N_WILD; cw++)
                for (int d = 0; d < N_WILD; d++) {
                    UmRect r = um_rect(WILD[a], WILD[b], WILD[cw], WILD[d]);
                    um_canvas_clear(&g.c, 0);
                    um_fill_rect(&g.c, r, ink);
                    // (plain `if` + abort: ck_assert marks a point per call, too slow here)
                    for (int y = 0; y < GH; y++)
                        for (int x = 0; x < GW; x++) {
                            int want = inside64(r.x, r.y, r.w, r.h, x, y);
                            if ((g.c.pixels[y * GW + x] == ink) != want)
                                ck_abort_msg("rect {%d,%d,%d,%d} pixel (%d,%d)", r.x, r.y, r.w,
                                             r.h, x, y);
                        }
                }
    guards_intact(&g, "um_fill_rect");
    free(g.buf);
}
END_TEST

START_TEST(test_outline_stays_inside_its_rect) {
    Guarded g = guarded_new();
    uint32_t ink = um_rgb(0, 255, 0);
    int thick[] = {INT_MIN, -1, 0, 1, 2, 7, 1000, INT_MAX};
    for (int a = 0; a < N_WILD; a++)
        for (int b = 0; b < N_WILD; b++)
            for (int cw = 0; cw < N_WILD; cw += 2)
                for (int d = 0; d < N_WILD; d += 2)
                    for (int t = 0; t < 8; t++) {
                        UmRect r = um_rect(WILD[a], WILD[b], WILD[cw], WILD[d]);
                        um_canvas_clear(&g.c, 0);
                        um_draw_rect(&g.c, r, thick[t], ink);
                        for (int y = 0; y < GH; y++)
                            for (int x = 0; x < GW; x++)
                                if (g.c.pixels[y * GW + x] == ink &&
                                    !inside64(r.x, r.y, r.w, r.h, x, y))
                                    ck_abort_msg("outline of {%d,%d,%d,%d} t=%d at (%d,%d)", r.x,
                                                 r.y, r.w, r.h, thick[t], x, y);
                    }
    // A plain case drawn exactly: a 1-pixel frame around a 5x4 rect.
    um_canvas_clear(&g.c, 0);
    um_draw_rect(&g.c, um_rect(2, 3, 5, 4), 1, ink);
    int count = 0;
    for (int i = 0; i < GW * GH; i++) count += g.c.pixels[i] == ink;
    ck_assert_int_eq(count, 2 * 5 + 2 * 2);
    guards_intact(&g, "um_draw_rect");
    free(g.buf);
}
END_TEST

// Distance from pixel (px, py) to the segment (x0,y0)-(x1,y1), in doubles.
static double seg_dist(double px, double py, double x0, double y0, double x1, double y1) {
    double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    double t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    double ex = x0 + t * dx - px, ey = y0 + t * dy - py;
    return sqrt(ex * ex + ey * ey);
}

START_TEST(test_lines_clip_and_stay_on_the_line) {
    Guarded g = guarded_new();
    uint32_t ink = um_rgb(0, 0, 255);
    UmRng rng;
    rng_seed(&rng, 7);
    for (int trial = 0; trial < 4000; trial++) {
        int p[4];
        for (int k = 0; k < 4; k++) {
            // Mix extreme values, far values and values near the canvas.
            uint32_t kind = rng_below(&rng, 3);
            p[k] = kind == 0   ? WILD[rng_below(&rng, N_WILD)]
                   : kind == 1 ? (int)rng_u32(&rng)
                               : (int)rng_below(&rng, 120) - 40;
        }
        int thickness = trial % 3 == 0 ? 3 : 1;
        um_canvas_clear(&g.c, 0);
        if (thickness == 1) um_draw_line(&g.c, p[0], p[1], p[2], p[3], ink);
        else um_draw_thick_line_in(&g.c, um_canvas_rect(&g.c), p[0], p[1], p[2], p[3], 3, ink);
        // Bresenham stays within half a pixel of the ideal line; clipping a
        // long line rounds its new ends, adding at most ~0.71 more.
        double tol = thickness == 1 ? 1.5 : 1.5 + 1.5;
        for (int y = 0; y < GH; y++)
            for (int x = 0; x < GW; x++)
                if (g.c.pixels[y * GW + x] == ink) {
                    double d = seg_dist(x, y, p[0], p[1], p[2], p[3]);
                    if (d > tol) ck_abort_msg("line (%d,%d)-(%d,%d) lit (%d,%d), %.2f px away", p[0],
                                  p[1], p[2], p[3], x, y, d);
                }
    }
    // A horizontal line from far left to far right lights exactly its row.
    um_canvas_clear(&g.c, 0);
    um_draw_line(&g.c, INT_MIN, 5, INT_MAX, 5, ink);
    for (int y = 0; y < GH; y++)
        for (int x = 0; x < GW; x++) ck_assert_int_eq(g.c.pixels[y * GW + x] == ink, y == 5);
    // Thickness is capped, so this returns quickly instead of filling forever.
    um_draw_thick_line_in(&g.c, um_rect(INT_MIN, INT_MIN, INT_MAX, INT_MAX), -5, -5, 50, 50,
                          INT_MAX, ink);
    guards_intact(&g, "um_draw_line");
    free(g.buf);
}
END_TEST

START_TEST(test_everything_else_clips) {
    Guarded g = guarded_new();
    float m[12] = {1, 2, NAN, 4, INFINITY, -6, 7, 8, 9, 10, 11, 12};
    int sel[] = {-5, 0, 2, 99}, marks[] = {0, 0, 2, 3, -1, 7, 100, 100};
    UmHeatmapStyle hs = {.cell_gap = 1, .rows = sel, .n_rows = 4, .cols = sel, .n_cols = 4,
                         .marks = marks, .n_marks = 4};
    float ys[5] = {1, NAN, 1e30f, -1e30f, 0}, xs[5] = {0, 1, 2, 3, INFINITY};
    UmSeries ser[2] = {{xs, ys, 5, 0, "a"}, {NULL, ys, 5, 0, "a label far too long to fit"}};
    UmLinePlotStyle ls = {.legend = 1, .log_y = 0, .x_label = "x", .y_label = "y"};
    for (int a = 0; a < N_WILD; a++)
        for (int b = 0; b < N_WILD; b++)
            for (int k = 0; k < 6; k++) {
                int w = WILD[(a + k) % N_WILD], h = WILD[(b + 2 * k) % N_WILD];
                UmRect r = um_rect(WILD[a], WILD[b], w, h);
                UmRect small = um_rect(WILD[a] / 1024, WILD[b] / 1024, 37 + k * 20, 29 + k * 15);
                um_draw_text(&g.c, WILD[a], WILD[b], "Wild text\nline 2 \x01\x7f\xff", ~0u, k + 1);
                um_draw_text(&g.c, b - 3, a - 3, "clipped", ~0u, INT_MAX);
                um_draw_text_anchored(&g.c, WILD[a], WILD[b], "x", ~0u, 2, UM_ALIGN_END,
                                      UM_ALIGN_END);
                um_draw_text_in(&g.c, r, "in", ~0u, 1, UM_ALIGN_CENTER, UM_ALIGN_END);
                for (int pass = 0; pass < 2; pass++) {
                    UmRect q = pass ? small : r;
                    hs.scale = (UmScale)(k & 1);
                    hs.map = (UmColormap)((k >> 1) & 1);
                    um_draw_heatmap(&g.c, q, m, 3, 4, &hs, NULL, NULL);
                    um_draw_panel(&g.c, q, "a panel title");
                    um_draw_bar_chart(&g.c, q, m, 12, NULL);
                    ls.log_y = k & 1;
                    um_draw_line_plot(&g.c, q, ser, 2, &ls);
                    um_draw_colorbar(&g.c, q, UM_CMAP_VIRIDIS, 0, 1, "%.1f");
                }
            }
    guards_intact(&g, "text, panels, heatmaps, charts");
    free(g.buf);
}
END_TEST

START_TEST(test_alpha_blends_over) {
    UmCanvas c;
    ck_assert_int_eq(um_canvas_create(&c, 2, 1, NULL), 0);
    um_canvas_clear(&c, um_rgb(0, 0, 200));
    um_put_pixel(&c, 0, 0, um_rgba(255, 0, 0, 128));
    uint32_t p = um_get_pixel(&c, 0, 0);
    ck_assert_int_eq(um_channel(p, 0), 128);
    ck_assert_int_eq(um_channel(p, 2), 100);
    ck_assert_int_eq(um_channel(p, 3), 255);
    um_canvas_free(&c);
}
END_TEST

START_TEST(test_colormap_endpoints_and_luma) {
    ck_assert_uint_eq(um_viridis(0.0f), um_rgb(68, 1, 84));
    ck_assert_uint_eq(um_viridis(1.0f), um_rgb(253, 231, 37));
    ck_assert_uint_eq(um_viridis(-3.0f), um_viridis(0.0f));  // clamped
    ck_assert_uint_eq(um_viridis(42.0f), um_viridis(1.0f));
    ck_assert_uint_eq(um_viridis(NAN), um_rgb(128, 128, 128));
    // Viridis gets lighter all the way up: never darker in 256 steps (8-bit
    // rounding can tie neighbours), strictly lighter in 32 steps.
    float prev = -1.0f;
    for (int i = 0; i <= 255; i++) {
        float l = um_luma(um_viridis((float)i / 255.0f));
        ck_assert_msg(l >= prev, "viridis luma falls at %d: %f < %f", i, l, prev);
        prev = l;
    }
    prev = -1.0f;
    for (int i = 0; i <= 32; i++) {
        float l = um_luma(um_viridis((float)i / 32.0f));
        ck_assert_msg(l > prev, "viridis luma flat at %d/32: %f <= %f", i, l, prev);
        prev = l;
    }
    // Diverging: darkest at the centre, lighter with |t - 0.5| on both sides.
    float centre = um_luma(um_diverging(0.5f));
    float up = centre, down = centre;
    for (int i = 1; i <= 128; i++) {
        float lu = um_luma(um_diverging(0.5f + (float)i / 256.0f));
        float ld = um_luma(um_diverging(0.5f - (float)i / 256.0f));
        ck_assert_msg(lu >= up && ld >= down, "diverging luma not rising at step %d", i);
        up = lu;
        down = ld;
    }
    ck_assert_float_lt(centre, 0.25f);
    ck_assert_float_gt(up, 0.7f);
    ck_assert_float_gt(down, 0.7f);
    // Negative is blue-ish, positive orange-ish.
    ck_assert_int_gt(um_channel(um_diverging(0.0f), 2), um_channel(um_diverging(0.0f), 0));
    ck_assert_int_gt(um_channel(um_diverging(1.0f), 0), um_channel(um_diverging(1.0f), 2));
    ck_assert_uint_ne(um_series_color(0), um_series_color(1));
    ck_assert_uint_eq(um_series_color(-1), um_series_color(7));
}
END_TEST

START_TEST(test_scale_t) {
    ck_assert_float_eq(um_scale_t(UM_SCALE_LINEAR, 5.0f, 0.0f, 10.0f), 0.5f);
    ck_assert_float_eq(um_scale_t(UM_SCALE_LINEAR, -5.0f, 0.0f, 10.0f), 0.0f);
    ck_assert_float_eq(um_scale_t(UM_SCALE_LINEAR, 50.0f, 0.0f, 10.0f), 1.0f);
    ck_assert_float_eq(um_scale_t(UM_SCALE_LINEAR, 3.0f, 2.0f, 2.0f), 0.5f);  // degenerate
    ck_assert(isnan(um_scale_t(UM_SCALE_LINEAR, NAN, 0.0f, 1.0f)));
    // log1p: 0 -> 0, max -> 1, and 9 of 99 sits at log(10)/log(100) = 1/2.
    ck_assert_float_eq(um_scale_t(UM_SCALE_LOG1P, 0.0f, 0.0f, 99.0f), 0.0f);
    ck_assert_float_eq_tol(um_scale_t(UM_SCALE_LOG1P, 9.0f, 0.0f, 99.0f), 0.5f, 1e-6f);
    ck_assert_float_eq_tol(um_scale_t(UM_SCALE_LOG1P, 99.0f, 0.0f, 99.0f), 1.0f, 1e-6f);
}
END_TEST

START_TEST(test_text_measuring) {
    ck_assert_int_eq(um_text_width("", 1), 0);
    ck_assert_int_eq(um_text_height("", 1), 0);
    ck_assert_int_eq(um_text_width("A", 1), 4);    // 4 pixels of ink
    ck_assert_int_eq(um_text_width("AB", 1), 10);  // advance 6, then B's 4
    ck_assert_int_eq(um_text_width("AB", 3), 30);
    ck_assert_int_eq(um_text_width("AB\nABCD\nA", 1), um_text_width("ABCD", 1));
    ck_assert_int_eq(um_text_height("A", 1), UM_TEXT_CAP_H);
    ck_assert_int_eq(um_text_height("A\nB", 2), 2 * (UM_TEXT_CAP_H + UM_TEXT_LINE_H));
    ck_assert_int_eq(um_text_width("\x01\xff", 1), um_text_width("??", 1));
    // The ink of a drawn string fits the measured box exactly.
    UmCanvas c;
    ck_assert_int_eq(um_canvas_create(&c, 120, 40, NULL), 0);
    const char *s = "Loss 3.14";
    um_draw_text(&c, 10, 10, s, um_rgb(255, 255, 255), 2);
    int x0 = 1000, x1 = -1, y0 = 1000, y1 = -1;
    for (int y = 0; y < c.h; y++)
        for (int x = 0; x < c.w; x++)
            if (um_get_pixel(&c, x, y) != um_rgb(0, 0, 0)) {
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
    ck_assert_int_eq(x0, 10);
    ck_assert_int_eq(x1 - x0 + 1, um_text_width(s, 2));
    ck_assert_int_eq(y0, 10);
    ck_assert_int_eq(y1 - y0 + 1, um_text_height(s, 2));  // no descender in this string
    um_canvas_free(&c);
}
END_TEST

static void expect_ticks(double lo, double hi, int target, const double *want, int n_want,
                         double want_step) {
    double t[32], step = 0;
    int n = um_nice_ticks(lo, hi, target, t, 32, &step);
    ck_assert_msg(n == n_want, "[%g,%g] gave %d ticks, want %d", lo, hi, n, n_want);
    ck_assert_double_eq_tol(step, want_step, 1e-12);
    for (int i = 0; i < n; i++) ck_assert_double_eq_tol(t[i], want[i], 1e-12);
}

START_TEST(test_nice_ticks) {
    expect_ticks(0, 1, 5, (double[]){0, 0.2, 0.4, 0.6, 0.8, 1.0}, 6, 0.2);
    expect_ticks(0, 100, 5, (double[]){0, 20, 40, 60, 80, 100}, 6, 20);
    expect_ticks(-3.7, 12.1, 5, (double[]){0, 5, 10}, 3, 5);
    expect_ticks(1.3, 5.6, 5, (double[]){2, 3, 4, 5}, 4, 1);
    expect_ticks(0, 2000, 4, (double[]){0, 500, 1000, 1500, 2000}, 5, 500);
    double t[4];
    ck_assert_int_eq(um_nice_ticks(1, 1, 5, t, 4, NULL), 0);
    ck_assert_int_eq(um_nice_ticks(0, NAN, 5, t, 4, NULL), 0);
    ck_assert_int_eq(um_nice_ticks(0, 1, 5, t, 4, NULL), 4);  // capped
    double lo = 1.3, hi = 5.6;
    um_nice_range(&lo, &hi, 5);
    ck_assert_double_eq(lo, 1.0);
    ck_assert_double_eq(hi, 6.0);
    lo = hi = 3.0;
    um_nice_range(&lo, &hi, 5);
    ck_assert(lo < 3.0 && hi > 3.0);
    // Log ticks: decades when there are enough, else 1-2-5, else 1..9.
    double lt[32];
    int n = um_log_ticks(1e-3, 1e3, lt, 32);
    ck_assert_int_eq(n, 7);
    ck_assert_double_eq_tol(lt[0], 1e-3, 1e-15);
    n = um_log_ticks(1, 10, lt, 32);
    ck_assert_int_eq(n, 4);
    ck_assert_double_eq(lt[1], 2.0);
    ck_assert_double_eq(lt[2], 5.0);
    n = um_log_ticks(1.5, 4.2, lt, 32);
    ck_assert_int_eq(n, 3);
    ck_assert_double_eq(lt[0], 2.0);
    // Labels.
    char b[32];
    um_format_tick(b, sizeof b, 0.1 + 0.2, 0.1);
    ck_assert_str_eq(b, "0.3");
    um_format_tick(b, sizeof b, -1e-17, 0.1);
    ck_assert_str_eq(b, "0");
    um_format_tick(b, sizeof b, 20000, 5000);
    ck_assert_str_eq(b, "20k");
    um_format_tick(b, sizeof b, 2.5e6, 5e5);
    ck_assert_str_eq(b, "2.5M");
    um_format_tick(b, sizeof b, 1500, 500);
    ck_assert_str_eq(b, "1500");
    um_format_tick(b, sizeof b, -0.25, 0.05);
    ck_assert_str_eq(b, "-0.25");
}
END_TEST

START_TEST(test_png_round_trip_and_errors) {
    UmCanvas c, d;
    UmError err = {{0}};
    ck_assert_int_eq(um_canvas_create(&c, 7, 5, NULL), 0);
    for (int i = 0; i < 35; i++) c.pixels[i] = um_rgba((uint8_t)(i * 7), (uint8_t)(255 - i), 9, 255);
    mkdir("out", 0755);
    mkdir("out/golden", 0755);
    ck_assert_msg(um_png_write(&c, "out/golden/roundtrip.png", &err) == 0, "%s", err.msg);
    ck_assert_msg(um_png_read(&d, "out/golden/roundtrip.png", &err) == 0, "%s", err.msg);
    ck_assert_int_eq(d.w, 7);
    ck_assert_int_eq(d.h, 5);
    ck_assert_mem_eq(c.pixels, d.pixels, 35 * 4);
    um_canvas_free(&d);
    ck_assert_int_eq(um_png_read(&d, "out/golden/does-not-exist.png", &err), -1);
    ck_assert_msg(strstr(err.msg, "does-not-exist") != NULL, "reason: %s", err.msg);
    ck_assert_ptr_null(d.pixels);
    ck_assert_int_eq(um_png_write(&c, "/nonexistent-dir/x.png", &err), -1);
    ck_assert_msg(strstr(err.msg, "/nonexistent-dir/x.png") != NULL, "reason: %s", err.msg);
    um_canvas_free(&c);
}
END_TEST

Suite *canvas_suite(void) {
    Suite *s = suite_create("canvas");
    TCase *tc = tcase_create("unit");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_create_rejects_bad_sizes);
    tcase_add_test(tc, test_byte_order_is_rgba_in_memory);
    tcase_add_test(tc, test_fill_rect_clips_exactly);
    tcase_add_test(tc, test_outline_stays_inside_its_rect);
    tcase_add_test(tc, test_lines_clip_and_stay_on_the_line);
    tcase_add_test(tc, test_everything_else_clips);
    tcase_add_test(tc, test_alpha_blends_over);
    tcase_add_test(tc, test_colormap_endpoints_and_luma);
    tcase_add_test(tc, test_scale_t);
    tcase_add_test(tc, test_text_measuring);
    tcase_add_test(tc, test_nice_ticks);
    tcase_add_test(tc, test_png_round_trip_and_errors);
    suite_add_tcase(s, tc);
    return s;
}

// ================================================================ golden images


// Deterministic pseudo-random value in [-1, 1) from an integer (no libm, so
// the test data is the same everywhere).
static float hashf(uint32_t i) {
    uint32_t x = i * 2654435761u + 0x9e3779b9u;
    x ^= x >> 15;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    return (float)(x & 0xffff) / 32768.0f - 1.0f;
}

// Indices of the k largest of v[0..n) (simple selection; n is small).
static void top_k(const float *v, int n, int k, int *out) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int used = 0;
            for (int q = 0; q < j; q++) used |= out[q] == i;
            if (!used && (best < 0 || v[i] > v[best])) best = i;
        }
        out[j] = best;
    }
}

static UmCanvas scene(int w, int h) {
    UmCanvas c;
    ck_assert_int_eq(um_canvas_create(&c, w, h, NULL), 0);
    um_canvas_clear(&c, UM_THEME_BG);
    return c;
}

// A product-key score grid: score(i, j) = s1[i] + s2[j]; the top-4 rows and
// columns are outlined, and the top-4 pairs among them are marked.
START_TEST(test_golden_heatmap) {
    enum { N = 16, K = 4 };
    float s1[N], s2[N], grid[N * N];
    for (int i = 0; i < N; i++) {
        s1[i] = hashf(i) * 1.5f;
        s2[i] = hashf(100 + i) * 1.5f;
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) grid[i * N + j] = s1[i] + s2[j];
    int rows[K], cols[K];
    top_k(s1, N, K, rows);
    top_k(s2, N, K, cols);
    float cand[K * K];
    for (int a = 0; a < K; a++)
        for (int b = 0; b < K; b++) cand[a * K + b] = s1[rows[a]] + s2[cols[b]];
    int win[K], marks[2 * K];
    top_k(cand, K * K, K, win);
    for (int q = 0; q < K; q++) {
        marks[2 * q] = rows[win[q] / K];
        marks[2 * q + 1] = cols[win[q] % K];
    }
    UmCanvas c = scene(340, 300);
    UmRect body = um_draw_panel(&c, um_rect(8, 8, 324, 284), "key scores: token 7, head 0 (top-4)");
    UmHeatmapStyle st = {.map = UM_CMAP_DIVERGING, .cell_gap = 1, .rows = rows, .n_rows = K,
                         .cols = cols, .n_cols = K, .marks = marks, .n_marks = K};
    UmRect heat = um_rect(body.x + 14, body.y + 14, 224, 224);
    float lo, hi;
    um_draw_heatmap(&c, heat, grid, N, N, &st, &lo, &hi);
    um_draw_text_anchored(&c, heat.x + heat.w / 2, body.y + 3, "column key j", UM_THEME_TEXT_DIM, 1,
                          UM_ALIGN_CENTER, UM_ALIGN_START);
    um_draw_text_anchored(&c, body.x + 4, heat.y + heat.h / 2, "i", UM_THEME_TEXT_DIM, 1,
                          UM_ALIGN_START, UM_ALIGN_CENTER);
    um_draw_colorbar(&c, um_rect(heat.x + heat.w + 14, heat.y, 50, heat.h), st.map, lo, hi, "%+.2f");
    um_draw_text(&c, heat.x, heat.y + heat.h + 8, "white: top rows/cols   red: winners",
                 UM_THEME_TEXT_DIM, 1);
    check_golden(&c, "heatmap");
    um_canvas_free(&c);
}
END_TEST

// Memory-slot read counts: 8 x 512 slots squeezed into fewer pixels, log1p
// scale, a few hot slots that must stay visible.
START_TEST(test_golden_heatmap_log_counts) {
    enum { R = 8, C = 512 };
    static float counts[R * C];
    for (int i = 0; i < R * C; i++) {
        float u = (hashf(7 * i + 3) + 1.0f) * 0.5f;  // [0, 1)
        counts[i] = (float)(int)(u * u * u * 12.0f);
    }
    counts[3 * C + 100] = 4000;  // hot slots
    counts[6 * C + 401] = 900;
    counts[1 * C + 7] = 250;
    UmCanvas c = scene(340, 150);
    UmRect body = um_draw_panel(&c, um_rect(8, 8, 324, 134), "memory reads (log1p), 4096 slots");
    UmHeatmapStyle st = {.map = UM_CMAP_VIRIDIS, .scale = UM_SCALE_LOG1P};
    UmRect heat = um_rect(body.x, body.y, body.w, 70);
    float lo, hi;
    um_draw_heatmap(&c, heat, counts, R, C, &st, &lo, &hi);
    um_draw_colorbar(&c, um_rect(body.x, heat.y + heat.h + 8, 160, 20), st.map, lo, hi, "%.0f");
    um_draw_text_anchored(&c, body.x + body.w, heat.y + heat.h + 10, "usage 97.3%  KL 0.41",
                          UM_THEME_TEXT, 1, UM_ALIGN_END, UM_ALIGN_START);
    check_golden(&c, "heatmap_log_counts");
    um_canvas_free(&c);
}
END_TEST

START_TEST(test_golden_bar_chart) {
    enum { X = 8 };
    float load[X] = {0.16f, 0.09f, 0.21f, 0.05f, 0.12f, 0.14f, 0.08f, 0.15f};
    const char *labels[X] = {"E0", "E1", "E2", "E3", "E4", "E5", "E6", "E7"};
    uint32_t colors[X];
    for (int i = 0; i < X; i++) colors[i] = load[i] > 0.2f ? um_series_color(3) : um_series_color(0);
    UmCanvas c = scene(340, 220);
    UmRect body = um_draw_panel(&c, um_rect(8, 8, 324, 204), "MoE expert load (layer 2)");
    UmBarStyle st = {.colors = colors, .labels = labels, .reference = 1.0f / X, .has_reference = 1,
                     .y_label = "fraction of tokens  (dashed: uniform 1/8)"};
    um_draw_bar_chart(&c, body, load, X, &st);
    check_golden(&c, "bar_chart");
    um_canvas_free(&c);
}
END_TEST

// Loss curves of three runs on a log y axis, with a legend.
START_TEST(test_golden_line_plot) {
    enum { S = 3, P = 201 };
    static float xs[P], ys[S][P];
    const float floor_[S] = {1.55f, 1.42f, 1.33f}, tau[S] = {140.0f, 120.0f, 100.0f};
    for (int i = 0; i < P; i++) {
        xs[i] = (float)(i * 10);
        for (int k = 0; k < S; k++) {
            float t = xs[i] / tau[k];
            ys[k][i] = floor_[k] + 4.0f / (1.0f + t * t * 0.5f + t) + 0.06f * hashf(1000 * k + i);
        }
    }
    ys[2][120] = NAN;  // a gap: the line must break, not dive
    UmSeries ser[S] = {{xs, ys[0], P, 0, "dense"}, {xs, ys[1], P, 0, "pkm"},
                       {xs, ys[2], P, 0, "ultramem"}};
    UmCanvas c = scene(340, 240);
    UmRect body = um_draw_panel(&c, um_rect(8, 8, 324, 224), "training loss");
    UmLinePlotStyle st = {.log_y = 1, .legend = 1, .line_width = 1, .x_label = "step",
                          .y_label = "loss (nats/byte, log)"};
    um_draw_line_plot(&c, body, ser, S, &st);
    check_golden(&c, "line_plot");
    um_canvas_free(&c);
}
END_TEST

START_TEST(test_golden_text) {
    UmCanvas c = scene(340, 170);
    UmRect body = um_draw_panel(&c, um_rect(8, 8, 324, 154), "text");
    um_draw_text(&c, body.x, body.y, " !\"#$%&'()*+,-./0123456789:;<=>?@", UM_THEME_TEXT, 1);
    um_draw_text(&c, body.x, body.y + 12, "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`", UM_THEME_TEXT, 1);
    um_draw_text(&c, body.x, body.y + 24, "abcdefghijklmnopqrstuvwxyz{|}~", UM_THEME_TEXT, 1);
    um_draw_text(&c, body.x, body.y + 40, "Scale 2: loss 1.42", um_series_color(0), 2);
    um_draw_text(&c, body.x, body.y + 62, "x3 gy", um_series_color(1), 3);
    UmRect box = um_rect(body.x + 150, body.y + 62, 150, 60);
    um_draw_rect(&c, box, 1, UM_THEME_BORDER);
    box = um_rect_inset(box, 4);
    um_draw_text_in(&c, box, "top left", UM_THEME_TEXT_DIM, 1, UM_ALIGN_START, UM_ALIGN_START);
    um_draw_text_in(&c, box, "centre", UM_THEME_TEXT, 1, UM_ALIGN_CENTER, UM_ALIGN_CENTER);
    um_draw_text_in(&c, box, "bottom right", UM_THEME_TEXT_DIM, 1, UM_ALIGN_END, UM_ALIGN_END);
    um_draw_textf(&c, body.x, body.y + 100, UM_THEME_TEXT_DIM, 1, "two lines via printf:\nstep %d, %.1f%% used", 1200, 97.25);
    check_golden(&c, "text");
    um_canvas_free(&c);
}
END_TEST

Suite *canvas_golden_suite(void) {
    Suite *s = suite_create("canvas_golden");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_golden_heatmap);
    tcase_add_test(tc, test_golden_heatmap_log_counts);
    tcase_add_test(tc, test_golden_bar_chart);
    tcase_add_test(tc, test_golden_line_plot);
    tcase_add_test(tc, test_golden_text);
    suite_add_tcase(s, tc);
    return s;
}
