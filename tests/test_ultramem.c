// test_ultramem.c: the closed-form 2x2 SVD, exactness of rank-1 selection,
// every trick off = PKM, the IVE shuffle, MCS slices, the calibrated init,
// the value-LR schedule, the probe, accounting and determinism.
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/alloc.h"
#include "base/error.h"
#include "base/params.h"
#include "base/rng.h"
#include "helpers/fixture_io.h"
#include "helpers/testutil.h"
#include "memory/ive.h"
#include "memory/pkm.h"
#include "memory/topk.h"
#include "memory/tucker.h"
#include "memory/ultramem.h"
#include "probe/ultramem_probe.h"

static void one_thread(void) {
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
}

// ---------------------------------------------------------------- 2x2 SVD

// Reconstruction, orthonormality, ordering, sign convention, and the
// singular values against a brute-force sweep of |C v| over unit vectors v.
static void check_svd(const real *C, const char *what) {
    UmSvd2 s;
    tucker_svd(&s, C, 2);
    double scale = 1e-6 + fabs(C[0]) + fabs(C[1]) + fabs(C[2]) + fabs(C[3]);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            double rec = s.s[0] * s.u[a] * s.t[b] + s.s[1] * s.u2[a] * s.t2[b];
            ck_assert_msg(fabs(rec - C[a * 2 + b]) < 1e-5 * scale, "%s: C[%d,%d] %g rebuilt as %g", what, a, b,
                          C[a * 2 + b], rec);
        }
    double uu = s.u[0] * s.u[0] + s.u[1] * s.u[1], tt = s.t[0] * s.t[0] + s.t[1] * s.t[1];
    double u22 = s.u2[0] * s.u2[0] + s.u2[1] * s.u2[1], t22 = s.t2[0] * s.t2[0] + s.t2[1] * s.t2[1];
    ck_assert(fabs(uu - 1) < 1e-12 && fabs(tt - 1) < 1e-12 && fabs(u22 - 1) < 1e-12 && fabs(t22 - 1) < 1e-12);
    ck_assert(fabs(s.u[0] * s.u2[0] + s.u[1] * s.u2[1]) < 1e-12);
    ck_assert(fabs(s.t[0] * s.t2[0] + s.t[1] * s.t2[1]) < 1e-12);
    ck_assert(s.s[0] >= s.s[1] && s.s[1] >= 0);
    int big = fabs(s.u[1]) > fabs(s.u[0]) ? 1 : 0;
    ck_assert_msg(s.u[big] > 0, "%s: sign convention (largest |u| component positive)", what);
    double mx = 0, mn = INFINITY;
    for (int i = 0; i < 20000; i++) {
        double th = M_PI * i / 20000, v0 = cos(th), v1 = sin(th);
        double a = C[0] * v0 + C[1] * v1, b = C[2] * v0 + C[3] * v1, nrm = sqrt(a * a + b * b);
        mx = fmax(mx, nrm), mn = fmin(mn, nrm);
    }
    ck_assert_msg(fabs(mx - s.s[0]) < 1e-4 * scale && fabs(mn - s.s[1]) < 1e-4 * scale, "%s: s %g %g vs %g %g",
                  what, s.s[0], s.s[1], mx, mn);
    // u is the direction C t points to: C t = s0 u.
    double Ct0 = C[0] * s.t[0] + C[1] * s.t[1], Ct1 = C[2] * s.t[0] + C[3] * s.t[1];
    ck_assert(fabs(Ct0 - s.s[0] * s.u[0]) < 1e-5 * scale && fabs(Ct1 - s.s[0] * s.u[1]) < 1e-5 * scale);
}

START_TEST(test_svd2_cases) {
    UmRng rng;
    rng_seed(&rng, 11);
    for (int i = 0; i < 200; i++) {
        real C[4];
        for (int k = 0; k < 4; k++) C[k] = (real)rng_normal(&rng);
        check_svd(C, "random");
    }
    check_svd((real[]){3, 0, 0, -2}, "diagonal");
    check_svd((real[]){-0.5f, 0, 0, 4}, "diagonal, second larger");
    check_svd((real[]){1, 0, 0, 1}, "identity (degenerate)");
    check_svd((real[]){0.6f, -0.8f, 0.8f, 0.6f}, "rotation (degenerate)");
    check_svd((real[]){1, 1e-4f, -1e-4f, 1}, "near-degenerate");
    check_svd((real[]){0, 0, 0, 0}, "zero");
    for (int i = 0; i < 50; i++) {  // rank 1: u v^T
        real a0 = rng_normal(&rng), a1 = rng_normal(&rng), b0 = rng_normal(&rng), b1 = rng_normal(&rng);
        real C[4] = {a0 * b0, a0 * b1, a1 * b0, a1 * b1};
        check_svd(C, "rank-1");
        UmSvd2 s;
        tucker_svd(&s, C, 2);
        ck_assert(s.s[1] < 1e-6 * s.s[0]);
    }
    // U(0,1) cores are positive: u and t come out all-positive (Perron).
    for (int i = 0; i < 50; i++) {
        real C[4];
        for (int k = 0; k < 4; k++) C[k] = (real)rng_uniform(&rng);
        UmSvd2 s;
        tucker_svd(&s, C, 2);
        ck_assert(s.u[0] >= 0 && s.u[1] >= 0 && s.t[0] >= 0 && s.t[1] >= 0);
    }
    UmSvd2 s1;
    tucker_svd(&s1, (real[]){-2.5f}, 1);
    ck_assert(s1.s[0] == 2.5 && s1.u[0] == 1 && s1.t[0] == -1);
}
END_TEST

// ---------------------------------------------------------------- fixture

typedef struct {
    UmParamRegistry reg;
    UmUltraMem l;
    real *inp, *out, *dout, *dinp;
    int N, D;
} Fixture;

static void fixture_init(Fixture *f, const UmUltraMemConfig *cfg, int N, int D, uint64_t seed) {
    UmRng rng;
    rng_seed(&rng, seed);
    f->N = N, f->D = D;
    params_init(&f->reg);
    um_ultramem_init(&f->l, cfg, D, N, &f->reg, &rng, "blocks.1.um.");
    size_t nd = (size_t)N * D;
    f->inp = um_alloc(nd * sizeof(real));
    f->out = um_alloc(nd * sizeof(real));
    f->dout = um_alloc(nd * sizeof(real));
    f->dinp = um_alloc(nd * sizeof(real));
    fill_normal(f->inp, nd, &rng, 1);
    fill_normal(f->dout, nd, &rng, 1);
}

static void fixture_free(Fixture *f) {
    um_ultramem_free(&f->l);
    params_free(&f->reg);
    um_free(f->inp), um_free(f->out), um_free(f->dout), um_free(f->dinp);
}

static UmUltraMemConfig small_full(void) {
    UmUltraMemConfig c = um_ultramem_config_default();
    c.n = 8;
    c.H = 2;
    c.Dk = 6;
    c.m = 5;
    return c;
}

// ---------------------------------------------------------------- rank-1 exactness

// With a rank-1 summed core the bilinear score is s0 (u.R)(t.Q): separable,
// so top-m rows on u.R and top-m columns on t.Q contain the true top m
// (when the winning u.R, t.Q are positive: here keys and queries are
// positive, so every side score is). Compare with brute force over all Kn^2.
START_TEST(test_rank1_selection_is_exact) {
    one_thread();
    for (int E = 1; E <= 4; E += 3) {
        UmUltraMemConfig cfg = small_full();
        cfg.qk_norm = 0;
        cfg.E = E;
        cfg.aux_alpha = 0;
        Fixture f;
        fixture_init(&f, &cfg, 4, 12, 21 + E);
        UmUltraMem *l = &f.l;
        UmRng rng;
        rng_seed(&rng, 99);
        for (size_t i = 0; i < l->keys->numel; i++) l->keys->data[i] = (real)rng_uniform(&rng);
        for (int h = 0; h < cfg.H; h++)
            for (int c = 0; c < cfg.cores; c++) {  // each core rank 1 along the same a b^T: the sum is rank 1
                real w = (real)(0.5 + rng_uniform(&rng)), *C = l->cores->data + (h * cfg.cores + c) * 4;
                real a[2] = {0.8f, 0.3f}, b[2] = {0.4f, 0.9f};
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++) C[i * 2 + j] = w * a[i] * b[j];
            }
        um_ultramem_forward(l, f.out, f.inp, f.N);  // refreshes khat, core sums, SVDs
        int Kn = l->Kn, m = cfg.m, Dk = l->cfg.Dk;
        UmUltraMemSearch ws;
        um_ultramem_search_alloc(&ws, Kn, m, 2, Dk);
        real *all = malloc((size_t)Kn * Kn * sizeof(real));
        for (int trial = 0; trial < 20; trial++) {
            real q[64];
            for (int x = 0; x < 2 * Dk; x++) q[x] = (real)rng_uniform(&rng);
            int h = trial % cfg.H, virt[16], ref[16];
            real total[16], ref_val[16];
            um_ultramem_search(l, &ws, virt, total, q, q + Dk, h);
            const real *Cs = l->core_sum + h * 4;
            for (int i = 0; i < Kn; i++)
                for (int j = 0; j < Kn; j++) {
                    real R[2], Q[2];
                    for (int rho = 0; rho < 2; rho++) {
                        const real *kr = l->keys->data + (((size_t)h * 2 + 0) * 2 + rho) * Kn * Dk + (size_t)i * Dk;
                        const real *kc = l->keys->data + (((size_t)h * 2 + 1) * 2 + rho) * Kn * Dk + (size_t)j * Dk;
                        R[rho] = Q[rho] = 0;
                        for (int x = 0; x < Dk; x++) R[rho] += q[x] * kr[x], Q[rho] += q[Dk + x] * kc[x];
                    }
                    all[i * Kn + j] = tucker_score(R, Cs, Q, 2);
                }
            topk(ref, ref_val, all, Kn * Kn, m);
            for (int j = 0; j < m; j++) {
                ck_assert_int_eq(virt[j], ref[j]);
                ck_assert(fabs(total[j] - ref_val[j]) <= 1e-5 * (1 + fabs(ref_val[j])));
            }
        }
        free(all);
        um_ultramem_search_free(&ws);
        fixture_free(&f);
    }
}
END_TEST

// ---------------------------------------------------------------- every trick off = PKM

START_TEST(test_all_off_equals_pkm) {
    one_thread();
    int N = 9, D = 10, n = 7, H = 3, Dk = 4, m = 4;
    UmUltraMemConfig uc = um_ultramem_config_pkm_like();
    uc.n = n, uc.H = H, uc.Dk = Dk, uc.m = m;
    Fixture f;
    fixture_init(&f, &uc, N, D, 5);
    UmPkmConfig pc = um_pkm_config_default();
    pc.n = n, pc.H = H, pc.Dk = 2 * Dk, pc.k = m, pc.query_norm = UM_QUERY_NORM_NONE;
    UmParamRegistry preg;
    params_init(&preg);
    UmRng rng;
    rng_seed(&rng, 6);
    UmPkm pkm;
    um_pkm_init(&pkm, &pc, D, N, &preg, &rng, "pkm.");
    // Same tensors, same layouts: query rows [head][row|col], keys (H, 2, n, Dk), values (n*n, D).
    ck_assert_int_eq(pkm.wq->numel, f.l.wq->numel);
    ck_assert_int_eq(pkm.keys->numel, f.l.keys->numel);
    ck_assert_int_eq(pkm.values->numel, f.l.values->numel);
    memcpy(pkm.wq->data, f.l.wq->data, pkm.wq->numel * sizeof(real));
    memcpy(pkm.keys->data, f.l.keys->data, pkm.keys->numel * sizeof(real));
    memcpy(pkm.values->data, f.l.values->data, pkm.values->numel * sizeof(real));
    real *out = malloc(N * D * sizeof(real)), *dinp = calloc(N * D, sizeof(real));
    um_pkm_forward(&pkm, out, f.inp, N);
    um_ultramem_forward(&f.l, f.out, f.inp, N);
    for (int i = 0; i < N * H * m; i++) {
        ck_assert_int_eq(pkm.slots[i], f.l.virt[i]);
        ck_assert_int_eq(pkm.slots[i], f.l.phys[i]);  // E = 1: no shuffle
    }
    size_t at;
    ck_assert_msg(max_rel_diff(f.out, out, N * D, 1e-6, &at) < 1e-5, "out differs at %zu", at);
    um_pkm_backward(&pkm, dinp, f.dout, f.inp, N);
    um_ultramem_backward(&f.l, f.dinp, f.dout, f.inp, N);
    ck_assert(max_rel_diff(f.dinp, dinp, N * D, 1e-6, &at) < 1e-5);
    ck_assert(max_rel_diff(f.l.wq->grad, pkm.wq->grad, pkm.wq->numel, 1e-6, &at) < 1e-5);
    ck_assert(max_rel_diff(f.l.keys->grad, pkm.keys->grad, pkm.keys->numel, 1e-6, &at) < 1e-5);
    ck_assert(max_rel_diff(f.l.values->grad, pkm.values->grad, pkm.values->numel, 1e-6, &at) < 1e-5);
    free(out), free(dinp);
    um_pkm_free(&pkm);
    params_free(&preg);
    fixture_free(&f);
}
END_TEST

// ---------------------------------------------------------------- IVE

START_TEST(test_ive_shuffle_is_a_deterministic_permutation) {
    int count = 4 * 36;
    int *a = malloc(count * sizeof(int)), *b = malloc(count * sizeof(int)), *c = malloc(count * sizeof(int));
    char *seen = calloc(count, 1);
    ive_shuffle(a, count, 77);
    ive_shuffle(b, count, 77);
    ive_shuffle(c, count, 78);
    ck_assert(memcmp(a, b, count * sizeof(int)) == 0);
    ck_assert(memcmp(a, c, count * sizeof(int)) != 0);
    int fixed = 0;
    for (int i = 0; i < count; i++) {
        ck_assert(a[i] >= 0 && a[i] < count && !seen[a[i]]);
        seen[a[i]] = 1;
        fixed += a[i] == i;
    }
    ck_assert(fixed < count / 4);  // actually shuffled
    // Through the address map every (physical row, block) pair occurs exactly once.
    memset(seen, 0, count);
    for (int g = 0; g < count; g++) {
        int phys, block;
        ive_address(&phys, &block, a, g, 36);
        ck_assert(phys >= 0 && phys < 36 && block >= 0 && block < 4);
        ck_assert(!seen[block * 36 + phys]);
        seen[block * 36 + phys] = 1;
    }
    ck_assert_int_eq(ive_side_factor(4), 2);
    ck_assert_int_eq(ive_side_factor(9), 3);
    ck_assert_int_eq(ive_side_factor(1), 1);
    ck_assert_int_eq(ive_side_factor(8), -1);
    free(a), free(b), free(c), free(seen);
}
END_TEST

// The layer's map is rebuilt from its seed and its name: same name, same
// map; another layer name, another map.
START_TEST(test_ive_layer_map_from_seed_and_name) {
    one_thread();
    UmUltraMemConfig cfg = small_full();
    UmParamRegistry r1, r2, r3;
    params_init(&r1), params_init(&r2), params_init(&r3);
    UmRng g1, g2, g3;
    rng_seed(&g1, 1), rng_seed(&g2, 2), rng_seed(&g3, 1);
    UmUltraMem a, b, c;
    um_ultramem_init(&a, &cfg, 12, 4, &r1, &g1, "blocks.1.um.");
    um_ultramem_init(&b, &cfg, 12, 4, &r2, &g2, "blocks.1.um.");
    um_ultramem_init(&c, &cfg, 12, 4, &r3, &g3, "blocks.5.um.");
    ck_assert_int_eq(a.n_virt, 4 * 64);
    ck_assert_int_eq(a.Kn, 16);
    ck_assert(a.ive_seed == b.ive_seed && a.ive_seed != c.ive_seed);
    ck_assert(memcmp(a.shuffle, b.shuffle, a.n_virt * sizeof(int)) == 0);
    ck_assert(memcmp(a.shuffle, c.shuffle, a.n_virt * sizeof(int)) != 0);
    um_ultramem_free(&a), um_ultramem_free(&b), um_ultramem_free(&c);
    params_free(&r1), params_free(&r2), params_free(&r3);
}
END_TEST

// Output = Wo acc, acc[block] = pooled reads of that block: recompute from
// the cached winners the slow way (per block, then the per-block projector).
START_TEST(test_ive_pool_then_project) {
    one_thread();
    UmUltraMemConfig cfg = small_full();
    Fixture f;
    fixture_init(&f, &cfg, 6, 12, 8);
    UmUltraMem *l = &f.l;
    um_ultramem_forward(l, f.out, f.inp, f.N);
    int E = 4, Dv = l->cfg.Dv, D = f.D, hc = 2, sl = Dv / 2, m = cfg.m, H = cfg.H;
    for (int t = 0; t < f.N; t++) {
        double y[64] = {0};
        for (int p = 0; p < E; p++) {
            double pooled[64] = {0};
            for (int i = 0; i < H * m; i++) {
                size_t rd = (size_t)t * H * m + i;
                if (l->block[rd] != p) continue;
                ck_assert_int_eq(l->phys[rd], l->shuffle[l->virt[rd]] % 64);
                for (int c = 0; c < hc; c++)
                    for (int x = c * sl; x < (c + 1) * sl; x++)
                        pooled[x] += l->weight[rd * hc + c] * l->values->data[(size_t)l->phys[rd] * Dv + x];
            }
            for (int o = 0; o < D; o++)
                for (int x = 0; x < Dv; x++) y[o] += l->wo->data[(size_t)o * E * Dv + p * Dv + x] * pooled[x];
        }
        for (int o = 0; o < D; o++) ck_assert(fabs(y[o] - f.out[t * D + o]) < 1e-4 * (1 + fabs(y[o])));
    }
    fixture_free(&f);
}
END_TEST

// ---------------------------------------------------------------- MCS

// Each core weights only its own Dv/h slice: zeroing core 1 of every head
// zeroes slice 1 of every pooled vector (raw scores), and each cached
// per-core score is R^T C_c Q recomputed from the keys.
START_TEST(test_mcs_slices) {
    one_thread();
    UmUltraMemConfig cfg = small_full();
    cfg.value_proj = 0;
    cfg.E = 1;
    cfg.Dv = 0;  // = D
    Fixture f;
    fixture_init(&f, &cfg, 5, 12, 9);
    UmUltraMem *l = &f.l;
    um_ultramem_forward(l, f.out, f.inp, f.N);
    int m = cfg.m, H = cfg.H, Kn = l->Kn, Dk = l->cfg.Dk;
    for (int t = 0; t < f.N; t++)
        for (int h = 0; h < H; h++)
            for (int j = 0; j < m; j++) {
                size_t i = ((size_t)t * H + h) * m + j;
                int row = l->virt[i] / Kn, col = l->virt[i] % Kn;
                real R[2], Q[2];
                const real *q = l->qn + (size_t)t * 2 * Dk;  // shared query
                for (int rho = 0; rho < 2; rho++) {
                    const real *kr = l->khat + (((size_t)h * 2 + 0) * 2 + rho) * Kn * Dk + (size_t)row * Dk;
                    const real *kc = l->khat + (((size_t)h * 2 + 1) * 2 + rho) * Kn * Dk + (size_t)col * Dk;
                    R[rho] = Q[rho] = 0;
                    for (int x = 0; x < Dk; x++) R[rho] += q[x] * kr[x], Q[rho] += q[Dk + x] * kc[x];
                }
                real sum = 0;
                for (int c = 0; c < 2; c++) {
                    real s = tucker_score(R, l->cores->data + (h * 2 + c) * 4, Q, 2);
                    ck_assert(fabs(s - l->score[i * 2 + c]) < 1e-4 * (1 + fabs(s)));
                    sum += s;
                }
                ck_assert(fabs(sum - l->total[i]) < 1e-4 * (1 + fabs(sum)));
            }
    for (int h = 0; h < H; h++) memset(l->cores->data + (h * 2 + 1) * 4, 0, 4 * sizeof(real));
    um_ultramem_forward(l, f.out, f.inp, f.N);
    int half = f.D / 2, nonzero = 0;
    for (int t = 0; t < f.N; t++)
        for (int x = 0; x < f.D; x++) {
            if (x >= half) ck_assert(f.out[t * f.D + x] == 0);
            else nonzero += f.out[t * f.D + x] != 0;
        }
    ck_assert(nonzero > 0);
    fixture_free(&f);
}
END_TEST

// ---------------------------------------------------------------- init and LR

START_TEST(test_calibrated_mean_topm_score_is_one) {
    one_thread();
    UmUltraMemConfig cfgs[2] = {small_full(), small_full()};
    cfgs[1].tdqkr = 0, cfgs[1].cores = 1;  // additive scores: g^-2 instead of g^-4
    for (int k = 0; k < 2; k++) {
        Fixture f;
        fixture_init(&f, &cfgs[k], 256, 32, 10 + k);  // fresh inputs, not the calibration sample
        um_ultramem_forward(&f.l, f.out, f.inp, f.N);
        double mean = 0;
        int reads = f.N * f.l.cfg.H * f.l.cfg.m;
        for (int i = 0; i < reads; i++) mean += f.l.total[i];
        mean /= reads;
        ck_assert_msg(mean > 0.9 && mean < 1.1, "config %d: mean top-m score %g", k, mean);
        real g = f.l.qnorm_w->data[0];
        ck_assert(g > 0 && g == f.l.knorm_w->data[f.l.cfg.Dk - 1]);
        fixture_free(&f);
    }
}
END_TEST

START_TEST(test_value_lr_schedule) {
    UmUltraMemConfig c = um_ultramem_config_default();
    ck_assert(fabs(um_ultramem_value_lr_mult(&c, 0, 1000) - 4) < 1e-12);
    ck_assert(fabs(um_ultramem_value_lr_mult(&c, 500, 1000) - 2.5) < 1e-12);
    ck_assert(fabs(um_ultramem_value_lr_mult(&c, 1000, 1000) - 1) < 1e-12);
    ck_assert(fabs(um_ultramem_value_lr_mult(&c, 2000, 1000) - 1) < 1e-12);
    c.value_lr_decay_frac = 0.5;
    ck_assert(fabs(um_ultramem_value_lr_mult(&c, 250, 1000) - 2.5) < 1e-12);
    ck_assert(fabs(um_ultramem_value_lr_mult(&c, 600, 1000) - 1) < 1e-12);
    c.value_lr_schedule = UM_VALUE_LR_CONSTANT;
    ck_assert(fabs(um_ultramem_value_lr_mult(&c, 600, 1000) - 4) < 1e-12);
}
END_TEST

// Names, shapes, groups; the values' group starts at the schedule's step-0 multiplier.
START_TEST(test_registers_params_and_groups) {
    one_thread();
    UmUltraMemConfig cfg = small_full();
    Fixture f;
    fixture_init(&f, &cfg, 4, 16, 3);
    const char *names[] = {"query.weight", "query_norm.weight", "keys", "key_norm.weight", "cores", "values",
                           "value_proj.weight"};
    ck_assert_int_eq(f.reg.count, 7);
    for (int i = 0; i < 7; i++) {
        char full[96];
        snprintf(full, sizeof full, "blocks.1.um.%s", names[i]);
        ck_assert_msg(params_find(&f.reg, full) != NULL, "missing %s", full);
    }
    UmUltraMem *l = &f.l;
    ck_assert_int_eq(l->wq->shape[0], 1 * 2 * 6);  // shared query, Dk 6
    ck_assert_int_eq(l->keys->numel, (size_t)2 * 2 * 2 * 16 * 6);
    ck_assert_int_eq(l->values->shape[0], 64);
    ck_assert_int_eq(l->values->shape[1], 8);  // Dv = D/2
    ck_assert_int_eq(l->wo->shape[1], 4 * 8);
    ck_assert_str_eq(f.reg.groups[l->values->group].name, "memory_values");
    ck_assert(fabs(f.reg.groups[l->values->group].lr_mult - 4) < 1e-6);
    ck_assert_str_eq(f.reg.groups[l->wq->group].name, "decay");
    ck_assert_str_eq(f.reg.groups[l->cores->group].name, "no_decay");
    for (size_t i = 0; i < l->cores->numel; i++) ck_assert(l->cores->data[i] >= 0 && l->cores->data[i] < 1);
    // Accounting: dense parts + H*m value rows.
    size_t act = l->wq->numel + 12 + l->keys->numel + l->cores->numel + 2 * 5 * 8 + l->wo->numel;
    ck_assert_int_eq(um_ultramem_activated_params(l), act);
    ck_assert(um_ultramem_flops_per_token(l) > 2.0 * 2 * 5 * 8);
    ck_assert(um_ultramem_bytes_read_per_token(l) == 2.0 * 5 * 8 * sizeof(real));
    fixture_free(&f);
}
END_TEST

// ---------------------------------------------------------------- probe, stats

START_TEST(test_probe_only_when_attached) {
    one_thread();
    UmUltraMemConfig cfg = small_full();
    Fixture f;
    fixture_init(&f, &cfg, 7, 12, 4);
    UmUltraMem *l = &f.l;
    UmUltraMemProbe p;
    um_ultramem_probe_init(&p, l->Kn, cfg.m, 2, 2, l->n_phys, 3, 1);
    um_ultramem_forward(l, f.out, f.inp, f.N);
    ck_assert(!p.base.filled);
    l->probe = &p;
    um_ultramem_forward(l, f.out, f.inp, f.N);
    ck_assert(p.base.filled);
    int m = cfg.m;
    size_t o = ((size_t)3 * 2 + 1) * m;
    ck_assert(p.phys_total_reads == (uint64_t)7 * 2 * m);
    for (int j = 0; j < m; j++) {
        ck_assert_int_eq(p.base.slots[j], l->virt[o + j]);
        ck_assert_int_eq(p.phys[j], l->phys[o + j]);
        ck_assert(p.base.grid[p.base.sel_cell[j]] == p.base.scores[j]);  // winners come from the rescored grid
        int cell = p.base.sel_cell[j];
        ck_assert_int_eq(p.base.grid_rows[cell / m] * l->Kn + p.base.grid_cols[cell % m], p.base.slots[j]);
        ck_assert(p.phys_read_counts[p.phys[j]] >= 1);
        ck_assert(fabs(p.base.weights[j] - (p.core_weights[2 * j] + p.core_weights[2 * j + 1])) < 1e-6);
    }
    ck_assert(p.sv[0] >= p.sv[1] && p.sv[0] > 0);
    ck_assert(p.u[0] > 0 && p.t[0] > 0);
    // The approximate row score of each candidate is u . (its side scores).
    for (int a = 0; a < m; a++) {
        int row = p.base.grid_rows[a];
        real s = (real)(p.u[0] * p.side_row[row] + p.u[1] * p.side_row[l->Kn + row]);
        ck_assert(fabs(s - p.base.row_scores[row]) < 1e-5 * (1 + fabs(s)));
    }
    UmMemStats st;
    um_mem_stats_init(&st, l->n_phys);
    um_ultramem_stats_accumulate(l, &st);
    ck_assert(st.queries == 7 * 2);
    ck_assert(um_mem_stats_usage(&st) > 0);
    um_mem_stats_free(&st);
    l->probe = NULL;
    um_ultramem_probe_free(&p);
    fixture_free(&f);
}
END_TEST

// ---------------------------------------------------------------- determinism

static real *run_once(int threads, size_t *total) {
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    UmUltraMemConfig cfg = small_full();
    cfg.n = 6;  // 36 physical rows, 40 tokens x 2 heads x 5 reads: rows hit many times
    Fixture f;
    fixture_init(&f, &cfg, 40, 16, 6);
    um_ultramem_forward(&f.l, f.out, f.inp, f.N);
    um_ultramem_backward(&f.l, f.dinp, f.dout, f.inp, f.N);
    *total = 2 * (size_t)f.N * f.D + params_total(&f.reg) + 1;
    real *all = malloc(*total * sizeof(real)), *at = all;
    memcpy(at, f.out, (size_t)f.N * f.D * sizeof(real)), at += (size_t)f.N * f.D;
    memcpy(at, f.dinp, (size_t)f.N * f.D * sizeof(real)), at += (size_t)f.N * f.D;
    for (int i = 0; i < f.reg.count; i++) {
        memcpy(at, f.reg.params[i]->grad, f.reg.params[i]->numel * sizeof(real));
        at += f.reg.params[i]->numel;
    }
    *at = f.l.aux_loss;
    fixture_free(&f);
    return all;
}

START_TEST(test_bit_identical_across_threads) {
    size_t n1, n2, n3, n4;
    real *a = run_once(1, &n1), *b = run_once(1, &n2), *c = run_once(2, &n3), *d = run_once(3, &n4);
    ck_assert(n1 == n2 && n1 == n3 && n1 == n4);
    ck_assert(memcmp(a, b, n1 * sizeof(real)) == 0);
    ck_assert(memcmp(a, c, n1 * sizeof(real)) == 0);
    ck_assert(memcmp(a, d, n1 * sizeof(real)) == 0);
    free(a), free(b), free(c), free(d);
}
END_TEST

START_TEST(test_backward_accumulates) {
    one_thread();
    UmUltraMemConfig cfg = small_full();
    Fixture f;
    fixture_init(&f, &cfg, 7, 12, 7);
    um_ultramem_forward(&f.l, f.out, f.inp, f.N);
    um_ultramem_backward(&f.l, f.dinp, f.dout, f.inp, f.N);
    size_t total = params_total(&f.reg), nd = (size_t)f.N * f.D, at = 0;
    real *once = malloc((total + nd) * sizeof(real));
    memcpy(once, f.dinp, nd * sizeof(real));
    for (int i = 0; i < f.reg.count; i++) {
        memcpy(once + nd + at, f.reg.params[i]->grad, f.reg.params[i]->numel * sizeof(real));
        at += f.reg.params[i]->numel;
    }
    um_ultramem_backward(&f.l, f.dinp, f.dout, f.inp, f.N);
    for (size_t i = 0; i < nd; i++) ck_assert(fabs(f.dinp[i] - 2 * once[i]) <= 1e-5 * (1 + fabs(once[i])));
    at = 0;
    for (int i = 0; i < f.reg.count; i++)
        for (size_t j = 0; j < f.reg.params[i]->numel; j++, at++)
            ck_assert(fabs(f.reg.params[i]->grad[j] - 2 * once[nd + at]) <= 1e-5 * (1 + fabs(once[nd + at])));
    free(once);
    fixture_free(&f);
}
END_TEST

// ---------------------------------------------------------------- the search's top-m

// um_ultramem_topk must give exactly what topk_tiekey gives (same winners,
// same order, ties to the lower key), whatever the sizes: with and without
// tie keys, with many equal values, and when the threshold pass is skipped.
START_TEST(test_filtered_topk_equals_topk) {
    UmRng rng;
    rng_seed(&rng, 17);
    int sizes[] = {1, 5, 33, 64, 200, 503, 1008, 1024};
    int ks[] = {1, 4, 5, 16, 32};
    for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++)
        for (size_t b = 0; b < sizeof ks / sizeof ks[0]; b++)
            for (int trial = 0; trial < 6; trial++) {
                int n = sizes[a], k = ks[b];
                if (k > n) continue;
                real *x = malloc((size_t)n * sizeof(real));
                int *key = malloc((size_t)n * sizeof(int)), *perm = malloc((size_t)n * sizeof(int));
                for (int i = 0; i < n; i++) {
                    // trials 0-2: continuous values; 3-5: few distinct values (ties everywhere)
                    x[i] = trial < 3 ? (real)rng_normal(&rng) : (real)rng_below(&rng, 4);
                    if (trial >= 3 && x[i] == 0 && i % 2) x[i] = (real)-0.0;  // -0 ties with +0
                    perm[i] = i;
                }
                for (int i = n - 1; i > 0; i--) {  // distinct tie keys in shuffled order
                    int j = (int)rng_below(&rng, (uint32_t)i + 1), t = perm[i];
                    perm[i] = perm[j], perm[j] = t;
                }
                for (int i = 0; i < n; i++) key[i] = perm[i];
                const int *tk = trial % 2 ? key : NULL;
                int ref[32], got[32];
                real ref_v[32], got_v[32];
                topk_tiekey(ref, ref_v, x, tk, n, k);
                um_ultramem_topk(got, got_v, x, tk, n, k);
                for (int j = 0; j < k; j++) {
                    ck_assert_msg(got[j] == ref[j], "n %d k %d trial %d: rank %d is %d, topk says %d", n, k, trial, j,
                                  got[j], ref[j]);
                    ck_assert(got_v[j] == ref_v[j]);
                }
                free(x), free(key), free(perm);
            }
}
END_TEST

// More tokens than one scoring chunk: every token's selection equals a
// search of its query alone (um_ultramem_search scores one query against
// the keys), for tokens of the first chunk and of the next.

// The grid form: any m x m grid (here random, and with few distinct values:
// ties everywhere; and with a NaN, which makes it fall back) gives topk's cells.
START_TEST(test_grid_topk_equals_topk) {
    UmRng rng;
    rng_seed(&rng, 18);
    int ms[] = {1, 2, 5, 16, 32};
    for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
        for (int trial = 0; trial < 8; trial++) {
            int m = ms[a], n = m * m;
            real *x = malloc((size_t)n * sizeof(real));
            int *key = malloc((size_t)n * sizeof(int));
            for (int i = 0; i < n; i++) {
                x[i] = trial < 3 ? (real)rng_normal(&rng) : (real)rng_below(&rng, 4);
                key[i] = (int)((i * 7919u) % 100003u);  // distinct
            }
            if (trial == 7) x[rng_below(&rng, (uint32_t)n)] = (real)NAN;
            int ref[32], got[32];
            real ref_v[32], got_v[32];
            topk_tiekey(ref, ref_v, x, key, n, m);
            um_ultramem_topk_grid(got, got_v, x, key, m);
            for (int j = 0; j < m; j++) {
                ck_assert_msg(got[j] == ref[j], "m %d trial %d: rank %d is %d, topk says %d", m, trial, j, got[j], ref[j]);
                ck_assert(memcmp(&got_v[j], &ref_v[j], sizeof(real)) == 0);
            }
            free(x), free(key);
        }
}
END_TEST

START_TEST(test_chunked_scoring_matches_single_query_search) {
    one_thread();
    UmUltraMemConfig cfg = small_full();
    Fixture f;
    int N = 300;  // > the 256-token scoring chunk
    fixture_init(&f, &cfg, N, 12, 31);
    UmUltraMem *l = &f.l;
    um_ultramem_forward(l, f.out, f.inp, f.N);
    int m = cfg.m, H = cfg.H, Dk = l->cfg.Dk;
    UmUltraMemSearch ws;
    um_ultramem_search_alloc(&ws, l->Kn, m, l->cfg.r, Dk);
    int tokens[] = {0, 1, 100, 255, 256, 257, 299};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
        for (int h = 0; h < H; h++) {
            int t = tokens[i], virt[16];
            real total[16];
            const real *q = l->qn + (size_t)t * 2 * Dk;  // shared query
            um_ultramem_search(l, &ws, virt, total, q, q + Dk, h);
            size_t o = ((size_t)t * H + h) * m;
            for (int j = 0; j < m; j++) {
                ck_assert_int_eq(virt[j], l->virt[o + j]);
                ck_assert(fabs(total[j] - l->total[o + j]) <= 1e-5 * (1 + fabs(total[j])));
            }
        }
    um_ultramem_search_free(&ws);
    fixture_free(&f);
}
END_TEST


// ---------------------------------------------------------------- inference mode

// Inference mode caches what the keys and cores determine (normalised keys,
// summed cores, SVD). The cached forward must give the very bits of the
// uncached one; after the keys, key norm and cores change, turning it on
// again must recompute them (the documented invalidation), giving the bits
// a fresh uncached forward gives on the new parameters.
START_TEST(test_inference_mode_caches_keys_exactly) {
    one_thread();
    UmUltraMemConfig cfg = small_full();
    Fixture f;
    fixture_init(&f, &cfg, 40, 12, 41);  // > 16 tokens: the gemm scoring path
    size_t nd = (size_t)f.N * f.D;
    real *plain = um_alloc(nd * sizeof(real)), *cached = um_alloc(nd * sizeof(real));
    um_ultramem_forward(&f.l, plain, f.inp, f.N);  // off: prepared per forward
    real aux = f.l.aux_loss;
    um_ultramem_set_inference(&f.l, 1);
    for (int rep = 0; rep < 2; rep++) {  // the cache is reused, not consumed
        um_ultramem_forward(&f.l, cached, f.inp, f.N);
        ck_assert(memcmp(plain, cached, nd * sizeof(real)) == 0);
        ck_assert(f.l.aux_loss == aux);
    }
    // new keys, key norm and cores (what a checkpoint load or a step does)
    UmRng rng;
    rng_seed(&rng, 77);
    UmParam *changed[] = {f.l.keys, f.l.knorm_w, f.l.cores};
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < changed[k]->numel; i++) changed[k]->data[i] += (real)(0.5 * rng_normal(&rng));
        // new keys, not yet invalidated: the cache is really in use (the old
        // keys' answer). Each core's own score reads the cores live, so this
        // check stops before they change.
        if (k == 1) {
            um_ultramem_forward(&f.l, cached, f.inp, f.N);
            ck_assert(memcmp(plain, cached, nd * sizeof(real)) == 0);
        }
    }
    // invalidated: equals the uncached forward on the new parameters
    um_ultramem_set_inference(&f.l, 1);
    um_ultramem_forward(&f.l, cached, f.inp, f.N);
    real aux_cached = f.l.aux_loss;
    um_ultramem_set_inference(&f.l, 0);
    um_ultramem_forward(&f.l, plain, f.inp, f.N);
    ck_assert(memcmp(plain, cached, nd * sizeof(real)) == 0);
    ck_assert(f.l.aux_loss == aux_cached);
    ck_assert(aux_cached != aux);  // the new cores did change the cached part
    um_free(plain), um_free(cached);
    fixture_free(&f);
}
END_TEST

// Training must not read the cache: backward in inference mode dies.
START_TEST(test_backward_refused_in_inference_mode) {
    one_thread();
    UmUltraMemConfig cfg = small_full();
    Fixture f;
    fixture_init(&f, &cfg, 3, 12, 42);
    um_ultramem_set_inference(&f.l, 1);
    um_ultramem_forward(&f.l, f.out, f.inp, f.N);
    um_ultramem_backward(&f.l, f.dinp, f.dout, f.inp, f.N);
    fixture_free(&f);
}
END_TEST

Suite *ultramem_suite(void) {
    Suite *s = suite_create("ultramem");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_svd2_cases);
    tcase_add_test(tc, test_rank1_selection_is_exact);
    tcase_add_test(tc, test_all_off_equals_pkm);
    tcase_add_test(tc, test_ive_shuffle_is_a_deterministic_permutation);
    tcase_add_test(tc, test_ive_layer_map_from_seed_and_name);
    tcase_add_test(tc, test_ive_pool_then_project);
    tcase_add_test(tc, test_mcs_slices);
    tcase_add_test(tc, test_calibrated_mean_topm_score_is_one);
    tcase_add_test(tc, test_value_lr_schedule);
    tcase_add_test(tc, test_registers_params_and_groups);
    tcase_add_test(tc, test_probe_only_when_attached);
    tcase_add_test(tc, test_bit_identical_across_threads);
    tcase_add_test(tc, test_backward_accumulates);
    tcase_add_test(tc, test_filtered_topk_equals_topk);
    tcase_add_test(tc, test_grid_topk_equals_topk);
    tcase_add_test(tc, test_chunked_scoring_matches_single_query_search);
    tcase_add_test(tc, test_inference_mode_caches_keys_exactly);
    tcase_add_exit_test(tc, test_backward_refused_in_inference_mode, UM_EXIT_USAGE);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}

// ---------------------------------------------------------------- PyTorch cross-check
// The C layer with every trick on against an independent PyTorch reference
// (tests/ref/ultramem_reference.py -> tests/fixtures/ultramem_small.bin,
// format in tests/fixtures/README.md): winners, physical rows, blocks, out,
// aux loss, dinp and every parameter gradient.

#define UM_FIXTURE "tests/fixtures/ultramem_small.bin"

static int32_t *fx_read_i32(FILE *f, size_t count) {
    int32_t *out = malloc(count * sizeof *out);
    ck_assert_msg(fread(out, 4, count, f) == count, UM_FIXTURE " is truncated");
    return out;
}

START_TEST(test_ultramem_matches_pytorch) {
    one_thread();
    FILE *f = fopen(UM_FIXTURE, "rb");
    ck_assert_msg(f != NULL, "cannot open " UM_FIXTURE " (run the tests from the repo root)");
    char magic[4];
    uint32_t version;
    int32_t d[10];
    float coef[2];
    ck_assert(fread(magic, 1, 4, f) == 4 && memcmp(magic, "UMUF", 4) == 0);
    ck_assert(fread(&version, 4, 1, f) == 1 && version == 1);
    ck_assert(fread(d, 4, 10, f) == 10 && fread(coef, 4, 2, f) == 2);
    int N = d[0], D = d[1], H = d[4], m = d[6];
    UmUltraMemConfig cfg = um_ultramem_config_default();  // every trick on
    cfg.n = d[2], cfg.E = d[3], cfg.H = H, cfg.Dk = d[5], cfg.m = m, cfg.Dv = d[7], cfg.r = d[8], cfg.cores = d[9];
    cfg.aux_alpha = coef[0], cfg.aux_tau = coef[1];
    UmParamRegistry reg;
    params_init(&reg);
    UmRng rng;
    rng_seed(&rng, 1);
    UmUltraMem l;
    um_ultramem_init(&l, &cfg, D, N, &reg, &rng, "um.");
    enum { NP = 7 };
    UmParam *params[NP] = {l.wq, l.qnorm_w, l.keys, l.knorm_w, l.cores, l.values, l.wo};
    size_t nd = (size_t)N * D, reads = (size_t)N * H * m;
    real *inp = fixture_read_f32(f, nd, UM_FIXTURE);
    for (int i = 0; i < NP; i++) {
        real *w = fixture_read_f32(f, params[i]->numel, UM_FIXTURE);
        memcpy(params[i]->data, w, params[i]->numel * sizeof(real));
        um_free(w);
    }
    int32_t *shuffle = fx_read_i32(f, (size_t)l.n_virt);
    for (int i = 0; i < l.n_virt; i++) l.shuffle[i] = shuffle[i];  // the reference drew its own map
    real *dout = fixture_read_f32(f, nd, UM_FIXTURE), *out_ref = fixture_read_f32(f, nd, UM_FIXTURE);
    real *aux_ref = fixture_read_f32(f, 1, UM_FIXTURE);
    int32_t *virt = fx_read_i32(f, reads), *phys = fx_read_i32(f, reads), *block = fx_read_i32(f, reads);
    real *dinp_ref = fixture_read_f32(f, nd, UM_FIXTURE), *grads_ref[NP];
    for (int i = 0; i < NP; i++) grads_ref[i] = fixture_read_f32(f, params[i]->numel, UM_FIXTURE);
    char extra;
    ck_assert_msg(fread(&extra, 1, 1, f) == 0, UM_FIXTURE " has trailing bytes");
    fclose(f);

    real *out = um_alloc(nd * sizeof(real)), *dinp = um_alloc(nd * sizeof(real));
    um_ultramem_forward(&l, out, inp, N);
    for (size_t i = 0; i < reads; i++) {
        ck_assert_int_eq(l.virt[i], virt[i]);
        ck_assert_int_eq(l.phys[i], phys[i]);
        ck_assert_int_eq(l.block[i], block[i]);
    }
    size_t at;
    ck_assert_msg(max_rel_diff(out, out_ref, nd, 1e-4, &at) < 1e-4, "out differs at %zu", at);
    ck_assert_msg(fabs(l.aux_loss - aux_ref[0]) < 1e-5 * (1 + fabs(aux_ref[0])), "aux %g vs %g", l.aux_loss,
                  aux_ref[0]);
    params_zero_grad(&reg);
    um_ultramem_backward(&l, dinp, dout, inp, N);
    ck_assert_msg(max_rel_diff(dinp, dinp_ref, nd, 1e-4, &at) < 1e-3, "dinp differs at %zu", at);
    for (int i = 0; i < NP; i++) {
        double e = max_rel_diff(params[i]->grad, grads_ref[i], params[i]->numel, 1e-4, &at);
        ck_assert_msg(e < 1e-3, "%s gradient differs at %zu: %g vs %g (rel %g)", params[i]->name, at,
                      params[i]->grad[at], grads_ref[i][at], e);
        um_free(grads_ref[i]);
    }
    um_free(inp), um_free(dout), um_free(out_ref), um_free(aux_ref), um_free(dinp_ref), um_free(out), um_free(dinp);
    free(shuffle), free(virt), free(phys), free(block);
    um_ultramem_free(&l);
    params_free(&reg);
}
END_TEST

Suite *ultramem_fixture_suite(void) {
    Suite *s = suite_create("ultramem_fixture");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_ultramem_matches_pytorch);
    suite_add_tcase(s, tc);
    return s;
}
