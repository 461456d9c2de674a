// tucker.c: see tucker.h.
#include "memory/tucker.h"

#include <math.h>

#include "base/error.h"

static void check_rank(int r) {
    if (r < 1 || r > UM_TUCKER_MAX_RANK) um_die(UM_EXIT_USAGE, "tucker: rank r=%d, only 1 and 2 are supported", r);
}

/* BEGIN EXERCISE 5.1 */
// Flip the pair (u, t) together so the largest-magnitude component of u is
// positive. Why a convention at all: an SVD is only defined up to flipping
// both vectors, and flipping them turns "top-m of u.R" into "top-m of -u.R",
// i.e. a search for the MOST NEGATIVE rows. The released code instead flips
// whenever that is closer (L1) to the previous step's pair; a fixed rule
// needs no state across steps and agrees with it whenever the pair does not
// jump (with the cores' U(0,1) init, u and t start all-positive either way).
static void fix_sign(double *u, double *t, int r) {
    int big = 0;
    for (int i = 1; i < r; i++)
        if (fabs(u[i]) > fabs(u[big])) big = i;
    if (u[big] < 0)
        for (int i = 0; i < r; i++) u[i] = -u[i], t[i] = -t[i];
}

void tucker_svd(UmSvd2 *svd, const real *C, int r) {
    check_rank(r);
    *svd = (UmSvd2){.r = r};
    if (r == 1) {
        svd->s[0] = fabs((double)C[0]);
        svd->u[0] = 1;
        svd->t[0] = C[0] < 0 ? -1 : 1;
        return;
    }
    double c00 = C[0], c01 = C[1], c10 = C[2], c11 = C[3];
    // C^T C = [[a, b], [b, c]]; its top eigenvector is the leading right
    // singular vector t, at angle theta with tan(2 theta) = 2b / (a - c).
    double a = c00 * c00 + c10 * c10, c = c01 * c01 + c11 * c11, b = c00 * c01 + c10 * c11;
    double theta = 0.5 * atan2(2 * b, a - c);
    double t[2] = {cos(theta), sin(theta)};
    double Ct[2] = {c00 * t[0] + c01 * t[1], c10 * t[0] + c11 * t[1]};
    double s0 = sqrt(Ct[0] * Ct[0] + Ct[1] * Ct[1]);
    double u[2] = {1, 0};
    if (s0 > 0) u[0] = Ct[0] / s0, u[1] = Ct[1] / s0;
    else t[0] = 1, t[1] = 0;  // C = 0: any orthonormal pair; pick the axes
    fix_sign(u, t, 2);
    // The second pair: t2 = perp(t) with perp(v) = (-v1, v0), and C t2 is
    // orthogonal to C t, so C t2 = +-s1 perp(u). det C = s0 s1 det[u u2],
    // hence u2 = sign(det C) perp(u) and s1 = |det C| / s0 (more accurate
    // than sqrt of the small eigenvalue when C is nearly rank 1).
    double det = c00 * c11 - c01 * c10;
    double sg = det < 0 ? -1 : 1;
    svd->s[0] = s0;
    svd->s[1] = s0 > 0 ? fabs(det) / s0 : 0;
    if (svd->s[1] > s0) svd->s[1] = s0;  // rounding when s0 ~ s1
    svd->u[0] = u[0], svd->u[1] = u[1];
    svd->t[0] = t[0], svd->t[1] = t[1];
    svd->u2[0] = -sg * u[1], svd->u2[1] = sg * u[0];
    svd->t2[0] = -t[1], svd->t2[1] = t[0];
}
/* END EXERCISE 5.1 */

void tucker_core_sum(real *Csum, const real *cores, int h, int r) {
    int rr = r * r;
    for (int i = 0; i < rr; i++) Csum[i] = 0;
    for (int c = 0; c < h; c++)
        for (int i = 0; i < rr; i++) Csum[i] += cores[c * rr + i];
}

real tucker_score(const real *R, const real *C, const real *Q, int r) {
    real s = 0;
    for (int a = 0; a < r; a++) {
        real cq = 0;
        for (int b = 0; b < r; b++) cq += C[a * r + b] * Q[b];
        s += R[a] * cq;
    }
    return s;
}

// The exact rescoring of the candidates, then its backward.
// Forward was: s = sum_ab R[a] C[a,b] Q[b]; so
//   dR[a] += g sum_b C[a,b] Q[b],  dQ[b] += g sum_a R[a] C[a,b],  dC[a,b] += g R[a] Q[b]
/* BEGIN EXERCISE 5.2 */
// R (m1, r), Q (m2, r), C (r, r) -> grid (m1*m2)
void tucker_grid(real *grid, const real *R, int m1, const real *Q, int m2, const real *C, int r) {
    for (int a = 0; a < m1; a++) {
        // RC = R[a]^T C, computed once per row candidate: then each of the m2
        // cells is one r-dot-product.
        real RC[UM_TUCKER_MAX_RANK];
        for (int b = 0; b < r; b++) {
            RC[b] = 0;
            for (int k = 0; k < r; k++) RC[b] += R[a * r + k] * C[k * r + b];
        }
        for (int b = 0; b < m2; b++) {
            real s = 0;
            for (int k = 0; k < r; k++) s += RC[k] * Q[b * r + k];
            grid[a * m2 + b] = s;
        }
    }
}

void tucker_score_backward(real *dR, real *dQ, real *dC, real g, const real *R, const real *C, const real *Q,
                           int r) {
    for (int a = 0; a < r; a++)
        for (int b = 0; b < r; b++) {
            if (dR) dR[a] += g * C[a * r + b] * Q[b];
            if (dQ) dQ[b] += g * R[a] * C[a * r + b];
            if (dC) dC[a * r + b] += g * R[a] * Q[b];
        }
}
/* END EXERCISE 5.2 */

// Forward was: loss = weight * max(0, s1 - tau)^2 (r = 2); ds1/dC = u2 t2^T.
double tucker_aux_loss(real *dC, const UmSvd2 *svd, double weight, double tau) {
    if (svd->r < 2) return 0;
    double excess = svd->s[1] - tau;
    if (excess <= 0) return 0;
    if (dC) {
        double g = weight * 2 * excess;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) dC[a * 2 + b] += (real)(g * svd->u2[a] * svd->t2[b]);
    }
    return weight * excess * excess;
}
