// ch07_ultramem.c: your code for the exercises of chapters/07_ultramem.
//
// GENERATED from lib/ by exercises/tools/exercise.sh (make exercises-stubs).
// Write your code between the BEGIN/END EXERCISE markers, nowhere else.
//
// This file is never compiled on its own: make grade pastes each region into
// its place in lib/ (the file named above the region), so your code sees that
// file's #includes, macros and static helpers, exactly as the reference does.
// The maths, the shapes and a hint for each exercise: chapters/07_ultramem/README.md.
//
//   make grade EX=1.1     grade one exercise (its tests, points and failures)
//   make grade            grade them all
//
// UM_TODO prints "exercise N is not implemented yet" and returns without
// touching the outputs; delete it when you write the body. You may add small
// static helper functions inside a region.

// ---------------------------------------------------------------- exercise 7.1 (10 points)
// value learning-rate schedule. Your code replaces the reference in lib/memory/ultramem.c.
/* BEGIN EXERCISE 7.1 */
double um_ultramem_value_lr_mult(const UmUltraMemConfig *cfg, int step, int total) {
    UM_TODO("7.1");
    return 0;
}
/* END EXERCISE 7.1 */

// ---------------------------------------------------------------- exercise 7.2 (10 points)
// improved init: value std and norm gain. Your code replaces the reference in lib/memory/ultramem.c.
/* BEGIN EXERCISE 7.2 */
static double value_init_std(const UmUltraMemConfig *c) {
    UM_TODO("7.2");
    return 0;
}

static double norm_gain(double mu, int tdqkr, int Dk) {
    UM_TODO("7.2");
    return 0;
}
/* END EXERCISE 7.2 */
