// ex_7_1.c: exercise 7.1, the value learning-rate schedule
// (um_ultramem_value_lr_mult in lib/memory/ultramem.c).
//
//   LINEAR:   end + (start - end) * clamp(1 - step / (decay_frac * total), 0, 1)
//   CONSTANT: start
// start = cfg->value_lr_mult, end = cfg->value_lr_mult_end; total <= 0 counts as 1.
// Checked against the reference over whole runs and at the end points.
#include <stdio.h>

#include "grade_util.h"
#include "memory/ultramem.h"

double ref_um_ultramem_value_lr_mult(const UmUltraMemConfig *cfg, int step, int total);
UmUltraMemConfig ref_um_ultramem_config_default(void);

#define TAG "ex_7_1"

static void compare_run(const UmUltraMemConfig *c, int total, const char *what) {
    int n = total + 3;
    real *yours = gu_reals(n), *ref = gu_reals(n);
    for (int s = 0; s < n; s++) {
        yours[s] = (real)um_ultramem_value_lr_mult(c, s, total);
        ref[s] = (real)ref_um_ultramem_value_lr_mult(c, s, total);
    }
    char ctx[200];
    snprintf(ctx, sizeof ctx, " %s: start %g, end %g, decay_frac %g, schedule %s, total %d (index = step).", what,
             (double)c->value_lr_mult, (double)c->value_lr_mult_end, (double)c->value_lr_decay_frac,
             c->value_lr_schedule == UM_VALUE_LR_LINEAR ? "LINEAR" : "CONSTANT", total);
    gu_expect_close("multiplier", yours, ref, n, 0, ctx);
}

START_TEST(default_linear) {
    UmUltraMemConfig c = ref_um_ultramem_config_default();  // 4 -> 1 over the whole run
    compare_run(&c, 100, "the default");
}
END_TEST

START_TEST(end_points) {
    UmUltraMemConfig c = ref_um_ultramem_config_default();
    double at0 = um_ultramem_value_lr_mult(&c, 0, 1000), at_end = um_ultramem_value_lr_mult(&c, 1000, 1000);
    double half = um_ultramem_value_lr_mult(&c, 500, 1000);
    ck_assert_msg(at0 == 4 && at_end == 1 && half == 2.5,
                  "4x -> 1x over 1000 steps: step 0 gives %g (want 4), step 500 gives %g (want 2.5), step 1000 "
                  "gives %g (want 1).",
                  at0, half, at_end);
}
END_TEST

START_TEST(partial_decay_and_constant) {
    UmUltraMemConfig c = ref_um_ultramem_config_default();
    c.value_lr_mult = 10, c.value_lr_mult_end = 1, c.value_lr_decay_frac = (real)0.25;
    compare_run(&c, 80, "10x -> 1x over the first quarter");
    c.value_lr_schedule = UM_VALUE_LR_CONSTANT;
    compare_run(&c, 40, "constant");
    c.value_lr_schedule = UM_VALUE_LR_LINEAR, c.value_lr_decay_frac = 0;
    compare_run(&c, 10, "a decay of length 0");
    c.value_lr_decay_frac = 1;
    compare_run(&c, 0, "total 0 steps");
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 7.1: value learning-rate schedule");
    GU_ADD(s, TAG, default_linear);
    GU_ADD(s, TAG, end_points);
    GU_ADD(s, TAG, partial_decay_and_constant);
    return s;
}
