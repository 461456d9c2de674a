// test_panels.c: the visualiser's panels (viz/panels*.c) and snapshot plumbing.
//
// Suites:
//   viz_snapshot   history thinning, read statistics, the triple-buffer exchange.
//   viz_capture    probes attached to a real (nano) model and copied into a
//                  snapshot: UltraMem's Tucker grid, winners, reads, core.
//   panels_golden  every panel drawn from a fixed, hand-filled snapshot (no
//                  model, no SDL) and compared pixel for pixel with
//                  tests/golden/panel_<name>.png. On a mismatch the test writes
//                  out/golden/panel_<name>.actual.png and .diff.png (differing
//                  pixels red over a dimmed golden) and fails with the count.
//
// Re-recording after an intended change of a panel:
//   make bin/test_f32 && UM_RECORD_GOLDEN=1 CK_RUN_SUITE=panels_golden bin/test_f32
// then LOOK at every tests/golden/panel_*.png before committing them.
//
// The snapshots are filled from an integer hash (no libm on the way to the
// data, except expf in the softmax, whose inputs are exact small values), so
// the images are the same with gcc and clang at any optimisation level.
#include <check.h>

#include "helpers/golden.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "canvas.h"
#include "capture.h"
#include "colormap.h"
#include "model/config.h"
#include "panels.h"
#include "png.h"
#include "snapshot.h"
#include "theme.h"

// ================================================================ fixtures

static float hashf(uint32_t i) {  // deterministic value in [-1, 1)
    uint32_t x = i * 2654435761u + 0x9e3779b9u;
    x ^= x >> 15;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    return (float)(x & 0xffff) / 32768.0f - 1.0f;
}

// Indices of the k largest of v[0..n), best first (lower index wins ties).
static void top_k(const float *v, int n, int k, int *out) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int used = 0;
            for (int q = 0; q < j; q++) used |= out[q] == i;
            if (!used && (best < 0 || v[i] > v[best])) best = i;
        }
        out[j] = best;
    }
}

static const char TEXT[] =
    "Q: What did the fox say?\nA: Nothing; it was busy reading the memory of a tiny transformer, slot by slot.";

// A PKM-like retrieval (or, with tucker, an UltraMem-like one with 2 cores
// and 4 virtual blocks) for n keys per side and top-k, done the real way:
// best k rows and columns, then the best k of their k*k pairs.
static void fill_retrieval(VizSnapshot *s, int n, int k, int tucker) {
    VizRetrieval *m = &s->mem;
    memset(m, 0, sizeof *m);
    m->present = 1, m->kind = tucker ? VIZ_LAYER_ULTRAMEM : VIZ_LAYER_PKM, m->tucker = tucker;
    m->n = n, m->k = k, m->head = 1, m->n_heads = 4, m->token = s->token;
    for (int i = 0; i < n; i++) m->row_scores[i] = 1.2f * hashf(i), m->col_scores[i] = 1.2f * hashf(500 + i);
    // Tucker: a rank-2 core, grid = a*(r_i c_j) + b*(r'_i c'_j) with a second pair of score vectors.
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            m->grid[i * n + j] = tucker ? m->row_scores[i] * m->col_scores[j] + 0.3f * hashf(900 + i) * hashf(1300 + j)
                                        : m->row_scores[i] + m->col_scores[j];
    top_k(m->row_scores, n, k, m->grid_rows);
    top_k(m->col_scores, n, k, m->grid_cols);
    float cand[VIZ_MAX_K * VIZ_MAX_K];
    int win[VIZ_MAX_K];
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) cand[a * k + b] = m->grid[m->grid_rows[a] * n + m->grid_cols[b]];
    top_k(cand, k * k, k, win);
    float z = 0;
    for (int q = 0; q < k; q++) {
        int row = m->grid_rows[win[q] / k], col = m->grid_cols[win[q] % k];
        m->slots[q] = row * n + col;
        m->scores[q] = cand[win[q]];
        m->weights[q] = expf(2.0f * (m->scores[q] - cand[win[0]]));
        z += m->weights[q];
    }
    for (int q = 0; q < k; q++) m->weights[q] /= z;
    if (tucker) {
        m->n_cores = 2, m->n_virtual = 4;
        for (int q = 0; q < k; q++) {
            m->core_weights[0][q] = m->weights[q] * (1.0f + 0.5f * hashf(40 + q));
            m->core_weights[1][q] = m->weights[q] * (1.0f + 0.5f * hashf(80 + q));
            m->virtual_block[q] = (int)((hashf(120 + q) + 1.0f) * 2.0f) & 3;
            m->phys[q] = (int)((hashf(160 + q) + 1.0f) * 72.0f) % 144;  // a 12 x 12 value table
        }
        m->reads_side = n / 2;  // reads per physical value row (UltraMem), not per virtual slot
    }
    m->value_dim = 128, m->value_dim_shown = 48;
    for (int q = 0; q < k; q++)
        for (int d = 0; d < m->value_dim_shown; d++) m->values[q][d] = 0.05f * hashf(3000 + 97 * q + d);
    // Reads: most slots a few times, a dead patch, a few hot slots.
    int rn = m->reads_side > 0 ? m->reads_side : n;
    for (int i = 0; i < rn * rn; i++) {
        float u = (hashf(7 * i + 3) + 1.0f) * 0.5f;
        m->reads[i] = (float)(int)(u * u * 20.0f);
    }
    for (int i = 0; i < rn / 4; i++)
        for (int j = 0; j < rn / 3; j++) m->reads[(rn / 2 + i) * rn + j] = 0;
    m->reads[3 * rn + 5] = 5000, m->reads[(rn - 2) * rn + rn / 2] = 2000;
    m->window_steps = 200;
    m->window_reads = 0;
    for (int i = 0; i < rn * rn; i++) m->window_reads += m->reads[i];
    viz_read_stats(m->reads, rn * rn, &m->usage_pct, &m->kl_uniform, &m->dead_slots);
}

static void fill_moe(VizSnapshot *s, int X, int k) {
    VizMoe *m = &s->moe;
    memset(m, 0, sizeof *m);
    m->present = 1, m->X = X, m->k = k, m->n_tokens = 24, m->first_token = s->token - 16, m->selected = 16;
    for (int t = 0; t < m->n_tokens; t++) {
        float z = 0, p[VIZ_MAX_X];
        for (int e = 0; e < X; e++) z += p[e] = expf(2.5f * hashf(100 * t + e));
        for (int e = 0; e < X; e++) m->probs[t][e] = p[e] / z;
        top_k(m->probs[t], X, k, m->chosen[t]);
        m->bytes[t] = (unsigned char)TEXT[m->first_token + t];
    }
    float load[VIZ_MAX_X];
    for (int i = 0; i < 60; i++) {
        float z = 0;
        for (int e = 0; e < X; e++) z += load[e] = 1.0f + (e == 2 ? 2.0f * (60 - i) / 60.0f : 0) + 0.3f * hashf(i * 31 + e);
        for (int e = 0; e < X; e++) load[e] /= z;
        viz_moe_history_add(m, (float)(10 * i), load);
    }
}

static void fill_history(VizHistory *h, const char *name, float floor_, int steps, int eval_every) {
    memset(h, 0, sizeof *h);
    snprintf(h->name, sizeof h->name, "%s", name);
    for (int i = 1; i <= steps; i++) {
        float t = i / 150.0f;
        float loss = floor_ + 4.0f / (1.0f + t * t * 0.5f + t) + 0.03f * hashf(i);
        viz_history_add(h, (float)i, loss, 21000.0f + 1500.0f * hashf(7000 + i / 10));
        if (i % eval_every == 0) viz_history_add_val(h, (float)i, loss + 0.08f);
    }
}

static VizHistory PREVIOUS[2];

static VizSnapshot *fixture(int kind) {
    VizSnapshot *s = viz_snapshot_new();
    ck_assert_ptr_nonnull(s);
    s->title = "pkm tiny";
    s->training = 1, s->step = 600, s->total_steps = 1000;
    s->train_loss = 1.71, s->val_loss = 1.79, s->tokens_per_s = 21400;
    s->ctx_len = (int)strlen(TEXT);
    memcpy(s->ctx, TEXT, (size_t)s->ctx_len);
    s->token = 40, s->head = 1;
    s->n_layers = 2;
    s->layer_kind[0] = VIZ_LAYER_PKM, s->layer_block[0] = 1;
    s->layer_kind[1] = VIZ_LAYER_MOE, s->layer_block[1] = 2;
    fill_history(&s->hist, "pkm", 1.45f, 600, 100);
    fill_history(&PREVIOUS[0], "dense", 1.6f, 1000, 100);
    fill_history(&PREVIOUS[1], "moe", 1.5f, 1000, 100);
    s->previous = PREVIOUS, s->n_previous = 2;
    if (kind == VIZ_LAYER_PKM) fill_retrieval(s, 32, 8, 0);
    if (kind == 100) fill_retrieval(s, 128, 16, 0);  // the tiny preset's size: the split view
    if (kind == VIZ_LAYER_ULTRAMEM) {
        fill_retrieval(s, 24, 6, 1);
        s->layer_kind[0] = VIZ_LAYER_ULTRAMEM;
        float sv[2];
        for (int i = 0; i < 60; i++) {
            sv[0] = 1.0f + i / 30.0f, sv[1] = 0.8f * (1.0f - i / 80.0f);
            viz_tucker_add(&s->tucker, (float)(10 * i), sv, 2);
        }
    }
    if (kind == VIZ_LAYER_MOE) {
        fill_moe(s, 8, 2);
        s->layer = 1;
    }
    return s;
}

// ================================================================ golden check
// Panel goldens are tests/golden/panel_<name>.png.
static void check_golden_panel(const UmCanvas *c, const char *name) {
    char full[128];
    snprintf(full, sizeof full, "panel_%s", name);
    check_golden(c, full);
}

typedef void (*PanelFn)(UmCanvas *, UmRect, const VizSnapshot *);

// Draw one panel into a w x h canvas with a margin, and check it.
static void golden_panel(PanelFn fn, int kind, int w, int h, const char *name) {
    VizSnapshot *s = fixture(kind);
    UmCanvas c;
    ck_assert_int_eq(um_canvas_create(&c, w, h, NULL), 0);
    um_canvas_clear(&c, UM_THEME_BG);
    fn(&c, um_rect(6, 6, w - 12, h - 12), s);
    check_golden_panel(&c, name);
    um_canvas_free(&c);
    viz_snapshot_free(s);
}

// ================================================================ golden tests
START_TEST(test_key_scores_pkm) { golden_panel(draw_key_scores, VIZ_LAYER_PKM, 440, 400, "key_scores_pkm"); }
END_TEST
START_TEST(test_key_scores_large) { golden_panel(draw_key_scores, 100, 440, 400, "key_scores_large"); }
END_TEST
START_TEST(test_key_scores_ultramem) {
    golden_panel(draw_key_scores, VIZ_LAYER_ULTRAMEM, 440, 400, "key_scores_ultramem");
}
END_TEST
START_TEST(test_selected_values_pkm) {
    golden_panel(draw_selected_values, VIZ_LAYER_PKM, 560, 260, "selected_values_pkm");
}
END_TEST
START_TEST(test_selected_values_mcs) {
    golden_panel(draw_selected_values, VIZ_LAYER_ULTRAMEM, 560, 220, "selected_values_mcs");
}
END_TEST
START_TEST(test_memory_access) { golden_panel(draw_memory_access, VIZ_LAYER_PKM, 440, 420, "memory_access"); }
END_TEST
START_TEST(test_memory_access_ultramem) {  // reads per physical value row
    golden_panel(draw_memory_access, VIZ_LAYER_ULTRAMEM, 440, 420, "memory_access_ultramem");
}
END_TEST
START_TEST(test_router_probs) { golden_panel(draw_router_probs, VIZ_LAYER_MOE, 440, 420, "router_probs"); }
END_TEST
START_TEST(test_expert_loads) { golden_panel(draw_expert_loads, VIZ_LAYER_MOE, 640, 300, "expert_loads"); }
END_TEST
START_TEST(test_loss_curves) { golden_panel(draw_loss_curves, VIZ_LAYER_PKM, 640, 320, "loss_curves"); }
END_TEST
START_TEST(test_tokens_per_s) { golden_panel(draw_tokens_per_s, VIZ_LAYER_PKM, 440, 240, "tokens_per_s"); }
END_TEST
START_TEST(test_tucker_sv) { golden_panel(draw_tucker_sv, VIZ_LAYER_ULTRAMEM, 520, 260, "tucker_sv"); }
END_TEST
START_TEST(test_no_data) {  // a dense model: panels explain what is missing
    golden_panel(draw_key_scores, -1, 440, 200, "no_data");
}
END_TEST
START_TEST(test_text_context) {
    golden_panel(draw_text_context, VIZ_LAYER_PKM, 900, 70, "text_context");
}
END_TEST

// Whole frames: the layouts and the help overlay.
static void golden_frame(int kind, int layout, int help, const char *name) {
    VizSnapshot *s = fixture(kind);
    UmCanvas c;
    ck_assert_int_eq(um_canvas_create(&c, 1280, 800, NULL), 0);
    draw_frame(&c, s, layout, help);
    check_golden_panel(&c, name);
    um_canvas_free(&c);
    viz_snapshot_free(s);
}
START_TEST(test_frame_pkm) { golden_frame(VIZ_LAYER_PKM, VIZ_LAYOUT_OVERVIEW, 0, "frame_pkm_overview"); }
END_TEST
START_TEST(test_frame_moe) { golden_frame(VIZ_LAYER_MOE, VIZ_LAYOUT_OVERVIEW, 0, "frame_moe_overview"); }
END_TEST
START_TEST(test_frame_ultramem) {
    golden_frame(VIZ_LAYER_ULTRAMEM, VIZ_LAYOUT_OVERVIEW, 0, "frame_ultramem_overview");
}
END_TEST
START_TEST(test_frame_ultramem_inspect) {  // um viz: the Tucker core takes the loss panel's place
    VizSnapshot *s = fixture(VIZ_LAYER_ULTRAMEM);
    s->training = 0, s->tucker.n = 1;
    UmCanvas c;
    ck_assert_int_eq(um_canvas_create(&c, 1280, 800, NULL), 0);
    draw_frame(&c, s, VIZ_LAYOUT_RETRIEVAL, 0);
    check_golden_panel(&c, "frame_ultramem_inspect");
    um_canvas_free(&c);
    viz_snapshot_free(s);
}
END_TEST
START_TEST(test_frame_help) { golden_frame(VIZ_LAYER_ULTRAMEM, VIZ_LAYOUT_RETRIEVAL, 1, "frame_help"); }
END_TEST

Suite *panels_golden_suite(void) {
    Suite *s = suite_create("panels_golden");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_key_scores_pkm);
    tcase_add_test(tc, test_key_scores_large);
    tcase_add_test(tc, test_key_scores_ultramem);
    tcase_add_test(tc, test_selected_values_pkm);
    tcase_add_test(tc, test_selected_values_mcs);
    tcase_add_test(tc, test_memory_access);
    tcase_add_test(tc, test_memory_access_ultramem);
    tcase_add_test(tc, test_router_probs);
    tcase_add_test(tc, test_expert_loads);
    tcase_add_test(tc, test_loss_curves);
    tcase_add_test(tc, test_tokens_per_s);
    tcase_add_test(tc, test_tucker_sv);
    tcase_add_test(tc, test_no_data);
    tcase_add_test(tc, test_text_context);
    tcase_add_test(tc, test_frame_pkm);
    tcase_add_test(tc, test_frame_moe);
    tcase_add_test(tc, test_frame_ultramem);
    tcase_add_test(tc, test_frame_ultramem_inspect);
    tcase_add_test(tc, test_frame_help);
    suite_add_tcase(s, tc);
    return s;
}

// ================================================================ snapshot plumbing
START_TEST(test_history_thins_evenly) {
    VizHistory *h = calloc(1, sizeof *h);
    for (int i = 0; i < 5 * VIZ_MAX_HIST; i++) viz_history_add(h, (float)i, 1.0f, 1.0f);
    ck_assert_int_le(h->n, VIZ_MAX_HIST);
    ck_assert_int_ge(h->n, VIZ_MAX_HIST / 2);
    ck_assert_float_eq(h->step[0], 0.0f);
    float gap = h->step[1] - h->step[0];
    for (int i = 1; i < h->n; i++) ck_assert_float_eq(h->step[i] - h->step[i - 1], gap);
    ck_assert_float_ge(h->step[h->n - 1], 5.0f * VIZ_MAX_HIST - 1 - gap);  // spans the whole run
    free(h);
}
END_TEST

START_TEST(test_read_stats) {
    float r[4] = {1, 1, 1, 1};
    double usage, kl;
    int dead;
    viz_read_stats(r, 4, &usage, &kl, &dead);
    ck_assert_double_eq_tol(usage, 100.0, 1e-12);
    ck_assert_double_eq_tol(kl, 0.0, 1e-12);
    ck_assert_int_eq(dead, 0);
    float one[4] = {0, 7, 0, 0};  // one slot takes every read: KL = log 4
    viz_read_stats(one, 4, &usage, &kl, &dead);
    ck_assert_double_eq_tol(usage, 25.0, 1e-12);
    ck_assert_double_eq_tol(kl, log(4.0), 1e-12);
    ck_assert_int_eq(dead, 3);
}
END_TEST

START_TEST(test_exchange_hands_over_latest) {
    VizExchange x;
    ck_assert_int_eq(viz_exchange_init(&x), 0);
    int fresh;
    viz_exchange_take(&x, &fresh);
    ck_assert_int_eq(fresh, 0);  // nothing published yet
    VizSnapshot *b = x.back;
    b->step = 1;
    b = viz_exchange_publish(&x);
    b->step = 2;
    b = viz_exchange_publish(&x);  // the window missed step 1: it gets step 2
    b->step = 3;                   // being written, not published
    VizSnapshot *f = viz_exchange_take(&x, &fresh);
    ck_assert_int_eq(fresh, 1);
    ck_assert_int_eq(f->step, 2);
    ck_assert_ptr_ne(f, b);
    f = viz_exchange_take(&x, &fresh);
    ck_assert_int_eq(fresh, 0);
    ck_assert_int_eq(f->step, 2);
    viz_exchange_free(&x);
}
END_TEST

Suite *viz_snapshot_suite(void) {
    Suite *s = suite_create("viz_snapshot");
    TCase *tc = tcase_create("snapshot");
    tcase_add_test(tc, test_history_thins_evenly);
    tcase_add_test(tc, test_read_stats);
    tcase_add_test(tc, test_exchange_hands_over_latest);
    suite_add_tcase(s, tc);
    return s;
}

// ================================================================ capture from a real model
// A nano UltraMem model (every trick on: TDQKR, MCS, IVE), one forward with
// the taps attached, then what the panels would draw is checked against the
// layer itself.
START_TEST(test_capture_ultramem) {
    UmModelConfig mc;
    UmTrainConfig tc;
    UmError err = {{0}};
    ck_assert_msg(config_preset(&mc, &tc, "nano", arch_from_name("ultramem"), &err) == 0, "%s", err.msg);
    UmModel *model = calloc(1, sizeof *model);
    ck_assert_msg(model_init_batch(model, &mc, 7, 2, &err) == 0, "%s", err.msg);
    VizTaps *taps = calloc(1, sizeof *taps);
    ck_assert_int_eq(viz_taps_attach(taps, model), mc.um_layers);
    const UmUltraMem *l = model->mems[0];
    ck_assert_int_eq(viz_taps_heads(taps, 0), l->cfg.H);
    int T = mc.block_size, token = T / 2, head = l->cfg.H - 1;
    viz_taps_select(taps, token, head);
    int *in = malloc(2 * (size_t)T * sizeof(int));
    for (int i = 0; i < 2 * T; i++) in[i] = "the fox reads the memory "[i % 25];
    model_forward(model, in, NULL, 2, T);
    viz_taps_after_step(taps, 1);
    VizSnapshot *s = viz_snapshot_new();
    viz_capture(s, taps, model, 0, head, token);

    const VizRetrieval *m = &s->mem;
    ck_assert_int_eq(s->layer_kind[0], VIZ_LAYER_ULTRAMEM);
    ck_assert_int_eq(m->present, 1);
    ck_assert_int_eq(m->tucker, l->cfg.tdqkr);
    ck_assert_int_eq(m->n, l->Kn);  // the VIRTUAL grid
    ck_assert_int_eq(m->k, l->cfg.m);
    ck_assert_int_eq(m->head, head);
    ck_assert_int_eq(m->n_cores, l->cfg.cores);
    ck_assert_int_eq(m->n_virtual, l->cfg.E > 1 ? l->cfg.E : 0);
    ck_assert_int_eq(m->reads_side, l->cfg.n);
    ck_assert_int_eq(m->value_dim, l->cfg.Dv);
    size_t o = ((size_t)token * l->cfg.H + head) * l->cfg.m;  // the layer's own record of this query
    for (int q = 0; q < m->k; q++) {
        ck_assert_int_eq(m->slots[q], l->virt[o + q]);
        ck_assert_int_eq(m->phys[q], l->phys[o + q]);
        ck_assert_int_eq(m->virtual_block[q], l->block[o + q]);
        ck_assert_float_eq_tol(m->scores[q], (float)l->total[o + q], 1e-5f);
        // The full grid agrees with the exact rescoring where the layer computed it.
        ck_assert_float_eq_tol(m->grid[m->slots[q]], m->scores[q], 1e-4f);
        ck_assert_float_eq(m->values[q][0], (float)l->values->data[(size_t)l->phys[o + q] * l->cfg.Dv]);
        float w = 0;
        for (int c = 0; c < m->n_cores; c++) w += m->core_weights[c][q];
        ck_assert_float_eq_tol(w, m->weights[q], 1e-5f);
    }
    // The full Kn x Kn grid was computed by hand (every pair): its winners
    // must be at least as good as any other candidate cell.
    for (int a = 0; a < m->k; a++)
        for (int b = 0; b < m->k; b++)
            ck_assert_float_le(m->grid[m->grid_rows[a] * m->n + m->grid_cols[b]], m->scores[0] + 1e-5f);
    // Reads: every token, head and winner of the batch, per physical row.
    ck_assert_double_eq(m->window_reads, 2.0 * T * l->cfg.H * l->cfg.m);
    ck_assert_int_eq(m->window_steps, 1);
    // The Tucker core of the selected head: one point so far.
    ck_assert_int_eq(s->tucker.n, l->cfg.tdqkr ? 1 : 0);
    if (l->cfg.tdqkr) ck_assert_float_eq_tol(s->tucker.sv[0][0], (float)l->svd[head].s[0], 1e-6f);

    // um viz reruns the prompt: a second sample at the same step adds nothing.
    viz_taps_after_step(taps, 1);
    viz_capture(s, taps, model, 0, head, token);
    ck_assert_int_eq(s->tucker.n, l->cfg.tdqkr ? 1 : 0);
    viz_taps_reset_reads(taps);
    viz_capture(s, taps, model, 0, head, token);
    ck_assert_double_eq(s->mem.window_reads, 0.0);

    viz_snapshot_free(s);
    free(in);
    viz_taps_detach(taps);
    ck_assert_ptr_null(model->mems[0]->probe);
    free(taps);
    model_free(model);
    free(model);
}
END_TEST

// UltraMemV2 (one head, in every block) and PEER (H heads, in every block)
// fill the same UmRetrievalProbe as PKM: after one forward the capture of
// block 0 must hold the layer's own winners, and reads of every token.
static UmModel *nano_model(const char *arch, int **in, int *T) {
    UmModelConfig mc;
    UmTrainConfig tc;
    UmError err = {{0}};
    ck_assert_msg(config_preset(&mc, &tc, "nano", arch_from_name(arch), &err) == 0, "%s", err.msg);
    UmModel *model = calloc(1, sizeof *model);
    ck_assert_msg(model_init_batch(model, &mc, 7, 2, &err) == 0, "%s", err.msg);
    *T = mc.block_size;
    *in = malloc(2 * (size_t)*T * sizeof(int));
    for (int i = 0; i < 2 * *T; i++) (*in)[i] = "the fox reads the memory "[i % 25];
    return model;
}

START_TEST(test_capture_ultramem2) {
    int *in, T;
    UmModel *model = nano_model("ultramem2", &in, &T);
    VizTaps *taps = calloc(1, sizeof *taps);
    ck_assert_int_eq(viz_taps_attach(taps, model), model->cfg.n_layers);
    const UmUltraMemV2 *l = model->slots[0].um2;
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(viz_taps_heads(taps, 0), 1);
    int token = T / 2;
    viz_taps_select(taps, token, 0);
    model_forward(model, in, NULL, 2, T);
    viz_taps_after_step(taps, 1);
    VizSnapshot *s = viz_snapshot_new();
    viz_capture(s, taps, model, 0, 0, token);

    const VizRetrieval *m = &s->mem;
    ck_assert_int_eq(s->layer_kind[0], VIZ_LAYER_ULTRAMEM2);
    ck_assert_int_eq(m->present, 1);
    ck_assert_int_eq(m->n, l->Kn);
    ck_assert_int_eq(m->k, l->cfg.m);
    ck_assert_int_eq(m->n_cores, l->cfg.cores);
    ck_assert_int_eq(m->reads_side, l->Kn);
    size_t o = (size_t)token * l->cfg.m;
    for (int q = 0; q < m->k; q++) {
        ck_assert_int_eq(m->slots[q], l->virt[o + q]);
        ck_assert_int_eq(m->phys[q], l->win[o + q]);
        ck_assert_float_eq_tol(m->scores[q], (float)l->total[o + q], 1e-5f);
        ck_assert_float_eq_tol(m->grid[m->slots[q]], m->scores[q], 1e-4f);  // full grid = exact where computed
        float w = 0;
        for (int c = 0; c < m->n_cores; c++) w += m->core_weights[c][q];
        ck_assert_float_eq_tol(w, m->weights[q], 1e-5f);
    }
    // The best winner beats every candidate the layer rescored.
    for (int a = 0; a < m->k; a++)
        for (int b = 0; b < m->k; b++)
            ck_assert_float_le(m->grid[m->grid_rows[a] * m->n + m->grid_cols[b]], m->scores[0] + 1e-5f);
    ck_assert_double_eq(m->window_reads, 2.0 * T * l->cfg.m);
    ck_assert_int_eq(s->tucker.n, 1);  // the summed core's singular values
    ck_assert_float_eq_tol(s->tucker.sv[0][0], (float)l->svd.s[0], 1e-6f);
    viz_snapshot_free(s);
    free(in);
    viz_taps_detach(taps);
    ck_assert_ptr_null(model->slots[0].um2->probe);
    free(taps);
    model_free(model);
    free(model);
}
END_TEST

START_TEST(test_capture_peer) {
    int *in, T;
    UmModel *model = nano_model("peer", &in, &T);
    VizTaps *taps = calloc(1, sizeof *taps);
    ck_assert_int_eq(viz_taps_attach(taps, model), model->cfg.n_layers);
    const UmPeer *l = model->slots[0].peer;
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(viz_taps_heads(taps, 0), l->cfg.H);
    int token = T / 2, head = l->cfg.H - 1;
    viz_taps_select(taps, token, head);
    model_forward(model, in, NULL, 2, T);
    viz_taps_after_step(taps, 1);
    VizSnapshot *s = viz_snapshot_new();
    viz_capture(s, taps, model, 0, head, token);

    const VizRetrieval *m = &s->mem;
    ck_assert_int_eq(s->layer_kind[0], VIZ_LAYER_PEER);
    ck_assert_int_eq(m->present, 1);
    ck_assert_int_eq(m->n, l->cfg.n);
    ck_assert_int_eq(m->k, l->cfg.k);
    ck_assert_int_eq(m->head, head);
    size_t o = ((size_t)token * l->cfg.H + head) * l->cfg.k;
    float wsum = 0;
    for (int q = 0; q < m->k; q++) {
        ck_assert_int_eq(m->slots[q], l->slots[o + q]);
        ck_assert_float_eq_tol(m->scores[q], (float)l->scores[o + q], 1e-5f);
        ck_assert_float_eq_tol(m->grid[m->slots[q]], m->scores[q], 1e-4f);  // additive grid
        ck_assert_float_eq(m->values[q][0], (float)l->down->data[(size_t)l->slots[o + q] * l->D]);
        wsum += m->weights[q];
    }
    ck_assert_float_eq_tol(wsum, 1.0f, 1e-5f);  // softmax gates
    ck_assert_double_eq(m->window_reads, 2.0 * T * l->cfg.H * l->cfg.k);
    viz_snapshot_free(s);
    free(in);
    viz_taps_detach(taps);
    ck_assert_ptr_null(model->slots[0].peer->probe);
    free(taps);
    model_free(model);
    free(model);
}
END_TEST

Suite *viz_capture_suite(void) {
    Suite *s = suite_create("viz_capture");
    TCase *tc = tcase_create("capture");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_capture_ultramem);
    tcase_add_test(tc, test_capture_ultramem2);
    tcase_add_test(tc, test_capture_peer);
    suite_add_tcase(s, tc);
    return s;
}
