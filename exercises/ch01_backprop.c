// ch01_backprop.c: your code for the exercises of chapters/01_backprop_in_c.
//
// GENERATED from lib/ by exercises/tools/exercise.sh (make exercises-stubs).
// Write your code between the BEGIN/END EXERCISE markers, nowhere else.
//
// This file is never compiled on its own: make grade pastes each region into
// its place in lib/ (the file named above the region), so your code sees that
// file's #includes, macros and static helpers, exactly as the reference does.
// The maths, the shapes and a hint for each exercise: chapters/01_backprop_in_c/README.md.
//
//   make grade EX=1.1     grade one exercise (its tests, points and failures)
//   make grade            grade them all
//
// UM_TODO prints "exercise N is not implemented yet" and returns without
// touching the outputs; delete it when you write the body. You may add small
// static helper functions inside a region.

// ---------------------------------------------------------------- exercise 1.1 (10 points)
// matmul backward. Your code replaces the reference in lib/kernels/matmul.c.
/* BEGIN EXERCISE 1.1 */
void matmul_backward_ref(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                         const real *weight, int N, int C, int OC) {
    UM_TODO("1.1");
}
/* END EXERCISE 1.1 */

// ---------------------------------------------------------------- exercise 1.2 (10 points)
// GELU derivative. Your code replaces the reference in lib/nn/gelu.c.
/* BEGIN EXERCISE 1.2 */
real gelu_derivative(real x) {
    UM_TODO("1.2");
    return 0;
}
/* END EXERCISE 1.2 */
