// crossentropy.c: softmax + cross-entropy over the vocabulary, fused.
#include "nn/crossentropy.h"

#include <stddef.h>

#include "base/error.h"
#include "kernels/softmax.h"

// x (n) -> x (n), softmax in place. Subtracting the max first keeps exp()
// in range: the largest term becomes exp(0) = 1, so logits of 1e4 are fine.
void softmax_inplace(real *x, int n) {
    real maxval = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > maxval) maxval = x[i];
    real sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = (real)exp((double)(x[i] - maxval));
        sum += x[i];
    }
    for (int i = 0; i < n; i++) x[i] /= sum;
}

// A target outside [0, V) would read outside the row: reject it loudly.
static void check_targets(const int *targets, int N, int V) {
    for (int n = 0; n < N; n++)
        if (targets[n] < 0 || targets[n] >= V)
            um_die(UM_EXIT_RUNTIME, "cross-entropy: target %d of token %d is not in [0, %d)", targets[n], n, V);
}

// logits (N,V), targets (N) -> probs (N,V), losses (N)
void softmax_crossentropy_forward(real *losses, real *probs, const real *logits, const int *targets, int N, int V) {
    check_targets(targets, N, V);
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const real *z = logits + (size_t)n * V;
        real *p = probs + (size_t)n * V;
        // p = exp(z - max) and its sum in one SIMD pass (kernels/softmax.h).
        real maxval;
        real sum = softmax_exp(p, z, V, &maxval);
        for (int v = 0; v < V; v++) p[v] = p[v] / sum;
        // loss = -log p[target] = log(sum exp(z - max)) - (z[target] - max).
        // Written this way it stays finite even when p[target] underflows to 0.
        losses[n] = (real)(log((double)sum) - (double)(z[targets[n]] - maxval));
    }
}

// Forward was: loss = -log softmax(z)[target], weighted by scale; so
//   dz[v] += scale * (p[v] - [v == target])
/* BEGIN EXERCISE 2.1 */
void softmax_crossentropy_backward(real *dlogits, const real *probs, const int *targets, real scale, int N, int V) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const real *p = probs + (size_t)n * V;
        real *dz = dlogits + (size_t)n * V;
        for (int v = 0; v < V; v++) dz[v] += scale * (p[v] - (v == targets[n] ? (real)1 : (real)0));
    }
}
/* END EXERCISE 2.1 */
