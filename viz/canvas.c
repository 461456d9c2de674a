// canvas.c: see canvas.h. The one rule here is that no input, however wild,
// writes outside the pixel buffer: every shape is first intersected with the
// canvas (or a smaller clip rect), in 64-bit arithmetic so x + w cannot overflow.
#include "canvas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define UM_CANVAS_MAX_SIDE 16384

int um_canvas_create(UmCanvas *c, int w, int h, UmError *err) {
    c->pixels = NULL;
    c->w = c->h = 0;
    if (w <= 0 || h <= 0 || w > UM_CANVAS_MAX_SIDE || h > UM_CANVAS_MAX_SIDE)
        return um_fail(err, "canvas size %dx%d is outside 1..%d", w, h, UM_CANVAS_MAX_SIDE);
    c->pixels = malloc((size_t)w * (size_t)h * sizeof(uint32_t));
    if (!c->pixels) return um_fail(err, "out of memory for a %dx%d canvas", w, h);
    c->w = w;
    c->h = h;
    um_canvas_clear(c, um_rgb(0, 0, 0));
    return 0;
}

void um_canvas_free(UmCanvas *c) {
    free(c->pixels);
    c->pixels = NULL;
    c->w = c->h = 0;
}

void um_canvas_clear(UmCanvas *c, uint32_t color) {
    size_t n = (size_t)c->w * (size_t)c->h;
    for (size_t i = 0; i < n; i++) c->pixels[i] = color;
}

UmRect um_canvas_rect(const UmCanvas *c) { return um_rect(0, 0, c->w, c->h); }

UmRect um_rect(int x, int y, int w, int h) {
    UmRect r = {x, y, w, h};
    return r;
}

UmRect um_rect_inset(UmRect r, int by) {
    // Computed in 64 bits and clamped so an absurd inset cannot overflow.
    int64_t w = (int64_t)r.w - 2 * (int64_t)by, h = (int64_t)r.h - 2 * (int64_t)by;
    int64_t x = (int64_t)r.x + by, y = (int64_t)r.y + by;
    if (w < 0) w = 0;
    if (h < 0) h = 0;
    if (x > INT32_MAX) x = INT32_MAX;
    if (x < INT32_MIN) x = INT32_MIN;
    if (y > INT32_MAX) y = INT32_MAX;
    if (y < INT32_MIN) y = INT32_MIN;
    if (w > INT32_MAX) w = INT32_MAX;
    if (h > INT32_MAX) h = INT32_MAX;
    return um_rect((int)x, (int)y, (int)w, (int)h);
}

UmRect um_rect_intersect(UmRect a, UmRect b) {
    if (a.w <= 0 || a.h <= 0 || b.w <= 0 || b.h <= 0) return um_rect(a.x, a.y, 0, 0);
    int64_t x0 = a.x > b.x ? a.x : b.x;
    int64_t y0 = a.y > b.y ? a.y : b.y;
    int64_t ax1 = (int64_t)a.x + a.w, bx1 = (int64_t)b.x + b.w;
    int64_t ay1 = (int64_t)a.y + a.h, by1 = (int64_t)b.y + b.h;
    int64_t x1 = ax1 < bx1 ? ax1 : bx1;
    int64_t y1 = ay1 < by1 ? ay1 : by1;
    if (x1 <= x0 || y1 <= y0) return um_rect((int)x0, (int)y0, 0, 0);
    return um_rect((int)x0, (int)y0, (int)(x1 - x0), (int)(y1 - y0));
}

int um_rect_contains(UmRect r, int x, int y) {
    return r.w > 0 && r.h > 0 && x >= r.x && y >= r.y && (int64_t)x < (int64_t)r.x + r.w &&
           (int64_t)y < (int64_t)r.y + r.h;
}

// src-over blend of one channel, rounded: (s*a + d*(255-a)) / 255.
static uint8_t blend_channel(uint8_t s, uint8_t d, unsigned a) {
    return (uint8_t)((s * a + d * (255u - a) + 127u) / 255u);
}

static uint32_t blend(uint32_t dst, uint32_t src) {
    unsigned a = um_channel(src, 3);
    if (a == 255) return src;
    if (a == 0) return dst;
    return um_rgba(blend_channel(um_channel(src, 0), um_channel(dst, 0), a),
                   blend_channel(um_channel(src, 1), um_channel(dst, 1), a),
                   blend_channel(um_channel(src, 2), um_channel(dst, 2), a), 255);
}

void um_put_pixel(UmCanvas *c, int x, int y, uint32_t color) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    uint32_t *p = &c->pixels[(size_t)y * (size_t)c->w + (size_t)x];
    *p = blend(*p, color);
}

uint32_t um_get_pixel(const UmCanvas *c, int x, int y) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return 0;
    return c->pixels[(size_t)y * (size_t)c->w + (size_t)x];
}

// Fill the pixels with x0 <= x < x1, y0 <= y < y1, after cutting that box to
// the canvas. 64-bit bounds, so callers may compute them without overflow.
static void fill_box(UmCanvas *c, int64_t x0, int64_t y0, int64_t x1, int64_t y1, uint32_t color) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > c->w) x1 = c->w;
    if (y1 > c->h) y1 = c->h;
    for (int64_t y = y0; y < y1; y++) {
        uint32_t *row = &c->pixels[(size_t)y * (size_t)c->w];
        for (int64_t x = x0; x < x1; x++) row[x] = blend(row[x], color);
    }
}

void um_fill_rect(UmCanvas *c, UmRect r, uint32_t color) {
    if (r.w <= 0 || r.h <= 0) return;
    fill_box(c, r.x, r.y, (int64_t)r.x + r.w, (int64_t)r.y + r.h, color);
}

void um_draw_rect(UmCanvas *c, UmRect r, int thickness, uint32_t color) {
    if (r.w <= 0 || r.h <= 0 || thickness <= 0) return;
    int64_t t = thickness;
    int64_t x0 = r.x, y0 = r.y, x1 = x0 + r.w, y1 = y0 + r.h;
    if (2 * t >= r.w || 2 * t >= r.h) {  // the border covers it all
        fill_box(c, x0, y0, x1, y1, color);
        return;
    }
    // Four non-overlapping bands, so translucent outlines blend once per pixel.
    fill_box(c, x0, y0, x1, y0 + t, color);            // top
    fill_box(c, x0, y1 - t, x1, y1, color);            // bottom
    fill_box(c, x0, y0 + t, x0 + t, y1 - t, color);    // left
    fill_box(c, x1 - t, y0 + t, x1, y1 - t, color);    // right
}

// Liang-Barsky: cut the segment to the box [x_lo,x_hi] x [y_lo,y_hi]. Returns 0
// when nothing is left. Endpoints already inside are returned unchanged, so a
// visible line is drawn with exactly the pixels its own Bresenham walk has.
static int clip_segment(double box_lo_x, double box_lo_y, double box_hi_x, double box_hi_y,
                        int64_t *x0, int64_t *y0, int64_t *x1, int64_t *y1) {
    double ax = (double)*x0, ay = (double)*y0, dx = (double)(*x1 - *x0), dy = (double)(*y1 - *y0);
    double t0 = 0.0, t1 = 1.0;
    double p[4] = {-dx, dx, -dy, dy};
    double q[4] = {ax - box_lo_x, box_hi_x - ax, ay - box_lo_y, box_hi_y - ay};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0.0) {
            if (q[i] < 0.0) return 0;  // parallel to this edge and outside it
            continue;
        }
        double t = q[i] / p[i];
        if (p[i] < 0.0) {
            if (t > t1) return 0;
            if (t > t0) t0 = t;
        } else {
            if (t < t0) return 0;
            if (t < t1) t1 = t;
        }
    }
    if (t1 < 1.0) {
        *x1 = (int64_t)floor(ax + t1 * dx + 0.5);
        *y1 = (int64_t)floor(ay + t1 * dy + 0.5);
    }
    if (t0 > 0.0) {
        *x0 = (int64_t)floor(ax + t0 * dx + 0.5);
        *y0 = (int64_t)floor(ay + t0 * dy + 0.5);
    }
    return 1;
}

// Stamp a thickness x thickness square centred on (x,y), clipped to `clip`.
static void stamp(UmCanvas *c, UmRect clip, int64_t x, int64_t y, int thickness, uint32_t color) {
    if (thickness <= 1) {
        if (um_rect_contains(clip, (int)x, (int)y)) um_put_pixel(c, (int)x, (int)y, color);
        return;
    }
    int half = (thickness - 1) / 2;
    UmRect sq = um_rect((int)(x - half), (int)(y - half), thickness, thickness);
    um_fill_rect(c, um_rect_intersect(sq, clip), color);
}

void um_draw_thick_line_in(UmCanvas *c, UmRect clip, int x0, int y0, int x1, int y1,
                           int thickness, uint32_t color) {
    if (thickness <= 0) return;
    if (thickness > UM_LINE_MAX_THICKNESS) thickness = UM_LINE_MAX_THICKNESS;
    clip = um_rect_intersect(clip, um_canvas_rect(c));
    if (clip.w <= 0 || clip.h <= 0) return;
    // Clip the centre line to the clip box grown by the brush radius, so the
    // walk below is at most a few canvas widths long whatever the inputs.
    double pad = thickness;
    int64_t ax = x0, ay = y0, bx = x1, by = y1;
    if (!clip_segment(clip.x - pad, clip.y - pad, (double)clip.x + clip.w - 1 + pad,
                      (double)clip.y + clip.h - 1 + pad, &ax, &ay, &bx, &by))
        return;
    // Bresenham: step along the major axis, carry the error on the minor one.
    int64_t dx = llabs(bx - ax), dy = -llabs(by - ay);
    int64_t sx = ax < bx ? 1 : -1, sy = ay < by ? 1 : -1;
    int64_t e = dx + dy;
    for (;;) {
        stamp(c, clip, ax, ay, thickness, color);
        if (ax == bx && ay == by) break;
        int64_t e2 = 2 * e;
        if (e2 >= dy) { e += dy; ax += sx; }
        if (e2 <= dx) { e += dx; ay += sy; }
    }
}

void um_draw_line_in(UmCanvas *c, UmRect clip, int x0, int y0, int x1, int y1, uint32_t color) {
    um_draw_thick_line_in(c, clip, x0, y0, x1, y1, 1, color);
}

void um_draw_line(UmCanvas *c, int x0, int y0, int x1, int y1, uint32_t color) {
    um_draw_thick_line_in(c, um_canvas_rect(c), x0, y0, x1, y1, 1, color);
}
