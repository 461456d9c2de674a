// theme.h: the visualiser's colours in one place (a dark theme: dim
// backgrounds so the data, drawn in bright colours, is what the eye finds).
#ifndef UM_THEME_H
#define UM_THEME_H

#include "canvas.h"

#define UM_THEME_BG um_rgb(18, 20, 26)           // window background
#define UM_THEME_PANEL um_rgb(27, 30, 38)        // panel body
#define UM_THEME_TITLE_BG um_rgb(36, 40, 51)     // panel title bar
#define UM_THEME_BORDER um_rgb(58, 64, 78)       // panel frame, axes box
#define UM_THEME_GRID um_rgb(42, 47, 58)         // grid lines behind data
#define UM_THEME_AXIS um_rgb(120, 128, 142)      // axis lines and tick marks
#define UM_THEME_TEXT um_rgb(228, 231, 236)      // titles and labels
#define UM_THEME_TEXT_DIM um_rgb(150, 157, 170)  // tick labels, captions
#define UM_THEME_HIGHLIGHT um_rgb(255, 255, 255) // outlines of selected rows/cols
#define UM_THEME_MARK um_rgb(255, 64, 96)        // markers on chosen cells

#endif
