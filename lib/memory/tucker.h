// tucker.h: TDQKR, UltraMem's Tucker-decomposed query-key retrieval, as
// small reusable steps (the layer is memory/ultramem.c).
//
// Product keys give each (row, col) slot the ADDITIVE score s_row + s_col.
// TDQKR keeps r score vectors per side instead of one and combines them
// through a learnable r x r core C:
//
//   score(row, col) = R^T C Q,   R = S_row[:, row] (r),  Q = S_col[:, col] (r)
//
// This bilinear score is no longer a sum, so "the best slots use only the
// best rows and the best columns" is no longer exact. UltraMem selects with
// the rank-1 part of C instead: C ~ s1 u t^T (leading singular triple), so
// score ~ s1 (u.R)(t.Q), which IS separable: take the top-m rows on u.R and
// the top-m columns on t.Q, rescore those m x m candidates with the full C,
// keep the best m. When C is exactly rank 1 (and the winning u.R, t.Q are
// positive) this is exact; an auxiliary loss keeps C's other singular values
// small so it stays nearly so.
//
// Shapes: R (m1, r), Q (m2, r), C (r, r) row-major C[a*r+b]. Only r = 1 and
// r = 2 are supported (the paper's ablation finds nothing beyond r = 2).
#ifndef UM_TUCKER_H
#define UM_TUCKER_H

#include "base/real.h"

#define UM_TUCKER_MAX_RANK 2

// C = s[0] u t^T + s[1] u2 t2^T with s[0] >= s[1] >= 0, {u, u2} and {t, t2}
// orthonormal. Sign convention: the largest-magnitude component of u is
// positive (the first on a tie); t follows from u. For r = 1: u = 1,
// t = sign(C) (+1 for C = 0), s[0] = |C|.
typedef struct {
    int r;
    double s[2];
    double u[2], t[2];    // leading left / right singular vectors
    double u2[2], t2[2];  // the other pair (r = 2 only)
} UmSvd2;

// C (r, r) -> svd. Closed form, computed in double whatever `real` is:
// the leading right singular vector t is the top eigenvector of C^T C,
// whose angle is atan2(2 b, a - c) / 2 for C^T C = [[a, b], [b, c]];
// then u = C t / s0, s1 = |det C| / s0, u2 = sign(det C) * perp(u).
void tucker_svd(UmSvd2 *svd, const real *C, int r);

// cores (h, r, r) -> Csum (r, r) = sum of the h cores (MCS selects on the sum).
void tucker_core_sum(real *Csum, const real *cores, int h, int r);

// s = R^T C Q for one candidate: R (r), Q (r), C (r, r).
real tucker_score(const real *R, const real *C, const real *Q, int r);

// Score the m1 x m2 candidate grid with the full core:
//   R (m1, r), Q (m2, r), C (r, r) -> grid (m1*m2), grid[a*m2+b] = R[a]^T C Q[b]
void tucker_grid(real *grid, const real *R, int m1, const real *Q, int m2, const real *C, int r);

// Forward was: s = R^T C Q; so (each pointer may be NULL, all +=)
//   dR += g C Q,  dQ += g C^T R,  dC += g R Q^T
void tucker_score_backward(real *dR, real *dQ, real *dC, real g, const real *R, const real *C, const real *Q,
                           int r);

// Auxiliary loss on the non-leading singular values of one core C (r, r):
//   loss = weight * sum_{i>=2} max(0, s_i - tau)^2
// and, if dC is not NULL, dC += d loss / d C = weight * 2 (s_2 - tau) u2 t2^T
// (ds_i/dC = u_i t_i^T for distinct singular values). 0 for r = 1.
double tucker_aux_loss(real *dC, const UmSvd2 *svd, double weight, double tau);

#endif
