// ch04_moe.c: your code for the exercises of chapters/04_mixture_of_experts.
//
// GENERATED from lib/ by exercises/tools/exercise.sh (make exercises-stubs).
// Write your code between the BEGIN/END EXERCISE markers, nowhere else.
//
// This file is never compiled on its own: make grade pastes each region into
// its place in lib/ (the file named above the region), so your code sees that
// file's #includes, macros and static helpers, exactly as the reference does.
// The maths, the shapes and a hint for each exercise: chapters/04_mixture_of_experts/README.md.
//
//   make grade EX=1.1     grade one exercise (its tests, points and failures)
//   make grade            grade them all
//
// UM_TODO prints "exercise N is not implemented yet" and returns without
// touching the outputs; delete it when you write the body. You may add small
// static helper functions inside a region.

// ---------------------------------------------------------------- exercise 4.1 (10 points)
// top-k routing with renormalised gates. Your code replaces the reference in lib/memory/moe.c.
/* BEGIN EXERCISE 4.1 */
// The k largest of probs (X), most probable first; on a tie the lower id wins.
// X is small (8..64), so k passes of argmax are simpler than a heap.
static void topk_row(int *chosen, const real *probs, int X, int k) {
    UM_TODO("4.1");
}

// Mixtral: renormalise the k chosen probabilities to sum 1. Switch/DeepSeek:
// use them as they are (the gate then also says how sure the router was).
static void gates_row(real *gates, const real *probs, const int *chosen, int k, int normalize) {
    UM_TODO("4.1");
}
/* END EXERCISE 4.1 */

// ---------------------------------------------------------------- exercise 4.2 (10 points)
// load-balancing loss and its gradient. Your code replaces the reference in lib/memory/moe.c.
/* BEGIN EXERCISE 4.2 */
// probs (N, X), load (X) -> L_bal
static real balance_loss(const real *probs, const int *load, real alpha, int N, int X, int k) {
    UM_TODO("4.2");
    return 0;
}

// dp (X) of one token t += scale * dL_bal / dp_t
static void balance_loss_backward_row(real *dp, const int *load, real scale, real alpha, int N, int X, int k) {
    UM_TODO("4.2");
}
/* END EXERCISE 4.2 */
