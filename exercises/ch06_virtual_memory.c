// ch06_virtual_memory.c: your code for the exercises of chapters/06_virtual_memory.
//
// GENERATED from lib/ by exercises/tools/exercise.sh (make exercises-stubs).
// Write your code between the BEGIN/END EXERCISE markers, nowhere else.
//
// This file is never compiled on its own: make grade pastes each region into
// its place in lib/ (the file named above the region), so your code sees that
// file's #includes, macros and static helpers, exactly as the reference does.
// The maths, the shapes and a hint for each exercise: chapters/06_virtual_memory/README.md.
//
//   make grade EX=1.1     grade one exercise (its tests, points and failures)
//   make grade            grade them all
//
// UM_TODO prints "exercise N is not implemented yet" and returns without
// touching the outputs; delete it when you write the body. You may add small
// static helper functions inside a region.

// ---------------------------------------------------------------- exercise 6.1 (10 points)
// IVE pooling (with MCS slices). Your code replaces the reference in lib/memory/ive.c.
/* BEGIN EXERCISE 6.1 */
// V (P, Dv), phys/block (reads), w (reads, h) -> acc (E, Dv)
void ive_pool_token(real *acc, const real *V, const int *phys, const int *block, const real *w, int reads, int E,
                    int Dv, int h) {
    UM_TODO("6.1");
}
/* END EXERCISE 6.1 */

// ---------------------------------------------------------------- exercise 6.2 (10 points)
// IVE pooling backward. Your code replaces the reference in lib/memory/ive.c.
/* BEGIN EXERCISE 6.2 */
// dacc (E, Dv), V (P, Dv), phys/block (reads) -> dw (reads, h)
void ive_pool_backward_weights(real *dw, const real *dacc, const real *V, const int *phys, const int *block,
                               int reads, int Dv, int h) {
    UM_TODO("6.2");
}

// dacc_block (Dv), w (h) -> dv (Dv) +=
void ive_pool_backward_value(real *dv, const real *dacc_block, const real *w, int Dv, int h) {
    UM_TODO("6.2");
}
/* END EXERCISE 6.2 */
