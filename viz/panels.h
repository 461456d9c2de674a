// panels.h: every picture the visualiser shows, one function each.
//
//   draw_<panel>(canvas, rect, snapshot)
//
// draws into rect and nothing outside it, reading only the snapshot (plain
// data, viz/snapshot.h), so each is testable without SDL or a model
// (tests/test_panels.c compares them with golden PNGs). A panel whose data is
// missing (a dense model has no memory layer) says so in words instead of
// drawing an empty frame.
//
// Files: panels_retrieval.c (key scores, selected values, memory reads),
// panels_moe.c (router, expert loads), panels_training.c (loss, speed,
// Tucker core), panels_frame.c (status bar, text strip, help, layouts).
#ifndef UM_VIZ_PANELS_H
#define UM_VIZ_PANELS_H

#include "canvas.h"
#include "snapshot.h"

// ---- product-key retrieval (PKM, UltraMem, UltraMemV2)
// The n x n grid of candidate scores for the selected token and head; the
// top-k rows and columns outlined, the k winners marked.
void draw_key_scores(UmCanvas *c, UmRect r, const VizSnapshot *s);
// The winners: slot id, (row, col), virtual block, score, weight (per core for
// MCS) and the first dimensions of their value vectors as a heatmap.
void draw_selected_values(UmCanvas *c, UmRect r, const VizSnapshot *s);
// Reads per slot over the recent window (log scale), usage %, KL, dead slots.
void draw_memory_access(UmCanvas *c, UmRect r, const VizSnapshot *s);

// ---- Mixture of Experts
// Router softmax per token of the selected sequence; chosen experts marked.
void draw_router_probs(UmCanvas *c, UmRect r, const VizSnapshot *s);
// Share of routed tokens per expert over the run, and the latest as bars.
void draw_expert_loads(UmCanvas *c, UmRect r, const VizSnapshot *s);

// ---- training
void draw_loss_curves(UmCanvas *c, UmRect r, const VizSnapshot *s);  // this run and saved ones
void draw_tokens_per_s(UmCanvas *c, UmRect r, const VizSnapshot *s);
void draw_tucker_sv(UmCanvas *c, UmRect r, const VizSnapshot *s);  // UltraMem core over time

// ---- the frame around the panels
void draw_status_bar(UmCanvas *c, UmRect r, const VizSnapshot *s);
// The bytes around the selected token, the token boxed, the byte it predicts underlined.
void draw_text_context(UmCanvas *c, UmRect r, const VizSnapshot *s);
void draw_help_overlay(UmCanvas *c, UmRect r);

// Panel layouts the user cycles through (key Tab / 1-4).
typedef enum { VIZ_LAYOUT_OVERVIEW = 0, VIZ_LAYOUT_RETRIEVAL, VIZ_LAYOUT_MEMORY, VIZ_LAYOUT_TRAINING, VIZ_LAYOUT_COUNT } VizLayout;
const char *viz_layout_name(int layout);

// A whole frame: status bar, text strip, the layout's panels, optional help.
void draw_frame(UmCanvas *c, const VizSnapshot *s, int layout, int show_help);

// Shared by the panels: a framed panel whose body says `why` there is no data.
void draw_no_data(UmCanvas *c, UmRect r, const char *title, const char *why);
// A byte as something printable: itself, or a short escape ("\n", "\t", "x1f").
const char *viz_byte_label(unsigned char b, char buf[8]);

#endif
