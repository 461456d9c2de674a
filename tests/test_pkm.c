// test_pkm.c: product-key search is exact, the PKM layer's forward pass
// matches a direct computation, memory metrics, the probe, determinism.
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/alloc.h"
#include "base/params.h"
#include "base/rng.h"
#include "helpers/testutil.h"
#include "memory/pkm.h"
#include "memory/product_keys.h"
#include "memory/topk.h"
#include "probe/retrieval.h"

// ---------------------------------------------------------------- product keys

// Brute force: score every one of the n*n slots, then take the top-k of the
// flat array (ties: lower slot first).
static void brute_force(int *slots, real *scores, const real *q1, const real *q2, const real *K1, const real *K2,
                        int n, int half, int k) {
    real *s1 = malloc(n * sizeof *s1), *s2 = malloc(n * sizeof *s2), *all = malloc((size_t)n * n * sizeof *all);
    pk_side_scores(s1, q1, K1, n, half);
    pk_side_scores(s2, q2, K2, n, half);
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++) all[r * n + c] = s1[r] + s2[c];
    topk(slots, scores, all, n * n, k);
    free(s1);
    free(s2);
    free(all);
}

// integers > 0: draw small integers instead of normals so scores tie a lot.
static void check_exact(UmRng *rng, int n, int half, int k, int integers) {
    real *K1 = malloc((size_t)n * half * sizeof(real)), *K2 = malloc((size_t)n * half * sizeof(real));
    real q1[64], q2[64], sc[64], sc_ref[64];
    int sl[64], sl_ref[64];
    real *all[] = {K1, K2, q1, q2};
    size_t len[] = {(size_t)n * half, (size_t)n * half, (size_t)half, (size_t)half};
    for (int a = 0; a < 4; a++)
        for (size_t i = 0; i < len[a]; i++)
            all[a][i] = integers ? (real)((int)rng_below(rng, 2 * integers + 1) - integers) : (real)rng_normal(rng);
    UmPkSearch ws;
    pk_search_alloc(&ws, n, half, k);
    pk_search(&ws, sl, sc, q1, q2, K1, K2);
    brute_force(sl_ref, sc_ref, q1, q2, K1, K2, n, half, k);
    for (int j = 0; j < k; j++) {
        ck_assert_msg(sl[j] == sl_ref[j], "n=%d k=%d: rank %d slot %d, brute force %d", n, k, j, sl[j], sl_ref[j]);
        ck_assert(sc[j] == sc_ref[j]);
        // the selected cell of the grid holds that slot and score
        ck_assert_int_eq(ws.grid_slot[ws.sel_cell[j]], sl[j]);
        ck_assert(ws.grid[ws.sel_cell[j]] == sc[j]);
    }
    pk_search_free(&ws);
    free(K1);
    free(K2);
}

START_TEST(test_product_keys_exact) {
    UmRng rng;
    rng_seed(&rng, 11);
    int ns[] = {1, 2, 5, 16, 64};
    int ks[] = {1, 2, 4, 16, 32};
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++) {
            if (ks[b] > ns[a]) continue;
            for (int rep = 0; rep < 20; rep++) check_exact(&rng, ns[a], 1 + rng_below(&rng, 8), ks[b], 0);
        }
}
END_TEST

START_TEST(test_product_keys_exact_with_ties) {
    UmRng rng;
    rng_seed(&rng, 12);
    for (int rep = 0; rep < 300; rep++) {
        int n = 1 + rng_below(&rng, 12), k = 1 + rng_below(&rng, n);
        check_exact(&rng, n, 1 + rng_below(&rng, 3), k, 1 + rng_below(&rng, 2));
    }
}
END_TEST

START_TEST(test_product_keys_backward_accumulates_selected_rows) {
    // n=3, half=1: scores are q1*K1[r] + q2*K2[c]; check dK rows by hand.
    real K1[3] = {1, 3, 2}, K2[3] = {-1, 5, 0}, q1 = 2, q2 = 1;
    int slots[2];
    real scores[2], ds[2] = {10, 100};
    UmPkSearch ws;
    pk_search_alloc(&ws, 3, 1, 2);
    pk_search(&ws, slots, scores, &q1, &q2, K1, K2);
    ck_assert_int_eq(slots[0], 1 * 3 + 1);  // 6 + 5
    ck_assert_int_eq(slots[1], 2 * 3 + 1);  // 4 + 5
    ck_assert(scores[0] == 11 && scores[1] == 9);
    real dq1 = 0, dq2 = 0, dK1[3] = {0}, dK2[3] = {0};
    pk_backward(&dq1, &dq2, dK1, dK2, ds, slots, &q1, &q2, K1, K2, 3, 1, 2);
    ck_assert(dq1 == 10 * 3 + 100 * 2);
    ck_assert(dq2 == 110 * 5);
    ck_assert(dK1[0] == 0 && dK1[1] == 10 * 2 && dK1[2] == 100 * 2);
    ck_assert(dK2[0] == 0 && dK2[1] == 110 * 1 && dK2[2] == 0);
    pk_search_free(&ws);
}
END_TEST

// ---------------------------------------------------------------- the layer

typedef struct {
    UmParamRegistry reg;
    UmPkm pkm;
    real *inp, *out, *dout, *dinp;
    int N, D;
} Fixture;

static UmPkmConfig small_config(void) {
    UmPkmConfig c = um_pkm_config_default();
    c.n = 8;
    c.H = 3;
    c.Dk = 6;
    c.k = 4;
    return c;
}

static void fixture_init(Fixture *f, const UmPkmConfig *cfg, int N, int D, uint64_t seed) {
    UmRng rng;
    rng_seed(&rng, seed);
    params_init(&f->reg);
    um_pkm_init(&f->pkm, cfg, D, N, &f->reg, &rng, "blocks.1.pkm.");
    f->N = N;
    f->D = D;
    f->inp = um_alloc((size_t)N * D * sizeof(real));
    f->out = um_alloc((size_t)N * D * sizeof(real));
    f->dout = um_alloc((size_t)N * D * sizeof(real));
    f->dinp = um_alloc((size_t)N * D * sizeof(real));
    fill_normal(f->inp, (size_t)N * D, &rng, 1);
    fill_normal(f->dout, (size_t)N * D, &rng, 1);
}

static void fixture_free(Fixture *f) {
    um_pkm_free(&f->pkm);
    params_free(&f->reg);
    um_free(f->inp);
    um_free(f->out);
    um_free(f->dout);
    um_free(f->dinp);
}

START_TEST(test_pkm_registers_params_and_groups) {
    UmPkmConfig cfg = small_config();
    cfg.value_lr_mult = 7;
    Fixture f;
    fixture_init(&f, &cfg, 5, 10, 1);
    UmParam *v = params_find(&f.reg, "blocks.1.pkm.values");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->shape[0], 64);
    ck_assert_int_eq(v->shape[1], 10);
    ck_assert_str_eq(f.reg.groups[v->group].name, "memory_values");
    ck_assert(f.reg.groups[v->group].lr_mult == 7);
    ck_assert(f.reg.groups[v->group].weight_decay == 0);
    UmParam *keys = params_find(&f.reg, "blocks.1.pkm.keys");
    ck_assert_int_eq(keys->ndim, 4);
    ck_assert_int_eq(keys->shape[0], 3);
    ck_assert_int_eq(keys->shape[1], 2);
    ck_assert_int_eq(keys->shape[2], 8);
    ck_assert_int_eq(keys->shape[3], 3);
    ck_assert_ptr_nonnull(params_find(&f.reg, "blocks.1.pkm.query.weight"));
    ck_assert_ptr_null(params_find(&f.reg, "blocks.1.pkm.query.bias"));  // bias off by default
    ck_assert_ptr_nonnull(params_find(&f.reg, "blocks.1.pkm.query_norm.weight"));
    ck_assert_ptr_nonnull(params_find(&f.reg, "blocks.1.pkm.query_norm.bias"));
    // a second layer reuses the groups instead of adding new ones
    int groups = f.reg.n_groups;
    UmPkm second;
    UmRng rng;
    rng_seed(&rng, 2);
    um_pkm_init(&second, &cfg, 10, 5, &f.reg, &rng, "blocks.3.pkm.");
    ck_assert_int_eq(f.reg.n_groups, groups);
    um_pkm_free(&second);
    // accounting: query 18*10, norm 2*18, keys 3*2*8*3, values read 3*4*10
    ck_assert_uint_eq(um_pkm_activated_params(&f.pkm), 180 + 36 + 144 + 120);
    ck_assert(um_pkm_flops_per_token(&f.pkm) == 2.0 * 10 * 18 + 2.0 * 3 * 8 * 6 + 3 * 16 + 2.0 * 3 * 4 * 10);
    fixture_free(&f);
}
END_TEST

// Recompute the whole layer for one token the slow way (norm, brute-force
// search over all slots, softmax, weighted sum) and compare.
static void check_forward_one_kind(UmQueryNormKind kind, int bias) {
    UmPkmConfig cfg = small_config();
    cfg.query_norm = kind;
    cfg.query_bias = bias;
    Fixture f;
    fixture_init(&f, &cfg, 7, 10, 3);
    um_pkm_forward(&f.pkm, f.out, f.inp, f.N);
    const UmPkm *l = &f.pkm;
    int H = cfg.H, Dk = cfg.Dk, half = Dk / 2, n = cfg.n, k = cfg.k, D = f.D;
    for (int t = 0; t < f.N; t++) {
        double y[16] = {0};
        for (int h = 0; h < H; h++) {
            double q[16], qn[16], mean = 0, var = 0;
            for (int o = 0; o < Dk; o++) {
                const real *w = l->wq->data + (size_t)(h * Dk + o) * D;
                q[o] = bias ? l->bq->data[h * Dk + o] : 0;
                for (int c = 0; c < D; c++) q[o] += w[c] * f.inp[t * D + c];
                mean += q[o] / Dk;
            }
            if (kind != UM_QUERY_NORM_LAYERNORM) mean = 0;
            for (int o = 0; o < Dk; o++) var += (q[o] - mean) * (q[o] - mean) / Dk;
            double eps = kind == UM_QUERY_NORM_LAYERNORM ? 1e-5 : 1e-6;
            for (int o = 0; o < Dk; o++)
                qn[o] = kind == UM_QUERY_NORM_NONE
                            ? q[o]
                            : (q[o] - mean) / sqrt(var + eps) * l->norm_w->data[h * Dk + o] +
                                  (l->norm_b ? l->norm_b->data[h * Dk + o] : 0);
            real q1[8], q2[8];
            for (int c = 0; c < half; c++) {
                q1[c] = (real)qn[c];
                q2[c] = (real)qn[half + c];
            }
            const real *K1 = l->keys->data + (size_t)(h * 2) * n * half, *K2 = K1 + (size_t)n * half;
            int sl[8];
            real sc[8];
            brute_force(sl, sc, q1, q2, K1, K2, n, half, k);
            double wsum = 0, w[8];
            for (int j = 0; j < k; j++) wsum += w[j] = exp((double)sc[j] - sc[0]);
            for (int j = 0; j < k; j++) {
                ck_assert_int_eq(l->slots[(t * H + h) * k + j], sl[j]);
                ck_assert(fabs(l->weights[(t * H + h) * k + j] - w[j] / wsum) < 1e-5);
                for (int c = 0; c < D; c++) y[c] += w[j] / wsum * l->values->data[(size_t)sl[j] * D + c];
            }
        }
        for (int c = 0; c < D; c++) ck_assert_msg(fabs(f.out[t * D + c] - y[c]) < 1e-5, "t=%d c=%d", t, c);
    }
    fixture_free(&f);
}

START_TEST(test_pkm_forward_matches_direct) {
    check_forward_one_kind(UM_QUERY_NORM_LAYERNORM, 0);
    check_forward_one_kind(UM_QUERY_NORM_RMSNORM, 1);
    check_forward_one_kind(UM_QUERY_NORM_NONE, 1);
}
END_TEST

// ---------------------------------------------------------------- metrics

START_TEST(test_mem_stats_known_counts) {
    UmMemStats s;
    um_mem_stats_init(&s, 4);
    ck_assert(um_mem_stats_kl_uniform(&s, 0) == 0);  // nothing read yet
    // two queries of k=2: slots {0,1} and {0,2}; weights 0.75/0.25 and 0.5/0.5
    int slots[4] = {0, 1, 0, 2};
    real w[4] = {0.75f, 0.25f, 0.5f, 0.5f}, sc[4] = {3, 1, 2, 0};
    um_mem_stats_add(&s, slots, w, sc, 2, 2);
    ck_assert(fabs(um_mem_stats_usage(&s) - 75.0) < 1e-12);
    // unweighted p = (2,1,1,0)/4
    double kl_u = log(4.0) + 0.5 * log(0.5) + 2 * 0.25 * log(0.25);
    ck_assert(fabs(um_mem_stats_kl_uniform(&s, 0) - kl_u) < 1e-9);
    // weighted p = (1.25, 0.25, 0.5, 0)/2
    double p[3] = {0.625, 0.125, 0.25}, kl_w = log(4.0);
    for (int i = 0; i < 3; i++) kl_w += p[i] * log(p[i]);
    ck_assert(fabs(um_mem_stats_kl_uniform(&s, 1) - kl_w) < 1e-6);
    ck_assert(fabs(um_mem_stats_mean_top1(&s) - 2.5) < 1e-12);
    // uniform access: KL 0, usage 100%; one slot only: KL log N
    um_mem_stats_reset(&s);
    int all[4] = {3, 2, 1, 0};
    um_mem_stats_add(&s, all, NULL, NULL, 1, 4);
    ck_assert(fabs(um_mem_stats_kl_uniform(&s, 0)) < 1e-12);
    ck_assert(fabs(um_mem_stats_usage(&s) - 100.0) < 1e-12);
    um_mem_stats_reset(&s);
    int one[3] = {2, 2, 2};
    um_mem_stats_add(&s, one, NULL, NULL, 3, 1);
    ck_assert(fabs(um_mem_stats_kl_uniform(&s, 0) - log(4.0)) < 1e-12);
    ck_assert(fabs(um_mem_stats_usage(&s) - 25.0) < 1e-12);
    um_mem_stats_free(&s);
}
END_TEST

START_TEST(test_pkm_stats_from_layer) {
    UmPkmConfig cfg = small_config();
    Fixture f;
    fixture_init(&f, &cfg, 7, 10, 4);
    um_pkm_forward(&f.pkm, f.out, f.inp, f.N);
    UmMemStats s;
    um_mem_stats_init(&s, f.pkm.n_slots);
    um_pkm_stats_accumulate(&f.pkm, &s);
    double total = 0, wtotal = 0;
    for (int i = 0; i < s.n_slots; i++) {
        total += s.counts[i];
        wtotal += s.wcounts[i];
    }
    ck_assert(total == 7 * 3 * 4);
    ck_assert(fabs(wtotal - 7 * 3) < 1e-4);  // each query's weights sum to 1
    ck_assert(um_mem_stats_usage(&s) > 0 && um_mem_stats_usage(&s) <= 100);
    um_mem_stats_free(&s);
    fixture_free(&f);
}
END_TEST

// ---------------------------------------------------------------- probe

START_TEST(test_pkm_probe_only_when_attached) {
    UmPkmConfig cfg = small_config();
    Fixture f;
    fixture_init(&f, &cfg, 7, 10, 5);
    UmRetrievalProbe p;
    um_retrieval_probe_init(&p, cfg.n, cfg.k, 4, 2);
    um_pkm_forward(&f.pkm, f.out, f.inp, f.N);  // not attached: untouched
    ck_assert_int_eq(p.filled, 0);
    ck_assert(p.total_reads == 0);

    f.pkm.probe = &p;
    um_pkm_forward(&f.pkm, f.out, f.inp, f.N);
    ck_assert_int_eq(p.filled, 1);
    ck_assert(p.total_reads == 7 * 3 * 4);
    const UmPkm *l = &f.pkm;
    int th = 4 * cfg.H + 2, half = cfg.Dk / 2;
    real s1[8];
    pk_side_scores(s1, l->qn + th * cfg.Dk, l->keys->data + (size_t)(2 * 2) * cfg.n * half, cfg.n, half);
    for (int i = 0; i < cfg.n; i++) ck_assert(p.row_scores[i] == s1[i]);
    for (int j = 0; j < cfg.k; j++) {
        ck_assert_int_eq(p.slots[j], l->slots[th * cfg.k + j]);
        ck_assert(p.weights[j] == l->weights[th * cfg.k + j]);
        int a = p.sel_cell[j] / cfg.k, b = p.sel_cell[j] % cfg.k;
        ck_assert_int_eq(p.grid_rows[a] * cfg.n + p.grid_cols[b], p.slots[j]);
        ck_assert(p.grid[p.sel_cell[j]] == p.scores[j]);
    }
    uint64_t sum = 0;
    for (int i = 0; i < cfg.n * cfg.n; i++) sum += p.read_counts[i];
    ck_assert(sum == 7 * 3 * 4);
    um_pkm_forward(&f.pkm, f.out, f.inp, f.N);  // counts keep running
    ck_assert(p.total_reads == 2 * 7 * 3 * 4);
    ck_assert(p.read_counts[p.slots[0]] >= 2);
    um_retrieval_probe_free(&p);
    fixture_free(&f);
}
END_TEST

// ---------------------------------------------------------------- determinism

// Forward + backward from a fresh layer; returns a copy of out, dinp and all grads.
static real *run_once(int threads) {
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    UmPkmConfig cfg = small_config();
    cfg.n = 16;
    cfg.k = 8;
    Fixture f;
    fixture_init(&f, &cfg, 40, 10, 6);
    um_pkm_forward(&f.pkm, f.out, f.inp, f.N);
    um_pkm_backward(&f.pkm, f.dinp, f.dout, f.inp, f.N);
    size_t total = 2 * (size_t)f.N * f.D + params_total(&f.reg), at = 0;
    real *all = malloc(total * sizeof(real));
    memcpy(all + at, f.out, (size_t)f.N * f.D * sizeof(real));
    at += (size_t)f.N * f.D;
    memcpy(all + at, f.dinp, (size_t)f.N * f.D * sizeof(real));
    at += (size_t)f.N * f.D;
    for (int i = 0; i < f.reg.count; i++) {
        memcpy(all + at, f.reg.params[i]->grad, f.reg.params[i]->numel * sizeof(real));
        at += f.reg.params[i]->numel;
    }
    fixture_free(&f);
    return all;
}

START_TEST(test_pkm_bit_identical) {
    // 40 tokens, 3 heads, 8 reads each over 256 slots: many rows are hit twice.
    size_t total = 2 * 40 * 10 + (18 * 10 + 36 + 3 * 2 * 16 * 3 + 256 * 10);
    real *a = run_once(1), *b = run_once(1), *c = run_once(2), *d = run_once(3);
    ck_assert(memcmp(a, b, total * sizeof(real)) == 0);
    ck_assert(memcmp(a, c, total * sizeof(real)) == 0);  // even across thread counts
    ck_assert(memcmp(a, d, total * sizeof(real)) == 0);
    free(a);
    free(b);
    free(c);
    free(d);
}
END_TEST

START_TEST(test_pkm_backward_accumulates) {
    UmPkmConfig cfg = small_config();
    Fixture f;
    fixture_init(&f, &cfg, 7, 10, 7);
    um_pkm_forward(&f.pkm, f.out, f.inp, f.N);
    um_pkm_backward(&f.pkm, f.dinp, f.dout, f.inp, f.N);
    size_t nd = (size_t)f.N * f.D;
    real *once = malloc(nd * sizeof(real)), *vg = malloc(f.pkm.values->numel * sizeof(real));
    memcpy(once, f.dinp, nd * sizeof(real));
    memcpy(vg, f.pkm.values->grad, f.pkm.values->numel * sizeof(real));
    um_pkm_backward(&f.pkm, f.dinp, f.dout, f.inp, f.N);
    for (size_t i = 0; i < nd; i++) ck_assert(fabs(f.dinp[i] - 2 * once[i]) <= 1e-6 * (1 + fabs(once[i])));
    for (size_t i = 0; i < f.pkm.values->numel; i++)
        ck_assert(fabs(f.pkm.values->grad[i] - 2 * vg[i]) <= 1e-6 * (1 + fabs(vg[i])));
    free(once);
    free(vg);
    fixture_free(&f);
}
END_TEST

Suite *pkm_suite(void) {
    Suite *s = suite_create("pkm");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_product_keys_exact);
    tcase_add_test(tc, test_product_keys_exact_with_ties);
    tcase_add_test(tc, test_product_keys_backward_accumulates_selected_rows);
    tcase_add_test(tc, test_pkm_registers_params_and_groups);
    tcase_add_test(tc, test_pkm_forward_matches_direct);
    tcase_add_test(tc, test_mem_stats_known_counts);
    tcase_add_test(tc, test_pkm_stats_from_layer);
    tcase_add_test(tc, test_pkm_probe_only_when_attached);
    tcase_add_test(tc, test_pkm_bit_identical);
    tcase_add_test(tc, test_pkm_backward_accumulates);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
