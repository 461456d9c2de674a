// rng.c: xorshift64* (Vigna), seeded through splitmix64 so that nearby seeds
// (1, 2, 3...) still give unrelated streams.
#include "base/rng.h"

#include <math.h>

void rng_seed(UmRng *rng, uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;  // splitmix64 step
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    rng->state = z ? z : 1;  // xorshift must never hold 0
}

uint32_t rng_u32(UmRng *rng) {
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

double rng_uniform(UmRng *rng) {
    return (rng_u32(rng) >> 8) / 16777216.0;  // 24 random bits
}

double rng_normal(UmRng *rng) {
    double u1 = rng_uniform(rng);
    double u2 = rng_uniform(rng);
    if (u1 < 1e-12) u1 = 1e-12;  // log(0) guard
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint32_t rng_below(UmRng *rng, uint32_t n) {
    return (uint32_t)(rng_uniform(rng) * n) % n;
}
