// ex_8_2.c: exercise 8.2, sigma_V from Eq. 26 of the UltraMemV2 appendix
// (um_ultramem_v2_value_std in lib/memory/ultramem_v2.c).
//   sigma_V = (target / (m heads E[s^2] Dp a_gain Dv w_var))^(1/4)
// Checked against the reference, on the paper's worked example, and by its
// meaning: the predicted output variance with that sigma_V is the target.
#include <math.h>
#include <stdio.h>

#include "grade_util.h"
#include "memory/ultramem_v2.h"

#define TAG "ex_8_2"

double ref_um_ultramem_v2_value_std(double target_var, double score_sq, int m, int heads, int Dp, int Dv,
                                    double a_gain, double w_var);

START_TEST(matches_reference) {
    UmRng rng;
    rng_seed(&rng, 0x8201);
    for (int trial = 0; trial < 10; trial++) {
        double t = 1e-4 + rng_uniform(&rng) * 0.01, s2 = 0.2 + rng_uniform(&rng);
        int m = gu_between(&rng, 1, 64), H = gu_between(&rng, 1, 4), Dp = gu_between(&rng, 1, 96),
            Dv = gu_between(&rng, 1, 96);
        double a = 0.1 + rng_uniform(&rng), w = 0.001 + 0.01 * rng_uniform(&rng);
        real yours = (real)um_ultramem_v2_value_std(t, s2, m, H, Dp, Dv, a, w);
        real ref = (real)ref_um_ultramem_v2_value_std(t, s2, m, H, Dp, Dv, a, w);
        char ctx[200];
        snprintf(ctx, sizeof ctx, " target=%g E[s^2]=%g m=%d heads=%d Dp=%d Dv=%d a_gain=%g w_var=%g.", t, s2, m, H, Dp,
                 Dv, a, w);
        gu_expect_close("sigma_V", &yours, &ref, 1, 0, ctx);
    }
}
END_TEST

START_TEST(paper_example) {
    double sv = um_ultramem_v2_value_std(0.064 * 3.25 / 40, 1.1, 32, 1, 192, 192, 0.4, 0.4 / 768);
    ck_assert_msg(fabs(sv - 0.0662) < 5e-4,
                  "UltraMemV2-227M (target 0.064*3.25/40, E[s^2] 1.1, m 32, Dp = Dv = 192, a_gain 0.4, "
                  "w_var 0.4/768): yours %.5f, the paper's example gives ~0.066",
                  sv);
}
END_TEST

START_TEST(variance_is_target) {
    double t = 0.003, s2 = 0.5, a = 0.4, w = 0.01;
    int m = 16, H = 2, Dp = 32, Dv = 48;
    double sv = um_ultramem_v2_value_std(t, s2, m, H, Dp, Dv, a, w);
    double predicted = m * H * s2 * Dp * a * Dv * w * pow(sv, 4);
    ck_assert_msg(fabs(predicted / t - 1) < 1e-9,
                  "with your sigma_V = %g the output variance m heads E[s^2] Dp a_gain Dv w_var sigma_V^4 = %g, "
                  "not the target %g",
                  sv, predicted, t);
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 8.2: sigma_V from Eq. 26");
    GU_ADD(s, TAG, matches_reference);
    GU_ADD(s, TAG, paper_example);
    GU_ADD(s, TAG, variance_is_target);
    return s;
}
