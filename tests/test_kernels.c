// test_kernels.c: every SIMD kernel against its scalar reference.
//
// For each path this CPU can run (avx2, avx512; others print a note and are
// skipped) the fast kernels must agree with the *_ref definitions on ragged
// shapes: N=1, odd C, lengths that are not a multiple of the vector width,
// pointers one float past an aligned address, and backward accumulating
// into outputs that already hold values.
//
// Tolerance: float sums done in a different order differ by a few ulps of
// the *terms*, not of the result (which may cancel to near zero). So each
// element is compared with 1e-5 x (the same sum taken over |terms|), which
// the reference computes for us when fed absolute values.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/alloc.h"
#include "base/rng.h"
#include "helpers/testutil.h"
#include "kernels/activation.h"
#include "kernels/dispatch.h"
#include "kernels/softmax.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"
#include "kernels/vec.h"
#include "nn/attention.h"

#define REL_TOL 1e-5

static const UmSimdPath FAST_PATHS[] = {UM_SIMD_AVX2, UM_SIMD_AVX512};
#define NFAST 2

// Switch to a path, or say why not. Returns 0 when the path is in use.
static int use_path(UmSimdPath p) {
    if (um_simd_use(p) == 0) return 0;
    printf("note: %s path not available on this CPU/build, skipped\n", um_simd_name_of(p));
    return -1;
}

// A buffer of n reals, one float past a 64-byte boundary when `shifted`,
// so kernels are exercised on unaligned data. Free with free_buf.
static real *new_buf(size_t n, int shifted) { return (real *)um_alloc((n + 1) * sizeof(real)) + (shifted ? 1 : 0); }
static void free_buf(real *p, int shifted) { um_free(p - (shifted ? 1 : 0)); }

static real *copy_of(const real *src, size_t n, int shifted) {
    real *p = new_buf(n, shifted);
    memcpy(p, src, n * sizeof(real));
    return p;
}

static real *abs_of(const real *src, size_t n) {
    real *p = new_buf(n, 0);
    for (size_t i = 0; i < n; i++) p[i] = (real)fabs((double)src[i]);
    return p;
}

// |got - want| <= REL_TOL * mag elementwise (mag = sum of |terms| per element).
static void assert_close(const real *got, const real *want, const real *mag, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - (double)want[i]);
        ck_assert_msg(err <= REL_TOL * (double)mag[i] + 1e-30, "%s [%s]: element %zu is %.9g, reference %.9g (|terms| %.3g)",
                      what, um_simd_path_name(), i, (double)got[i], (double)want[i], (double)mag[i]);
    }
}

// ---------------------------------------------------------------- matmul

typedef struct {
    int N, C, OC;
} MatShape;

// Ragged on purpose: N=1, odd C and OC, sizes around the register tiles
// (6x16, 12x32), and K past the 256-wide cache block.
static const MatShape MAT_SHAPES[] = {
    {1, 1, 1},    {1, 17, 5},    {3, 7, 33},   {5, 130, 129}, {13, 33, 47},  {37, 64, 96},
    {64, 100, 70}, {97, 257, 31}, {300, 45, 260}, {25, 300, 64}, {130, 129, 97},
    // the few-rows forward (4..16 rows, weight read unpacked): ragged tiles and C tails
    {4, 16, 4},   {6, 3, 9},     {8, 512, 37}, {11, 33, 66},  {16, 129, 65}, {17, 40, 30},
};
#define NMAT ((int)(sizeof MAT_SHAPES / sizeof MAT_SHAPES[0]))

static void check_forward(const MatShape *s, int with_bias, int shifted, UmRng *rng) {
    const int N = s->N, C = s->C, OC = s->OC;
    real *inp = new_buf((size_t)N * C, shifted), *w = new_buf((size_t)OC * C, shifted);
    real *bias = new_buf(OC, shifted);
    real *out = new_buf((size_t)N * OC, shifted), *want = new_buf((size_t)N * OC, 0);
    fill_normal(inp, (size_t)N * C, rng, 1.0);
    fill_normal(w, (size_t)OC * C, rng, 1.0);
    fill_normal(bias, OC, rng, 1.0);
    fill_normal(out, (size_t)N * OC, rng, 1.0);  // garbage the forward must overwrite
    const real *b = with_bias ? bias : NULL;

    matmul_forward(out, inp, w, b, N, C, OC);
    matmul_forward_ref(want, inp, w, b, N, C, OC);

    real *ainp = abs_of(inp, (size_t)N * C), *aw = abs_of(w, (size_t)OC * C), *ab = abs_of(bias, OC);
    real *mag = new_buf((size_t)N * OC, 0);
    matmul_forward_ref(mag, ainp, aw, with_bias ? ab : NULL, N, C, OC);
    char what[96];
    snprintf(what, sizeof what, "forward %dx%dx%d bias=%d shifted=%d", N, C, OC, with_bias, shifted);
    assert_close(out, want, mag, (size_t)N * OC, what);

    free_buf(inp, shifted), free_buf(w, shifted), free_buf(bias, shifted), free_buf(out, shifted);
    free_buf(want, 0), free_buf(ainp, 0), free_buf(aw, 0), free_buf(ab, 0), free_buf(mag, 0);
}

// which: bit 0 dinp, bit 1 dweight, bit 2 dbias (the others are passed NULL).
static void check_backward(const MatShape *s, int which, int shifted, UmRng *rng) {
    const int N = s->N, C = s->C, OC = s->OC;
    const size_t nc = (size_t)N * C, oc = (size_t)OC * C, no = (size_t)N * OC;
    real *inp = new_buf(nc, shifted), *w = new_buf(oc, shifted), *dout = new_buf(no, shifted);
    real *dinp0 = new_buf(nc, 0), *dw0 = new_buf(oc, 0), *db0 = new_buf(OC, 0);
    fill_normal(inp, nc, rng, 1.0);
    fill_normal(w, oc, rng, 1.0);
    fill_normal(dout, no, rng, 1.0);
    // Gradients already hold something: backward must add, not overwrite.
    fill_normal(dinp0, nc, rng, 1.0);
    fill_normal(dw0, oc, rng, 1.0);
    fill_normal(db0, OC, rng, 1.0);

    real *dinp = copy_of(dinp0, nc, shifted), *dw = copy_of(dw0, oc, shifted), *db = copy_of(db0, OC, shifted);
    real *dinp_ref = copy_of(dinp0, nc, 0), *dw_ref = copy_of(dw0, oc, 0), *db_ref = copy_of(db0, OC, 0);
    matmul_backward(which & 1 ? dinp : NULL, which & 2 ? dw : NULL, which & 4 ? db : NULL, dout, inp, w, N, C, OC);
    matmul_backward_ref(which & 1 ? dinp_ref : NULL, which & 2 ? dw_ref : NULL, which & 4 ? db_ref : NULL, dout, inp,
                        w, N, C, OC);

    // Magnitudes: the same backward over |values|, starting from |initial gradient|.
    real *ainp = abs_of(inp, nc), *aw = abs_of(w, oc), *adout = abs_of(dout, no);
    real *mdinp = abs_of(dinp0, nc), *mdw = abs_of(dw0, oc), *mdb = abs_of(db0, OC);
    matmul_backward_ref(mdinp, mdw, mdb, adout, ainp, aw, N, C, OC);

    char what[96];
    snprintf(what, sizeof what, "backward %dx%dx%d which=%d shifted=%d", N, C, OC, which, shifted);
    // A NULL output must be left alone: compare it with its initial value.
    assert_close(dinp, which & 1 ? dinp_ref : dinp0, mdinp, nc, what);
    assert_close(dw, which & 2 ? dw_ref : dw0, mdw, oc, what);
    assert_close(db, which & 4 ? db_ref : db0, mdb, OC, what);

    free_buf(inp, shifted), free_buf(w, shifted), free_buf(dout, shifted);
    free_buf(dinp, shifted), free_buf(dw, shifted), free_buf(db, shifted);
    real *plain[] = {dinp0, dw0, db0, dinp_ref, dw_ref, db_ref, ainp, aw, adout, mdinp, mdw, mdb};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) free_buf(plain[i], 0);
}

START_TEST(matmul_forward_matches_ref) {
    UmRng rng;
    rng_seed(&rng, 11);
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int i = 0; i < NMAT; i++)
            for (int shifted = 0; shifted < 2; shifted++)
                for (int bias = 0; bias < 2; bias++) check_forward(&MAT_SHAPES[i], bias, shifted, &rng);
    }
}
END_TEST

START_TEST(matmul_backward_matches_ref) {
    UmRng rng;
    rng_seed(&rng, 12);
    const int combos[] = {7, 1, 2, 4, 3};  // all three, each alone, dinp+dweight
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int i = 0; i < NMAT; i++)
            for (int shifted = 0; shifted < 2; shifted++)
                for (int c = 0; c < 5; c++) check_backward(&MAT_SHAPES[i], combos[c], shifted, &rng);
    }
}
END_TEST

// Same inputs, same thread count -> the same bits; and our blocking sums
// every element in an order that does not depend on the thread count at all.
START_TEST(matmul_is_deterministic) {
    const int N = 200, C = 300, OC = 150;  // several row blocks and two K blocks
    UmRng rng;
    rng_seed(&rng, 13);
    real *inp = new_buf((size_t)N * C, 0), *w = new_buf((size_t)OC * C, 0), *dout = new_buf((size_t)N * OC, 0);
    fill_normal(inp, (size_t)N * C, &rng, 1.0);
    fill_normal(w, (size_t)OC * C, &rng, 1.0);
    fill_normal(dout, (size_t)N * OC, &rng, 1.0);
    real *out[3], *dw[3], *dx[3];
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int run = 0; run < 3; run++) {
#ifdef _OPENMP
            omp_set_num_threads(run == 2 ? 1 : 2);
#endif
            out[run] = new_buf((size_t)N * OC, 0), dw[run] = new_buf((size_t)OC * C, 0), dx[run] = new_buf((size_t)N * C, 0);
            matmul_forward(out[run], inp, w, NULL, N, C, OC);
            matmul_backward(dx[run], dw[run], NULL, dout, inp, w, N, C, OC);
        }
        for (int run = 1; run < 3; run++) {
            ck_assert_msg(memcmp(out[0], out[run], sizeof(real) * N * OC) == 0, "forward differs in run %d", run);
            ck_assert_msg(memcmp(dx[0], dx[run], sizeof(real) * N * C) == 0, "dinp differs in run %d", run);
            ck_assert_msg(memcmp(dw[0], dw[run], sizeof(real) * OC * C) == 0, "dweight differs in run %d", run);
        }
        for (int run = 0; run < 3; run++) free_buf(out[run], 0), free_buf(dw[run], 0), free_buf(dx[run], 0);
    }
    free_buf(inp, 0), free_buf(w, 0), free_buf(dout, 0);
}
END_TEST

// The few-rows forward splits the outputs among threads: every output is
// still summed the same way, so 1 and 2 threads give the same bits.
START_TEST(matmul_few_rows_is_deterministic) {
    const int N = 11, C = 300, OC = 1000;  // several 64-output chunks, ragged tiles
    UmRng rng;
    rng_seed(&rng, 14);
    real *inp = new_buf((size_t)N * C, 1), *w = new_buf((size_t)OC * C, 0), *bias = new_buf(OC, 0);
    fill_normal(inp, (size_t)N * C, &rng, 1.0);
    fill_normal(w, (size_t)OC * C, &rng, 1.0);
    fill_normal(bias, OC, &rng, 1.0);
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        real *out[2];
        for (int run = 0; run < 2; run++) {
#ifdef _OPENMP
            omp_set_num_threads(run == 0 ? 2 : 1);
#endif
            out[run] = new_buf((size_t)N * OC, 0);
            matmul_forward(out[run], inp, w, bias, N, C, OC);
        }
        ck_assert_msg(memcmp(out[0], out[1], sizeof(real) * N * OC) == 0, "few-rows forward differs [%s]",
                      um_simd_path_name());
        free_buf(out[0], 0), free_buf(out[1], 0);
    }
    free_buf(inp, 1), free_buf(w, 0), free_buf(bias, 0);
}
END_TEST

// ---------------------------------------------------------------- vec

static const int VEC_LENS[] = {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 65, 100, 129};
#define NLENS ((int)(sizeof VEC_LENS / sizeof VEC_LENS[0]))

START_TEST(vec_dot_axpy_scale_match_ref) {
    UmRng rng;
    rng_seed(&rng, 21);
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int li = 0; li < NLENS; li++)
            for (int shifted = 0; shifted < 2; shifted++) {
                const int n = VEC_LENS[li];
                real *a = new_buf(n, shifted), *b = new_buf(n, shifted);
                fill_normal(a, n, &rng, 1.0);
                fill_normal(b, n, &rng, 1.0);
                real *aa = abs_of(a, n), *ab = abs_of(b, n);
                real got = vec_dot(a, b, n), want = vec_dot_ref(a, b, n), mag = vec_dot_ref(aa, ab, n);
                assert_close(&got, &want, &mag, 1, "dot");

                real *y = copy_of(b, n, shifted), *y_ref = copy_of(b, n, 0);
                vec_axpy(y, (real)0.37, a, n);
                vec_axpy_ref(y_ref, (real)0.37, a, n);
                real *ymag = copy_of(ab, n, 0);
                vec_axpy_ref(ymag, (real)0.37, aa, n);
                assert_close(y, y_ref, ymag, n, "axpy");

                vec_scale(y, (real)-1.7, n);
                vec_scale_ref(y_ref, (real)-1.7, n);
                vec_scale_ref(ymag, (real)1.7, n);
                assert_close(y, y_ref, ymag, n, "scale");

                free_buf(a, shifted), free_buf(b, shifted), free_buf(y, shifted);
                free_buf(aa, 0), free_buf(ab, 0), free_buf(y_ref, 0), free_buf(ymag, 0);
            }
    }
}
END_TEST

START_TEST(vec_score_keys_matches_ref) {
    UmRng rng;
    rng_seed(&rng, 22);
    const int ns[] = {1, 3, 4, 5, 9, 64};
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int ni = 0; ni < 6; ni++)
            for (int li = 0; li < NLENS; li++)
                for (int shifted = 0; shifted < 2; shifted++) {
                    const int n = ns[ni], Dk = VEC_LENS[li];
                    real *keys = new_buf((size_t)n * Dk, shifted), *q = new_buf(Dk, shifted);
                    real *s = new_buf(n, shifted), *s_ref = new_buf(n, 0), *mag = new_buf(n, 0);
                    fill_normal(keys, (size_t)n * Dk, &rng, 1.0);
                    fill_normal(q, Dk, &rng, 1.0);
                    vec_score_keys(s, q, keys, n, Dk);
                    vec_score_keys_ref(s_ref, q, keys, n, Dk);
                    real *akeys = abs_of(keys, (size_t)n * Dk), *aq = abs_of(q, Dk);
                    vec_score_keys_ref(mag, aq, akeys, n, Dk);
                    assert_close(s, s_ref, mag, n, "score_keys");
                    free_buf(keys, shifted), free_buf(q, shifted), free_buf(s, shifted);
                    free_buf(s_ref, 0), free_buf(mag, 0), free_buf(akeys, 0), free_buf(aq, 0);
                }
    }
}
END_TEST

// The threshold filter of top-k: same positions, same order, NaN never kept.
START_TEST(vec_indices_at_least_matches_ref) {
    UmRng rng;
    rng_seed(&rng, 24);
    const int n_max = 300;
    real *x = new_buf(n_max, 1);
    int got[300], want[300];
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int n = 0; n <= n_max; n += (n < 40 ? 1 : 37)) {
            fill_normal(x, n, &rng, 1.0);
            if (n > 5) x[3] = (real)NAN, x[n - 1] = (real)1.5;  // a NaN, and a value equal to one threshold
            const real thrs[] = {(real)-INFINITY, (real)0.0, (real)1.5, (real)2.5, (real)INFINITY};
            for (int t = 0; t < 5; t++) {
                int ng = vec_indices_at_least(got, x, n, thrs[t], 1000);
                int nw = vec_indices_at_least_ref(want, x, n, thrs[t], 1000);
                ck_assert_msg(ng == nw, "n=%d thr=%g: %d kept, reference %d [%s]", n, (double)thrs[t], ng, nw,
                              um_simd_path_name());
                ck_assert_msg(memcmp(got, want, (size_t)ng * sizeof(int)) == 0, "n=%d thr=%g: positions differ [%s]",
                              n, (double)thrs[t], um_simd_path_name());
            }
        }
    }
    free_buf(x, 1);
}
END_TEST

// Gather and scatter over selected rows, with a repeated row (as top-k over
// several heads can select the same slot twice).
START_TEST(vec_gather_scatter_match_ref) {
    UmRng rng;
    rng_seed(&rng, 23);
    const int rows = 50;
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int m = 1; m <= 9; m += 4)
            for (int li = 0; li < NLENS; li++)
                for (int shifted = 0; shifted < 2; shifted++) {
                    const int Dv = VEC_LENS[li];
                    int idx[9];
                    for (int i = 0; i < m; i++) idx[i] = (int)rng_below(&rng, rows);
                    if (m > 1) idx[m - 1] = idx[0];
                    real *V = new_buf((size_t)rows * Dv, shifted), *w = new_buf(m, shifted), *g = new_buf(Dv, shifted);
                    real *out0 = new_buf(Dv, 0);
                    fill_normal(V, (size_t)rows * Dv, &rng, 1.0);
                    fill_normal(w, m, &rng, 1.0);
                    fill_normal(g, Dv, &rng, 1.0);
                    fill_normal(out0, Dv, &rng, 1.0);
                    real *aV = abs_of(V, (size_t)rows * Dv), *aw = abs_of(w, m), *ag = abs_of(g, Dv);

                    real *out = copy_of(out0, Dv, shifted), *out_ref = copy_of(out0, Dv, 0), *omag = abs_of(out0, Dv);
                    vec_gather_rows(out, w, idx, m, V, Dv);
                    vec_gather_rows_ref(out_ref, w, idx, m, V, Dv);
                    vec_gather_rows_ref(omag, aw, idx, m, aV, Dv);
                    assert_close(out, out_ref, omag, Dv, "gather_rows");

                    real *dV = copy_of(V, (size_t)rows * Dv, shifted), *dV_ref = copy_of(V, (size_t)rows * Dv, 0);
                    real *dmag = copy_of(aV, (size_t)rows * Dv, 0);
                    vec_scatter_rows(dV, w, idx, m, g, Dv);
                    vec_scatter_rows_ref(dV_ref, w, idx, m, g, Dv);
                    vec_scatter_rows_ref(dmag, aw, idx, m, ag, Dv);
                    assert_close(dV, dV_ref, dmag, (size_t)rows * Dv, "scatter_rows");

                    free_buf(V, shifted), free_buf(w, shifted), free_buf(g, shifted), free_buf(out, shifted);
                    free_buf(dV, shifted);
                    real *plain[] = {out0, aV, aw, ag, out_ref, omag, dV_ref, dmag};
                    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) free_buf(plain[i], 0);
                }
    }
}
END_TEST

// ---------------------------------------------------------------- dispatch

START_TEST(dispatch_names_and_choices) {
    ck_assert(um_simd_available(UM_SIMD_SCALAR));
    ck_assert_int_eq(um_simd_use(UM_SIMD_SCALAR), 0);
    ck_assert_str_eq(um_simd_path_name(), "scalar");
    for (int p = 0; p < NFAST; p++) {
        int ok = um_simd_use(FAST_PATHS[p]) == 0;
        ck_assert_int_eq(ok, um_simd_available(FAST_PATHS[p]));
        if (ok) ck_assert_str_eq(um_simd_path_name(), um_simd_name_of(FAST_PATHS[p]));
    }
    setenv("UM_SIMD", "scalar", 1);
    um_simd_reset();
    ck_assert_int_eq(um_simd_path(), UM_SIMD_SCALAR);
    unsetenv("UM_SIMD");
}
END_TEST

// UM_SIMD=<not a path> is a usage error: exit status 2.
START_TEST(dispatch_rejects_unknown_path) {
    setenv("UM_SIMD", "sse9", 1);
    um_simd_reset();
    um_simd_path();
}
END_TEST

// ---------------------------------------------------------------- GELU

// Inputs for the elementwise kernels: N(0, 3) plus the far tails, where
// exp(-2u) overflows (x << 0) or vanishes (x >> 0), and exact zeros.
static void fill_activation_inputs(real *x, int n, UmRng *rng) {
    static const real SPECIAL[] = {0, -0.0f, -20, -9.5f, -4, 4, 9.5f, 20, 1e-20f, -1e-20f};
    fill_normal(x, (size_t)n, rng, 3.0);
    for (int i = 0; i < n && i < (int)(sizeof SPECIAL / sizeof SPECIAL[0]); i++) x[(i * 7) % n] = SPECIAL[i];
}

// The scale of the terms of gelu (0.5 x (1 + tanh u)) and of gelu' (0.5 (1 + tanh u)
// + 0.5 x (1 - tanh^2) du, where 1 and tanh^2 ~ 1 cancel for |x| > 3): a few ulps
// of these is what float (and the reference itself) can promise.
static real gelu_term_scale(real x, int grad) {
    double ax = fabs((double)x), du = 0.7978845608 * (1 + 0.134145 * ax * ax);
    return (real)(grad ? 1 + ax * du : ax);
}

START_TEST(gelu_matches_ref) {
    UmRng rng;
    rng_seed(&rng, 33);
    static const int LENS[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 100, 129, 1000};
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int li = 0; li < (int)(sizeof LENS / sizeof LENS[0]); li++)
            for (int shifted = 0; shifted < 2; shifted++) {
                const int n = LENS[li];
                real *x = new_buf(n, shifted), *y = new_buf(n, shifted), *y_ref = new_buf(n, 0);
                real *d = new_buf(n, shifted), *mag = new_buf(n, 0);
                fill_activation_inputs(x, n, &rng);
                y[n - 1 + 0] = 12345;  // must be overwritten
                act_gelu_forward(y, x, (size_t)n);
                act_gelu_forward_ref(y_ref, x, (size_t)n);
                for (int i = 0; i < n; i++) mag[i] = gelu_term_scale(x[i], 0);
                assert_close(y, y_ref, mag, n, "gelu forward");

                fill_normal(d, (size_t)n, &rng, 1.0);
                real *d_ref = copy_of(d, n, 0);
                for (int i = 0; i < n; i++) mag[i] = gelu_term_scale(x[i], 1) * (real)fabs((double)d[i]);
                act_gelu_backward_inplace(d, x, (size_t)n);
                act_gelu_backward_inplace_ref(d_ref, x, (size_t)n);
                for (int i = 0; i < n; i++)
                    ck_assert_msg(isfinite(d[i]), "gelu backward [%s]: element %d is %g", um_simd_path_name(), i, (double)d[i]);
                assert_close(d, d_ref, mag, n, "gelu backward");
                free_buf(x, shifted), free_buf(y, shifted), free_buf(d, shifted);
                free_buf(y_ref, 0), free_buf(mag, 0), free_buf(d_ref, 0);
            }
    }
}
END_TEST

// ---------------------------------------------------------------- softmax rows

// softmax_exp: values up to +-30 (exp spans 26 decades), lengths around the
// vector widths, in place too.
START_TEST(softmax_exp_matches_ref) {
    UmRng rng;
    rng_seed(&rng, 44);
    static const int NS[] = {1, 2, 3, 9, 16, 17, 31, 128, 129};
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int b = 0; b < (int)(sizeof NS / sizeof NS[0]); b++) {
            const int n = NS[b], shifted = b % 2;
            real *x = new_buf(n, shifted), *e = new_buf(n, shifted), *e_ref = new_buf(n, 0), *mag = new_buf(n, 0);
            fill_normal(x, n, &rng, 10.0);
            real m, m_ref;
            real sum = softmax_exp(e, x, n, &m), sum_ref = softmax_exp_ref(e_ref, x, n, &m_ref);
            ck_assert_msg(m == m_ref, "softmax_exp [%s]: max %g, reference %g", um_simd_path_name(), (double)m,
                          (double)m_ref);
            for (int i = 0; i < n; i++) mag[i] = (real)(4 * e_ref[i]);  // a few ulps of each exp
            assert_close(e, e_ref, mag, n, "softmax_exp");
            assert_close(&sum, &sum_ref, &sum_ref, 1, "softmax_exp sum");
            real sum_in_place = softmax_exp(x, x, n, &m);
            ck_assert(sum_in_place == sum);
            free_buf(x, shifted), free_buf(e, shifted), free_buf(e_ref, 0), free_buf(mag, 0);
        }
    }
}
END_TEST

// ---------------------------------------------------------------- matmul over views

// C (+)= A B where A and B are strided views, as attention uses them: A read
// row-major or transposed out of a wider tensor (row stride > width), B
// likewise, C with its own row stride, overwrite and accumulate.
START_TEST(matmul_views_match_ref) {
    UmRng rng;
    rng_seed(&rng, 45);
    static const int SHAPES[][3] = {{1, 1, 1}, {5, 7, 3}, {13, 33, 17}, {48, 32, 96}, {37, 128, 32}, {100, 16, 300}};
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int s = 0; s < (int)(sizeof SHAPES / sizeof SHAPES[0]); s++)
            for (int variant = 0; variant < 8; variant++) {
                const int M = SHAPES[s][0], N = SHAPES[s][1], K = SHAPES[s][2];
                const int a_t = variant & 1, b_t = (variant >> 1) & 1, acc = (variant >> 2) & 1;
                const size_t lda = (size_t)(a_t ? M : K) + 3, ldb = (size_t)(b_t ? K : N) + 5, ldc = (size_t)N + 2;
                const size_t na = (a_t ? (size_t)K : (size_t)M) * lda, nb = (b_t ? (size_t)N : (size_t)K) * ldb;
                real *A = new_buf(na, 1), *Bm = new_buf(nb, 0), *C = new_buf((size_t)M * ldc, 1);
                fill_normal(A, na, &rng, 1.0), fill_normal(Bm, nb, &rng, 1.0), fill_normal(C, (size_t)M * ldc, &rng, 1.0);
                real *C_ref = copy_of(C, (size_t)M * ldc, 0), *Cmag = abs_of(C, (size_t)M * ldc);
                real *aA = abs_of(A, na), *aB = abs_of(Bm, nb);
                UmMatView va = a_t ? (UmMatView){A, 1, lda} : (UmMatView){A, lda, 1};
                UmMatView vb = b_t ? (UmMatView){Bm, 1, ldb} : (UmMatView){Bm, ldb, 1};
                UmMatView vaa = {aA, va.rs, va.cs}, vab = {aB, vb.rs, vb.cs};
                matmul_views(C, ldc, va, vb, M, N, K, acc);
                matmul_views_ref(C_ref, ldc, va, vb, M, N, K, acc);
                matmul_views_ref(Cmag, ldc, vaa, vab, M, N, K, acc);
                char what[96];
                snprintf(what, sizeof what, "matmul_views %dx%dx%d At=%d Bt=%d acc=%d", M, N, K, a_t, b_t, acc);
                assert_close(C, C_ref, Cmag, (size_t)M * ldc, what);
                free_buf(A, 1), free_buf(Bm, 0), free_buf(C, 1);
                free_buf(C_ref, 0), free_buf(Cmag, 0), free_buf(aA, 0), free_buf(aB, 0);
            }
    }
}
END_TEST

// ---------------------------------------------------------------- attention, per-head matmul path

// The SIMD path runs attention as per-head matrix products over query blocks;
// the scalar path goes row by row. Both must agree, forward and backward, on
// shapes with T past several query blocks and ragged against them.
static void run_attention(UmSimdPath path, real *out, real *att, real *dqkv, const real *dout, const real *qkv, int B,
                          int T, int D, int H) {
    ck_assert_int_eq(um_simd_use(path), 0);
    attention_forward(out, att, qkv, B, T, D, H);
    attention_backward(dqkv, dout, qkv, att, B, T, D, H);
}

START_TEST(attention_paths_agree) {
    UmRng rng;
    rng_seed(&rng, 46);
    static const int SHAPES[][4] = {{1, 5, 8, 2}, {2, 100, 64, 2}, {1, 130, 48, 3}};  // B, T, D, H
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int s = 0; s < 3; s++) {
            const int B = SHAPES[s][0], T = SHAPES[s][1], D = SHAPES[s][2], H = SHAPES[s][3];
            const size_t nqkv = (size_t)B * T * 3 * D, nout = (size_t)B * T * D, natt = (size_t)B * H * T * T;
            real *qkv = new_buf(nqkv, 0), *dout = new_buf(nout, 0), *dq0 = new_buf(nqkv, 0);
            fill_normal(qkv, nqkv, &rng, 1.0), fill_normal(dout, nout, &rng, 1.0), fill_normal(dq0, nqkv, &rng, 1.0);
            real *out[2], *att[2], *dqkv[2];
            for (int k = 0; k < 2; k++) {
                out[k] = new_buf(nout, 0), att[k] = new_buf(natt, 0), dqkv[k] = copy_of(dq0, nqkv, 0);
                for (size_t i = 0; i < natt; i++) att[k][i] = 7;  // garbage: both paths must write every entry
                run_attention(k ? FAST_PATHS[p] : UM_SIMD_SCALAR, out[k], att[k], dqkv[k], dout, qkv, B, T, D, H);
            }
            // Inputs are unit normals and softmax weights are <= 1, so every
            // value here is O(1): 1e-6 (relative for the gradients) is a few
            // float ulps, while an indexing slip shows up at 1e-3 or more.
            const double tol = 1e-6;
            for (size_t i = 0; i < nout; i++)
                ck_assert_msg(fabs((double)out[1][i] - (double)out[0][i]) <= tol, "forward %d: out[%zu] %g vs %g", s, i,
                              (double)out[1][i], (double)out[0][i]);
            for (size_t i = 0; i < natt; i++)
                ck_assert_msg(fabs((double)att[1][i] - (double)att[0][i]) <= 1e-5, "forward %d: att[%zu]", s, i);
            for (size_t i = 0; i < nqkv; i++)
                ck_assert_msg(fabs((double)dqkv[1][i] - (double)dqkv[0][i]) <= tol * (1 + fabs((double)dqkv[0][i])),
                              "backward %d: dqkv[%zu] %g vs %g", s, i, (double)dqkv[1][i], (double)dqkv[0][i]);
            for (int k = 0; k < 2; k++) free_buf(out[k], 0), free_buf(att[k], 0), free_buf(dqkv[k], 0);
            free_buf(qkv, 0), free_buf(dout, 0), free_buf(dq0, 0);
        }
    }
}
END_TEST

// LayerNorm row: inputs with an offset (mean 3) so the centring matters.
// Tolerances scale with the terms: the mean with mean(|x|), rstd with itself,
// y[d] with (|x[d] - mean| + mean(|x|)) * rstd * |w[d]| + |b[d]|.
START_TEST(layernorm_row_matches_ref) {
    UmRng rng;
    rng_seed(&rng, 45);
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int l = 0; l < (int)(sizeof VEC_LENS / sizeof VEC_LENS[0]); l++) {
            const int D = VEC_LENS[l], shifted = l % 2;
            if (D == 0) continue;
            real *x = new_buf(D, shifted), *w = new_buf(D, shifted), *b = new_buf(D, shifted);
            real *y = new_buf(D, shifted), *y_ref = new_buf(D, 0), *mag = new_buf(D, 0);
            fill_normal(x, D, &rng, 1.0);
            fill_normal(w, D, &rng, 1.0);
            fill_normal(b, D, &rng, 1.0);
            real abs_mean = 0;
            for (int d = 0; d < D; d++) x[d] += 3, abs_mean += (real)fabs((double)x[d]);
            abs_mean /= D;
            real mu, rs, mu_ref, rs_ref;
            layernorm_row(y, &mu, &rs, x, w, b, D, 1e-5);
            layernorm_row_ref(y_ref, &mu_ref, &rs_ref, x, w, b, D, 1e-5);
            assert_close(&mu, &mu_ref, &abs_mean, 1, "layernorm_row mean");
            assert_close(&rs, &rs_ref, &rs_ref, 1, "layernorm_row rstd");
            for (int d = 0; d < D; d++)
                mag[d] = ((real)fabs((double)(x[d] - mu_ref)) + abs_mean) * rs_ref * (real)fabs((double)w[d]) +
                         (real)fabs((double)b[d]);
            assert_close(y, y_ref, mag, D, "layernorm_row y");
            // Deterministic: the same call gives the same bits.
            real *y2 = new_buf(D, shifted), mu2, rs2;
            layernorm_row(y2, &mu2, &rs2, x, w, b, D, 1e-5);
            ck_assert(memcmp(y, y2, D * sizeof(real)) == 0 && mu2 == mu && rs2 == rs);
            free_buf(x, shifted), free_buf(w, shifted), free_buf(b, shifted), free_buf(y, shifted);
            free_buf(y2, shifted), free_buf(y_ref, 0), free_buf(mag, 0);
        }
    }
}
END_TEST


// ---------------------------------------------------------------- vec_lincomb2 (memory layers' selection scores)

// Each fast path against the reference (tolerance: FMA vs product + add), and
// against zeroing y and two vec_axpy on the same path, which it replaced in
// the Tucker search: those must be the very same bits.
START_TEST(vec_lincomb2_matches_ref_and_two_axpys) {
    UmRng rng;
    rng_seed(&rng, 31);
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int li = 0; li < NLENS; li++)
            for (int shifted = 0; shifted < 2; shifted++) {
                const int n = VEC_LENS[li];
                real *x = new_buf(n, shifted), *z = new_buf(n, shifted);
                fill_normal(x, n, &rng, 1.0);
                fill_normal(z, n, &rng, 1.0);
                real a = (real)0.61, b = (real)-1.3;
                real *y = new_buf(n, shifted), *y_ref = new_buf(n, 0), *y_two = new_buf(n, 0), *mag = new_buf(n, 0);
                vec_lincomb2(y, a, x, b, z, n);
                vec_lincomb2_ref(y_ref, a, x, b, z, n);
                real *ax = abs_of(x, n), *az = abs_of(z, n);
                vec_lincomb2_ref(mag, a, ax, -b, az, n);
                assert_close(y, y_ref, mag, n, "lincomb2");
                vec_axpy(y_two, a, x, n);  // y_two starts zeroed (um_alloc)
                vec_axpy(y_two, b, z, n);
                for (int i = 0; i < n; i++)  // == also takes +0 for -0 (0 + -0 is +0)
                    ck_assert_msg(y[i] == y_two[i], "lincomb2 vs two axpys n=%d i=%d [%s]", n, i, um_simd_path_name());
                free_buf(x, shifted), free_buf(z, shifted), free_buf(y, shifted);
                free_buf(y_ref, 0), free_buf(y_two, 0), free_buf(mag, 0), free_buf(ax, 0), free_buf(az, 0);
            }
    }
}
END_TEST

// Merging candidates into a top-k list: each fast path gives the reference's
// list (codes and positions) exactly, from empty and part-full lists, with
// k up to and past the AVX-512 path's 32 registers' lanes.
START_TEST(vec_topk_merge_matches_ref) {
    UmRng rng;
    rng_seed(&rng, 32);
    const int ks[] = {1, 2, 5, 8, 9, 16, 17, 31, 32, 40};
    for (int p = 0; p < NFAST; p++) {
        if (use_path(FAST_PATHS[p]) != 0) continue;
        for (int ki = 0; ki < (int)(sizeof ks / sizeof ks[0]); ki++)
            for (int trial = 0; trial < 20; trial++) {
                int k = ks[ki], ncand = (int)rng_below(&rng, 300), c0 = (int)rng_below(&rng, (uint32_t)k + 1);
                uint64_t cand[300], list[40], list_ref[40];
                int cidx[300], li[40], li_ref[40];
                for (int i = 0; i < ncand; i++) {  // unique codes: random high half, the position below
                    // odd trials: many equal high halves (ties decided by the position)
                    uint64_t hi = 1 + (uint64_t)rng_below(&rng, trial % 2 ? 8 : 1u << 30);
                    cand[i] = hi << 32 | (uint32_t)(0xffffffffu - (uint32_t)i);
                    cidx[i] = i;
                }
                // a valid starting list: the c0 best of a first batch, through the reference
                uint64_t first[40];
                int fidx[40];
                for (int j = 0; j < c0; j++) {
                    first[j] = (uint64_t)(1 + rng_below(&rng, 1u << 30)) << 32 | (uint32_t)(1000 + j);
                    fidx[j] = 1000 + j;
                }
                int c = vec_topk_merge_ref(list_ref, li_ref, 0, k, first, fidx, c0);
                memcpy(list, list_ref, (size_t)c * sizeof(uint64_t));
                memcpy(li, li_ref, (size_t)c * sizeof(int));
                int got = vec_topk_merge(list, li, c, k, cand, cidx, ncand);
                int want = vec_topk_merge_ref(list_ref, li_ref, c, k, cand, cidx, ncand);
                ck_assert_int_eq(got, want);
                for (int j = 0; j < want; j++) {
                    ck_assert_msg(list[j] == list_ref[j] && li[j] == li_ref[j], "topk_merge k=%d trial %d rank %d [%s]",
                                  k, trial, j, um_simd_path_name());
                    if (j > 0) ck_assert(list[j] < list[j - 1]);
                }
            }
    }
}
END_TEST

Suite *kernels_suite(void) {
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("simd_vs_ref");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, matmul_forward_matches_ref);
    tcase_add_test(tc, matmul_backward_matches_ref);
    tcase_add_test(tc, matmul_is_deterministic);
    tcase_add_test(tc, matmul_few_rows_is_deterministic);
    tcase_add_test(tc, vec_dot_axpy_scale_match_ref);
    tcase_add_test(tc, vec_score_keys_matches_ref);
    tcase_add_test(tc, vec_gather_scatter_match_ref);
    tcase_add_test(tc, vec_indices_at_least_matches_ref);
    tcase_add_test(tc, vec_lincomb2_matches_ref_and_two_axpys);
    tcase_add_test(tc, vec_topk_merge_matches_ref);
    tcase_add_test(tc, gelu_matches_ref);
    tcase_add_test(tc, softmax_exp_matches_ref);
    tcase_add_test(tc, matmul_views_match_ref);
    tcase_add_test(tc, attention_paths_agree);
    tcase_add_test(tc, layernorm_row_matches_ref);
    tcase_add_test(tc, dispatch_names_and_choices);
    suite_add_tcase(s, tc);
    // Exit tests need Check's fork mode (the default): skip them under CK_FORK=no.
    const char *fork_mode = getenv("CK_FORK");
    if (!fork_mode || strcmp(fork_mode, "no") != 0) {
        TCase *exits = tcase_create("dispatch_errors");
        tcase_add_exit_test(exits, dispatch_rejects_unknown_path, 2);
        suite_add_tcase(s, exits);
    }
    return s;
}
