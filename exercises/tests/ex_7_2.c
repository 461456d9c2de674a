// ex_7_2.c: exercise 7.2, the two numbers of UltraMem's improved init
// (value_init_std and norm_gain in lib/memory/ultramem.c).
//
//   value std: improved init  sqrt(E / (2 m H L))   (L = init_n_layers, 1 if <= 0)
//              PKM init       1 / sqrt(Dv)
//   norm gain: mu^(-1/4) with TDQKR (bilinear score), mu^(-1/2) without (additive);
//              1 / Dk^0.33 if mu <= 0
// Both functions are static: the checks build the same layer with your init
// and with the reference (same seed) and compare every parameter.
#include <stdio.h>

#include "grade_util.h"
#include "memory/ultramem.h"

void ref_um_ultramem_init(UmUltraMem *l, const UmUltraMemConfig *cfg, int D, int max_tokens, UmParamRegistry *reg,
                          UmRng *rng, const char *prefix);
void ref_um_ultramem_free(UmUltraMem *l);
UmUltraMemConfig ref_um_ultramem_config_default(void);
UmUltraMemConfig ref_um_ultramem_config_pkm_like(void);

#define TAG "ex_7_2"

static void compare_init(const UmUltraMemConfig *cfg, int D, const char *what) {
    UmParamRegistry a, b;
    params_init(&a), params_init(&b);
    UmUltraMem la, lb;
    UmRng ra, rb;
    rng_seed(&ra, 0x7201), rng_seed(&rb, 0x7201);
    um_ultramem_init(&la, cfg, D, 64, &a, &ra, "mem.");
    ref_um_ultramem_init(&lb, cfg, D, 64, &b, &rb, "mem.");
    for (int i = 0; i < a.count && i < b.count; i++) {
        char ctx[200];
        snprintf(ctx, sizeof ctx, " Parameter %s after um_ultramem_init, %s (n=%d H=%d m=%d E=%d D=%d, seeded).",
                 a.params[i]->name, what, cfg->n, cfg->H, cfg->m, cfg->E, D);
        gu_expect_close(a.params[i]->name, a.params[i]->data, b.params[i]->data, a.params[i]->numel, 0, ctx);
    }
    um_ultramem_free(&la), ref_um_ultramem_free(&lb);
    params_free(&a), params_free(&b);
}

START_TEST(improved_calibrated) {
    UmUltraMemConfig c = ref_um_ultramem_config_default();
    c.n = 6, c.m = 3;
    compare_init(&c, 16, "every trick on (TDQKR: gain mu^-1/4)");
}
END_TEST

START_TEST(improved_additive) {
    UmUltraMemConfig c = ref_um_ultramem_config_default();
    c.n = 5, c.m = 2, c.tdqkr = 0, c.cores = 1, c.E = 1, c.init_n_layers = 3;
    compare_init(&c, 12, "additive product keys (gain mu^-1/2), E 1, L 3");
}
END_TEST

START_TEST(pkm_init) {
    UmUltraMemConfig c = ref_um_ultramem_config_pkm_like();
    c.n = 4, c.m = 2;
    compare_init(&c, 8, "the PKM init (values N(0, 1/Dv))");
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 7.2: improved init");
    GU_ADD(s, TAG, improved_calibrated);
    GU_ADD(s, TAG, improved_additive);
    GU_ADD(s, TAG, pkm_init);
    return s;
}
