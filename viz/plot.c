// plot.c: see plot.h. Layout is computed in whole pixels from the rect the
// caller gives, so the same inputs always give the same image (the golden
// tests rely on that).
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "text.h"
#include "theme.h"

#define MAX_TICKS 32

// ================================================================ ticks

// The "nice" number near x: 1, 2, 5 or 10 times a power of ten.
static double nice_step(double x) {
    double p = pow(10.0, floor(log10(x)));
    double f = x / p;  // in [1, 10)
    double nf = f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0;
    return nf * p;
}

static double step_for(double lo, double hi, int target) {
    if (target < 2) target = 2;
    return nice_step((hi - lo) / (double)(target - 1));
}

// Every multiple of step inside [lo, hi], computed as k*step (not by adding
// step repeatedly, which would drift).
static int ticks_with_step(double lo, double hi, double step, double *ticks, int cap) {
    double eps = 1e-9;
    double k0 = ceil(lo / step - eps), k1 = floor(hi / step + eps);
    int n = 0;
    for (double k = k0; k <= k1 && n < cap; k += 1.0) ticks[n++] = k * step;
    return n;
}

int um_nice_ticks(double lo, double hi, int target, double *ticks, int cap, double *step) {
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo) || cap <= 0) return 0;
    double s = step_for(lo, hi, target);
    if (step) *step = s;
    return ticks_with_step(lo, hi, s, ticks, cap);
}

// Widens the range and returns the step it used.
static double nice_range_step(double *lo, double *hi, int target) {
    if (!(*hi > *lo)) {
        double d = *lo == 0.0 ? 1.0 : fabs(*lo) * 0.1;
        *lo -= d;
        *hi += d;
    }
    double s = step_for(*lo, *hi, target);
    *lo = floor(*lo / s + 1e-9) * s;
    *hi = ceil(*hi / s - 1e-9) * s;
    return s;
}

void um_nice_range(double *lo, double *hi, int target) {
    if (!isfinite(*lo) || !isfinite(*hi)) return;
    nice_range_step(lo, hi, target);
}

int um_log_ticks(double lo, double hi, double *ticks, int cap) {
    if (!(lo > 0.0) || !(hi > lo) || !isfinite(hi) || cap <= 0) return 0;
    static const double SETS[3][9] = {{1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
    static const int SET_N[3] = {1, 3, 9};
    int k0 = (int)floor(log10(lo)), k1 = (int)ceil(log10(hi));
    int n = 0;
    for (int s = 0; s < 3; s++) {
        // Many decades: label every `every`-th one so at most ~8 remain.
        int every = (s == 0 && k1 - k0 > 8) ? (k1 - k0 + 7) / 8 : 1;
        n = 0;
        for (int k = k0; k <= k1; k++) {
            if (s == 0 && (k - k0) % every != 0) continue;
            for (int j = 0; j < SET_N[s]; j++) {
                double v = SETS[s][j] * pow(10.0, k);
                if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) && n < cap) ticks[n++] = v;
            }
        }
        if (n >= 3) break;
    }
    return n;
}

void um_format_tick(char *buf, size_t len, double v, double step) {
    step = fabs(step);
    if (!(step > 0.0)) step = fabs(v) > 0 ? fabs(v) : 1.0;
    if (fabs(v) < step * 1e-6) v = 0.0;  // never print "-0" or "1e-17"
    if (v == 0.0) {
        snprintf(buf, len, "0");
        return;
    }
    const char *suffix = "";
    double unit = 1.0;
    if (fabs(v) >= 1e6 && step >= 1e5) {
        suffix = "M";
        unit = 1e6;
    } else if (fabs(v) >= 1e3 && step >= 1e2 && fabs(v) >= 1e4) {
        suffix = "k";
        unit = 1e3;
    }
    double s = step / unit;
    int decimals = s >= 1.0 ? 0 : (int)ceil(-log10(s) - 1e-9);
    if (decimals > 9) decimals = 9;
    snprintf(buf, len, "%.*f%s", decimals, v / unit, suffix);
}

// Tick labels on a log axis: plain decimals in a readable range, else 1e-5.
static void format_log_tick(char *buf, size_t len, double v) {
    double k = floor(log10(v) + 1e-9);
    if (k >= 6 || k <= -4) {
        double m = v / pow(10.0, k);
        if (fabs(m - 1.0) < 1e-6) snprintf(buf, len, "1e%d", (int)k);
        else snprintf(buf, len, "%.0fe%d", m, (int)k);
    } else {
        um_format_tick(buf, len, v, pow(10.0, k));
    }
}

// ================================================================ helpers

// Doubles to pixel ints without undefined behaviour for huge values.
static int to_px(double v) {
    if (v > 1e6) v = 1e6;
    if (v < -1e6) v = -1e6;
    return (int)floor(v + 0.5);
}

// Charts lay themselves out with int arithmetic; a rect further than this
// from the origin (or bigger) is not drawn at all, which keeps every sum in
// range. The canvas primitives themselves accept any coordinates.
#define UM_PLOT_FAR (1 << 24)
static int rect_sane(UmRect r) {
    return r.w > 0 && r.h > 0 && r.w <= UM_PLOT_FAR && r.h <= UM_PLOT_FAR && r.x >= -UM_PLOT_FAR &&
           r.x <= UM_PLOT_FAR && r.y >= -UM_PLOT_FAR && r.y <= UM_PLOT_FAR;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static void dashed_hline(UmCanvas *c, UmRect clip, int x0, int x1, int y, uint32_t color) {
    for (int x = x0; x <= x1; x += 6) um_draw_line_in(c, clip, x, y, x + 2 < x1 ? x + 2 : x1, y, color);
}

// ================================================================ panel

UmRect um_draw_panel(UmCanvas *c, UmRect r, const char *title) {
    if (!rect_sane(r)) return um_rect(r.x, r.y, 0, 0);
    int bar_h = UM_TEXT_CAP_H + 8;
    um_fill_rect(c, r, UM_THEME_PANEL);
    if (title && *title) {
        UmRect bar = um_rect(r.x, r.y, r.w, bar_h);
        um_fill_rect(c, bar, UM_THEME_TITLE_BG);
        // A title too long for the bar is cut short and ends in "..".
        char buf[128];
        snprintf(buf, sizeof buf, "%s", title);
        int room = r.w - 14;
        size_t len = strlen(buf);
        while (len > 0 && um_text_width(buf, 1) > room) {
            buf[--len] = 0;
            if (len >= 2) memcpy(buf + len - 2, "..", 2);
        }
        um_draw_text_in(c, um_rect(r.x + 7, r.y, room, bar_h), buf, UM_THEME_TEXT, 1,
                        UM_ALIGN_START, UM_ALIGN_CENTER);
    } else {
        bar_h = 0;
    }
    um_draw_rect(c, r, 1, UM_THEME_BORDER);
    if (bar_h) um_fill_rect(c, um_rect(r.x, r.y + bar_h, r.w, 1), UM_THEME_BORDER);
    UmRect body = um_rect(r.x, r.y + bar_h, r.w, r.h - bar_h);
    return um_rect_inset(body, 8);
}

// ================================================================ axes
// The data area of a chart and the maps from values to pixels. On a log
// axis the stored range is log10 of the values.

typedef struct {
    UmRect area;
    double x0, x1, y0, y1;
    int log_y;
    double yt[MAX_TICKS], ystep;
    int nyt;
} Axes;

static double axis_y_value(const Axes *a, double v) { return a->log_y ? log10(v) : v; }

static int map_x(const Axes *a, double v) {
    return to_px(a->area.x + (v - a->x0) / (a->x1 - a->x0) * (a->area.w - 1));
}

static int map_y(const Axes *a, double v) {
    double t = (axis_y_value(a, v) - a->y0) / (a->y1 - a->y0);
    return to_px(a->area.y + (a->area.h - 1) - t * (a->area.h - 1));
}

static void y_tick_label(const Axes *a, int i, char *buf, size_t len) {
    if (a->log_y) format_log_tick(buf, len, a->yt[i]);
    else um_format_tick(buf, len, a->yt[i], a->ystep);
}

// Lay out a chart in r: room on the left for y tick labels, below for x tick
// labels (+ caption), above for the y caption. [ylo, yhi] is already final
// (nice or log-expanded); the y ticks are computed here.
static void axes_layout(Axes *a, UmRect r, double ylo, double yhi, int log_y, const char *x_label,
                        const char *y_label) {
    int cap = UM_TEXT_CAP_H;
    int top = y_label ? cap + 6 : cap / 2 + 1;
    int bottom = 3 + 4 + cap + (x_label ? 5 + cap : 0) + 1;
    a->log_y = log_y;
    int area_h = r.h - top - bottom;
    if (log_y) {
        a->nyt = um_log_ticks(ylo, yhi, a->yt, MAX_TICKS);
        a->ystep = 0;
        a->y0 = log10(ylo);
        a->y1 = log10(yhi);
    } else {
        int target = clampi(area_h / 28, 2, 8);
        a->nyt = um_nice_ticks(ylo, yhi, target, a->yt, MAX_TICKS, &a->ystep);
        a->y0 = ylo;
        a->y1 = yhi;
    }
    int label_w = 0;
    for (int i = 0; i < a->nyt; i++) {
        char buf[32];
        y_tick_label(a, i, buf, sizeof buf);
        int w = um_text_width(buf, 1);
        if (w > label_w) label_w = w;
    }
    int left = label_w + 4 + 3;
    int right = 8;
    a->area = um_rect(r.x + left, r.y + top, r.w - left - right, area_h);
}

// Grid, axis lines, y ticks and their labels, and the captions.
static void axes_draw_frame(UmCanvas *c, const Axes *a, UmRect r, const char *x_label,
                            const char *y_label) {
    UmRect ar = a->area;
    for (int i = 0; i < a->nyt; i++) {
        int y = map_y(a, a->yt[i]);
        um_draw_line_in(c, r, ar.x, y, ar.x + ar.w - 1, y, UM_THEME_GRID);
        um_draw_line_in(c, r, ar.x - 4, y, ar.x - 1, y, UM_THEME_AXIS);
        char buf[32];
        y_tick_label(a, i, buf, sizeof buf);
        um_draw_text_anchored(c, ar.x - 7, y, buf, UM_THEME_TEXT_DIM, 1, UM_ALIGN_END,
                              UM_ALIGN_CENTER);
    }
    int bottom = ar.y + ar.h - 1;
    um_draw_line_in(c, r, ar.x, ar.y, ar.x, bottom, UM_THEME_AXIS);
    um_draw_line_in(c, r, ar.x, bottom, ar.x + ar.w - 1, bottom, UM_THEME_AXIS);
    if (y_label) um_draw_text(c, r.x, r.y, y_label, UM_THEME_TEXT_DIM, 1);
    if (x_label)
        um_draw_text_anchored(c, ar.x + ar.w / 2, r.y + r.h - 1, x_label, UM_THEME_TEXT_DIM, 1,
                              UM_ALIGN_CENTER, UM_ALIGN_END);
}

// One x tick label centred at px, unless it would overlap the previous one
// (*last_right is that label's right edge) or leave r.
static void x_tick_label(UmCanvas *c, UmRect r, int px, int y, const char *s, int *last_right) {
    int w = um_text_width(s, 1);
    int x = px - w / 2;
    if (x < r.x) x = r.x;
    if (x + w > r.x + r.w) x = r.x + r.w - w;
    if (x <= *last_right + 4) return;
    um_draw_text(c, x, y, s, UM_THEME_TEXT_DIM, 1);
    *last_right = x + w;
}

// ================================================================ heatmap

UmRect um_heatmap_cell(UmRect r, int rows, int cols, int row, int col) {
    if (rows <= 0 || cols <= 0 || r.w <= 0 || r.h <= 0) return um_rect(r.x, r.y, 0, 0);
    // Boundary of cell i along a side of n cells and `size` pixels: ceil(i*size/n).
    int64_t x0 = ((int64_t)col * r.w + cols - 1) / cols, x1 = ((int64_t)(col + 1) * r.w + cols - 1) / cols;
    int64_t y0 = ((int64_t)row * r.h + rows - 1) / rows, y1 = ((int64_t)(row + 1) * r.h + rows - 1) / rows;
    return um_rect((int)(r.x + x0), (int)(r.y + y0), (int)(x1 - x0), (int)(y1 - y0));
}

// How far a colour position is from the map's "nothing here" point.
static float salience(UmColormap map, float t) { return map == UM_CMAP_DIVERGING ? fabsf(t - 0.5f) : t; }

static void heatmap_range(const float *m, size_t n, const UmHeatmapStyle *s, float *lo, float *hi) {
    *lo = s->vmin;
    *hi = s->vmax;
    if (s->vmin < s->vmax) return;
    float mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(m[i])) continue;
        if (m[i] < mn) mn = m[i];
        if (m[i] > mx) mx = m[i];
    }
    if (mn > mx) mn = mx = 0.0f;  // no finite data
    if (s->map == UM_CMAP_DIVERGING) {
        float a = fabsf(mn) > fabsf(mx) ? fabsf(mn) : fabsf(mx);
        mn = -a;
        mx = a;
    }
    *lo = mn;
    *hi = mx;
}

// A strip or cell outline: the rect grown by one pixel (so it sits on the
// gaps between cells) and kept inside the heatmap.
static void outline_cells(UmCanvas *c, UmRect heat, UmRect cells, int thickness, uint32_t color) {
    UmRect g = um_rect_intersect(um_rect_inset(cells, -1), heat);
    um_draw_rect(c, g, thickness, color);
}

void um_draw_heatmap(UmCanvas *c, UmRect r, const float *m, int rows, int cols,
                     const UmHeatmapStyle *style, float *used_min, float *used_max) {
    UmHeatmapStyle defaults = {0};
    const UmHeatmapStyle *s = style ? style : &defaults;
    float lo = 0, hi = 0;
    if (rows > 0 && cols > 0) heatmap_range(m, (size_t)rows * (size_t)cols, s, &lo, &hi);
    if (used_min) *used_min = lo;
    if (used_max) *used_max = hi;
    if (rows <= 0 || cols <= 0 || !rect_sane(r)) return;

    // Only the pixels that are on the canvas are visited.
    UmRect vis = um_rect_intersect(r, um_canvas_rect(c));
    for (int py = vis.y; py < vis.y + vis.h; py++) {
        int64_t ry = py - r.y;
        int r0 = (int)(ry * rows / r.h), r1 = r0 + 1;
        if (rows > r.h) r1 = (int)(((ry + 1) * rows + r.h - 1) / r.h);
        for (int px = vis.x; px < vis.x + vis.w; px++) {
            int64_t rx = px - r.x;
            int c0 = (int)(rx * cols / r.w), c1 = c0 + 1;
            if (cols > r.w) c1 = (int)(((rx + 1) * cols + r.w - 1) / r.w);
            // Several cells under one pixel: show the most salient one.
            float best = NAN, best_sal = -1.0f;
            for (int i = r0; i < r1 && i < rows; i++)
                for (int j = c0; j < c1 && j < cols; j++) {
                    float t = um_scale_t(s->scale, m[(size_t)i * cols + j], lo, hi);
                    if (isnan(t)) continue;
                    float sal = salience(s->map, t);
                    if (sal > best_sal) {
                        best_sal = sal;
                        best = t;
                    }
                }
            c->pixels[(size_t)py * c->w + px] = um_colormap(s->map, best);
        }
    }

    // Gaps between cells, when cells are big enough to spare a pixel.
    if (s->cell_gap && r.w / cols >= 6 && r.h / rows >= 6) {
        for (int j = 1; j < cols; j++) {
            UmRect cell = um_heatmap_cell(r, rows, cols, 0, j);
            um_fill_rect(c, um_rect(cell.x, r.y, 1, r.h), UM_THEME_PANEL);
        }
        for (int i = 1; i < rows; i++) {
            UmRect cell = um_heatmap_cell(r, rows, cols, i, 0);
            um_fill_rect(c, um_rect(r.x, cell.y, r.w, 1), UM_THEME_PANEL);
        }
    }

    // Selected rows and columns: outline each whole strip.
    int cell_min = r.w / cols < r.h / rows ? r.w / cols : r.h / rows;
    int thick = cell_min >= 10 ? 2 : 1;
    for (int k = 0; k < s->n_rows; k++) {
        int i = s->rows[k];
        if (i < 0 || i >= rows) continue;
        UmRect a = um_heatmap_cell(r, rows, cols, i, 0);
        outline_cells(c, r, um_rect(r.x, a.y, r.w, a.h), thick, UM_THEME_HIGHLIGHT);
    }
    for (int k = 0; k < s->n_cols; k++) {
        int j = s->cols[k];
        if (j < 0 || j >= cols) continue;
        UmRect a = um_heatmap_cell(r, rows, cols, 0, j);
        outline_cells(c, r, um_rect(a.x, r.y, a.w, r.h), thick, UM_THEME_HIGHLIGHT);
    }

    // Chosen cells: a red frame and a dot, or a small cross on tiny cells.
    for (int k = 0; k < s->n_marks; k++) {
        int i = s->marks[2 * k], j = s->marks[2 * k + 1];
        if (i < 0 || i >= rows || j < 0 || j >= cols) continue;
        UmRect cell = um_heatmap_cell(r, rows, cols, i, j);
        int cx = cell.x + cell.w / 2, cy = cell.y + cell.h / 2;
        if (cell.w >= 6 && cell.h >= 6) {
            outline_cells(c, r, cell, thick, UM_THEME_MARK);
            int d = (cell.w < cell.h ? cell.w : cell.h) / 3;
            if (d < 2) d = 2;
            um_fill_rect(c, um_rect_intersect(um_rect(cx - d / 2, cy - d / 2, d, d), r), UM_THEME_MARK);
        } else {
            um_draw_line_in(c, r, cx - 3, cy, cx + 3, cy, UM_THEME_MARK);
            um_draw_line_in(c, r, cx, cy - 3, cx, cy + 3, UM_THEME_MARK);
        }
    }
}

// ================================================================ bars

void um_draw_bar_chart(UmCanvas *c, UmRect r, const float *values, int n, const UmBarStyle *style) {
    UmBarStyle defaults = {0};
    const UmBarStyle *s = style ? style : &defaults;
    if (!rect_sane(r)) return;
    double lo = 0.0, hi = 0.0;
    for (int i = 0; i < n; i++)
        if (isfinite(values[i])) {
            if (values[i] < lo) lo = values[i];
            if (values[i] > hi) hi = values[i];
        }
    if (s->has_reference && isfinite(s->reference)) {
        if (s->reference > hi) hi = s->reference;
        if (s->reference < lo) lo = s->reference;
    }
    if (!(hi > lo)) hi = lo + 1.0;
    int area_h_guess = r.h - 2 * UM_TEXT_CAP_H - 12;
    nice_range_step(&lo, &hi, clampi(area_h_guess / 28, 2, 8));

    Axes a;
    axes_layout(&a, r, lo, hi, 0, NULL, s->y_label);
    if (a.area.w <= 2 || a.area.h <= 2 || n <= 0) {
        axes_draw_frame(c, &a, r, NULL, s->y_label);
        return;
    }
    a.x0 = 0;
    a.x1 = 1;
    UmRect ar = a.area;
    UmRect plot = um_rect(ar.x + 1, ar.y, ar.w - 1, ar.h - 1);  // right of / above the axis lines
    axes_draw_frame(c, &a, r, NULL, s->y_label);

    int y_zero = map_y(&a, 0.0);
    int label_y = ar.y + ar.h + 4;
    int last_right = -1000000;
    for (int i = 0; i < n; i++) {
        int x0 = plot.x + (int)((int64_t)i * plot.w / n), x1 = plot.x + (int)((int64_t)(i + 1) * plot.w / n);
        int slot = x1 - x0;
        int gap = slot >= 4 ? (slot / 5 > 1 ? slot / 5 : 1) : 0;
        int bx = x0 + gap / 2, bw = slot - gap;
        if (isfinite(values[i])) {
            // The bar runs from the zero line to the value and never covers
            // the zero line itself.
            int yv = map_y(&a, values[i]);
            UmRect bar = yv < y_zero ? um_rect(bx, yv, bw, y_zero - yv)
                                     : um_rect(bx, y_zero + 1, bw, yv - y_zero);
            uint32_t col = s->colors ? s->colors[i] : s->color ? s->color : um_series_color(0);
            um_fill_rect(c, um_rect_intersect(bar, plot), col);
        }
        // Labels under the bars: every bar when they fit, otherwise as many as
        // fit without overlapping; bar indices when no labels were given.
        char idx[16];
        const char *lab = NULL;
        if (s->labels) lab = s->labels[i];
        else {
            snprintf(idx, sizeof idx, "%d", i);
            lab = idx;
        }
        if (lab) x_tick_label(c, r, x0 + slot / 2, label_y, lab, &last_right);
    }
    if (s->has_reference && isfinite(s->reference)) {
        int yr = map_y(&a, s->reference);
        dashed_hline(c, plot, plot.x, plot.x + plot.w - 1, yr, UM_THEME_TEXT);
    }
}

// ================================================================ lines

static double series_x(const UmSeries *s, int i) { return s->x ? (double)s->x[i] : (double)i; }

static int point_ok(const UmSeries *s, int i, int log_y) {
    double x = series_x(s, i), y = s->y[i];
    return isfinite(x) && isfinite(y) && (!log_y || y > 0.0);
}

// Expand [lo, hi] (lo > 0) outwards to 1-2-5 values (or whole decades when
// it spans one or more), so a log axis begins and ends on a tick.
static void log_range(double *lo, double *hi) {
    double k0 = floor(log10(*lo)), k1 = ceil(log10(*hi));
    if (k1 - k0 >= 2.0 || *hi <= *lo) {
        *lo = pow(10.0, k0);
        *hi = pow(10.0, k1 > k0 ? k1 : k0 + 1);
        return;
    }
    static const double M[] = {1, 2, 5, 10};
    double p = pow(10.0, k0), best_lo = p;
    for (int i = 0; i < 4; i++)
        if (M[i] * p <= *lo * (1 + 1e-9)) best_lo = M[i] * p;
    double best_hi = pow(10.0, k1);
    for (int k = (int)k0; k <= (int)k1 && best_hi == pow(10.0, k1); k++)
        for (int i = 0; i < 4; i++) {
            double v = M[i] * pow(10.0, k);
            if (v >= *hi * (1 - 1e-9)) {
                best_hi = v;
                break;
            }
        }
    *lo = best_lo;
    *hi = best_hi;
}

static void draw_legend(UmCanvas *c, UmRect area, const UmSeries *series, int n_series) {
    int n = 0, label_w = 0;
    for (int k = 0; k < n_series; k++)
        if (series[k].label) {
            n++;
            int w = um_text_width(series[k].label, 1);
            if (w > label_w) label_w = w;
        }
    if (n == 0) return;
    int row_h = UM_TEXT_CAP_H + 5, swatch = 12;
    int w = 6 + swatch + 5 + label_w + 7, h = 6 + n * row_h - 5 + 6;
    UmRect box = um_rect(area.x + area.w - w - 6, area.y + 6, w, h);
    um_fill_rect(c, box, um_rgba(27, 30, 38, 230));
    um_draw_rect(c, box, 1, UM_THEME_BORDER);
    int y = box.y + 6;
    for (int k = 0; k < n_series; k++) {
        if (!series[k].label) continue;
        uint32_t col = series[k].color ? series[k].color : um_series_color(k);
        int my = y + UM_TEXT_CAP_H / 2;
        um_fill_rect(c, um_rect(box.x + 6, my - 1, swatch, 2), col);
        um_draw_text(c, box.x + 6 + swatch + 5, y, series[k].label, UM_THEME_TEXT, 1);
        y += row_h;
    }
}

void um_draw_line_plot(UmCanvas *c, UmRect r, const UmSeries *series, int n_series,
                       const UmLinePlotStyle *style) {
    UmLinePlotStyle defaults = {0};
    const UmLinePlotStyle *s = style ? style : &defaults;
    if (!rect_sane(r)) return;

    // Data ranges over every usable point.
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < series[k].n; i++) {
            if (!point_ok(&series[k], i, s->log_y)) continue;
            double x = series_x(&series[k], i), y = series[k].y[i];
            if (x < xlo) xlo = x;
            if (x > xhi) xhi = x;
            if (y < ylo) ylo = y;
            if (y > yhi) yhi = y;
        }
    int have_data = xlo <= xhi;
    if (s->x_min < s->x_max) {
        xlo = s->x_min;
        xhi = s->x_max;
    } else if (!have_data) {
        xlo = 0;
        xhi = 1;
    }
    if (!(xhi > xlo)) {
        xlo -= 0.5;
        xhi += 0.5;
    }
    if (s->y_min < s->y_max && (!s->log_y || s->y_min > 0)) {
        ylo = s->y_min;
        yhi = s->y_max;
    } else if (!have_data) {
        ylo = s->log_y ? 1 : 0;
        yhi = s->log_y ? 10 : 1;
    } else if (s->log_y) {
        log_range(&ylo, &yhi);
    } else {
        int guess = r.h - 2 * UM_TEXT_CAP_H - 20;
        nice_range_step(&ylo, &yhi, clampi(guess / 28, 2, 8));
    }

    Axes a;
    axes_layout(&a, r, ylo, yhi, s->log_y, s->x_label, s->y_label);
    a.x0 = xlo;
    a.x1 = xhi;
    if (a.area.w <= 2 || a.area.h <= 2) return;
    UmRect ar = a.area;

    // x grid, ticks and labels.
    double xt[MAX_TICKS], xstep = 1;
    int nxt = um_nice_ticks(xlo, xhi, clampi(ar.w / 70, 2, 10), xt, MAX_TICKS, &xstep);
    int last_right = -1000000;
    for (int i = 0; i < nxt; i++) {
        int x = map_x(&a, xt[i]);
        um_draw_line_in(c, r, x, ar.y, x, ar.y + ar.h - 1, UM_THEME_GRID);
        um_draw_line_in(c, r, x, ar.y + ar.h, x, ar.y + ar.h + 3, UM_THEME_AXIS);
        char buf[32];
        um_format_tick(buf, sizeof buf, xt[i], xstep);
        x_tick_label(c, r, x, ar.y + ar.h + 6, buf, &last_right);
    }
    axes_draw_frame(c, &a, r, s->x_label, s->y_label);

    // The series, clipped to the area right of and above the axis lines.
    UmRect clip = um_rect(ar.x + 1, ar.y, ar.w - 1, ar.h - 1);
    int lw = s->line_width > 0 ? s->line_width : 1;
    for (int k = 0; k < n_series; k++) {
        const UmSeries *sr = &series[k];
        uint32_t col = sr->color ? sr->color : um_series_color(k);
        int have_prev = 0, px = 0, py = 0;
        for (int i = 0; i < sr->n; i++) {
            if (!point_ok(sr, i, s->log_y)) {
                have_prev = 0;  // a gap in the data is a gap in the line
                continue;
            }
            int x = map_x(&a, series_x(sr, i)), y = map_y(&a, sr->y[i]);
            if (have_prev) um_draw_thick_line_in(c, clip, px, py, x, y, lw, col);
            else um_draw_thick_line_in(c, clip, x, y, x, y, lw, col);
            have_prev = 1;
            px = x;
            py = y;
        }
    }
    if (!have_data)
        um_draw_text_in(c, ar, "no data", UM_THEME_TEXT_DIM, 1, UM_ALIGN_CENTER, UM_ALIGN_CENTER);
    if (s->legend) draw_legend(c, ar, series, n_series);
}
