// test_step_kernels.c: the SIMD loops of a training step besides the matmul
// kernels (LayerNorm backward, RMSNorm, AdamW, attention's softmax rows and
// its transposes) against their scalar references: for the norms and AdamW the
// plain loops in lib/nn reached with UM_SIMD=scalar, otherwise the _ref
// functions beside the kernels.
//
// AdamW's SIMD loop does the same IEEE operations in the same order as the
// scalar loop, so it must match bit for bit. LayerNorm's backward sums each
// row in SIMD lanes, so it matches to a few ulps of the terms' magnitude.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/rng.h"
#include "helpers/testutil.h"
#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "kernels/softmax.h"
#include "nn/adamw.h"
#include "nn/layernorm.h"

static const UmSimdPath STEP_FAST_PATHS[] = {UM_SIMD_AVX2, UM_SIMD_AVX512};

static int step_use_path(UmSimdPath p) {
    if (um_simd_use(p) == 0) return 0;
    printf("note: %s path not available on this CPU/build, skipped\n", um_simd_name_of(p));
    return -1;
}

static real *dup(const real *src, size_t n) {
    real *p = um_alloc(n * sizeof(real));
    memcpy(p, src, n * sizeof(real));
    return p;
}

// Lengths around the vector widths, a ragged one past a 4096-element chunk,
// and one big enough (>= 16k) to be split across threads.
static const int ADAMW_LENS[] = {1, 7, 8, 15, 16, 17, 100, 4096 + 5, 20000 + 3};

START_TEST(adamw_paths_give_the_same_bits) {
    UmRng rng;
    rng_seed(&rng, 81);
    UmAdamW opt = adamw_defaults();
    for (size_t l = 0; l < sizeof ADAMW_LENS / sizeof ADAMW_LENS[0]; l++) {
        const size_t n = (size_t)ADAMW_LENS[l];
        real *w = um_alloc(n * sizeof(real)), *g = um_alloc(n * sizeof(real));
        real *m = um_alloc(n * sizeof(real)), *v = um_alloc(n * sizeof(real));
        fill_normal(w, n, &rng, 1.0), fill_normal(g, n, &rng, 0.1), fill_normal(m, n, &rng, 0.01);
        for (size_t i = 0; i < n; i++) v[i] = (real)(rng_uniform(&rng) * 1e-3);
        v[0] = 0, g[0] = 0;  // a weight that has never had a gradient: sqrt(0) + eps
        for (int step = 1; step <= 10; step += 9) {  // the bias corrections differ at t = 1 and t = 10
            ck_assert_int_eq(um_simd_use(UM_SIMD_SCALAR), 0);
            real *w0 = dup(w, n), *m0 = dup(m, n), *v0 = dup(v, n);
            adamw_update(w0, g, m0, v0, n, (real)3e-3, (real)0.1, (real)0.7, &opt, step);
            for (int p = 0; p < 2; p++) {
                if (step_use_path(STEP_FAST_PATHS[p]) != 0) continue;
                real *w1 = dup(w, n), *m1 = dup(m, n), *v1 = dup(v, n);
                adamw_update(w1, g, m1, v1, n, (real)3e-3, (real)0.1, (real)0.7, &opt, step);
                ck_assert_msg(memcmp(w1, w0, n * sizeof(real)) == 0, "adamw w differs, n %zu, %s", n,
                              um_simd_path_name());
                ck_assert_msg(memcmp(m1, m0, n * sizeof(real)) == 0, "adamw m differs, n %zu", n);
                ck_assert_msg(memcmp(v1, v0, n * sizeof(real)) == 0, "adamw v differs, n %zu", n);
                um_free(w1), um_free(m1), um_free(v1);
            }
            um_free(w0), um_free(m0), um_free(v0);
        }
        um_free(w), um_free(g), um_free(m), um_free(v);
    }
}
END_TEST

// dinp on rows with an offset (mean 3) and a spread, widths around the
// vector widths. The tolerance is relative to the row's terms:
// rstd * (|dnorm| + mean|dnorm| + |norm| * mean|dnorm * norm|).
START_TEST(layernorm_backward_paths_agree) {
    UmRng rng;
    rng_seed(&rng, 82);
    static const int WIDTHS[] = {1, 5, 8, 16, 17, 33, 128};
    const int N = 9;
    for (size_t s = 0; s < sizeof WIDTHS / sizeof WIDTHS[0]; s++) {
        const int D = WIDTHS[s];
        const size_t nd = (size_t)N * D;
        real *x = um_alloc(nd * sizeof(real)), *dy = um_alloc(nd * sizeof(real)), *y = um_alloc(nd * sizeof(real));
        real *w = um_alloc(D * sizeof(real)), *b = um_alloc(D * sizeof(real));
        real *mean = um_alloc(N * sizeof(real)), *rstd = um_alloc(N * sizeof(real)), *dx0 = um_alloc(nd * sizeof(real));
        fill_normal(x, nd, &rng, 2.0), fill_normal(dy, nd, &rng, 1.0), fill_normal(w, D, &rng, 1.0);
        fill_normal(dx0, nd, &rng, 1.0);  // backward accumulates: start from something
        for (size_t i = 0; i < nd; i++) x[i] += 3;
        ck_assert_int_eq(um_simd_use(UM_SIMD_SCALAR), 0);
        layernorm_forward(y, mean, rstd, x, w, b, N, D);
        real *dx_ref = dup(dx0, nd), *dw_ref = um_alloc(D * sizeof(real)), *db_ref = um_alloc(D * sizeof(real));
        layernorm_backward(dx_ref, dw_ref, db_ref, dy, x, w, mean, rstd, N, D);
        for (int p = 0; p < 2; p++) {
            if (step_use_path(STEP_FAST_PATHS[p]) != 0) continue;
            real *dx = dup(dx0, nd), *dw = um_alloc(D * sizeof(real)), *db = um_alloc(D * sizeof(real));
            layernorm_backward(dx, dw, db, dy, x, w, mean, rstd, N, D);
            for (int n = 0; n < N; n++) {
                double m1 = 0, m2 = 0;
                for (int d = 0; d < D; d++) {
                    double norm = ((double)x[n * D + d] - mean[n]) * rstd[n], dnorm = (double)dy[n * D + d] * w[d];
                    m1 += fabs(dnorm) / D, m2 += fabs(dnorm * norm) / D;
                }
                for (int d = 0; d < D; d++) {
                    size_t i = (size_t)n * D + d;
                    double norm = ((double)x[i] - mean[n]) * rstd[n], dnorm = (double)dy[i] * w[d];
                    double mag = fabs((double)dx0[i]) + rstd[n] * (fabs(dnorm) + m1 + fabs(norm) * m2);
                    ck_assert_msg(fabs((double)dx[i] - (double)dx_ref[i]) <= 1e-5 * mag,
                                  "layernorm dx[%d][%d] %.9g vs %.9g (D %d, %s)", n, d, (double)dx[i],
                                  (double)dx_ref[i], D, um_simd_path_name());
                }
            }
            // the parameter gradients are the same loop on every path
            ck_assert(memcmp(dw, dw_ref, D * sizeof(real)) == 0 && memcmp(db, db_ref, D * sizeof(real)) == 0);
            um_free(dx), um_free(dw), um_free(db);
        }
        um_free(x), um_free(dy), um_free(y), um_free(w), um_free(b), um_free(mean), um_free(rstd), um_free(dx0);
        um_free(dx_ref), um_free(dw_ref), um_free(db_ref);
    }
}
END_TEST

// matrix_transpose is a copy: exact, on ragged sizes (not multiples of its
// 4 x 4 blocks) and with row strides wider than the rows.
START_TEST(matrix_transpose_is_exact) {
    static const int SIZES[][2] = {{1, 1}, {3, 5}, {4, 4}, {7, 9}, {128, 32}, {33, 17}};
    for (size_t s = 0; s < sizeof SIZES / sizeof SIZES[0]; s++) {
        const int rows = SIZES[s][0], cols = SIZES[s][1];
        const size_t lds = (size_t)cols + 3, ldd = (size_t)rows + 2;
        real *src = um_alloc((size_t)rows * lds * sizeof(real)), *dst = um_alloc((size_t)cols * ldd * sizeof(real));
        for (size_t i = 0; i < (size_t)rows * lds; i++) src[i] = (real)i;
        for (size_t i = 0; i < (size_t)cols * ldd; i++) dst[i] = -1;
        matrix_transpose(dst, ldd, src, lds, rows, cols);
        for (int c = 0; c < cols; c++)
            for (size_t r = 0; r < ldd; r++)  // the padding past `rows` stays untouched
                ck_assert(dst[c * ldd + r] == (r < (size_t)rows ? src[r * lds + c] : -1));
        um_free(src), um_free(dst);
    }
}
END_TEST

// softmax_scaled: scores up to +-30 / scale, lengths around the vector
// widths, in place and not. Each p is a few ulps from the reference; the
// polynomial exp is good to ~2 ulp, the sum and 1/sum add a few more.
START_TEST(softmax_scaled_matches_ref) {
    UmRng rng;
    rng_seed(&rng, 83);
    static const int LENS[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 48, 100, 129};
    const real scale = (real)0.17677669529663687;  // 1/sqrt(32), attention's
    for (int p = 0; p < 2; p++) {
        if (step_use_path(STEP_FAST_PATHS[p]) != 0) continue;
        for (size_t l = 0; l < sizeof LENS / sizeof LENS[0]; l++)
            for (int in_place = 0; in_place < 2; in_place++) {
                const int n = LENS[l];
                real *x = um_alloc(n * sizeof(real)), *got = um_alloc(n * sizeof(real));
                real *want = um_alloc(n * sizeof(real));
                for (int i = 0; i < n; i++) x[i] = (real)((rng_uniform(&rng) * 2 - 1) * 30 / scale);
                softmax_scaled_ref(want, x, n, scale);
                real *out = in_place ? x : got;
                softmax_scaled(out, x, n, scale);
                double total = 0;
                for (int i = 0; i < n; i++) {
                    ck_assert_msg(fabs((double)out[i] - (double)want[i]) <= 1e-6 * (double)want[i] + 1e-30,
                                  "softmax_scaled n %d [%d]: %.9g vs %.9g (%s)", n, i, (double)out[i], (double)want[i],
                                  um_simd_path_name());
                    total += out[i];
                }
                ck_assert_msg(fabs(total - 1) < 1e-5, "softmax_scaled n %d sums to %.9g", n, total);
                um_free(x), um_free(got), um_free(want);
            }
    }
}
END_TEST

// softmax_scaled_backward against its reference, on real softmax rows; the
// tolerance is relative to the terms, scale * p * (|dp| + sum |p dp|).
START_TEST(softmax_scaled_backward_matches_ref) {
    UmRng rng;
    rng_seed(&rng, 84);
    static const int LENS[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 48, 100, 129};
    const real scale = (real)0.17677669529663687;
    for (int p = 0; p < 2; p++) {
        if (step_use_path(STEP_FAST_PATHS[p]) != 0) continue;
        for (size_t l = 0; l < sizeof LENS / sizeof LENS[0]; l++) {
            const int n = LENS[l];
            real *x = um_alloc(n * sizeof(real)), *pr = um_alloc(n * sizeof(real)), *dp = um_alloc(n * sizeof(real));
            real *got = um_alloc(n * sizeof(real)), *want = um_alloc(n * sizeof(real));
            fill_normal(x, n, &rng, 10.0), fill_normal(dp, n, &rng, 1.0);
            softmax_scaled_ref(pr, x, n, scale);
            softmax_scaled_backward_ref(want, pr, dp, n, scale);
            softmax_scaled_backward(got, pr, dp, n, scale);
            double sum_abs = 0;
            for (int i = 0; i < n; i++) sum_abs += fabs((double)pr[i] * dp[i]);
            for (int i = 0; i < n; i++) {
                double mag = scale * pr[i] * (fabs((double)dp[i]) + sum_abs);
                ck_assert_msg(fabs((double)got[i] - (double)want[i]) <= 1e-6 * mag + 1e-30,
                              "softmax_scaled_backward n %d [%d]: %.9g vs %.9g (%s)", n, i, (double)got[i],
                              (double)want[i], um_simd_path_name());
            }
            um_free(x), um_free(pr), um_free(dp), um_free(got), um_free(want);
        }
    }
}
END_TEST

// RMSNorm forward (y, rstd) and backward (dinp) against the scalar loops,
// tolerances relative to the terms; dweight is the same loop on every path.
START_TEST(rmsnorm_paths_agree) {
    UmRng rng;
    rng_seed(&rng, 85);
    static const int WIDTHS[] = {1, 5, 8, 16, 17, 33, 53, 128};
    const int N = 7;
    for (size_t s = 0; s < sizeof WIDTHS / sizeof WIDTHS[0]; s++) {
        const int D = WIDTHS[s];
        const size_t nd = (size_t)N * D;
        real *x = um_alloc(nd * sizeof(real)), *dy = um_alloc(nd * sizeof(real)), *w = um_alloc(D * sizeof(real));
        real *dx0 = um_alloc(nd * sizeof(real));
        fill_normal(x, nd, &rng, 2.0), fill_normal(dy, nd, &rng, 1.0), fill_normal(w, D, &rng, 1.0);
        fill_normal(dx0, nd, &rng, 1.0);
        ck_assert_int_eq(um_simd_use(UM_SIMD_SCALAR), 0);
        real *y_ref = um_alloc(nd * sizeof(real)), *rs_ref = um_alloc(N * sizeof(real));
        real *dx_ref = dup(dx0, nd), *dw_ref = um_alloc(D * sizeof(real));
        rmsnorm_forward(y_ref, rs_ref, x, w, N, D);
        rmsnorm_backward(dx_ref, dw_ref, dy, x, w, rs_ref, N, D);
        for (int p = 0; p < 2; p++) {
            if (step_use_path(STEP_FAST_PATHS[p]) != 0) continue;
            real *y = um_alloc(nd * sizeof(real)), *rs = um_alloc(N * sizeof(real));
            real *dx = dup(dx0, nd), *dw = um_alloc(D * sizeof(real));
            rmsnorm_forward(y, rs, x, w, N, D);
            rmsnorm_backward(dx, dw, dy, x, w, rs_ref, N, D);  // the same rstd, so only the backward differs
            for (int n = 0; n < N; n++) {
                ck_assert_msg(fabs((double)rs[n] - (double)rs_ref[n]) <= 1e-6 * (double)rs_ref[n], "rmsnorm rstd %d",
                              n);
                double m = 0;
                for (int d = 0; d < D; d++) {
                    size_t i = (size_t)n * D + d;
                    m += fabs((double)dy[i] * w[d] * x[i] * rs_ref[n]) / D;
                }
                for (int d = 0; d < D; d++) {
                    size_t i = (size_t)n * D + d;
                    double ymag = fabs((double)x[i] * rs_ref[n] * w[d]);
                    ck_assert_msg(fabs((double)y[i] - (double)y_ref[i]) <= 2e-6 * ymag + 1e-30,
                                  "rmsnorm y[%d][%d] (%s)", n, d, um_simd_path_name());
                    double dmag = fabs((double)dx0[i]) + rs_ref[n] * (fabs((double)dy[i] * w[d]) +
                                                                      fabs((double)x[i] * rs_ref[n]) * m);
                    ck_assert_msg(fabs((double)dx[i] - (double)dx_ref[i]) <= 1e-5 * dmag,
                                  "rmsnorm dx[%d][%d] %.9g vs %.9g (D %d, %s)", n, d, (double)dx[i],
                                  (double)dx_ref[i], D, um_simd_path_name());
                }
            }
            ck_assert(memcmp(dw, dw_ref, D * sizeof(real)) == 0);
            um_free(y), um_free(rs), um_free(dx), um_free(dw);
        }
        um_free(x), um_free(dy), um_free(w), um_free(dx0), um_free(y_ref), um_free(rs_ref), um_free(dx_ref);
        um_free(dw_ref);
    }
}
END_TEST

Suite *step_kernels_suite(void) {
    Suite *s = suite_create("step_kernels");
    TCase *tc = tcase_create("simd_vs_scalar");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, adamw_paths_give_the_same_bits);
    tcase_add_test(tc, layernorm_backward_paths_agree);
    tcase_add_test(tc, rmsnorm_paths_agree);
    tcase_add_test(tc, matrix_transpose_is_exact);
    tcase_add_test(tc, softmax_scaled_matches_ref);
    tcase_add_test(tc, softmax_scaled_backward_matches_ref);
    suite_add_tcase(s, tc);
    return s;
}
