// colormap.c: see colormap.h. Each map is a short table of control colours;
// a value between two of them is a straight blend, which is smooth enough for
// 8-bit output when the controls are close together.
#include "colormap.h"

#include <limits.h>

#include <math.h>
#include <stdio.h>

#include "text.h"
#include "theme.h"

typedef struct {
    uint8_t r, g, b;
} Rgb;

// Viridis (matplotlib's default map) sampled at t = 0, 1/8, ..., 1.
static const Rgb VIRIDIS[] = {
    {68, 1, 84},    {71, 44, 122},  {59, 82, 139},  {44, 114, 142}, {33, 145, 140},
    {40, 174, 128}, {94, 201, 98},  {173, 220, 48}, {253, 231, 37},
};

// Diverging, dark in the middle: light blue, blue, near-black, orange, light orange.
static const Rgb DIVERGING[] = {
    {150, 215, 255}, {45, 125, 215}, {44, 46, 54}, {220, 100, 35}, {255, 205, 120},
};

static uint32_t lookup(const Rgb *table, int n, float t) {
    if (isnan(t)) return um_rgb(128, 128, 128);
    if (t <= 0.0f) t = 0.0f;
    if (t >= 1.0f) t = 1.0f;
    float pos = t * (float)(n - 1);
    int i = (int)pos;
    if (i >= n - 1) i = n - 2;
    float f = pos - (float)i;
    const Rgb *a = &table[i], *b = &table[i + 1];
    // Blend and round to the nearest 8-bit value.
    uint8_t r = (uint8_t)(a->r + (b->r - a->r) * f + 0.5f);
    uint8_t g = (uint8_t)(a->g + (b->g - a->g) * f + 0.5f);
    uint8_t bl = (uint8_t)(a->b + (b->b - a->b) * f + 0.5f);
    return um_rgb(r, g, bl);
}

uint32_t um_viridis(float t) {
    return lookup(VIRIDIS, (int)(sizeof VIRIDIS / sizeof VIRIDIS[0]), t);
}

uint32_t um_diverging(float t) {
    return lookup(DIVERGING, (int)(sizeof DIVERGING / sizeof DIVERGING[0]), t);
}

uint32_t um_colormap(UmColormap map, float t) {
    return map == UM_CMAP_DIVERGING ? um_diverging(t) : um_viridis(t);
}

float um_scale_t(UmScale scale, float v, float vmin, float vmax) {
    if (isnan(v)) return v;
    if (!(vmax > vmin)) return 0.5f;
    float t;
    if (scale == UM_SCALE_LOG1P) {
        // log1p is only defined above -1; counts are >= 0, so clamp there.
        float lo = vmin > 0.0f ? vmin : 0.0f, hi = vmax > lo ? vmax : lo;
        float x = v > lo ? v : lo;
        float a = log1pf(lo), b = log1pf(hi);
        t = b > a ? (log1pf(x) - a) / (b - a) : 0.5f;
    } else {
        t = (v - vmin) / (vmax - vmin);
    }
    if (t < 0.0f) t = 0.0f;
    if (t > 1.0f) t = 1.0f;
    return t;
}

// Picked to stay apart from each other and from the dark panel colour.
static const Rgb SERIES[] = {
    {76, 201, 240},  {247, 127, 0},   {144, 190, 109}, {249, 65, 68},
    {179, 136, 235}, {249, 199, 79},  {240, 128, 200}, {170, 178, 190},
};

uint32_t um_series_color(int i) {
    int n = (int)(sizeof SERIES / sizeof SERIES[0]);
    i %= n;
    if (i < 0) i += n;
    return um_rgb(SERIES[i].r, SERIES[i].g, SERIES[i].b);
}

float um_luma(uint32_t color) {
    return (0.2126f * um_channel(color, 0) + 0.7152f * um_channel(color, 1) +
            0.0722f * um_channel(color, 2)) / 255.0f;
}

// a + b without int overflow: rects may sit anywhere (clipping tests use
// coordinates near INT_MAX); the drawing clips the result anyway.
static int sum_clamped(long long a, long long b) {
    long long v = a + b;
    return v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
}

void um_draw_colorbar(UmCanvas *c, UmRect r, UmColormap map, float vmin, float vmax,
                      const char *label_fmt) {
    if (r.w <= 0 || r.h <= 0) return;
    char lo[64], hi[64];
    if (!label_fmt) label_fmt = "%g";
    snprintf(lo, sizeof lo, label_fmt, (double)vmin);
    snprintf(hi, sizeof hi, label_fmt, (double)vmax);
    int gap = 3;
    if (r.w > r.h) {
        // Horizontal: bar on top, labels underneath at the two ends.
        int bar_h = r.h - UM_TEXT_CAP_H - gap;
        if (bar_h < 2) bar_h = r.h;
        UmRect bar = um_rect(r.x, r.y, r.w, bar_h);
        UmRect vis = um_rect_intersect(bar, um_canvas_rect(c));  // visit visible columns only
        long long first = vis.w > 0 ? (long long)vis.x - bar.x : 0, last = vis.w > 0 ? first + vis.w : 0;
        for (long long i = first; i < last; i++) {  // long long: bar.x may be near INT_MIN
            float t = bar.w > 1 ? (float)i / (float)(bar.w - 1) : 0.5f;
            um_fill_rect(c, um_rect((int)(bar.x + i), bar.y, 1, bar.h), um_colormap(map, t));
        }
        um_draw_rect(c, bar, 1, UM_THEME_BORDER);
        if (bar_h < r.h) {
            int ty = sum_clamped(bar.y, (long long)bar.h + gap);
            um_draw_text(c, r.x, ty, lo, UM_THEME_TEXT_DIM, 1);
            um_draw_text_anchored(c, sum_clamped(r.x, r.w), ty, hi, UM_THEME_TEXT_DIM, 1, UM_ALIGN_END,
                                  UM_ALIGN_START);
        }
    } else {
        // Vertical: bar on the left, max at the top, min at the bottom.
        int bar_w = r.w < 12 ? r.w : 12;
        UmRect bar = um_rect(r.x, r.y, bar_w, r.h);
        UmRect vis = um_rect_intersect(bar, um_canvas_rect(c));
        // Offsets in long long: bar.y may be near INT_MIN (clipping tests),
        // where vis.y - bar.y would overflow an int.
        long long first = vis.h > 0 ? (long long)vis.y - bar.y : 0, last = vis.h > 0 ? first + vis.h : 0;
        for (long long i = first; i < last; i++) {
            float t = bar.h > 1 ? 1.0f - (float)i / (float)(bar.h - 1) : 0.5f;
            um_fill_rect(c, um_rect(bar.x, (int)(bar.y + i), bar.w, 1), um_colormap(map, t));
        }
        um_draw_rect(c, bar, 1, UM_THEME_BORDER);
        int tx = sum_clamped(bar.x, (long long)bar.w + gap);
        um_draw_text(c, tx, r.y, hi, UM_THEME_TEXT_DIM, 1);
        um_draw_text_anchored(c, tx, sum_clamped(r.y, r.h), lo, UM_THEME_TEXT_DIM, 1, UM_ALIGN_START,
                              UM_ALIGN_END);
    }
}
