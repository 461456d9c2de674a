// moe_probe.h: what the visualiser reads from a Mixture-of-Experts layer.
//
// A probe is a passive recorder. The MoE layer fills it at the end of every
// forward pass, but only when one is attached (um_moe_attach_probe), so a
// layer without a probe pays nothing. It keeps:
//   - the router's full softmax per token for the last batch  probs (n_tokens, X)
//   - the k experts each token chose and their gate weights   chosen, gates (n_tokens, k)
//   - the per-expert load (tokens routed) of the last `window` forward passes,
//     a ring buffer, so a plot can show whether the router is collapsing.
// Everything is stored as float whatever `real` is: it is for display only.
// Only the first max_tokens tokens of a batch are kept.
#ifndef UM_MOE_PROBE_H
#define UM_MOE_PROBE_H

#include "base/real.h"

typedef struct {
    int X, k;        // experts, experts chosen per token
    int max_tokens;  // capacity of the per-token arrays
    int window;      // capacity of the load ring (forward passes)

    // last batch
    int n_tokens;  // tokens recorded from the last batch (<= max_tokens)
    float *probs;  // (max_tokens, X) full router softmax
    int *chosen;   // (max_tokens, k) expert ids, most probable first
    float *gates;  // (max_tokens, k) the weights the outputs were mixed with

    // load window: ring of the last `filled` forward passes
    int *loads;    // (window, X) tokens routed to each expert in that pass
    int *batch_n;  // (window) tokens N of that pass (so loads can become fractions)
    int head;      // next ring row to write
    int filled;    // rows holding data (<= window)
    long steps;    // forward passes recorded since init
} UmMoeProbe;

void um_moe_probe_init(UmMoeProbe *p, int X, int k, int max_tokens, int window);
void um_moe_probe_free(UmMoeProbe *p);

// Called by the layer: probs (N,X), chosen (N,k), gates (N,k), load (X).
void um_moe_probe_record(UmMoeProbe *p, const real *probs, const int *chosen, const real *gates, const int *load,
                         int N);

// Fraction of the token-slots routed to each expert, summed over the window:
// frac[i] = sum_steps load_i / sum_steps (N * k). frac (X) sums to 1
// (all zeros when nothing was recorded yet).
void um_moe_probe_window_fraction(const UmMoeProbe *p, double *frac);

#endif
