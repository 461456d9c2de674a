// ultramem_probe.c: see ultramem_probe.h.
#include "probe/ultramem_probe.h"

#include <string.h>

#include "base/alloc.h"

void um_ultramem_probe_init(UmUltraMemProbe *p, int Kn, int m, int r, int h, int n_phys, int token, int head) {
    memset(p, 0, sizeof *p);
    um_retrieval_probe_init(&p->base, Kn, m, token, head);
    p->r = r;
    p->h = h;
    p->n_phys = n_phys;
    p->side_row = um_alloc((size_t)r * Kn * sizeof(real));
    p->side_col = um_alloc((size_t)r * Kn * sizeof(real));
    p->phys = um_alloc((size_t)m * sizeof(int));
    p->block = um_alloc((size_t)m * sizeof(int));
    p->core_scores = um_alloc((size_t)m * h * sizeof(real));
    p->core_weights = um_alloc((size_t)m * h * sizeof(real));
    p->phys_read_counts = um_alloc((size_t)n_phys * sizeof(uint64_t));
}

void um_ultramem_probe_free(UmUltraMemProbe *p) {
    um_retrieval_probe_free(&p->base);
    um_free(p->side_row);
    um_free(p->side_col);
    um_free(p->phys);
    um_free(p->block);
    um_free(p->core_scores);
    um_free(p->core_weights);
    um_free(p->phys_read_counts);
    memset(p, 0, sizeof *p);
}

void um_ultramem_probe_reset_counts(UmUltraMemProbe *p) {
    um_retrieval_probe_reset_counts(&p->base);
    memset(p->phys_read_counts, 0, (size_t)p->n_phys * sizeof(uint64_t));
    p->phys_total_reads = 0;
}

void um_ultramem_probe_count_reads(UmUltraMemProbe *p, const int *virt, const int *phys, int count) {
    um_retrieval_probe_count_reads(&p->base, virt, count);
    for (int i = 0; i < count; i++) p->phys_read_counts[phys[i]]++;
    p->phys_total_reads += (uint64_t)count;
}
