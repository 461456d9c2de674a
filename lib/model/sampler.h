// sampler.h: turn the model's next-byte distribution into text.
//
// sample_byte: logits (V) -> one byte, with
//   temperature  logits / temperature before the softmax (0 = greedy argmax)
//   top_k        keep only the k most likely bytes (0 = all)
// generate: prompt bytes -> n_new bytes, feeding the model its own output
// (the context slides to the last T bytes once it is full).
#ifndef UM_SAMPLER_H
#define UM_SAMPLER_H

#include "base/rng.h"
#include "model/transformer.h"

typedef struct {
    double temperature;
    int top_k;
} UmSampling;

int sample_byte(const real *logits, int V, const UmSampling *s, UmRng *rng);

// Writes prompt_len + n_new bytes into out (which must hold that many).
// Returns the number of bytes written.
int generate(UmModel *model, const unsigned char *prompt, int prompt_len, int n_new, const UmSampling *s,
             UmRng *rng, unsigned char *out);

#endif
