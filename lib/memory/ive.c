// ive.c: see ive.h.
#include "memory/ive.h"

#include "base/crc32.h"
#include "base/rng.h"

#include <string.h>

uint64_t ive_layer_seed(uint64_t seed, const char *prefix) {
    const char *p = prefix ? prefix : "";
    return seed ^ ((uint64_t)crc32_update(0, p, strlen(p)) * 0x9E3779B97F4A7C15ull);
}

void ive_shuffle(int *perm, int count, uint64_t seed) {
    UmRng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < count; i++) perm[i] = i;
    for (int i = count - 1; i > 0; i--) {
        int j = (int)rng_below(&rng, (uint32_t)i + 1);
        int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

int ive_side_factor(int E) {
    if (E < 1) return -1;
    int s = 1;
    while (s * s < E) s++;
    return s * s == E ? s : -1;
}

// Pool before projecting: the E virtual blocks are never materialised; the
// selected physical rows are summed, weighted, into the block each virtual
// address belongs to, and the layer projects the E pooled vectors once.
/* BEGIN EXERCISE 6.1 */
// V (P, Dv), phys/block (reads), w (reads, h) -> acc (E, Dv)
void ive_pool_token(real *acc, const real *V, const int *phys, const int *block, const real *w, int reads, int E,
                    int Dv, int h) {
    int slice = Dv / h;
    memset(acc, 0, (size_t)E * Dv * sizeof(real));
    for (int i = 0; i < reads; i++) {
        const real *v = V + (size_t)phys[i] * Dv;
        real *a = acc + (size_t)block[i] * Dv;
        for (int c = 0; c < h; c++) {
            real wc = w[i * h + c];
            for (int x = c * slice; x < (c + 1) * slice; x++) a[x] += wc * v[x];
        }
    }
}
/* END EXERCISE 6.1 */

// Forward was: acc[block[i], slice c] += w[i,c] V[phys[i], slice c]; so
//   dw[i,c] = sum over the slice of dacc[block[i], x] V[phys[i], x]
//   dV[phys[i], slice c] += w[i,c] dacc[block[i], slice c]
/* BEGIN EXERCISE 6.2 */
// dacc (E, Dv), V (P, Dv), phys/block (reads) -> dw (reads, h)
void ive_pool_backward_weights(real *dw, const real *dacc, const real *V, const int *phys, const int *block,
                               int reads, int Dv, int h) {
    int slice = Dv / h;
    for (int i = 0; i < reads; i++) {
        const real *v = V + (size_t)phys[i] * Dv, *d = dacc + (size_t)block[i] * Dv;
        for (int c = 0; c < h; c++) {
            real g = 0;
            for (int x = c * slice; x < (c + 1) * slice; x++) g += d[x] * v[x];
            dw[i * h + c] = g;
        }
    }
}

// dacc_block (Dv), w (h) -> dv (Dv) +=
void ive_pool_backward_value(real *dv, const real *dacc_block, const real *w, int Dv, int h) {
    int slice = Dv / h;
    for (int c = 0; c < h; c++)
        for (int x = c * slice; x < (c + 1) * slice; x++) dv[x] += w[c] * dacc_block[x];
}
/* END EXERCISE 6.2 */
