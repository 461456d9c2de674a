// test_pkm_fixture.c: the C PKM layer against an independent PyTorch
// reference (tests/ref/pkm_reference.py -> tests/fixtures/pkm_small.bin,
// format in tests/fixtures/README.md): output, selected slots, dinp and
// every parameter gradient.
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/params.h"
#include "base/rng.h"
#include "helpers/fixture_io.h"
#include "helpers/testutil.h"
#include "memory/pkm.h"

#define FIXTURE "tests/fixtures/pkm_small.bin"
#define N_TENSORS 7  // inp, query.weight, query.bias, query_norm.weight, query_norm.bias, keys, values

static const char *tensor_names[N_TENSORS] = {"inp", "query.weight", "query.bias", "query_norm.weight",
                                              "query_norm.bias", "keys", "values"};

START_TEST(test_pkm_matches_pytorch) {
    FILE *f = fopen(FIXTURE, "rb");
    ck_assert_msg(f != NULL, "cannot open " FIXTURE " (run the tests from the repo root)");
    char magic[4];
    uint32_t version;
    int32_t dims[8];
    ck_assert(fread(magic, 1, 4, f) == 4 && memcmp(magic, "PKMF", 4) == 0);
    ck_assert(fread(&version, 4, 1, f) == 1 && version == 1);
    ck_assert(fread(dims, 4, 8, f) == 8);
    int N = dims[0], D = dims[1], H = dims[3], Dk = dims[4], k = dims[5];
    UmPkmConfig cfg = um_pkm_config_default();
    cfg.n = dims[2];
    cfg.H = H;
    cfg.Dk = Dk;
    cfg.k = k;
    cfg.query_norm = (UmQueryNormKind)dims[6];
    cfg.query_bias = dims[7];
    ck_assert_int_eq(cfg.query_norm, UM_QUERY_NORM_LAYERNORM);
    ck_assert_int_eq(cfg.query_bias, 1);

    UmParamRegistry reg;
    params_init(&reg);
    UmRng rng;
    rng_seed(&rng, 1);
    UmPkm l;
    um_pkm_init(&l, &cfg, D, N, &reg, &rng, "pkm.");
    UmParam *params[N_TENSORS] = {NULL, l.wq, l.bq, l.norm_w, l.norm_b, l.keys, l.values};
    size_t sizes[N_TENSORS];
    sizes[0] = (size_t)N * D;
    for (int i = 1; i < N_TENSORS; i++) sizes[i] = params[i]->numel;

    real *inp = fixture_read_f32(f, sizes[0], FIXTURE);
    for (int i = 1; i < N_TENSORS; i++) {
        real *w = fixture_read_f32(f, sizes[i], FIXTURE);
        memcpy(params[i]->data, w, sizes[i] * sizeof(real));
        um_free(w);
    }
    real *dout = fixture_read_f32(f, (size_t)N * D, FIXTURE), *out_ref = fixture_read_f32(f, (size_t)N * D, FIXTURE);
    size_t reads = (size_t)N * H * k;
    int32_t *slots_ref = malloc(reads * sizeof *slots_ref);
    ck_assert(fread(slots_ref, 4, reads, f) == reads);
    real *grads_ref[N_TENSORS];
    for (int i = 0; i < N_TENSORS; i++) grads_ref[i] = fixture_read_f32(f, sizes[i], FIXTURE);
    char extra;
    ck_assert_msg(fread(&extra, 1, 1, f) == 0, FIXTURE " has trailing bytes");
    fclose(f);

    real *out = um_alloc((size_t)N * D * sizeof(real)), *dinp = um_alloc((size_t)N * D * sizeof(real));
    um_pkm_forward(&l, out, inp, N);
    for (size_t r = 0; r < reads; r++) ck_assert_int_eq(l.slots[r], slots_ref[r]);
    size_t where;
    double e = max_rel_diff(out, out_ref, (size_t)N * D, 1e-4, &where);
    ck_assert_msg(e < 1e-4, "out: rel diff %g at %zu", e, where);

    params_zero_grad(&reg);
    um_pkm_backward(&l, dinp, dout, inp, N);
    real *grads[N_TENSORS] = {dinp};
    for (int i = 1; i < N_TENSORS; i++) grads[i] = params[i]->grad;
    fixture_assert_grads(tensor_names, grads, grads_ref, sizes, N_TENSORS, 1e-4);

    for (int i = 0; i < N_TENSORS; i++) um_free(grads_ref[i]);
    free(slots_ref);
    um_free(inp), um_free(dout), um_free(out_ref), um_free(out), um_free(dinp);
    um_pkm_free(&l);
    params_free(&reg);
}
END_TEST

Suite *pkm_fixture_suite(void) {
    Suite *s = suite_create("pkm_fixture");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_pkm_matches_pytorch);
    suite_add_tcase(s, tc);
    return s;
}
