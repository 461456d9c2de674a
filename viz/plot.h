// plot.h: the chart types every visualiser panel is built from.
//
// Each function draws into a rect of a canvas and nothing outside it:
//   um_draw_panel      a framed box with a title bar; returns the body rect
//   um_draw_heatmap    a (rows, cols) matrix as coloured cells, with selected
//                      rows/cols outlined and chosen cells marked
//   um_draw_bar_chart  one bar per value, with a y axis
//   um_draw_line_plot  several series against shared axes, optional log y
// and the axis helpers they share ("nice" ticks and their labels).
//
// Rects further than 2^24 pixels from the origin, or larger, draw nothing
// here (the canvas primitives accept anything; charts do int layout maths).
//
// A panel (`draw_<panel>(canvas, rect, probe)`) is usually um_draw_panel
// followed by one or two of these inside the returned body rect.
#ifndef UM_PLOT_H
#define UM_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "canvas.h"
#include "colormap.h"

// ---------------------------------------------------------------- ticks
// Ticks at multiples of a "nice" step (1, 2 or 5 times a power of ten) chosen
// so about `target` of them fall in [lo, hi]. Writes at most cap ticks
// (ascending, each exactly k*step) and returns how many; *step (if not NULL)
// gets the step. Returns 0 for an empty or non-finite range.
int um_nice_ticks(double lo, double hi, int target, double *ticks, int cap, double *step);

// Widen [*lo, *hi] outwards to multiples of the nice step for `target` ticks,
// so an axis starts and ends on a labelled tick. A zero-width range is
// widened first (by 1, or by 10% of its value).
void um_nice_range(double *lo, double *hi, int target);

// Ticks for a log axis over [lo, hi] (lo > 0): powers of ten when the range
// covers enough decades, else 1-2-5 or 1..9 times powers of ten, whichever
// first gives at least 3 ticks. Returns the count (at most cap).
int um_log_ticks(double lo, double hi, double *ticks, int cap);

// A short label for tick value v on an axis whose ticks are `step` apart:
// just enough decimals to tell neighbours apart, "k"/"M" for big round
// numbers, and no "-0".
void um_format_tick(char *buf, size_t len, double v, double step);

// ---------------------------------------------------------------- panel
// Fill r with the panel colour, frame it and draw `title` (may be NULL) in a
// title bar. Returns the body: the area under the title bar, inset by a margin.
UmRect um_draw_panel(UmCanvas *c, UmRect r, const char *title);

// ---------------------------------------------------------------- heatmap
typedef struct {
    UmColormap map;  // VIRIDIS for magnitudes, DIVERGING for signed values
    UmScale scale;   // LINEAR, or LOG1P for counts
    // Colour range. When vmin >= vmax it is taken from the finite data
    // (symmetric around 0 for DIVERGING).
    float vmin, vmax;
    int cell_gap;  // 1: a thin gap between cells, when cells are >= 6 px
    // Selected rows and columns: each gets a highlight outline around its
    // whole strip of cells. Indices out of range are ignored.
    const int *rows;
    int n_rows;
    const int *cols;
    int n_cols;
    // Chosen cells: n_marks (row, col) pairs, marks[2*i], marks[2*i+1].
    const int *marks;
    int n_marks;
} UmHeatmapStyle;

// Draw matrix m (row-major, rows x cols) filling r. Cell boundaries fall on
// whole pixels (cell c spans x from ceil(c*w/cols) to ceil((c+1)*w/cols)).
// When there are more cells than pixels, a pixel shows the cell furthest
// from the colour map's low/centre point among those it covers, so one hot
// slot is never hidden. NaN cells are grey. *used_min/*used_max (may be NULL)
// get the colour range actually used, for um_draw_colorbar.
void um_draw_heatmap(UmCanvas *c, UmRect r, const float *m, int rows, int cols,
                     const UmHeatmapStyle *style, float *used_min, float *used_max);

// The pixel rect of one cell of such a heatmap (w or h can be 0 when there
// are more cells than pixels).
UmRect um_heatmap_cell(UmRect r, int rows, int cols, int row, int col);

// ---------------------------------------------------------------- bars
typedef struct {
    const uint32_t *colors;     // one colour per bar, or NULL for `color`
    uint32_t color;             // 0 means um_series_color(0)
    const char *const *labels;  // one label per bar (drawn when they fit), or NULL
    float reference;            // a dashed horizontal line at this value (e.g. the
    int has_reference;          //   uniform load 1/X) when has_reference is 1
    const char *y_label;        // caption above the y axis, or NULL
} UmBarStyle;

// Bars for values[0..n) in r, with a y axis from min(0, data) to max(0, data)
// widened to nice ticks. Non-finite values draw no bar.
void um_draw_bar_chart(UmCanvas *c, UmRect r, const float *values, int n, const UmBarStyle *style);

// ---------------------------------------------------------------- lines
typedef struct {
    const float *x;     // n x values (ascending), or NULL for 0, 1, ..., n-1
    const float *y;     // n y values; NaN/inf (and <= 0 on a log axis) break the line
    int n;
    uint32_t color;     // 0 means um_series_color(index of this series)
    const char *label;  // legend entry, or NULL to leave it out of the legend
} UmSeries;

typedef struct {
    int log_y;                      // 1: logarithmic y axis
    int line_width;                 // pixels; 0 means 1
    int legend;                     // 1: legend box in the top-right corner
    const char *x_label, *y_label;  // axis captions, or NULL
    // Fixed axis ranges: used when min < max, otherwise taken from the data.
    double x_min, x_max, y_min, y_max;
} UmLinePlotStyle;

void um_draw_line_plot(UmCanvas *c, UmRect r, const UmSeries *series, int n_series,
                       const UmLinePlotStyle *style);

#endif
