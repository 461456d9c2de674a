// panels_frame.c: the frame around the panels, and the panel layouts.
//
//   +--------------------------------------------------------------+
//   | status: step, losses, speed, selected layer/head/token, keys |
//   | text:   ...the bytes around the [s]elected token...           |
//   +--------------------+--------------------+--------------------+
//   |      panels of the current layout (Tab cycles layouts)      |
//   +--------------------+--------------------+--------------------+
#include <stdio.h>
#include <string.h>

#include "colormap.h"
#include "panels.h"
#include "plot.h"
#include "text.h"
#include "theme.h"

#define STATUS_H 22
#define CONTEXT_H 46
#define GAP 6

const char *viz_layout_name(int layout) {
    static const char *names[VIZ_LAYOUT_COUNT] = {"overview", "retrieval", "memory", "training"};
    return layout >= 0 && layout < VIZ_LAYOUT_COUNT ? names[layout] : "?";
}

static const char *selected_layer_name(const VizSnapshot *s, char *buf, size_t len) {
    if (s->n_layers <= 0) {
        snprintf(buf, len, "dense model (no sparse layer)");
        return buf;
    }
    snprintf(buf, len, "layer %d/%d: %s in block %d", s->layer + 1, s->n_layers,
             viz_layer_kind_name(s->layer_kind[s->layer]), s->layer_block[s->layer]);
    return buf;
}

void draw_status_bar(UmCanvas *c, UmRect r, const VizSnapshot *s) {
    um_fill_rect(c, r, UM_THEME_TITLE_BG);
    char line[256], lay[96];
    int used = 0;
    if (s->training)
        used = snprintf(line, sizeof line, "%s  step %d/%d   train %.3f", s->title ? s->title : "", s->step,
                        s->total_steps, s->train_loss);
    else
        used = snprintf(line, sizeof line, "%s  (checkpoint, no training)", s->title ? s->title : "");
    if (s->training && s->val_loss >= 0) used += snprintf(line + used, sizeof line - used, "  val %.3f", s->val_loss);
    if (s->training && s->tokens_per_s > 0)
        used += snprintf(line + used, sizeof line - used, "   %.1fk tok/s", s->tokens_per_s / 1e3);
    snprintf(line + used, sizeof line - used, "   |  %s   head %d   token %d", selected_layer_name(s, lay, sizeof lay),
             s->head, s->token);
    UmRect in = um_rect(r.x + 8, r.y, r.w - 16, r.h);
    um_draw_text_in(c, in, line, UM_THEME_TEXT, 1, UM_ALIGN_START, UM_ALIGN_CENTER);
    const char *state = !s->training ? "H: help" : s->finished ? "FINISHED   H: help"
                                                 : s->paused     ? "PAUSED (space: resume, S: step)   H: help"
                                                                 : "RUNNING   H: help";
    uint32_t col = s->paused ? um_rgb(255, 170, 60) : UM_THEME_TEXT_DIM;
    um_draw_text_in(c, in, state, col, 1, UM_ALIGN_END, UM_ALIGN_CENTER);
}

// Bytes are drawn at scale 2 in fixed cells, so a column is a byte.
void draw_text_context(UmCanvas *c, UmRect r, const VizSnapshot *s) {
    um_fill_rect(c, r, UM_THEME_PANEL);
    um_draw_rect(c, r, 1, UM_THEME_BORDER);
    if (s->ctx_len <= 0) {
        um_draw_text_in(c, um_rect_inset(r, 8), "(no text yet)", UM_THEME_TEXT_DIM, 1, UM_ALIGN_START,
                        UM_ALIGN_CENTER);
        return;
    }
    int cell = 14, y = r.y + 6, x0 = r.x + 8;
    int cells = (r.w - 16) / cell;
    int t = s->token < 0 ? 0 : s->token >= s->ctx_len ? s->ctx_len - 1 : s->token;
    // Keep the selected byte at about 2/3 of the strip: the past matters more.
    int first = t - cells * 2 / 3;
    if (first + cells > s->ctx_len) first = s->ctx_len - cells;
    if (first < 0) first = 0;
    for (int i = first; i < s->ctx_len && i < first + cells; i++) {
        int x = x0 + (i - first) * cell;
        unsigned char b = s->ctx[i];
        uint32_t ink = i < t ? UM_THEME_TEXT : UM_THEME_TEXT_DIM;  // the future is dim: the model has not seen it
        if (i == t) {
            um_fill_rect(c, um_rect(x - 1, y - 3, cell, 20), UM_THEME_MARK);
            ink = UM_THEME_HIGHLIGHT;
        }
        if (i == t + 1) um_fill_rect(c, um_rect(x, y + 17, cell - 2, 2), UM_THEME_HIGHLIGHT);
        if (b >= 33 && b < 127) {
            char one[2] = {(char)b, 0};
            um_draw_text(c, x + 1, y, one, ink, 2);
        } else if (b != ' ') {  // newline, tab, other bytes: a small escape
            char buf[8];
            um_draw_text(c, x, y + 4, viz_byte_label(b, buf), i == t ? ink : UM_THEME_AXIS, 1);
        }
    }
    char cap[300], b8[8];
    int n = snprintf(cap, sizeof cap,
                     "token %d of %d ('%s', red): the sparse layer reads the model's state after this byte; "
                     "underlined: the byte it helps predict",
                     t, s->ctx_len, viz_byte_label(s->ctx[t], b8));
    if (s->ctx_source && n > 0 && n < (int)sizeof cap) snprintf(cap + n, sizeof cap - n, "   [%s]", s->ctx_source);
    um_draw_text(c, x0, r.y + r.h - UM_TEXT_CAP_H - 5, cap, UM_THEME_TEXT_DIM, 1);
}

static const char *HELP[][2] = {
    {"space", "pause / resume training"},
    {"S", "single step (pauses)"},
    {"[  ]", "previous / next sparse layer"},
    {"up  down", "next / previous head"},
    {"left  right", "previous / next token (shift: 8 at a time)"},
    {"home  end", "first / last token"},
    {"tab, 1-4", "panel layout: overview, retrieval, memory, training"},
    {"P", "save this frame as a PNG"},
    {"H or F1", "show / hide this help"},
    {"Q or esc", "quit (training stops and saves its checkpoint)"},
};

void draw_help_overlay(UmCanvas *c, UmRect r) {
    int n = (int)(sizeof HELP / sizeof HELP[0]);
    int w = 470, h = 44 + n * 16;
    UmRect box = um_rect(r.x + (r.w - w) / 2, r.y + (r.h - h) / 2, w, h);
    um_fill_rect(c, r, um_rgba(0, 0, 0, 140));  // dim what is behind
    UmRect body = um_draw_panel(c, box, "keys");
    for (int i = 0; i < n; i++) {
        int y = body.y + 4 + i * 16;
        um_draw_text(c, body.x + 6, y, HELP[i][0], UM_THEME_HIGHLIGHT, 1);
        um_draw_text(c, body.x + 110, y, HELP[i][1], UM_THEME_TEXT, 1);
    }
}

// ---------------------------------------------------------------- layouts
typedef void (*PanelFn)(UmCanvas *, UmRect, const VizSnapshot *);

// A panel placed on a 12 x 12 grid of the panel area: columns x0..x1, rows y0..y1.
typedef struct {
    PanelFn draw;
    int x0, y0, x1, y1;
} Placed;

// The panels of each layout, for a memory layer (PKM, UltraMem, V2), a MoE
// layer, and a dense model. Ends at draw == NULL.
static const Placed *layout_panels(int layout, int kind, int dense) {
    static const Placed mem[VIZ_LAYOUT_COUNT][8] = {
        {{draw_key_scores, 0, 0, 4, 7}, {draw_selected_values, 4, 0, 8, 7}, {draw_memory_access, 8, 0, 12, 7},
         {draw_loss_curves, 0, 7, 6, 12}, {draw_tokens_per_s, 6, 7, 9, 12}, {draw_tucker_sv, 9, 7, 12, 12}},
        {{draw_key_scores, 0, 0, 7, 7}, {draw_selected_values, 7, 0, 12, 7}, {draw_memory_access, 0, 7, 4, 12},
         {draw_loss_curves, 4, 7, 12, 12}},
        {{draw_memory_access, 0, 0, 6, 12}, {draw_key_scores, 6, 0, 12, 6}, {draw_loss_curves, 6, 6, 12, 12}},
        {{draw_loss_curves, 0, 0, 12, 7}, {draw_tokens_per_s, 0, 7, 4, 12}, {draw_tucker_sv, 4, 7, 8, 12},
         {draw_memory_access, 8, 7, 12, 12}},
    };
    static const Placed moe[VIZ_LAYOUT_COUNT][8] = {
        {{draw_router_probs, 0, 0, 5, 7}, {draw_expert_loads, 5, 0, 12, 7}, {draw_loss_curves, 0, 7, 8, 12},
         {draw_tokens_per_s, 8, 7, 12, 12}},
        {{draw_router_probs, 0, 0, 6, 12}, {draw_expert_loads, 6, 0, 12, 12}},
        {{draw_expert_loads, 0, 0, 12, 7}, {draw_loss_curves, 0, 7, 12, 12}},
        {{draw_loss_curves, 0, 0, 12, 7}, {draw_tokens_per_s, 0, 7, 6, 12}, {draw_expert_loads, 6, 7, 12, 12}},
    };
    static const Placed none[2][4] = {
        {{draw_loss_curves, 0, 0, 8, 12}, {draw_tokens_per_s, 8, 0, 12, 6}, {draw_key_scores, 8, 6, 12, 12}},
        {{draw_loss_curves, 0, 0, 12, 8}, {draw_tokens_per_s, 0, 8, 12, 12}},
    };
    if (layout < 0 || layout >= VIZ_LAYOUT_COUNT) layout = 0;
    if (dense) return none[layout == VIZ_LAYOUT_TRAINING];
    return kind == VIZ_LAYER_MOE ? moe[layout] : mem[layout];
}

void draw_frame(UmCanvas *c, const VizSnapshot *s, int layout, int show_help) {
    um_canvas_clear(c, UM_THEME_BG);
    UmRect all = um_canvas_rect(c);
    draw_status_bar(c, um_rect(0, 0, all.w, STATUS_H), s);
    draw_text_context(c, um_rect(GAP, STATUS_H + GAP, all.w - 2 * GAP, CONTEXT_H), s);
    UmRect area = um_rect(GAP, STATUS_H + CONTEXT_H + 2 * GAP, all.w - GAP, all.h - STATUS_H - CONTEXT_H - 2 * GAP);
    int kind = s->n_layers > 0 ? s->layer_kind[s->layer] : -1;
    const Placed *p = layout_panels(layout, kind, s->n_layers <= 0);
    for (; p->draw; p++) {
        int x0 = area.x + area.w * p->x0 / 12, x1 = area.x + area.w * p->x1 / 12;
        int y0 = area.y + area.h * p->y0 / 12, y1 = area.y + area.h * p->y1 / 12;
        PanelFn draw = p->draw;
        // A checkpoint being inspected has no loss history: an UltraMem
        // layer's Tucker core is more use in that place.
        if (draw == draw_loss_curves && !s->training && s->tucker.n > 0) draw = draw_tucker_sv;
        draw(c, um_rect(x0, y0, x1 - x0 - GAP, y1 - y0 - GAP), s);
    }
    if (show_help) draw_help_overlay(c, all);
}
