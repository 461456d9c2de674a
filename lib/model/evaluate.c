#include "model/evaluate.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"

// The memory layer of the model (the first block that has one), or NULL.
static UmPkm *model_pkm(const UmModel *m) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (m->slots[l].pkm) return m->slots[l].pkm;
    return NULL;
}

// After one forward: add this batch's MoE routing figures.
static void add_moe_figures(const UmModel *m, double *max_ratio, double *overflow, int *count) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const UmMoe *moe = m->slots[l].moe;
        if (!moe) continue;
        long total = 0, busiest = 0;
        for (int e = 0; e < moe->X; e++) total += moe->load[e], busiest = moe->load[e] > busiest ? moe->load[e] : busiest;
        *max_ratio += total ? (double)busiest * moe->X / total : 0;
        *overflow += moe->overflow_frac;
        (*count)++;
    }
}

double eval_val_loss_report(UmModel *m, const UmData *d, int B, int max_batches, UmMemReport *r) {
    int T = m->cfg.block_size;
    int n = data_val_batch_count(d, B, T);
    if (max_batches > 0 && n > max_batches) n = max_batches;
    int *inputs = um_alloc((size_t)B * T * sizeof(int)), *targets = um_alloc((size_t)B * T * sizeof(int));
    UmPkm *pkm = r ? model_pkm(m) : NULL;
    UmUltraMem *mem = r ? m->mems[0] : NULL;  // the first UltraMem layer speaks for the others
    // UltraMemV2 / PEER: block 0's layer speaks for the others (over its window of rows with ring sharing)
    UmUltraMemV2 *um2 = r && m->cfg.n_layers > 0 ? m->slots[0].um2 : NULL;
    UmPeer *peer = r && m->cfg.n_layers > 0 ? m->slots[0].peer : NULL;
    UmMemStats stats;
    if (pkm) um_mem_stats_init(&stats, pkm->n_slots);
    if (mem) um_mem_stats_init(&stats, mem->n_phys);
    if (um2) um_mem_stats_init(&stats, um2->n_win);
    if (peer) um_mem_stats_init(&stats, peer->n_slots);
    double sum = 0, max_ratio = 0, overflow = 0;
    int moe_count = 0;
    for (int i = 0; i < n; i++) {
        data_val_batch(d, i, B, T, inputs, targets);
        sum += model_forward(m, inputs, targets, B, T);
        if (pkm) um_pkm_stats_accumulate(pkm, &stats);
        if (mem) um_ultramem_stats_accumulate(mem, &stats);
        if (um2) um_ultramem_v2_stats_accumulate(um2, &stats);
        if (peer) um_peer_stats_accumulate(peer, &stats);
        if (r) add_moe_figures(m, &max_ratio, &overflow, &moe_count);
    }
    if (r) {
        memset(r, 0, sizeof *r);
        r->has_memory = pkm || mem || um2 || peer;
        if (r->has_memory) {
            r->usage_pct = um_mem_stats_usage(&stats);
            r->kl_uniform = um_mem_stats_kl_uniform(&stats, 0);
            r->top1_mean = um_mem_stats_mean_top1(&stats);
            um_mem_stats_free(&stats);
        }
        r->has_moe = moe_count > 0;
        if (moe_count) r->moe_max_load_ratio = max_ratio / moe_count, r->moe_overflow = overflow / moe_count;
    }
    um_free(inputs), um_free(targets);
    return n > 0 ? sum / n : NAN;  // no batch fits: not a loss of 0 (callers check eval_batches_available)
}

int eval_batches_available(const UmData *d, int B, int T) { return data_val_batch_count(d, B, T); }

double eval_val_loss(UmModel *m, const UmData *d, int B, int max_batches) {
    return eval_val_loss_report(m, d, B, max_batches, NULL);
}

void mem_report_format(const UmMemReport *r, char *buf, int len) {
    int used = 0;
    buf[0] = 0;
    if (r->has_memory)
        used += snprintf(buf, len, "memory usage %.1f%% | KL %.3f | top-1 score %.3f", r->usage_pct, r->kl_uniform,
                         r->top1_mean);
    if (r->has_moe && used < len)
        snprintf(buf + used, len - used, "%sexperts: busiest/even load %.2f | overflow@1.25 %.1f%%",
                 used ? " | " : "", r->moe_max_load_ratio, 100 * r->moe_overflow);
}

// Lay question q out as one row: prompt, a space (the training text has one
// between a prompt and its answer; the question file leaves it out), then
// the answer, cut on the left so it fits in T. Returns the row position of
// the first answer byte (or -1 when the answer alone does not fit).
static int layout_question(const UmQuestions *q, int i, int T, int *row) {
    const char *prompt = q->prompt[i], *answer = q->answer[i];
    int plen = (int)strlen(prompt), alen = (int)strlen(answer);
    int space = plen > 0 && prompt[plen - 1] != ' ';
    int clen = plen + space;  // context bytes before the answer
    if (alen == 0 || alen >= T) return -1;
    int keep = clen + alen > T ? T - alen : clen;  // context bytes kept (its end)
    for (int t = 0; t < keep; t++) {
        int c = clen - keep + t;  // index into prompt + optional space
        row[t] = c < plen ? (unsigned char)prompt[c] : ' ';
    }
    for (int t = 0; t < alen; t++) row[keep + t] = (unsigned char)answer[t];
    for (int t = keep + alen; t < T; t++) row[t] = 0;  // padding after: invisible to earlier positions (causal)
    return keep;
}

static int argmax(const real *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

double eval_fact_recall(UmModel *m, const UmQuestions *q, int max_questions) {
    int T = m->cfg.block_size, V = m->cfg.vocab, B = 16;
    int total = q->count;
    if (max_questions > 0 && total > max_questions) total = max_questions;
    int *rows = um_alloc((size_t)B * T * sizeof(int));
    int starts[16], ids[16];
    int correct = 0, counted = 0;
    for (int first = 0; first < total; first += B) {
        int nb = 0;
        for (int i = first; i < total && i < first + B; i++) {
            int start = layout_question(q, i, T, rows + (size_t)nb * T);
            counted++;  // an unfittable question counts as wrong
            if (start < 1) continue;  // need at least one prompt byte to predict from
            starts[nb] = start, ids[nb] = i, nb++;
        }
        if (nb == 0) continue;
        model_forward(m, rows, NULL, nb, T);
        for (int b = 0; b < nb; b++) {
            const char *ans = q->answer[ids[b]];
            int ok = 1;
            for (int j = 0; ans[j] && ok; j++) {
                int pos = starts[b] + j - 1;  // the position that predicts answer byte j
                ok = argmax(m->logits + ((size_t)b * T + pos) * V, V) == (unsigned char)ans[j];
            }
            correct += ok;
        }
    }
    um_free(rows);
    return counted ? (double)correct / counted : 0;
}
