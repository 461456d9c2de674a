// ch03_pkm.c: your code for the exercises of chapters/03_product_key_memory.
//
// GENERATED from lib/ by exercises/tools/exercise.sh (make exercises-stubs).
// Write your code between the BEGIN/END EXERCISE markers, nowhere else.
//
// This file is never compiled on its own: make grade pastes each region into
// its place in lib/ (the file named above the region), so your code sees that
// file's #includes, macros and static helpers, exactly as the reference does.
// The maths, the shapes and a hint for each exercise: chapters/03_product_key_memory/README.md.
//
//   make grade EX=1.1     grade one exercise (its tests, points and failures)
//   make grade            grade them all
//
// UM_TODO prints "exercise N is not implemented yet" and returns without
// touching the outputs; delete it when you write the body. You may add small
// static helper functions inside a region.

// ---------------------------------------------------------------- exercise 3.1 (10 points)
// product-key search. Your code replaces the reference in lib/memory/product_keys.c.
/* BEGIN EXERCISE 3.1 */
// q (half), K (n, half) -> s (n)
void pk_side_scores(real *s, const real *q, const real *K, int n, int half) {
    UM_TODO("3.1");
}

// top1_val (k1), top2_val (k2) -> grid (k1*k2)
void pk_grid_additive(real *grid, int *grid_slot, const int *top1, const real *top1_val, int k1, const int *top2,
                      const real *top2_val, int k2, int n) {
    UM_TODO("3.1");
}

// grid (cells) -> slots, scores (k)
void pk_grid_select(int *slots, real *scores, int *sel_cell, const real *grid, const int *grid_slot, int cells,
                    int k) {
    UM_TODO("3.1");
}

void pk_search(UmPkSearch *ws, int *slots, real *scores, const real *q1, const real *q2, const real *K1,
               const real *K2) {
    UM_TODO("3.1");
}
/* END EXERCISE 3.1 */

// ---------------------------------------------------------------- exercise 3.2 (10 points)
// product-key backward. Your code replaces the reference in lib/memory/product_keys.c.
/* BEGIN EXERCISE 3.2 */
void pk_backward(real *dq1, real *dq2, real *dK1, real *dK2, const real *dscores, const int *slots, const real *q1,
                 const real *q2, const real *K1, const real *K2, int n, int half, int k) {
    UM_TODO("3.2");
}
/* END EXERCISE 3.2 */
