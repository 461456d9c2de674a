// ultramem_probe.h: looking inside one UltraMem layer (memory/ultramem.h).
//
// For ONE chosen token and head of the last forward pass, what the
// visualiser draws:
//   base (a UmRetrievalProbe with n = Kn keys per side, k = m), so the PKM
//   panels can draw UltraMem unchanged:
//     row_scores, col_scores  the approximate side scores used to pick the
//                             candidates: u.S_row, t.S_col (TDQKR) or the
//                             plain side scores (without TDQKR)
//     grid_rows, grid_cols    the m candidate rows / columns
//     grid (m*m)              the candidates rescored EXACTLY (summed core)
//     slots, sel_cell         the m winners as VIRTUAL addresses row*Kn+col
//     scores, weights         summed-core score; weight summed over cores
//     read_counts (Kn*Kn)     reads per virtual address
// plus what only UltraMem has:
//   side_row, side_col (r, Kn)   all r score vectors per side
//   phys, block (m)              each winner's physical row and IVE block
//   core_scores, core_weights (m, h)   each MCS core's score / weight
//   sv, u, t (r)                 the summed core of the chosen head: its
//                                singular values and leading vectors
//   phys_read_counts (n*n)       reads per PHYSICAL row, all tokens and heads
#ifndef UM_ULTRAMEM_PROBE_H
#define UM_ULTRAMEM_PROBE_H

#include <stdint.h>

#include "base/real.h"
#include "probe/retrieval.h"

typedef struct {
    UmRetrievalProbe base;  // token, head, n (= Kn), k (= m), filled live here
    int r, h, n_phys;
    real *side_row, *side_col;        // (r, Kn)
    int *phys, *block;                // (m)
    real *core_scores, *core_weights;  // (m, h)
    double sv[2], u[2], t[2];
    uint64_t *phys_read_counts;  // (n_phys)
    uint64_t phys_total_reads;
} UmUltraMemProbe;

// Kn keys per side, m winners, rank r, h cores, n_phys physical rows.
void um_ultramem_probe_init(UmUltraMemProbe *p, int Kn, int m, int r, int h, int n_phys, int token, int head);
void um_ultramem_probe_free(UmUltraMemProbe *p);
void um_ultramem_probe_reset_counts(UmUltraMemProbe *p);

// phys_read_counts[phys[i]] += 1 and base.read_counts[virt[i]] += 1, i < count.
void um_ultramem_probe_count_reads(UmUltraMemProbe *p, const int *virt, const int *phys, int count);

#endif
