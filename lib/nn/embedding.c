// embedding.c: token + position embedding, the model's first layer.
#include "nn/embedding.h"

#include <stddef.h>

// tokens (B,T) in [0,V), wte (V,D), wpe (Tmax,D) -> out (B,T,D)
// Each token's output row is independent, so the loop over tokens is
// parallel without any race.
void embedding_forward(real *out, const int *tokens, const real *wte, const real *wpe, int B, int T, int D) {
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            size_t n = (size_t)b * T + t;
            const real *tok_row = wte + (size_t)tokens[n] * D;
            const real *pos_row = wpe + (size_t)t * D;
            real *y = out + n * D;
            for (int d = 0; d < D; d++) y[d] = tok_row[d] + pos_row[d];
        }
    }
}

// Forward was: out[b][t][d] = wte[tokens[b][t]][d] + wpe[t][d]; so
//   dwte[tokens[b][t]][d] += dout[b][t][d]
//   dwpe[t][d]            += dout[b][t][d]
void embedding_backward(real *dwte, real *dwpe, const real *dout, const int *tokens, int B, int T, int D) {
    // Position rows: thread t owns row t of dwpe and sums over the batch,
    // so no two threads write the same row.
#pragma omp parallel for
    for (int t = 0; t < T; t++) {
        real *dpos = dwpe + (size_t)t * D;
        for (int b = 0; b < B; b++) {
            const real *g = dout + ((size_t)b * T + t) * D;
            for (int d = 0; d < D; d++) dpos[d] += g[d];
        }
    }
    // Token rows: the same token can appear many times in a batch, so two
    // threads could add into the same dwte row at once. This scatter is
    // cheap next to the matmuls; we keep it serial, which also keeps the
    // summation order (and so the result) identical run to run.
    for (int n = 0; n < B * T; n++) {
        const real *g = dout + (size_t)n * D;
        real *dtok = dwte + (size_t)tokens[n] * D;
        for (int d = 0; d < D; d++) dtok[d] += g[d];
    }
}
