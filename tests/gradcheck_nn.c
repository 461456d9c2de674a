// gradcheck_nn.c: finite-difference checks of every nn op's backward
// (double build, so central differences are accurate to ~1e-10).
//
// Each op is wrapped as a GcOp: a forward that fills `out` from the input
// tensors and a backward that, given dout = R, accumulates into each
// tensor's gradient. The scalar objective is L = sum(out * R) with R fixed
// and random, so every output element contributes and dL/dout = R.
// For every entry x_i of every tensor:
//   numeric_i = (L(x_i + eps) - L(x_i - eps)) / (2 eps)
// must match the analytic gradient to a relative tolerance.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/rng.h"
#include "helpers/testutil.h"
#include "kernels/matmul.h"
#include "nn/attention.h"
#include "nn/crossentropy.h"
#include "nn/embedding.h"
#include "nn/gelu.h"
#include "nn/layernorm.h"
#include "nn/mlp.h"

#define GC_EPS 1e-5
#define GC_RTOL 1e-6
// Floor of the denominator: entries whose true gradient is ~0 are compared
// absolutely, at GC_RTOL * GC_FLOOR (central-difference noise is ~1e-10).
#define GC_FLOOR 1e-3
#define GC_MAX_TENSORS 8
#define GC_MAX_ALLOCS 32

typedef struct {
    const char *name;
    real *x, *dx;
    size_t n;
} GcTensor;

typedef struct GcOp GcOp;
struct GcOp {
    void (*forward)(GcOp *op);   // fills out from the tensors (and caches)
    void (*backward)(GcOp *op);  // accumulates into every tensor's dx, with dout = R
    real *out, *R;
    size_t nout;
    GcTensor t[GC_MAX_TENSORS];
    int nt;
    void *allocs[GC_MAX_ALLOCS];
    int nallocs;
    // Op-specific buffers and dimensions; each op uses what it needs.
    real *w, *b, *dw, *db, *w2, *b2, *dw2, *db2, *cache1, *cache2, *cache3, *scratch1, *scratch2;
    int *ints;
    int N, B, T, C, D, H, F, V, OC;
    real scale;
    int flags;
};

// ---------------------------------------------------------------- harness

static real *gc_alloc(GcOp *op, size_t n) {
    ck_assert_int_lt(op->nallocs, GC_MAX_ALLOCS);
    real *p = um_alloc(n * sizeof(real));
    op->allocs[op->nallocs++] = p;
    return p;
}

static int *gc_alloc_ints(GcOp *op, size_t n) {
    ck_assert_int_lt(op->nallocs, GC_MAX_ALLOCS);
    int *p = um_alloc(n * sizeof(int));
    op->allocs[op->nallocs++] = p;
    return p;
}

static void gc_free(GcOp *op) {
    for (int i = 0; i < op->nallocs; i++) um_free(op->allocs[i]);
    op->nallocs = 0;
}

// Register a differentiable tensor of n random N(0, std) entries.
static real *gc_tensor(GcOp *op, const char *name, size_t n, UmRng *rng, double std, real **dx) {
    ck_assert_int_lt(op->nt, GC_MAX_TENSORS);
    GcTensor *t = &op->t[op->nt++];
    t->name = name;
    t->n = n;
    t->x = gc_alloc(op, n);
    t->dx = gc_alloc(op, n);
    fill_normal(t->x, n, rng, std);
    if (dx) *dx = t->dx;
    return t->x;
}

static void gc_outputs(GcOp *op, size_t nout, UmRng *rng) {
    op->nout = nout;
    op->out = gc_alloc(op, nout);
    op->R = gc_alloc(op, nout);
    fill_normal(op->R, nout, rng, 1.0);
}

static double gc_objective(GcOp *op) {
    op->forward(op);
    double L = 0;
    for (size_t i = 0; i < op->nout; i++) L += (double)op->out[i] * op->R[i];
    return L;
}

static void gc_zero_grads(GcOp *op) {
    for (int k = 0; k < op->nt; k++) memset(op->t[k].dx, 0, op->t[k].n * sizeof(real));
}

static double gc_rel_err(double analytic, double numeric) {
    double denom = fmax(fmax(fabs(analytic), fabs(numeric)), GC_FLOOR);
    return fabs(analytic - numeric) / denom;
}

// Analytic vs numeric for every entry of every tensor; then the
// accumulation property: two backward calls give exactly twice one.
static void gc_check(GcOp *op) {
    gc_zero_grads(op);
    op->forward(op);
    op->backward(op);
    real *analytic[GC_MAX_TENSORS];
    for (int k = 0; k < op->nt; k++) {
        analytic[k] = gc_alloc(op, op->t[k].n);
        memcpy(analytic[k], op->t[k].dx, op->t[k].n * sizeof(real));
    }
    for (int k = 0; k < op->nt; k++) {
        GcTensor *t = &op->t[k];
        double worst = 0, grad_norm = 0;
        for (size_t i = 0; i < t->n; i++) {
            real saved = t->x[i];
            t->x[i] = saved + (real)GC_EPS;
            double Lp = gc_objective(op);
            t->x[i] = saved - (real)GC_EPS;
            double Lm = gc_objective(op);
            t->x[i] = saved;
            double numeric = (Lp - Lm) / (2 * GC_EPS);
            double err = gc_rel_err(analytic[k][i], numeric);
            if (err > worst) worst = err;
            grad_norm += numeric * numeric;
            ck_assert_msg(err < GC_RTOL, "%s[%zu]: analytic %.12g numeric %.12g (rel err %.3g)", t->name, i,
                          (double)analytic[k][i], numeric, err);
        }
        // A gradient that is zero everywhere would pass trivially.
        ck_assert_msg(grad_norm > 1e-8, "%s: gradient is all zero, the check proves nothing", t->name);
    }
    // Accumulation: backward adds (+=), it never overwrites.
    gc_zero_grads(op);
    op->forward(op);
    op->backward(op);
    op->backward(op);
    for (int k = 0; k < op->nt; k++) {
        GcTensor *t = &op->t[k];
        for (size_t i = 0; i < t->n; i++) {
            double want = 2.0 * analytic[k][i];
            ck_assert_msg(fabs(t->dx[i] - want) <= 1e-12 * (fabs(want) + 1e-12),
                          "%s[%zu]: two backward calls gave %.17g, want twice %.17g", t->name, i, (double)t->dx[i],
                          (double)analytic[k][i]);
        }
    }
}

// ---------------------------------------------------------------- matmul

enum { MM_BIAS = 1, MM_DINP = 2 };

// inp (N,C), weight (OC,C), bias (OC) or NULL -> out (N,OC)
static void mm_fwd(GcOp *op) {
    matmul_forward(op->out, op->cache1, op->w, (op->flags & MM_BIAS) ? op->b : NULL, op->N, op->C, op->OC);
}
static void mm_bwd(GcOp *op) {
    matmul_backward((op->flags & MM_DINP) ? op->scratch1 : NULL, op->dw, (op->flags & MM_BIAS) ? op->db : NULL,
                    op->R, op->cache1, op->w, op->N, op->C, op->OC);
}

static void run_matmul_check(int flags) {
    UmRng rng;
    rng_seed(&rng, 11 + flags);
    GcOp op = {.forward = mm_fwd, .backward = mm_bwd, .N = 4, .C = 5, .OC = 3, .flags = flags};
    if (flags & MM_DINP) {
        op.cache1 = gc_tensor(&op, "inp", (size_t)op.N * op.C, &rng, 1.0, &op.scratch1);
    } else {  // an input we do not differentiate: plain buffer
        op.cache1 = gc_alloc(&op, (size_t)op.N * op.C);
        fill_normal(op.cache1, (size_t)op.N * op.C, &rng, 1.0);
    }
    op.w = gc_tensor(&op, "weight", (size_t)op.OC * op.C, &rng, 1.0, &op.dw);
    if (flags & MM_BIAS) op.b = gc_tensor(&op, "bias", (size_t)op.OC, &rng, 1.0, &op.db);
    gc_outputs(&op, (size_t)op.N * op.OC, &rng);
    gc_check(&op);
    gc_free(&op);
}

START_TEST(test_matmul_with_bias) { run_matmul_check(MM_BIAS | MM_DINP); }
END_TEST

START_TEST(test_matmul_no_bias) { run_matmul_check(MM_DINP); }
END_TEST

START_TEST(test_matmul_null_dinp) { run_matmul_check(MM_BIAS); }
END_TEST

// ---------------------------------------------------------------- embedding

// tokens (B,T), wte (V,D), wpe (Tmax,D) -> out (B,T,D)
static void emb_fwd(GcOp *op) { embedding_forward(op->out, op->ints, op->w, op->b, op->B, op->T, op->D); }
static void emb_bwd(GcOp *op) { embedding_backward(op->dw, op->db, op->R, op->ints, op->B, op->T, op->D); }

START_TEST(test_embedding) {
    UmRng rng;
    rng_seed(&rng, 21);
    GcOp op = {.forward = emb_fwd, .backward = emb_bwd, .B = 2, .T = 3, .D = 4, .V = 5};
    // Token 2 appears three times: its dwte row must sum all of them.
    // Token 4 never appears (its row checks as exactly 0 below).
    static const int tokens[6] = {2, 0, 2, 3, 2, 1};
    op.ints = gc_alloc_ints(&op, 6);
    memcpy(op.ints, tokens, sizeof tokens);
    op.w = gc_tensor(&op, "wte", (size_t)op.V * op.D, &rng, 1.0, &op.dw);
    op.b = gc_tensor(&op, "wpe", (size_t)op.T * op.D, &rng, 1.0, &op.db);
    gc_outputs(&op, (size_t)op.B * op.T * op.D, &rng);
    gc_check(&op);
    // Token 4 is never used, so its row of dwte stays exactly 0.
    for (int d = 0; d < op.D; d++) ck_assert(op.dw[4 * op.D + d] == 0);
    gc_free(&op);
}
END_TEST

// ---------------------------------------------------------------- norms

// inp (N,D), weight (D), bias (D) -> out (N,D)
static void ln_fwd(GcOp *op) {
    layernorm_forward(op->out, op->cache2, op->cache3, op->cache1, op->w, op->b, op->N, op->D);
}
static void ln_bwd(GcOp *op) {
    layernorm_backward(op->scratch1, op->dw, op->db, op->R, op->cache1, op->w, op->cache2, op->cache3, op->N,
                       op->D);
}

START_TEST(test_layernorm) {
    UmRng rng;
    rng_seed(&rng, 31);
    GcOp op = {.forward = ln_fwd, .backward = ln_bwd, .N = 3, .D = 6};
    op.cache1 = gc_tensor(&op, "inp", (size_t)op.N * op.D, &rng, 1.0, &op.scratch1);
    for (int i = 0; i < op.N * op.D; i++) op.cache1[i] += (real)0.7;  // a non-zero mean to remove
    op.w = gc_tensor(&op, "weight", (size_t)op.D, &rng, 1.0, &op.dw);
    op.b = gc_tensor(&op, "bias", (size_t)op.D, &rng, 1.0, &op.db);
    op.cache2 = gc_alloc(&op, (size_t)op.N);  // mean
    op.cache3 = gc_alloc(&op, (size_t)op.N);  // rstd
    gc_outputs(&op, (size_t)op.N * op.D, &rng);
    gc_check(&op);
    gc_free(&op);
}
END_TEST

// inp (N,D), weight (D) -> out (N,D)
static void rms_fwd(GcOp *op) { rmsnorm_forward(op->out, op->cache3, op->cache1, op->w, op->N, op->D); }
static void rms_bwd(GcOp *op) {
    rmsnorm_backward(op->scratch1, op->dw, op->R, op->cache1, op->w, op->cache3, op->N, op->D);
}

START_TEST(test_rmsnorm) {
    UmRng rng;
    rng_seed(&rng, 41);
    GcOp op = {.forward = rms_fwd, .backward = rms_bwd, .N = 3, .D = 6};
    op.cache1 = gc_tensor(&op, "inp", (size_t)op.N * op.D, &rng, 1.0, &op.scratch1);
    op.w = gc_tensor(&op, "weight", (size_t)op.D, &rng, 1.0, &op.dw);
    op.cache3 = gc_alloc(&op, (size_t)op.N);  // rstd
    gc_outputs(&op, (size_t)op.N * op.D, &rng);
    gc_check(&op);
    gc_free(&op);
}
END_TEST

// ---------------------------------------------------------------- attention

// qkv (B,T,3D) -> out (B,T,D); att (B,H,T,T) cache
static void attn_fwd(GcOp *op) { attention_forward(op->out, op->cache2, op->cache1, op->B, op->T, op->D, op->H); }
static void attn_bwd(GcOp *op) {
    attention_backward(op->scratch1, op->R, op->cache1, op->cache2, op->B, op->T, op->D, op->H);
}

START_TEST(test_attention) {
    UmRng rng;
    rng_seed(&rng, 51);
    GcOp op = {.forward = attn_fwd, .backward = attn_bwd, .B = 2, .T = 5, .D = 8, .H = 2};
    size_t natt = (size_t)op.B * op.H * op.T * op.T;
    op.cache1 = gc_tensor(&op, "qkv", (size_t)op.B * op.T * 3 * op.D, &rng, 1.0, &op.scratch1);
    op.cache2 = gc_alloc(&op, natt);  // att
    gc_outputs(&op, (size_t)op.B * op.T * op.D, &rng);
    gc_check(&op);
    gc_free(&op);
}
END_TEST

// ---------------------------------------------------------------- gelu

static void gelu_fwd(GcOp *op) { gelu_forward(op->out, op->cache1, op->nout); }
static void gelu_bwd(GcOp *op) { gelu_backward(op->scratch1, op->cache1, op->R, op->nout); }

START_TEST(test_gelu) {
    UmRng rng;
    rng_seed(&rng, 61);
    GcOp op = {.forward = gelu_fwd, .backward = gelu_bwd};
    op.cache1 = gc_tensor(&op, "inp", 40, &rng, 2.0, &op.scratch1);  // wide: both tails and the bend
    gc_outputs(&op, 40, &rng);
    gc_check(&op);
    gc_free(&op);
}
END_TEST

// ---------------------------------------------------------------- mlp

// inp (N,D), w1 (F,D), b1 (F), w2 (D,F), b2 (D) -> out (N,D)
static void mlp_fwd(GcOp *op) {
    mlp_forward(op->out, op->cache2, op->cache3, op->cache1, op->w, op->b, op->w2, op->b2, op->N, op->D, op->F);
}
static void mlp_bwd(GcOp *op) {
    // Garbage in the scratch: mlp_backward must overwrite it.
    for (size_t i = 0; i < (size_t)op->N * op->F; i++) op->scratch2[i] = (real)1e3;
    mlp_backward(op->scratch1, op->dw, op->db, op->dw2, op->db2, op->scratch2, op->R, op->cache1, op->cache2,
                 op->cache3, op->w, op->w2, op->N, op->D, op->F);
}

START_TEST(test_mlp) {
    UmRng rng;
    rng_seed(&rng, 71);
    GcOp op = {.forward = mlp_fwd, .backward = mlp_bwd, .N = 3, .D = 4, .F = 6};
    op.cache1 = gc_tensor(&op, "inp", (size_t)op.N * op.D, &rng, 1.0, &op.scratch1);
    op.w = gc_tensor(&op, "w1", (size_t)op.F * op.D, &rng, 0.7, &op.dw);
    op.b = gc_tensor(&op, "b1", (size_t)op.F, &rng, 0.5, &op.db);
    op.w2 = gc_tensor(&op, "w2", (size_t)op.D * op.F, &rng, 0.7, &op.dw2);
    op.b2 = gc_tensor(&op, "b2", (size_t)op.D, &rng, 0.5, &op.db2);
    op.cache2 = gc_alloc(&op, (size_t)op.N * op.F);    // pre
    op.cache3 = gc_alloc(&op, (size_t)op.N * op.F);    // act
    op.scratch2 = gc_alloc(&op, (size_t)op.N * op.F);  // dact
    gc_outputs(&op, (size_t)op.N * op.D, &rng);
    gc_check(&op);
    gc_free(&op);
}
END_TEST

// ---------------------------------------------------------------- cross-entropy

// logits (N,V), targets (N) -> losses (N). The backward takes one weight
// `scale` for every token, so here R = scale everywhere: L = scale * sum(losses).
static void ce_fwd(GcOp *op) {
    softmax_crossentropy_forward(op->out, op->cache2, op->cache1, op->ints, op->N, op->V);
}
static void ce_bwd(GcOp *op) {
    softmax_crossentropy_backward(op->scratch1, op->cache2, op->ints, op->scale, op->N, op->V);
}

START_TEST(test_crossentropy) {
    UmRng rng;
    rng_seed(&rng, 81);
    GcOp op = {.forward = ce_fwd, .backward = ce_bwd, .N = 4, .V = 7, .scale = (real)0.37};
    static const int targets[4] = {3, 0, 6, 3};
    op.ints = gc_alloc_ints(&op, 4);
    memcpy(op.ints, targets, sizeof targets);
    op.cache1 = gc_tensor(&op, "logits", (size_t)op.N * op.V, &rng, 2.0, &op.scratch1);
    op.cache2 = gc_alloc(&op, (size_t)op.N * op.V);  // probs
    gc_outputs(&op, (size_t)op.N, &rng);
    for (int n = 0; n < op.N; n++) op.R[n] = op.scale;
    gc_check(&op);
    gc_free(&op);
}
END_TEST

Suite *gradcheck_nn_suite(void) {
    Suite *s = suite_create("gradcheck_nn");
    TCase *tc = tcase_create("finite_differences");
    tcase_add_test(tc, test_matmul_with_bias);
    tcase_add_test(tc, test_matmul_no_bias);
    tcase_add_test(tc, test_matmul_null_dinp);
    tcase_add_test(tc, test_embedding);
    tcase_add_test(tc, test_layernorm);
    tcase_add_test(tc, test_rmsnorm);
    tcase_add_test(tc, test_attention);
    tcase_add_test(tc, test_gelu);
    tcase_add_test(tc, test_mlp);
    tcase_add_test(tc, test_crossentropy);
    suite_add_tcase(s, tc);
    return s;
}
