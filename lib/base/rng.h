// rng.h: a small deterministic random number generator (xorshift64*).
//
// Every random choice in the project (init, data batches, sampling, shuffles)
// goes through an UmRng so a seed reproduces a run exactly. The state is one
// uint64, which makes it trivial to save in a checkpoint.
#ifndef UM_RNG_H
#define UM_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
} UmRng;

void rng_seed(UmRng *rng, uint64_t seed);
uint32_t rng_u32(UmRng *rng);
double rng_uniform(UmRng *rng);              // [0, 1)
double rng_normal(UmRng *rng);               // N(0, 1), Box-Muller
uint32_t rng_below(UmRng *rng, uint32_t n);  // uniform integer in [0, n)

#endif
