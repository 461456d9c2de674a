// colormap.h: turning numbers into colours.
//
// - viridis: perceptually uniform, dark purple (low) -> yellow (high), for
//   magnitudes such as scores, weights and access counts. Its lightness rises
//   monotonically, so it still reads in greyscale.
// - diverging: for signed values; dark neutral at 0, blue for negative and
//   orange for positive, brighter the larger |value| (it suits a dark theme).
// - a categorical palette for line series and bars.
#ifndef UM_COLORMAP_H
#define UM_COLORMAP_H

#include <stdint.h>

#include "canvas.h"

typedef enum { UM_CMAP_VIRIDIS, UM_CMAP_DIVERGING } UmColormap;

// How values are placed on the colour axis.
//  LINEAR: t = (v - vmin) / (vmax - vmin)
//  LOG1P : t = (log1p(v) - log1p(vmin)) / (log1p(vmax) - log1p(vmin)), for
//          counts >= 0 whose range covers orders of magnitude.
typedef enum { UM_SCALE_LINEAR, UM_SCALE_LOG1P } UmScale;

// Colour at t in [0, 1] (clamped). NaN gives a neutral grey so a bad value
// is visible rather than silently the lowest colour.
uint32_t um_colormap(UmColormap map, float t);
uint32_t um_viridis(float t);
uint32_t um_diverging(float t);  // t = 0.5 is the zero point

// Position of v on the colour axis, in [0, 1] (clamped; NaN stays NaN).
// A degenerate range (vmax <= vmin) maps everything to 0.5.
float um_scale_t(UmScale scale, float v, float vmin, float vmax);

// The i-th categorical colour (cycles after 8); distinct on a dark background.
uint32_t um_series_color(int i);

// Perceived lightness of a colour in [0, 1] (Rec. 709 luma on sRGB values):
// used by tests, and to pick black or white text over a colour.
float um_luma(uint32_t color);

// A colour bar legend with min and max labels (printf format label_fmt, e.g.
// "%.2f"). Horizontal when r is wider than tall (labels under the bar, at its
// ends), vertical otherwise (max at the top, labels right of the bar). The
// bar runs evenly from t = 0 to 1; the labels are the data values at its ends
// (for a LOG1P heatmap, the middle of the bar is not the mean of the two).
void um_draw_colorbar(UmCanvas *c, UmRect r, UmColormap map, float vmin, float vmax,
                      const char *label_fmt);

#endif
