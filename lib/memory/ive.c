// ive.c: see ive.h.
#include "memory/ive.h"

#include "base/rng.h"

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
