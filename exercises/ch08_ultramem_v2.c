// ch08_ultramem_v2.c: your code for the exercises of chapters/08_ultramem_v2.
//
// GENERATED from lib/ by exercises/tools/exercise.sh (make exercises-stubs).
// Write your code between the BEGIN/END EXERCISE markers, nowhere else.
//
// This file is never compiled on its own: make grade pastes each region into
// its place in lib/ (the file named above the region), so your code sees that
// file's #includes, macros and static helpers, exactly as the reference does.
// The maths, the shapes and a hint for each exercise: chapters/08_ultramem_v2/README.md.
//
//   make grade EX=1.1     grade one exercise (its tests, points and failures)
//   make grade            grade them all
//
// UM_TODO prints "exercise N is not implemented yet" and returns without
// touching the outputs; delete it when you write the body. You may add small
// static helper functions inside a region.

// ---------------------------------------------------------------- exercise 8.1 (10 points)
// PEER-style slot weights and their backward. Your code replaces the reference in lib/memory/ultramem_v2.c.
/* BEGIN EXERCISE 8.1 */
// PEER-style weights of one token's m winners ([PAPER] Eq. 15):
//   act_j = pre_j            (or gelu(pre_j) when use_gelu: PEER's form)
//   w_jc  = s_jc * act_j     for each core c (MCS: core c weights slice c)
// score, weight (m, h); pre, act (m).
void um_v2_slot_weights(real *weight, real *act, const real *score, const real *pre, int m, int h, int use_gelu) {
    UM_TODO("8.1");
}

// Forward was: w_jc = s_jc * act_j, act_j = pre_j or gelu(pre_j); so
//   dscore_jc = dw_jc * act_j            (overwritten)
//   dpre_j    = act'(pre_j) * sum_c dw_jc * s_jc   (overwritten)
void um_v2_slot_weights_backward(real *dscore, real *dpre, const real *dweight, const real *score, const real *pre,
                                 const real *act, int m, int h, int use_gelu) {
    UM_TODO("8.1");
}
/* END EXERCISE 8.1 */

// ---------------------------------------------------------------- exercise 8.2 (10 points)
// sigma_V from Eq. 26 (the V2 init). Your code replaces the reference in lib/memory/ultramem_v2.c.
/* BEGIN EXERCISE 8.2 */
// Forward variance chain (values and pre-values ~ N(0, sv^2), independent):
//   one coordinate of t = A x          : a_gain
//   pre = <P[slot], t>                  : Dp a_gain sv^2
//   weight = s * pre                    : E[s^2] Dp a_gain sv^2
//   acc = sum of m*heads weight * V[slot]: m heads E[s^2] Dp a_gain sv^4
//   out = Wo acc                        : Dv w_var * (the line above)
// Set out's variance to target_var and solve for sv (a fourth root: sv
// enters twice, once through the pre-value and once through the value).
double um_ultramem_v2_value_std(double target_var, double score_sq, int m, int heads, int Dp, int Dv,
                                double a_gain, double w_var) {
    UM_TODO("8.2");
    return 0;
}
/* END EXERCISE 8.2 */
