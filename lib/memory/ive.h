// ive.h: Implicit Value Expansion (UltraMem), the address side.
//
// IVE makes a memory look E times bigger than the table it stores. The
// physical table V has P = n*n rows; E linear projectors W_0..W_{E-1} turn
// it into E "virtual blocks" V W_p, and retrieval runs over all E*P virtual
// rows (sqrt(E)*n keys per side, so E must be a perfect square). Nothing
// virtual is ever materialised: a read of virtual row g is a read of
// physical row phys(g) credited to block block(g), the selected rows of each
// block are pooled first (weighted sums, Dv wide) and each pooled vector is
// projected once (memory/ultramem.c does the pooling and projection).
//
// Why a shuffle: with the plain map g -> (g mod P, g div P) the E copies of
// one physical row would sit at a regular stride in the key grid and tend to
// be picked together. A fixed random permutation of the E*P virtual
// addresses breaks that structure:
//
//   s = perm[g],  phys = s mod P,  block = s div P
//
// The permutation is not trained and not saved: it is rebuilt from a seed,
// so a checkpoint only needs the seed (see UmUltraMem.ive_seed).
#ifndef UM_IVE_H
#define UM_IVE_H

#include <stdint.h>

#include "base/real.h"

// perm (count) <- a permutation of [0, count), a Fisher-Yates shuffle driven
// by an UmRng seeded with seed: the same seed always gives the same perm.
void ive_shuffle(int *perm, int count, uint64_t seed);

// The shuffle seed of one layer: the configured seed mixed with a hash of
// the layer's parameter-name prefix, so two layers get different maps and a
// reloaded model rebuilds the same ones (the map is not saved).
uint64_t ive_layer_seed(uint64_t seed, const char *prefix);

// Virtual address g -> physical row and block (perm NULL: the identity).
static inline void ive_address(int *phys, int *block, const int *perm, int g, int n_phys) {
    int s = perm ? perm[g] : g;
    *phys = s % n_phys;
    *block = s / n_phys;
}

// sqrt(E) if E is a perfect square >= 1, else -1.
int ive_side_factor(int E);

// Pooling, one token (the layer calls these per token / per read).
// Each of the token's `reads` selected virtual rows i has a physical row
// phys[i], a block block[i] and h weights w[i*h + c], one per MCS core: core
// c weights only the c-th slice of Dv/h columns of the value (h = 1: one
// weight for the whole row).
//
//   V (P, Dv), phys/block (reads), w (reads, h) -> acc (E, Dv), OVERWRITTEN:
//   acc[block[i], slice c] += w[i,c] V[phys[i], slice c]   for every read i
void ive_pool_token(real *acc, const real *V, const int *phys, const int *block, const real *w, int reads, int E,
                    int Dv, int h);
// Forward was: acc[block[i], slice c] += w[i,c] V[phys[i], slice c]; so
//   dw[i,c] = <dacc[block[i], slice c], V[phys[i], slice c]>  (dw OVERWRITTEN: a
//            weight is read by nothing else; the caller chains softmax after)
void ive_pool_backward_weights(real *dw, const real *dacc, const real *V, const int *phys, const int *block,
                               int reads, int Dv, int h);
// ... and for ONE read i (the layer groups reads by physical row, so each
// thread owns whole rows of dV):
//   dv (Dv) += w[c] dacc_block[slice c],  dacc_block = dacc[block[i]] (Dv), w (h)
void ive_pool_backward_value(real *dv, const real *dacc_block, const real *w, int Dv, int h);

#endif
