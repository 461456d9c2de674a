// snapshot.h: everything one frame of the visualiser draws, as plain data.
//
// Training runs on a worker thread; the window draws on the main thread. They
// never share model memory: between two steps the worker copies what the
// panels need (a few hundred KB at most: the chosen token's scores, the
// winners' value rows, the read counts of the window, the loss history) into a
// VizSnapshot, and hands it over through a VizExchange. A panel reads only a
// snapshot, so it can be tested on a snapshot filled by hand (tests/test_panels.c).
//
// The exchange is a triple buffer: the worker fills its private `back`
// snapshot without any lock, then takes the mutex just long enough to swap
// two pointers. The window does the same on its side. Neither ever waits for
// the other to finish copying or drawing.
#ifndef UM_VIZ_SNAPSHOT_H
#define UM_VIZ_SNAPSHOT_H

#include <pthread.h>
#include <stdint.h>

// Capacities. A snapshot is one fixed-size block (no pointers inside except
// `previous`), so a copy is a memcpy and there is nothing to free piecemeal.
#define VIZ_MAX_N 256       // keys per side shown (n*n slots)
#define VIZ_MAX_K 64        // top-k winners
#define VIZ_MAX_VDIM 128    // value dimensions shown per winner
#define VIZ_MAX_CORES 4     // UltraMem MCS scoring cores
#define VIZ_MAX_X 64        // MoE experts
#define VIZ_MAX_CTX 512     // bytes of the selected sequence
#define VIZ_MAX_ROUTED 64   // tokens whose router probabilities are kept
#define VIZ_MAX_HIST 512    // points of each history (thinned 2:1 when full)
#define VIZ_MAX_RANK 8      // Tucker core singular values
#define VIZ_MAX_LAYERS 16   // sparse layers the user can step through
#define VIZ_MAX_RUNS 6      // previously saved runs drawn beside this one

// Keeping a history of a whole run in VIZ_MAX_HIST points: when the arrays
// are full, every other point is dropped and from then on only every 2nd
// (then 4th, ...) offered point is kept, so the points stay evenly spaced.
typedef struct {
    int every;    // keep one offered point in `every` (0 behaves as 1)
    int skipped;  // offered points dropped since the last kept one
} VizThin;

// Should the next point be stored? Compacts arrays of *n points when full:
// `compact(ctx, n)` must keep points 0, 2, 4, ... in place (it is given the
// old count); *n is halved here.
int viz_thin_offer(VizThin *t, int *n, void (*compact)(void *ctx, int n), void *ctx);

typedef enum { VIZ_LAYER_PKM = 0, VIZ_LAYER_MOE, VIZ_LAYER_ULTRAMEM, VIZ_LAYER_ULTRAMEM2, VIZ_LAYER_PEER } VizLayerKind;
const char *viz_layer_kind_name(int kind);

// One query's retrieval in a product-key memory (PKM, UltraMem, V2).
typedef struct {
    int present;   // 0: the selected layer has no retrieval to show
    int kind;      // VizLayerKind
    int tucker;    // 0: grid[i][j] = row[i] + col[j] (PKM); 1: S_row^T C S_col (UltraMem)
    int n, k;      // keys per side, winners
    int head, n_heads, token;
    float row_scores[VIZ_MAX_N], col_scores[VIZ_MAX_N];
    float grid[VIZ_MAX_N * VIZ_MAX_N];  // (n, n) score of every candidate pair (row i, col j)
    int grid_rows[VIZ_MAX_K], grid_cols[VIZ_MAX_K];  // (k) top rows / columns, best first
    int slots[VIZ_MAX_K];                            // (k) winners (slot = row*n + col), best first
    float scores[VIZ_MAX_K], weights[VIZ_MAX_K];     // (k) raw score, weight used in the sum
    int n_cores;                                     // MCS: > 1 when each core weights its own slice
    float core_weights[VIZ_MAX_CORES][VIZ_MAX_K];
    int raw_weights;                 // 1: weights are the raw scores (UltraMem), 0: a softmax of them
    int n_virtual;                   // IVE: E virtual blocks per physical row (0: none)
    int virtual_block[VIZ_MAX_K];    // (k) block of each winner, when n_virtual > 0
    int phys[VIZ_MAX_K];             // (k) physical value row of each winner, when n_virtual > 0
    int value_dim, value_dim_shown;  // Dv of the layer, and how many are copied below
    float values[VIZ_MAX_K][VIZ_MAX_VDIM];  // the winners' value rows (first value_dim_shown)

    // reads per slot over the last `window_steps` steps (all tokens and heads);
    // reads_side 0: per slot of the n x n grid above; > 0 (UltraMem): per
    // PHYSICAL value row, reads_side x reads_side of them (the virtual grid
    // above is a reshuffled, E times larger view of the same table)
    int reads_side;
    float reads[VIZ_MAX_N * VIZ_MAX_N];
    int window_steps;
    double window_reads;
    double usage_pct;  // % of slots read at least once in the window
    double kl_uniform; // KL(read distribution || uniform), nats: 0 = perfectly even
    int dead_slots;    // slots never read in the window
} VizRetrieval;

// One MoE layer: the router's view of the selected sequence, and load over time.
typedef struct {
    int present;
    int X, k;
    int n_tokens, first_token;  // rows below are tokens first_token .. first_token+n_tokens-1
    int selected;               // row of the selected token (or -1)
    float probs[VIZ_MAX_ROUTED][VIZ_MAX_X];  // full router softmax
    int chosen[VIZ_MAX_ROUTED][8];           // the k experts chosen (k <= 8 shown)
    unsigned char bytes[VIZ_MAX_ROUTED];     // the token of each row, for labels
    int hist_n;
    VizThin hist_thin;
    float hist_step[VIZ_MAX_HIST];
    float hist_load[VIZ_MAX_HIST][VIZ_MAX_X];  // fraction of routed token-slots per expert
} VizMoe;

// Losses and speed over the run. Validation points are a series of their own
// (evaluations are rare; thinning the train series must not drop them).
typedef struct {
    char name[48];
    int n;
    VizThin thin;
    float step[VIZ_MAX_HIST];
    float train[VIZ_MAX_HIST];  // train loss (nats/byte), smoothed (EMA) so the trend reads
    float tokens_per_s[VIZ_MAX_HIST];
    int val_n;
    VizThin val_thin;
    float val_step[VIZ_MAX_HIST];
    float val[VIZ_MAX_HIST];  // validation loss (nats/byte)
} VizHistory;

// UltraMem's Tucker core: the singular values of the summed core over time.
typedef struct {
    int n, rank;
    VizThin thin;
    float step[VIZ_MAX_HIST];
    float sv[VIZ_MAX_HIST][VIZ_MAX_RANK];
} VizTuckerHistory;

typedef struct {
    // where training is
    int step, total_steps;
    double train_loss, val_loss, tokens_per_s;  // latest (val < 0: none yet)
    int paused, finished, training;  // training 0: inspecting a checkpoint
    const char *title;

    // what the user selected, and which layers exist
    int n_layers;                      // sparse layers (0: dense model)
    int layer_kind[VIZ_MAX_LAYERS];    // VizLayerKind
    int layer_block[VIZ_MAX_LAYERS];   // transformer block index
    int layer, head, token;            // selection (layer indexes the lists above)

    // the selected sequence, for the text strip
    int ctx_len;
    unsigned char ctx[VIZ_MAX_CTX];
    const char *ctx_source;  // where the text comes from (a file name), or NULL

    VizRetrieval mem;
    VizMoe moe;
    VizHistory hist;
    VizTuckerHistory tucker;
    const VizHistory *previous;  // earlier runs (owned by the session, never changed)
    int n_previous;
} VizSnapshot;

// A zeroed snapshot on the heap (about 1.3 MB), or NULL.
VizSnapshot *viz_snapshot_new(void);
void viz_snapshot_free(VizSnapshot *s);

// Append a point to a history (thinned as above, so it always spans the run).
void viz_history_add(VizHistory *h, float step, float train, float tokens_per_s);
void viz_history_add_val(VizHistory *h, float step, float val);
void viz_moe_history_add(VizMoe *m, float step, const float *load);  // load (X)
void viz_tucker_add(VizTuckerHistory *t, float step, const float *sv, int rank);

// usage %, KL to uniform and dead slots of read counts (n_slots of them).
void viz_read_stats(const float *reads, int n_slots, double *usage_pct, double *kl, int *dead);

// ---------------------------------------------------------------- exchange
typedef struct {
    pthread_mutex_t lock;
    VizSnapshot *buf[3];
    VizSnapshot *back;    // the worker writes here (no lock)
    VizSnapshot *shared;  // the latest complete snapshot (guarded by lock)
    VizSnapshot *front;   // the window draws this (no lock)
    uint64_t published, taken;  // counters (guarded by lock)
} VizExchange;

int viz_exchange_init(VizExchange *x);  // -1 when out of memory
void viz_exchange_free(VizExchange *x);
// Worker: make `back` the latest snapshot; returns the new back buffer to fill
// next time (its contents are stale: fill every field you draw).
VizSnapshot *viz_exchange_publish(VizExchange *x);
// Window: if something newer was published, swap it into front. Returns front.
VizSnapshot *viz_exchange_take(VizExchange *x, int *is_new);

#endif
