// canvas.h: a plain block of RGBA pixels and the shapes every panel is drawn from.
//
// Everything in viz/ except window*.c draws into a UmCanvas and nothing else, so
// a panel can be tested by comparing its pixels with a golden PNG, without SDL.
//
// Pixel byte order: each uint32_t holds the bytes R, G, B, A *in memory order*
// (R at the lowest address). That is exactly what stb_image_write expects for
// 4 channels and what SDL calls SDL_PIXELFORMAT_RGBA32 (an alias of ABGR8888 on
// little-endian machines), so the window can upload the canvas unchanged.
// Always build colours with um_rgb()/um_rgba(); never write 0xRRGGBBAA literals.
//
// Clipping: every drawing call accepts any coordinates (negative, huge,
// sizes <= 0) and writes only pixels inside the canvas. A rect with w <= 0 or
// h <= 0 is empty: nothing is drawn.
#ifndef UM_CANVAS_H
#define UM_CANVAS_H

#include <stdint.h>

#include "base/error.h"

typedef struct {
    uint32_t *pixels;  // w*h pixels, row-major, top row first, no padding
    int w, h;
} UmCanvas;

// A rectangle in pixels: x,y is the top-left corner, w,h its size.
typedef struct {
    int x, y, w, h;
} UmRect;

// Colour packing in memory byte order R,G,B,A (see the header comment).
static inline uint32_t um_rgba(uint8_t r, uint8_t g, uint8_t b, uint8_t a) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return ((uint32_t)r << 24) | ((uint32_t)g << 16) | ((uint32_t)b << 8) | (uint32_t)a;
#else
    return (uint32_t)r | ((uint32_t)g << 8) | ((uint32_t)b << 16) | ((uint32_t)a << 24);
#endif
}
static inline uint32_t um_rgb(uint8_t r, uint8_t g, uint8_t b) { return um_rgba(r, g, b, 255); }

// Unpack one channel: 0 = R, 1 = G, 2 = B, 3 = A.
static inline uint8_t um_channel(uint32_t color, int which) {
    return ((const uint8_t *)&color)[which];
}

// Allocate a w x h canvas filled with opaque black. Returns -1 (with a reason)
// if the size is not positive or too large (more than 16384 on a side).
int um_canvas_create(UmCanvas *c, int w, int h, UmError *err);
void um_canvas_free(UmCanvas *c);  // safe on a zeroed or already freed canvas
void um_canvas_clear(UmCanvas *c, uint32_t color);

// The whole canvas as a rect, and small rect helpers used for layout.
UmRect um_canvas_rect(const UmCanvas *c);
UmRect um_rect(int x, int y, int w, int h);
UmRect um_rect_inset(UmRect r, int by);             // shrink on all four sides
UmRect um_rect_intersect(UmRect a, UmRect b);       // w or h is 0 when disjoint
int um_rect_contains(UmRect r, int x, int y);

// Pixels. Colours with alpha < 255 are blended over what is there (src-over);
// alpha 255 replaces. The canvas itself stays opaque.
void um_put_pixel(UmCanvas *c, int x, int y, uint32_t color);
uint32_t um_get_pixel(const UmCanvas *c, int x, int y);  // 0 outside the canvas

void um_fill_rect(UmCanvas *c, UmRect r, uint32_t color);
// Outline drawn inside r, `thickness` pixels wide (clamped to fill r).
void um_draw_rect(UmCanvas *c, UmRect r, int thickness, uint32_t color);

// Straight line from (x0,y0) to (x1,y1), both ends included (Bresenham).
void um_draw_line(UmCanvas *c, int x0, int y0, int x1, int y1, uint32_t color);
// The same line, only the part inside `clip` (plots use this for their data area).
void um_draw_line_in(UmCanvas *c, UmRect clip, int x0, int y0, int x1, int y1, uint32_t color);
// A line `thickness` pixels wide (a square brush stamped along it), clipped to
// `clip`. Thickness is capped at UM_LINE_MAX_THICKNESS. The brush overlaps
// itself, so use opaque colours for thick lines.
#define UM_LINE_MAX_THICKNESS 64
void um_draw_thick_line_in(UmCanvas *c, UmRect clip, int x0, int y0, int x1, int y1,
                           int thickness, uint32_t color);

#endif
