// panels_moe.c: what the router of a Mixture-of-Experts layer is doing.
//
// Two questions a learner asks of a router: "which experts does THIS token go
// to, and how sure is the router?" (router probabilities per token) and "is
// the work shared, or are a few experts taking everything?" (loads over
// time, against the uniform share k/X... drawn as the fraction 1/X).
#include <stdio.h>

#include "colormap.h"
#include "panels.h"
#include "plot.h"
#include "text.h"
#include "theme.h"

void draw_router_probs(UmCanvas *c, UmRect r, const VizSnapshot *s) {
    const VizMoe *m = &s->moe;
    if (!m->present || m->n_tokens <= 0) {
        draw_no_data(c, r, "router probabilities", "no MoE layer selected\n(arch moe has one in every block)");
        return;
    }
    char title[96];
    snprintf(title, sizeof title, "router softmax per token (top-%d of %d experts marked)", m->k, m->X);
    UmRect body = um_draw_panel(c, r, title);
    int rows = m->n_tokens, X = m->X;
    int label_w = 32, bar_w = 52, top = 12;
    int cell_h = (body.h - top - 16) / rows;
    if (cell_h > 14) cell_h = 14;
    if (cell_h < 1) return;
    int cell_w = (body.w - label_w - bar_w - 8) / X;
    if (cell_w > 28) cell_w = 28;
    if (cell_w < 1) return;
    UmRect heat = um_rect(body.x + label_w, body.y + top, cell_w * X, cell_h * rows);

    static float probs[VIZ_MAX_ROUTED * VIZ_MAX_X];
    int marks[2 * VIZ_MAX_ROUTED * 8], n_marks = 0, kk = m->k < 8 ? m->k : 8;
    for (int t = 0; t < rows; t++) {
        for (int e = 0; e < X; e++) probs[t * X + e] = m->probs[t][e];
        for (int j = 0; j < kk; j++) marks[2 * n_marks] = t, marks[2 * n_marks + 1] = m->chosen[t][j], n_marks++;
    }
    int sel[1] = {m->selected};
    UmHeatmapStyle st = {.map = UM_CMAP_VIRIDIS, .cell_gap = 1,  // range from the data: small probs stay visible
                         .rows = sel,
                         .n_rows = m->selected >= 0, .marks = marks, .n_marks = n_marks};
    float lo, hi;
    um_draw_heatmap(c, heat, probs, rows, X, &st, &lo, &hi);
    // Expert ids over the columns (when they fit), bytes beside the rows.
    for (int e = 0; e < X; e++) {
        if (cell_w < 12 && e % 4) continue;
        UmRect cell = um_heatmap_cell(heat, rows, X, 0, e);
        um_draw_textf(c, cell.x + 1, body.y, UM_THEME_TEXT_DIM, 1, "%d", e);
    }
    for (int t = 0; t < rows; t++) {
        if (cell_h < 8 && t % 2 && t != m->selected) continue;
        char b[8];
        UmRect cell = um_heatmap_cell(heat, rows, X, t, 0);
        um_draw_text_anchored(c, heat.x - 4, cell.y + cell.h / 2, viz_byte_label(m->bytes[t], b),
                              t == m->selected ? UM_THEME_HIGHLIGHT : UM_THEME_TEXT_DIM, 1, UM_ALIGN_END,
                              UM_ALIGN_CENTER);
    }
    um_draw_colorbar(c, um_rect(heat.x + heat.w + 8, heat.y, bar_w, heat.h), st.map, lo, hi, "%.2f");
    um_draw_text(c, body.x, heat.y + heat.h + 5, "rows: tokens (white: selected)  columns: experts",
                 UM_THEME_TEXT_DIM, 1);
}

void draw_expert_loads(UmCanvas *c, UmRect r, const VizSnapshot *s) {
    const VizMoe *m = &s->moe;
    if (!m->present || m->hist_n <= 0) {
        draw_no_data(c, r, "expert loads", "no MoE layer selected");
        return;
    }
    int X = m->X;
    char title[96];
    snprintf(title, sizeof title, "expert loads: share of routed tokens (uniform = 1/%d)", X);
    UmRect body = um_draw_panel(c, r, title);
    UmRect left = um_rect(body.x, body.y, body.w * 62 / 100, body.h);
    UmRect right = um_rect(left.x + left.w + 8, body.y, body.w - left.w - 8, body.h);

    static float load[VIZ_MAX_X][VIZ_MAX_HIST], uni[VIZ_MAX_HIST];
    UmSeries ser[VIZ_MAX_X + 1];
    int n = m->hist_n;
    for (int e = 0; e < X; e++) {
        for (int i = 0; i < n; i++) load[e][i] = m->hist_load[i][e];
        ser[e] = (UmSeries){m->hist_step, load[e], n, um_series_color(e), NULL};
    }
    for (int i = 0; i < n; i++) uni[i] = 1.0f / X;
    ser[X] = (UmSeries){m->hist_step, uni, n, UM_THEME_TEXT_DIM, "uniform"};
    UmLinePlotStyle ls = {.legend = 1, .x_label = "step", .y_label = "share", .y_min = 0};
    um_draw_line_plot(c, left, ser, X + 1, &ls);

    float latest[VIZ_MAX_X];
    uint32_t colors[VIZ_MAX_X];
    for (int e = 0; e < X; e++) latest[e] = m->hist_load[n - 1][e], colors[e] = um_series_color(e);
    UmBarStyle bs = {.colors = colors, .reference = 1.0f / X, .has_reference = 1, .y_label = "now (dashed 1/X)"};
    um_draw_bar_chart(c, right, latest, X, &bs);
}
