// panels_training.c: how the run is going, and how it compares.
//
// Loss curves are drawn for this run and for the runs saved before it (their
// histories are read from out/runs/*.tsv by the session), so "does the memory
// layer help?" is answered on one set of axes, in the same units: nats per
// byte of the training text (divide by ln 2 = 0.693 for bits per byte).
#include <math.h>
#include <stdio.h>

#include "colormap.h"
#include "panels.h"
#include "plot.h"
#include "text.h"
#include "theme.h"

// Colours: this run's train loss is series 0, its validation series 1; each
// saved run takes one colour (2, 3, ...) for both curves, its train curve
// drawn translucent so the live run stays in front.
void draw_loss_curves(UmCanvas *c, UmRect r, const VizSnapshot *s) {
    const VizHistory *h = &s->hist;
    if (h->n == 0 && s->n_previous == 0) {
        draw_no_data(c, r, "loss", s->training ? "no steps yet" : "inspecting a checkpoint: no training here");
        return;
    }
    char title[128];
    if (s->val_loss >= 0)
        snprintf(title, sizeof title, "loss (nats/byte): train %.3f, validation %.3f = %.3f bits/byte", s->train_loss,
                 s->val_loss, s->val_loss / log(2.0));
    else
        snprintf(title, sizeof title, "loss (nats/byte): train %.3f", s->train_loss);
    UmRect body = um_draw_panel(c, r, title);
    UmSeries ser[2 + 2 * VIZ_MAX_RUNS];
    static char labels[2 * VIZ_MAX_RUNS][64];
    int ns = 0;
    for (int p = 0; p < s->n_previous && p < VIZ_MAX_RUNS; p++) {
        const VizHistory *q = &s->previous[p];
        uint32_t col = um_series_color(2 + p);
        // Saved runs: dimmer (alpha) so the live run stays in front.
        uint32_t dim = um_rgba(um_channel(col, 0), um_channel(col, 1), um_channel(col, 2), 150);
        snprintf(labels[2 * p], 64, "%s", q->name);
        if (q->n > 0) ser[ns++] = (UmSeries){q->step, q->train, q->n, dim, labels[2 * p]};
        if (q->val_n > 0) ser[ns++] = (UmSeries){q->val_step, q->val, q->val_n, col, NULL};
    }
    static char cur_train[64], cur_val[64];
    snprintf(cur_train, sizeof cur_train, "%s train", h->name[0] ? h->name : "this run");
    snprintf(cur_val, sizeof cur_val, "%s val", h->name[0] ? h->name : "this run");
    if (h->n > 0) ser[ns++] = (UmSeries){h->step, h->train, h->n, um_series_color(0), cur_train};
    if (h->val_n > 0) ser[ns++] = (UmSeries){h->val_step, h->val, h->val_n, um_series_color(1), cur_val};
    UmLinePlotStyle st = {.log_y = 1, .line_width = 2, .legend = 1, .x_label = "step",
                          .y_label = "nats/byte (log axis)"};
    if (s->total_steps > 0) st.x_min = 0, st.x_max = s->total_steps;
    um_draw_line_plot(c, body, ser, ns, &st);
}

void draw_tokens_per_s(UmCanvas *c, UmRect r, const VizSnapshot *s) {
    const VizHistory *h = &s->hist;
    if (h->n == 0) {
        draw_no_data(c, r, "speed", s->training ? "no steps yet" : "inspecting a checkpoint: no training here");
        return;
    }
    char title[96];
    snprintf(title, sizeof title, "training speed: %.0f tokens/s now", s->tokens_per_s);
    UmRect body = um_draw_panel(c, r, title);
    UmSeries ser = {h->step, h->tokens_per_s, h->n, um_series_color(4), NULL};
    UmLinePlotStyle st = {.x_label = "step", .y_label = "tokens (bytes) per second"};
    if (s->total_steps > 0) st.x_min = 0, st.x_max = s->total_steps;
    um_draw_line_plot(c, body, &ser, 1, &st);
}

void draw_tucker_sv(UmCanvas *c, UmRect r, const VizSnapshot *s) {
    const VizTuckerHistory *t = &s->tucker;
    if (t->n == 0) {
        draw_no_data(c, r, "Tucker core",
                     "no Tucker core in this layer\n(UltraMem with TDQKR has one):\nthe singular values of its\n"
                     "r x r core (summed over cores)\nare plotted here");
        return;
    }
    char title[128];
    snprintf(title, sizeof title, "Tucker core, head %d: singular values", s->head);
    UmRect body = um_draw_panel(c, r, title);
    static float sv[VIZ_MAX_RANK][VIZ_MAX_HIST];
    static char labels[VIZ_MAX_RANK][16];
    UmSeries ser[VIZ_MAX_RANK];
    for (int j = 0; j < t->rank; j++) {
        for (int i = 0; i < t->n; i++) sv[j][i] = t->sv[i][j];
        snprintf(labels[j], sizeof labels[j], "sigma_%d", j + 1);
        ser[j] = (UmSeries){t->step, sv[j], t->n, um_series_color(j), labels[j]};
    }
    int foot = 2 * UM_TEXT_LINE_H + 4;
    UmRect plot = um_rect(body.x, body.y, body.w, body.h - foot);
    if (t->n == 1) {  // a checkpoint (um viz): one moment, so bars, one per singular value
        uint32_t colors[VIZ_MAX_RANK];
        const char *names[VIZ_MAX_RANK];
        for (int j = 0; j < t->rank; j++) colors[j] = um_series_color(j), names[j] = labels[j];
        UmBarStyle bs = {.colors = colors, .labels = names, .y_label = "singular value (this checkpoint)"};
        int w = plot.w < 80 * t->rank + 60 ? plot.w : 80 * t->rank + 60;  // not one huge bar
        um_draw_bar_chart(c, um_rect(plot.x, plot.y, w, plot.h), t->sv[0], t->rank, &bs);
    } else {
        UmLinePlotStyle st = {.line_width = 2, .legend = 1, .x_label = "step", .y_label = "singular value"};
        if (s->total_steps > 0) st.x_min = 0, st.x_max = s->total_steps;
        um_draw_line_plot(c, plot, ser, t->rank, &st);
    }
    // The latest values in words: a checkpoint (um viz) has only one point.
    char now[128];
    int len = snprintf(now, sizeof now, "now:");
    for (int j = 0; j < t->rank && len < (int)sizeof now; j++)
        len += snprintf(now + len, sizeof now - (size_t)len, " sigma_%d %.3f,", j + 1, t->sv[t->n - 1][j]);
    if (t->rank > 1 && t->sv[t->n - 1][0] > 0 && len < (int)sizeof now)
        snprintf(now + len, sizeof now - (size_t)len, " ratio %.2f", t->sv[t->n - 1][1] / t->sv[t->n - 1][0]);
    else if (len > 0 && now[len - 1] == ',')
        now[len - 1] = 0;
    um_draw_text(c, body.x, body.y + body.h - UM_TEXT_LINE_H - UM_TEXT_CAP_H, now, UM_THEME_TEXT, 1);
    um_draw_text(c, body.x, body.y + body.h - UM_TEXT_CAP_H,
                 "small ratio: rank-1 selection ~ exact",
                 UM_THEME_TEXT_DIM, 1);
}
