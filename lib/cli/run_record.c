// run_record.c: the --summary and --history files of `um train` / `um eval`.
#include "cli/run_record.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"

// ---------------------------------------------------------------- summary
void summary_open(UmSummary *s, const char *path) {
    snprintf(s->path, sizeof s->path, "%s", path);
    snprintf(s->tmp, sizeof s->tmp, "%s.tmp", path);
    s->f = fopen(s->tmp, "w");
    if (!s->f) um_die(UM_EXIT_RUNTIME, "--summary: cannot write %s: %s", s->tmp, strerror(errno));
}

void summary_text(UmSummary *s, const char *name, const char *value) { fprintf(s->f, "%s: %s\n", name, value); }

void summary_int(UmSummary *s, const char *name, long long value) { fprintf(s->f, "%s: %lld\n", name, value); }

void summary_real(UmSummary *s, const char *name, double value) {
    if (isfinite(value)) fprintf(s->f, "%s: %.6g\n", name, value);
    else summary_text(s, name, "-");
}

void summary_model(UmSummary *s, const UmModel *m) {
    summary_text(s, "arch", arch_name(m->cfg.arch));
    summary_int(s, "total_params", (long long)model_total_params(m));
    summary_int(s, "activated_params", (long long)model_activated_params(m));
    summary_real(s, "flops_per_token", model_flops_per_token(m));
}

void summary_memory(UmSummary *s, const UmMemReport *r) {
    summary_real(s, "memory_usage_pct", r->has_memory ? r->usage_pct : NAN);
    summary_real(s, "memory_kl_uniform", r->has_memory ? r->kl_uniform : NAN);
    summary_real(s, "memory_top1_score", r->has_memory ? r->top1_mean : NAN);
    summary_real(s, "moe_busiest_over_even", r->has_moe ? r->moe_max_load_ratio : NAN);
    summary_real(s, "moe_overflow_frac", r->has_moe ? r->moe_overflow : NAN);
}

void summary_close(UmSummary *s) {
    int bad = ferror(s->f);
    if (fclose(s->f) != 0 || bad) um_die(UM_EXIT_RUNTIME, "--summary: writing %s failed", s->tmp);
    if (rename(s->tmp, s->path) != 0) um_die(UM_EXIT_RUNTIME, "--summary: cannot rename %s to %s: %s", s->tmp, s->path, strerror(errno));
    s->f = NULL;
}

// ---------------------------------------------------------------- history
static void keep_train(UmHistory *h, int step, double loss) {
    if (step < 1) return;
    if (step > h->cap) {
        int cap = h->cap ? h->cap : 1024;
        while (cap < step) cap *= 2;
        float *grown = um_alloc((size_t)cap * sizeof(float));
        if (h->n_train) memcpy(grown, h->train, (size_t)h->n_train * sizeof(float));
        um_free(h->train);
        h->train = grown, h->cap = cap;
    }
    for (int i = h->n_train; i < step - 1; i++) h->train[i] = NAN;  // steps never seen
    h->train[step - 1] = (float)loss;
    if (step > h->n_train) h->n_train = step;
}

// The points of the interrupted run up to resume_step, as text to write back.
static char *read_kept_lines(UmHistory *h, const char *path, int resume_step, size_t *len) {
    FILE *f = fopen(path, "r");
    *len = 0;
    if (!f) return NULL;  // no earlier history: start one at the resume point
    size_t cap = 1 << 16;
    char *kept = malloc(cap), line[256], kind[16];
    if (!kept) um_die(UM_EXIT_RUNTIME, "--history: out of memory");
    double step, loss;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%15s %lf %lf", kind, &step, &loss) != 3 || step > resume_step) continue;
        if (strcmp(kind, "train") && strcmp(kind, "val")) continue;
        if (!strcmp(kind, "train")) keep_train(h, (int)step, loss);
        size_t n = strlen(line);
        if (*len + n + 1 > cap) {
            cap *= 2;
            char *grown = realloc(kept, cap);
            if (!grown) um_die(UM_EXIT_RUNTIME, "--history: out of memory");
            kept = grown;
        }
        memcpy(kept + *len, line, n + 1);
        *len += n;
    }
    fclose(f);
    return kept;
}

void history_open(UmHistory *h, const char *path, const char *run_name, int resume_step) {
    memset(h, 0, sizeof *h);
    if (!path) return;
    size_t len = 0;
    char *kept = resume_step > 0 ? read_kept_lines(h, path, resume_step, &len) : NULL;
    // Rewritten beside the old file and renamed over it: an interruption
    // here leaves the old history, never a half-written one.
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    h->f = fopen(tmp, "w");
    if (!h->f) um_die(UM_EXIT_RUNTIME, "--history: cannot write %s: %s", tmp, strerror(errno));
    fprintf(h->f, "# ultramem.c loss history: train|val STEP LOSS (nats/byte)\nname %s\n", run_name);
    if (len) fwrite(kept, 1, len, h->f);
    free(kept);
    if (fflush(h->f) != 0 || rename(tmp, path) != 0)  // the open stream follows the file to its new name
        um_die(UM_EXIT_RUNTIME, "--history: cannot write %s: %s", path, strerror(errno));
}

// Flushed at once: a checkpoint written after this step must never be ahead
// of the history on disk.
void history_add_train(UmHistory *h, int step, double loss) {
    keep_train(h, step, loss);
    if (h->f) fprintf(h->f, "train %d %.5f\n", step, loss), fflush(h->f);
}

void history_add_val(UmHistory *h, int step, double loss) {
    if (h->f) fprintf(h->f, "val %d %.5f\n", step, loss), fflush(h->f);
}

double history_tail_mean(const UmHistory *h, int last_step, int window) {
    double sum = 0;
    int n = 0;
    for (int s = last_step - window + 1; s <= last_step; s++)
        if (s >= 1 && s <= h->n_train && isfinite(h->train[s - 1])) sum += h->train[s - 1], n++;
    return n ? sum / n : NAN;
}

void history_close(UmHistory *h) {
    if (h->f && fclose(h->f) != 0) um_die(UM_EXIT_RUNTIME, "--history: writing failed");
    um_free(h->train);
    memset(h, 0, sizeof *h);
}
