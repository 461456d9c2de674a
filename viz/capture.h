// capture.h: what the visualiser reads from a model, and how it copies it.
//
// viz_taps_attach walks the model's blocks and attaches a probe to every
// sparse layer it finds (PKM: UmRetrievalProbe; MoE: UmMoeProbe). From then
// on each forward pass fills them (for PKM: the one selected token and head,
// plus read counts of every token). The training thread calls
// viz_taps_after_step once per step (cheap: read-window bookkeeping and the
// MoE load history) and, every ~100 ms, viz_capture to copy what the panels
// draw into a snapshot. Nothing here draws; nothing here uses SDL.
#ifndef UM_VIZ_CAPTURE_H
#define UM_VIZ_CAPTURE_H

#include <stdint.h>

#include "model/transformer.h"
#include "probe/moe_probe.h"
#include "probe/retrieval.h"
#include "snapshot.h"

#define VIZ_READ_CHUNKS 8       // the read window is this many chunks...
#define VIZ_READ_CHUNK_STEPS 25 // ...of this many steps (so the last 200 steps)

typedef struct {
    int kind, block;  // VizLayerKind, transformer block
    UmPkm *pkm;
    UmMoe *moe;
    UmRetrievalProbe rp;  // PKM
    UmMoeProbe mp;        // MoE
    // Read window (PKM): per-chunk reads, and the running counts when the
    // current chunk began; window = full chunks + the current partial one.
    float *chunk_reads;         // (VIZ_READ_CHUNKS, n*n)
    uint64_t *at_chunk_start;   // (n*n)
    int chunk_next, chunks_full, steps_in_chunk;
    VizMoe *moe_hist;           // MoE: load history of this layer (per-token part unused)
} VizTap;

typedef struct {
    int n;
    VizTap tap[VIZ_MAX_LAYERS];
} VizTaps;

// Attach probes to every sparse layer of the model (at most VIZ_MAX_LAYERS).
// Returns how many. viz_taps_detach removes them and frees everything.
int viz_taps_attach(VizTaps *t, UmModel *m);
void viz_taps_detach(VizTaps *t);

// Which query the PKM probes record in the next forward: token index in the
// batch (the first sequence's position t is index t), and head.
void viz_taps_select(VizTaps *t, int token, int head);

// Number of heads of layer i (PKM heads; 1 for MoE).
int viz_taps_heads(const VizTaps *t, int i);

// Once per training step: close read-window chunks, sample MoE loads.
void viz_taps_after_step(VizTaps *t, int step);

// Copy the selected layer's data and the selected sequence into s (fields
// mem, moe, ctx, n_layers, layer_kind/block, layer, head, token). Histories
// and training numbers are not touched.
void viz_capture(VizSnapshot *s, const VizTaps *t, const UmModel *m, int layer, int head, int token);

#endif
