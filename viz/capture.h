// capture.h: what the visualiser reads from a model, and how it copies it.
//
// viz_taps_attach walks the model's blocks and attaches a probe to every
// sparse layer it finds (PKM, UltraMemV2, PEER: UmRetrievalProbe; MoE: UmMoeProbe; the skip-layer
// UltraMem memories in model->mems: UmUltraMemProbe). From then on each
// forward pass fills them (for PKM and UltraMem: the one selected token and
// head, plus read counts of every token). The training thread calls
// viz_taps_after_step once per step (cheap: read-window bookkeeping and the
// MoE load history) and, every ~100 ms, viz_capture to copy what the panels
// draw into a snapshot. Nothing here draws; nothing here uses SDL.
#ifndef UM_VIZ_CAPTURE_H
#define UM_VIZ_CAPTURE_H

#include <stdint.h>

#include "model/transformer.h"
#include "probe/moe_probe.h"
#include "probe/retrieval.h"
#include "probe/ultramem_probe.h"
#include "snapshot.h"

#define VIZ_READ_CHUNKS 8       // the read window is this many chunks...
#define VIZ_READ_CHUNK_STEPS 25 // ...of this many steps (so the last 200 steps)

typedef struct {
    int kind, block;  // VizLayerKind, transformer block
    UmPkm *pkm;
    UmMoe *moe;
    UmUltraMem *um;       // UltraMem (block = the block whose FFN input it reads)
    UmUltraMemV2 *um2;    // UltraMemV2 (in every block)
    UmPeer *peer;         // PEER (in every block)
    UmRetrievalProbe rp;  // PKM, UltraMemV2, PEER
    UmMoeProbe mp;        // MoE
    UmUltraMemProbe up;   // UltraMem
    // Read window (PKM, UltraMem): per-chunk reads, and the running counts when
    // the current chunk began; window = full chunks + the current partial one.
    // PKM counts reads per slot (n*n); UltraMem per PHYSICAL value row (n*n
    // rows of the value table, whatever the virtual grid looks like).
    const uint64_t *counts;     // the probe's running counts (read_slots of them)
    int read_slots, read_side;  // read_side * read_side = read_slots
    float *chunk_reads;         // (VIZ_READ_CHUNKS, read_slots)
    uint64_t *at_chunk_start;   // (read_slots)
    int chunk_next, chunks_full, steps_in_chunk;
    VizMoe *moe_hist;           // MoE: load history of this layer (per-token part unused)
    VizTuckerHistory *tucker_hist;  // UltraMem with TDQKR: one history per head (H of them)
} VizTap;

typedef struct {
    int n;
    VizTap tap[VIZ_MAX_LAYERS];
} VizTaps;

// Attach probes to every sparse layer of the model (at most VIZ_MAX_LAYERS).
// Returns how many. viz_taps_detach removes them and frees everything.
int viz_taps_attach(VizTaps *t, UmModel *m);
void viz_taps_detach(VizTaps *t);

// Forget the reads counted so far (um viz: the reads of one prompt only).
void viz_taps_reset_reads(VizTaps *t);

// Which query the PKM / UltraMem probes record in the next forward: token index in the
// batch (the first sequence's position t is index t), and head.
void viz_taps_select(VizTaps *t, int token, int head);

// Number of heads of layer i (PKM / UltraMem memory heads; 1 for MoE).
int viz_taps_heads(const VizTaps *t, int i);

// Once per training step: close read-window chunks, sample MoE loads and
// the UltraMem Tucker cores' singular values (a step that is not later than
// the last sampled one replaces nothing and adds nothing).
void viz_taps_after_step(VizTaps *t, int step);

// Copy the selected layer's data and the selected sequence into s (fields
// mem, moe, tucker, ctx, n_layers, layer_kind/block, layer, head, token).
// The layer's own histories (MoE loads, Tucker singular values) come along;
// the loss/speed history and training numbers are not touched.
void viz_capture(VizSnapshot *s, const VizTaps *t, const UmModel *m, int layer, int head, int token);

#endif
