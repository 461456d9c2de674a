// ch02_transformer.c: your code for the exercises of chapters/02_dense_transformer.
//
// GENERATED from lib/ by exercises/tools/exercise.sh (make exercises-stubs).
// Write your code between the BEGIN/END EXERCISE markers, nowhere else.
//
// This file is never compiled on its own: make grade pastes each region into
// its place in lib/ (the file named above the region), so your code sees that
// file's #includes, macros and static helpers, exactly as the reference does.
// The maths, the shapes and a hint for each exercise: chapters/02_dense_transformer/README.md.
//
//   make grade EX=1.1     grade one exercise (its tests, points and failures)
//   make grade            grade them all
//
// UM_TODO prints "exercise N is not implemented yet" and returns without
// touching the outputs; delete it when you write the body. You may add small
// static helper functions inside a region.

// ---------------------------------------------------------------- exercise 2.1 (10 points)
// softmax cross-entropy backward. Your code replaces the reference in lib/nn/crossentropy.c.
/* BEGIN EXERCISE 2.1 */
void softmax_crossentropy_backward(real *dlogits, const real *probs, const int *targets, real scale, int N, int V) {
    UM_TODO("2.1");
}
/* END EXERCISE 2.1 */

// ---------------------------------------------------------------- exercise 2.2 (10 points)
// LayerNorm backward (input gradient). Your code replaces the reference in lib/nn/layernorm.c.
/* BEGIN EXERCISE 2.2 */
static void layernorm_backward_inp(real *dinp, const real *dout, const real *inp, const real *weight,
                                   const real *mean, const real *rstd, int N, int D) {
    UM_TODO("2.2");
}
/* END EXERCISE 2.2 */
