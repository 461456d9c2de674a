// text.c: see text.h. Rasterises stb_easy_font's quads as filled rectangles.
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define UM_TEXT_MAX_SCALE 64  // keeps glyph arithmetic far from int overflow

// stb_easy_font is a header of static functions; we use only some of them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-braces"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop

// One vertex as stb_easy_font writes it: x, y, z floats and 4 colour bytes.
typedef struct {
    float x, y, z;
    uint8_t rgba[4];
} EasyVertex;

// stb_easy_font indexes its tables with (ch - 32): anything else would read
// outside them, so unprintable characters become '?'.
static char printable(char ch) { return (ch >= 32 && ch <= 126) ? ch : '?'; }

static int advance_of(char ch) { return stb_easy_font_charinfo[printable(ch) - 32].advance & 15; }

// Right edge of a glyph's ink, from its quads (most glyphs leave a 1-pixel
// gap before the next one, a few leave 2).
static int ink_right(char ch) {
    char one[2] = {printable(ch), 0};
    EasyVertex quads[4 * 64];
    int nq = stb_easy_font_print(0, 0, one, NULL, quads, (int)sizeof quads), right = 0;
    for (int q = 0; q < nq; q++)
        if ((int)quads[4 * q + 2].x > right) right = (int)quads[4 * q + 2].x;
    return right;
}

// Tight width: every glyph's advance except the last, which counts only up to
// its ink, so centred and right-aligned text sits where it should.
static int line_width(const char *s, size_t n) {
    int w = 0;
    for (size_t i = 0; i + 1 < n; i++) w += advance_of(s[i]);
    return n > 0 ? w + ink_right(s[n - 1]) : 0;
}

static int clamp_scale(int scale) {
    return scale < 1 ? 1 : scale > UM_TEXT_MAX_SCALE ? UM_TEXT_MAX_SCALE : scale;
}

int um_text_width(const char *s, int scale) {
    scale = clamp_scale(scale);
    int best = 0;
    while (*s) {
        size_t n = strcspn(s, "\n");
        int w = line_width(s, n);
        if (w > best) best = w;
        s += n;
        if (*s == '\n') s++;
    }
    return best * scale;
}

int um_text_height(const char *s, int scale) {
    scale = clamp_scale(scale);
    if (!*s) return 0;
    int lines = 1;
    for (; *s; s++) lines += *s == '\n';
    return (UM_TEXT_CAP_H + (lines - 1) * UM_TEXT_LINE_H) * scale;
}

// Draw one glyph with its top-left at (x, y).
static void draw_glyph(UmCanvas *c, int x, int y, char ch, uint32_t color, int scale) {
    char one[2] = {printable(ch), 0};
    EasyVertex quads[4 * 64];  // the busiest glyph needs far fewer than 64 quads
    int nq = stb_easy_font_print(0, 0, one, NULL, quads, (int)sizeof quads);
    for (int q = 0; q < nq; q++) {
        // Vertices 0 and 2 are opposite corners; coordinates are whole numbers.
        const EasyVertex *a = &quads[4 * q], *b = &quads[4 * q + 2];
        int qx = (int)a->x, qy = (int)a->y, qw = (int)(b->x - a->x), qh = (int)(b->y - a->y);
        um_fill_rect(c, um_rect(x + qx * scale, y + qy * scale, qw * scale, qh * scale), color);
    }
}

void um_draw_text(UmCanvas *c, int x, int y, const char *s, uint32_t color, int scale) {
    scale = clamp_scale(scale);
    int pen_x = x;
    for (; *s; s++) {
        if (*s == '\n') {
            if (y > c->h) break;  // later lines are further down still
            pen_x = x;
            y += UM_TEXT_LINE_H * scale;
            continue;
        }
        // Skip glyphs that cannot touch the canvas (cheap, and keeps the
        // arithmetic far from overflow for absurd positions).
        if (pen_x > -16 * scale && pen_x < c->w && y > -16 * scale && y < c->h)
            draw_glyph(c, pen_x, y, *s, color, scale);
        if (pen_x > c->w) continue;  // the rest of this line is off the canvas
        pen_x += advance_of(*s) * scale;
    }
}

// Offset of an aligned box of `size` pixels from its anchor (64-bit, so the
// sums below cannot overflow for any int inputs).
static int64_t aligned_offset(int64_t size, UmAlign a) {
    return a == UM_ALIGN_CENTER ? size / 2 : a == UM_ALIGN_END ? size : 0;
}

// Positions far off the canvas are pulled in to a range where the glyph
// arithmetic is safe; text there is invisible either way.
static int clamp_pos(int64_t v) {
    const int64_t far = (int64_t)1 << 28;
    return (int)(v < -far ? -far : v > far ? far : v);
}

void um_draw_text_anchored(UmCanvas *c, int x, int y, const char *s, uint32_t color, int scale,
                           UmAlign h, UmAlign v) {
    int64_t w = um_text_width(s, scale), ht = um_text_height(s, scale);
    um_draw_text(c, clamp_pos((int64_t)x - aligned_offset(w, h)),
                 clamp_pos((int64_t)y - aligned_offset(ht, v)), s, color, scale);
}

void um_draw_text_in(UmCanvas *c, UmRect box, const char *s, uint32_t color, int scale, UmAlign h,
                     UmAlign v) {
    int64_t w = um_text_width(s, scale), ht = um_text_height(s, scale);
    int64_t x = box.x + aligned_offset((int64_t)box.w - w, h);
    int64_t y = box.y + aligned_offset((int64_t)box.h - ht, v);
    um_draw_text(c, clamp_pos(x), clamp_pos(y), s, color, scale);
}

void um_draw_textf(UmCanvas *c, int x, int y, uint32_t color, int scale, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    um_draw_text(c, x, y, buf, color, scale);
}
