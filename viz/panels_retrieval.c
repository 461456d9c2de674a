// panels_retrieval.c: what a product-key memory did for one token.
//
// A memory with n*n slots never scores all of them: it scores the n row keys
// and the n column keys (2n dot products), keeps the best k of each side, and
// only then looks at the k*k pairs. The key-score panel shows the whole n x n
// grid anyway, so a learner can check with their own eyes that the k winners
// (red) really are the best cells of the grid, found inside the k outlined
// rows and k outlined columns.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "colormap.h"
#include "panels.h"
#include "plot.h"
#include "text.h"
#include "theme.h"

#define LABEL_W 6  // advance of one character of the bitmap font at scale 1

const char *viz_byte_label(unsigned char b, char buf[8]) {
    if (b == '\n') return "\\n";
    if (b == '\t') return "\\t";
    if (b == ' ') return "' '";
    if (b >= 32 && b < 127) {
        buf[0] = (char)b, buf[1] = 0;
        return buf;
    }
    snprintf(buf, 8, "x%02x", b);
    return buf;
}

void draw_no_data(UmCanvas *c, UmRect r, const char *title, const char *why) {
    UmRect body = um_draw_panel(c, r, title);
    um_draw_text_in(c, body, why, UM_THEME_TEXT_DIM, 1, UM_ALIGN_CENTER, UM_ALIGN_CENTER);
}

static const char *selected_byte(const VizSnapshot *s, char buf[8]) {
    if (s->token < 0 || s->token >= s->ctx_len) return "?";
    return viz_byte_label(s->ctx[s->token], buf);
}

// ---------------------------------------------------------------- key scores
// Small n: the whole n x n grid, best rows/columns outlined, winners marked.
// Large n (cells under 6 px): outlines would hide the data, so the full grid
// gets tick marks on its edges for the best rows/columns and big markers on
// the winners, and beside it the k x k candidate grid -- the only part of
// the grid the layer actually computes -- is drawn large, best rows/columns
// first, in the same colours.

// A marker a few pixels bigger than a tiny cell, so a winner stays visible.
static void mark_cell(UmCanvas *c, UmRect heat, UmRect cell) {
    int cx = cell.x + cell.w / 2, cy = cell.y + cell.h / 2;
    UmRect box = um_rect_intersect(um_rect(cx - 3, cy - 3, 7, 7), heat);
    um_fill_rect(c, box, UM_THEME_MARK);
    um_draw_rect(c, box, 1, UM_THEME_HIGHLIGHT);
}

static void full_grid_with_ticks(UmCanvas *c, UmRect heat, const VizRetrieval *m, float lo, float hi) {
    int n = m->n, k = m->k;
    UmHeatmapStyle st = {.map = UM_CMAP_DIVERGING, .vmin = lo, .vmax = hi};
    um_draw_heatmap(c, heat, m->grid, n, n, &st, NULL, NULL);
    for (int q = 0; q < k; q++) {
        UmRect rc = um_heatmap_cell(heat, n, n, m->grid_rows[q], 0);
        um_fill_rect(c, um_rect(heat.x - 6, rc.y, 5, rc.h > 1 ? rc.h : 1), UM_THEME_HIGHLIGHT);
        UmRect cc = um_heatmap_cell(heat, n, n, 0, m->grid_cols[q]);
        um_fill_rect(c, um_rect(cc.x, heat.y - 6, cc.w > 1 ? cc.w : 1, 5), UM_THEME_HIGHLIGHT);
    }
    for (int q = 0; q < k; q++) mark_cell(c, heat, um_heatmap_cell(heat, n, n, m->slots[q] / n, m->slots[q] % n));
}

static void candidate_grid(UmCanvas *c, UmRect heat, const VizRetrieval *m, float lo, float hi) {
    int n = m->n, k = m->k;
    float cand[VIZ_MAX_K * VIZ_MAX_K];
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) cand[a * k + b] = m->grid[m->grid_rows[a] * n + m->grid_cols[b]];
    int marks[2 * VIZ_MAX_K], nm = 0;
    for (int q = 0; q < k; q++)
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                if (m->grid_rows[a] * n + m->grid_cols[b] == m->slots[q]) marks[2 * nm] = a, marks[2 * nm + 1] = b, nm++;
    UmHeatmapStyle st = {.map = UM_CMAP_DIVERGING, .vmin = lo, .vmax = hi, .cell_gap = 1, .marks = marks, .n_marks = nm};
    um_draw_heatmap(c, heat, cand, k, k, &st, NULL, NULL);
}

void draw_key_scores(UmCanvas *c, UmRect r, const VizSnapshot *s) {
    const VizRetrieval *m = &s->mem;
    if (!m->present) {
        draw_no_data(c, r, "key scores", "no product-key memory in this layer\n(arch pkm, ultramem or ultramem2 has one)");
        return;
    }
    char title[128], b[8];
    snprintf(title, sizeof title, "key scores: token %d '%s', head %d/%d, %s", m->token, selected_byte(s, b), m->head,
             m->n_heads, m->tucker ? "Tucker grid" : "row + column");
    UmRect body = um_draw_panel(c, r, title);
    int n = m->n, k = m->k;
    // One colour range for both grids (symmetric: the diverging map's centre is 0).
    float hi = 0;
    for (int i = 0; i < n * n; i++)
        if (fabsf(m->grid[i]) > hi) hi = fabsf(m->grid[i]);
    if (!(hi > 0)) hi = 1;
    float lo = -hi;

    int legend_h = 2 * UM_TEXT_LINE_H + 4, top = 20, bar_w = 44, left = 10;
    int avail_h = body.h - top - legend_h;
    int side = body.w - left - bar_w - 8;
    if (avail_h < side) side = avail_h;
    if (side < 8) return;
    int split = side / n < 6;
    char cap[96];
    if (split) {
        int total = body.w - left - bar_w - 24;
        int full = total * 3 / 5 < avail_h ? total * 3 / 5 : avail_h;
        int cand = total - full < full ? total - full : full;
        UmRect fh = um_rect(body.x + left, body.y + top, full, full);
        UmRect ch = um_rect(fh.x + fh.w + 16, body.y + top, cand, cand);
        full_grid_with_ticks(c, fh, m, lo, hi);
        candidate_grid(c, ch, m, lo, hi);
        snprintf(cap, sizeof cap, "all %d x %d pairs (not computed)", n, n);
        um_draw_text(c, fh.x, body.y, cap, UM_THEME_TEXT_DIM, 1);
        snprintf(cap, sizeof cap, "%d x %d candidates", k, k);
        um_draw_text(c, ch.x, body.y, cap, UM_THEME_TEXT, 1);
        um_draw_text(c, ch.x, ch.y + ch.h + 4, "rows, cols:\nbest first", UM_THEME_TEXT_DIM, 1);
        um_draw_colorbar(c, um_rect(body.x + body.w - bar_w, fh.y, bar_w, fh.h), UM_CMAP_DIVERGING, lo, hi, "%+.1f");
        int ly = fh.y + fh.h + 6;
        um_draw_text(c, body.x, ly, m->tucker ? "cell (i,j) = s_row(i)^T C s_col(j)" : "cell (i,j) = s_row(i) + s_col(j)",
                     UM_THEME_TEXT_DIM, 1);
        snprintf(cap, sizeof cap, "ticks: best %d rows/cols   red: the %d slots read", k, k);
        um_draw_text(c, body.x, ly + UM_TEXT_LINE_H, cap, UM_THEME_TEXT, 1);
        return;
    }
    UmRect heat = um_rect(body.x + left, body.y + top, side, side);
    int marks[2 * VIZ_MAX_K];
    for (int q = 0; q < k; q++) marks[2 * q] = m->slots[q] / n, marks[2 * q + 1] = m->slots[q] % n;
    UmHeatmapStyle st = {.map = UM_CMAP_DIVERGING, .vmin = lo, .vmax = hi, .cell_gap = 1, .rows = m->grid_rows,
                         .n_rows = k, .cols = m->grid_cols, .n_cols = k, .marks = marks, .n_marks = k};
    um_draw_heatmap(c, heat, m->grid, n, n, &st, NULL, NULL);
    snprintf(cap, sizeof cap, "row key i (down) x column key j (across), n=%d", n);
    um_draw_text(c, heat.x, body.y, cap, UM_THEME_TEXT_DIM, 1);
    um_draw_text_anchored(c, body.x, heat.y + heat.h / 2, "i", UM_THEME_TEXT_DIM, 1, UM_ALIGN_START, UM_ALIGN_CENTER);
    um_draw_colorbar(c, um_rect(heat.x + heat.w + 8, heat.y, bar_w, heat.h), UM_CMAP_DIVERGING, lo, hi, "%+.2f");
    int ly = heat.y + heat.h + 6;
    um_draw_text(c, body.x, ly, m->tucker ? "cell (i,j) = s_row(i)^T C s_col(j)" : "cell (i,j) = s_row(i) + s_col(j)",
                 UM_THEME_TEXT_DIM, 1);
    snprintf(cap, sizeof cap, "white: best %d rows, %d cols   red: the %d slots read", k, k, k);
    um_draw_text(c, body.x, ly + UM_TEXT_LINE_H, cap, UM_THEME_TEXT, 1);
}

// ---------------------------------------------------------------- selected values
// One row per winner: rank, slot, (row, col), [block], score, a weight bar
// (split per core for MCS), then its value vector as a row of cells.
void draw_selected_values(UmCanvas *c, UmRect r, const VizSnapshot *s) {
    const VizRetrieval *m = &s->mem;
    if (!m->present) {
        draw_no_data(c, r, "selected values", "no product-key memory in this layer");
        return;
    }
    char title[128], b[8];
    snprintf(title, sizeof title, "the %d slots read for token %d '%s' (head %d)", m->k, m->token,
             selected_byte(s, b), m->head);
    UmRect body = um_draw_panel(c, r, title);
    int k = m->k, n = m->n;
    int header_h = UM_TEXT_LINE_H + 2, footer_h = (m->n_virtual > 0 ? 2 : 1) * UM_TEXT_LINE_H + 16;
    int rows_fit = (body.h - header_h - footer_h) / 9;
    int shown = k < rows_fit ? k : rows_fit;
    if (shown < 1) return;
    int row_h = (body.h - header_h - footer_h) / shown;
    if (row_h > 18) row_h = 18;

    // Column x positions (text is 6 px per character).
    int x = body.x;
    int x_slot = x + 3 * LABEL_W, x_rc = x_slot + 6 * LABEL_W, x_blk = x_rc + 10 * LABEL_W;
    int x_score = x_blk + (m->n_virtual > 0 ? 10 * LABEL_W : 0);
    int x_w = x_score + 7 * LABEL_W, bar_max = 60;
    int x_vec = x_w + bar_max + 10 * LABEL_W / 2 + 4;
    int vec_w = body.x + body.w - x_vec;
    int y = body.y;
    um_draw_text(c, x, y, "#", UM_THEME_TEXT_DIM, 1);
    um_draw_text(c, x_slot, y, "slot", UM_THEME_TEXT_DIM, 1);
    um_draw_text(c, x_rc, y, "(row,col)", UM_THEME_TEXT_DIM, 1);
    if (m->n_virtual > 0) um_draw_text(c, x_blk, y, "row:block", UM_THEME_TEXT_DIM, 1);
    um_draw_text(c, x_score, y, "score", UM_THEME_TEXT_DIM, 1);
    if (m->n_cores > 1) {  // the header names each core in its bar colour: the legend of the bars
        um_draw_text(c, x_w, y, "weight:", UM_THEME_TEXT_DIM, 1);
        int hx = x_w + um_text_width("weight:", 1) + LABEL_W;
        for (int h = 0; h < m->n_cores; h++) {
            char cn[16];
            snprintf(cn, sizeof cn, "c%d", h);
            um_draw_text(c, hx, y, cn, um_series_color(h), 1);
            hx += um_text_width(cn, 1) + LABEL_W;
        }
    } else {
        um_draw_text(c, x_w, y, "weight", UM_THEME_TEXT_DIM, 1);
    }
    char vh[64];
    if (m->value_dim_shown < m->value_dim)
        snprintf(vh, sizeof vh, "value (%d of %d dims)", m->value_dim_shown, m->value_dim);
    else
        snprintf(vh, sizeof vh, "value (%d dims)", m->value_dim);
    if (vec_w > 40) um_draw_text(c, x_vec, y, vh, UM_THEME_TEXT_DIM, 1);

    float wmax = 0;
    for (int q = 0; q < shown; q++) {
        if (m->weights[q] > wmax) wmax = m->weights[q];
        for (int h = 0; h < m->n_cores && m->n_cores > 1; h++)
            if (m->core_weights[h][q] > wmax) wmax = m->core_weights[h][q];
    }
    if (!(wmax > 0)) wmax = 1;
    float vals[VIZ_MAX_K * VIZ_MAX_VDIM];
    int vd = m->value_dim_shown;
    for (int q = 0; q < shown; q++)
        for (int d = 0; d < vd; d++) vals[q * vd + d] = m->values[q][d];

    for (int q = 0; q < shown; q++) {
        int ry = body.y + header_h + q * row_h;
        int ty = ry + (row_h - UM_TEXT_CAP_H) / 2;
        um_draw_textf(c, x, ty, UM_THEME_TEXT_DIM, 1, "%d", q + 1);
        um_draw_textf(c, x_slot, ty, UM_THEME_TEXT, 1, "%d", m->slots[q]);
        um_draw_textf(c, x_rc, ty, UM_THEME_TEXT_DIM, 1, "(%d,%d)", m->slots[q] / n, m->slots[q] % n);
        if (m->n_virtual > 0)  // IVE: which physical value row, and which of its E blocks
            um_draw_textf(c, x_blk, ty, UM_THEME_TEXT_DIM, 1, "%d:%d", m->phys[q], m->virtual_block[q]);
        um_draw_textf(c, x_score, ty, UM_THEME_TEXT, 1, "%+.2f", m->scores[q]);
        int bh = row_h - 4;
        if (m->n_cores > 1) {  // one thin bar per core, stacked inside the row
            int each = bh / m->n_cores;
            if (each < 1) each = 1;
            for (int h = 0; h < m->n_cores; h++) {
                int len = (int)lrintf(bar_max * m->core_weights[h][q] / wmax);
                um_fill_rect(c, um_rect(x_w, ry + 2 + h * each, len, each - (each > 2)), um_series_color(h));
            }
        } else {
            int len = (int)lrintf(bar_max * m->weights[q] / wmax);
            um_fill_rect(c, um_rect(x_w, ry + 2, len, bh), um_series_color(0));
        }
        um_draw_textf(c, x_w + bar_max + 4, ty, UM_THEME_TEXT, 1, "%.2f", m->weights[q]);
    }
    float lo = 0, hi = 0;
    if (vec_w > 8 && vd > 0) {
        UmRect heat = um_rect(x_vec, body.y + header_h, vec_w, shown * row_h);
        UmHeatmapStyle st = {.map = UM_CMAP_DIVERGING};
        um_draw_heatmap(c, heat, vals, shown, vd, &st, &lo, &hi);
    }
    int fy = body.y + header_h + shown * row_h + 8;
    char foot[160];
    if (m->n_cores > 1)
        snprintf(foot, sizeof foot, "output = sum over slots; core c weights its own 1/%d of the value", m->n_cores);
    else
        snprintf(foot, sizeof foot, "output = sum of weight x value (weights: %s)",
                 m->raw_weights ? "the raw scores" : "softmax of scores");
    if (shown < k) snprintf(foot + strlen(foot), sizeof foot - strlen(foot), "; %d more not shown", k - shown);
    um_draw_text(c, body.x, fy, foot, UM_THEME_TEXT_DIM, 1);
    if (m->n_virtual > 0) {  // IVE: what the row:block column means
        um_draw_textf(c, body.x, fy + UM_TEXT_LINE_H, UM_THEME_TEXT_DIM, 1,
                      "row:block = physical value row : IVE block (of %d), each block projected", m->n_virtual);
        fy += UM_TEXT_LINE_H;
    }
    if (vec_w > 8 && vd > 0)
        um_draw_colorbar(c, um_rect(x_vec, fy + UM_TEXT_LINE_H - 2, vec_w < 120 ? vec_w : 120, 0), UM_CMAP_DIVERGING,
                         lo, hi, "%+.2f");
}

// ---------------------------------------------------------------- memory access
void draw_memory_access(UmCanvas *c, UmRect r, const VizSnapshot *s) {
    const VizRetrieval *m = &s->mem;
    if (!m->present) {
        draw_no_data(c, r, "memory reads", "no product-key memory in this layer");
        return;
    }
    char title[128];
    const char *per = m->reads_side > 0 ? "value row" : "slot";
    if (m->window_steps > 0)
        snprintf(title, sizeof title, "memory reads per %s, last %d steps (log scale)", per, m->window_steps);
    else
        snprintf(title, sizeof title, "memory reads per %s for this text (log scale)", per);
    UmRect body = um_draw_panel(c, r, title);
    int n = m->reads_side > 0 ? m->reads_side : m->n;  // UltraMem: physical value rows
    int stats_h = 4 * UM_TEXT_LINE_H + 4, bar_w = 52;
    int side = body.w - bar_w - 8;
    if (body.h - stats_h - 12 < side) side = body.h - stats_h - 12;
    if (side < 8) return;
    UmRect heat = um_rect(body.x, body.y + 12, side, side);
    UmHeatmapStyle st = {.map = UM_CMAP_VIRIDIS, .scale = UM_SCALE_LOG1P, .vmin = 0};
    float lo, hi;
    um_draw_heatmap(c, heat, m->reads, n, n, &st, &lo, &hi);
    char cap[96];
    if (m->reads_side > 0)
        snprintf(cap, sizeof cap, "%d x %d value rows (physical): row = i*%d + j", n, n, n);
    else
        snprintf(cap, sizeof cap, "%d x %d slots: slot = row*%d + col", n, n, n);
    um_draw_text(c, body.x, body.y, cap, UM_THEME_TEXT_DIM, 1);
    um_draw_colorbar(c, um_rect(heat.x + heat.w + 8, heat.y, bar_w, heat.h), st.map, lo, hi, "%.0f");

    int y = heat.y + heat.h + 6;
    int n_slots = n * n;
    uint32_t warn = um_rgb(255, 170, 60);
    um_draw_textf(c, body.x, y, m->usage_pct < 50 && m->window_steps > 0 ? warn : UM_THEME_TEXT, 1, "usage %.1f%% of %d %s",
                  m->usage_pct, n_slots, m->reads_side > 0 ? "rows" : "slots");
    if (m->window_steps > 0)
        um_draw_textf(c, body.x + body.w / 2, y, m->dead_slots > n_slots / 2 ? warn : UM_THEME_TEXT, 1,
                      "dead (never read): %d", m->dead_slots);
    else  // one text read by a trained model: most slots are simply not needed for it
        um_draw_textf(c, body.x + body.w / 2, y, UM_THEME_TEXT, 1, "not read by this text: %d", m->dead_slots);
    um_draw_textf(c, body.x, y + UM_TEXT_LINE_H, UM_THEME_TEXT, 1, "KL to uniform %.3f nats (max %.2f)",
                  m->kl_uniform, log((double)n_slots));
    um_draw_textf(c, body.x, y + 2 * UM_TEXT_LINE_H, UM_THEME_TEXT_DIM, 1,
                  "%.0f reads (tokens x heads x k)%s", m->window_reads,
                  m->window_steps > 0 ? " in the window" : "");
    um_draw_text(c, body.x, y + 3 * UM_TEXT_LINE_H, "even colour = healthy; dark = dead slots; few bright = collapse",
                 UM_THEME_TEXT_DIM, 1);
}
