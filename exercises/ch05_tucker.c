// ch05_tucker.c: your code for the exercises of chapters/05_tucker_retrieval.
//
// GENERATED from lib/ by exercises/tools/exercise.sh (make exercises-stubs).
// Write your code between the BEGIN/END EXERCISE markers, nowhere else.
//
// This file is never compiled on its own: make grade pastes each region into
// its place in lib/ (the file named above the region), so your code sees that
// file's #includes, macros and static helpers, exactly as the reference does.
// The maths, the shapes and a hint for each exercise: chapters/05_tucker_retrieval/README.md.
//
//   make grade EX=1.1     grade one exercise (its tests, points and failures)
//   make grade            grade them all
//
// UM_TODO prints "exercise N is not implemented yet" and returns without
// touching the outputs; delete it when you write the body. You may add small
// static helper functions inside a region.

// ---------------------------------------------------------------- exercise 5.1 (10 points)
// 2x2 SVD of the Tucker core with the sign fixed. Your code replaces the reference in lib/memory/tucker.c.
/* BEGIN EXERCISE 5.1 */
// Flip the pair (u, t) together so the largest-magnitude component of u is
// positive. Why a convention at all: an SVD is only defined up to flipping
// both vectors, and flipping them turns "top-m of u.R" into "top-m of -u.R",
// i.e. a search for the MOST NEGATIVE rows. The released code instead flips
// whenever that is closer (L1) to the previous step's pair; a fixed rule
// needs no state across steps and agrees with it whenever the pair does not
// jump (with the cores' U(0,1) init, u and t start all-positive either way).
static void fix_sign(double *u, double *t, int r) {
    UM_TODO("5.1");
}

void tucker_svd(UmSvd2 *svd, const real *C, int r) {
    UM_TODO("5.1");
}
/* END EXERCISE 5.1 */

// ---------------------------------------------------------------- exercise 5.2 (10 points)
// rescoring the m x m candidates and its backward. Your code replaces the reference in lib/memory/tucker.c.
/* BEGIN EXERCISE 5.2 */
// R (m1, r), Q (m2, r), C (r, r) -> grid (m1*m2)
void tucker_grid(real *grid, const real *R, int m1, const real *Q, int m2, const real *C, int r) {
    UM_TODO("5.2");
}

void tucker_score_backward(real *dR, real *dQ, real *dC, real g, const real *R, const real *C, const real *Q,
                           int r) {
    UM_TODO("5.2");
}
/* END EXERCISE 5.2 */
