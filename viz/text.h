// text.h: ASCII text from a tiny built-in bitmap font, at integer scale.
//
// The glyphs come from stb_easy_font (public domain), which describes each
// character as a handful of axis-aligned quads; we fill those quads as
// rectangles, scaled by an integer so text stays crisp. At scale 1 a capital
// letter is 5x7 pixels and a line is UM_TEXT_LINE_H pixels tall.
// Characters outside printable ASCII (32..126) are drawn as '?'.
#ifndef UM_TEXT_H
#define UM_TEXT_H

#include <stdint.h>

#include "canvas.h"

#define UM_TEXT_CAP_H 7    // height of a capital letter at scale 1
#define UM_TEXT_LINE_H 12  // distance between baselines of two lines at scale 1

typedef enum { UM_ALIGN_START, UM_ALIGN_CENTER, UM_ALIGN_END } UmAlign;

// Width in pixels of the widest line of s (tight: no trailing gap), and the
// height of the block: the cap height for one line, plus UM_TEXT_LINE_H per
// extra line, times scale. Both are 0 for an empty string.
int um_text_width(const char *s, int scale);
int um_text_height(const char *s, int scale);

// Draw s with its top-left corner (top of the capitals) at (x, y).
// '\n' starts a new line. scale is clamped to 1..64.
void um_draw_text(UmCanvas *c, int x, int y, const char *s, uint32_t color, int scale);

// Draw s so that the anchor point (x, y) is at its start/centre/end
// horizontally (h) and top/middle/bottom vertically (v).
void um_draw_text_anchored(UmCanvas *c, int x, int y, const char *s, uint32_t color, int scale,
                           UmAlign h, UmAlign v);

// Draw s aligned inside box (e.g. centred in a title bar).
void um_draw_text_in(UmCanvas *c, UmRect box, const char *s, uint32_t color, int scale, UmAlign h,
                     UmAlign v);

// printf-style convenience: formats into a 256-byte buffer, then um_draw_text.
void um_draw_textf(UmCanvas *c, int x, int y, uint32_t color, int scale, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
