// report.c: bin/exp_report, the quality table from the experiments' runs.
//
// Reads what chapters/09_results/experiments.mk left under --out:
//   runs/<corpus>/<arch>/seed<N>/{done, summary.txt, history.tsv, train.log, attempts.txt}
//   speed/<arch>/summary.txt      (tokens/s of each arch trained alone)
//   params/<arch>.txt             (`um params`: total/activated params, FLOPs)
// and writes --report (markdown: one table per corpus, one row per arch,
// each figure the mean +- spread over the seeds that finished) and three kinds
// of PNG into --figures: validation loss curves per corpus, validation loss
// against total parameters, fact recall per arch.
//
// Missing, unfinished and failed runs are listed and left out of the means;
// a row says how many of its seeds finished. So the report can be rewritten
// at any time, also while the runs are still training.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "canvas.h"
#include "plot.h"
#include "png.h"
#include "text.h"
#include "theme.h"

#define MAX_LIST 16     // archs, corpora, seeds
#define MAX_KEYS 64     // lines of a summary
#define MAX_POINTS 4096 // validation points of one run
#define BITS_PER_NAT 1.4426950408889634

// ---------------------------------------------------------------- summaries
// A "name: value" file (um train --summary, um params).
typedef struct {
    char key[MAX_KEYS][64], val[MAX_KEYS][256];
    int n;
} Summary;

static int summary_read(Summary *s, const char *path) {
    s->n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    while (fgets(line, sizeof line, f) && s->n < MAX_KEYS) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = 0;
        char *v = colon + 1;
        while (*v == ' ') v++;
        v[strcspn(v, "\n")] = 0;
        snprintf(s->key[s->n], sizeof s->key[0], "%.63s", line);
        snprintf(s->val[s->n], sizeof s->val[0], "%.255s", v);
        s->n++;
    }
    fclose(f);
    return 0;
}

static const char *summary_get(const Summary *s, const char *key) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->key[i], key) == 0) return s->val[i];
    return NULL;
}

// The number under key, or NaN when it is missing or "-".
static double summary_num(const Summary *s, const char *key) {
    const char *v = summary_get(s, key);
    char *end;
    if (!v || !*v) return NAN;
    double x = strtod(v, &end);
    return end == v ? NAN : x;
}

// ---------------------------------------------------------------- one run
typedef enum { RUN_NOT_STARTED, RUN_UNFINISHED, RUN_FAILED, RUN_OTHER_SETTINGS, RUN_DONE } RunState;
static const char *STATE_NAMES[] = {"not started", "unfinished", "failed", "done, other settings", "done"};

typedef struct {
    RunState state;
    int last_step;            // the last step in its history
    Summary sum;              // when done
    int n_val;                // validation curve, bits/byte
    float val_step[MAX_POINTS], val[MAX_POINTS];
    double train_tail;        // mean train bits/byte over the last 5% of steps (from the history)
    char dir[1024];
} Run;

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

// The history: validation points, and the mean train loss over the last
// 5% of the planned steps (for runs evaluated by `um eval`, whose summary has
// no train figure).
static void read_history(Run *r, const char *path, int steps) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[256], kind[16];
    double step, loss, tail_sum = 0;
    int tail_n = 0, window = steps / 20 > 0 ? steps / 20 : 1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%15s %lf %lf", kind, &step, &loss) != 3 || !isfinite(loss)) continue;
        if (strcmp(kind, "val") == 0 && r->n_val < MAX_POINTS) {
            r->val_step[r->n_val] = (float)step;
            r->val[r->n_val++] = (float)(loss * BITS_PER_NAT);
        }
        if (strcmp(kind, "train") == 0) {
            if ((int)step > r->last_step) r->last_step = (int)step;
            if (step > steps - window && step <= steps) tail_sum += loss, tail_n++;
        }
    }
    fclose(f);
    r->train_tail = tail_n ? tail_sum / tail_n * BITS_PER_NAT : NAN;
}

// Did the last attempt end with an error message?
static int log_says_failed(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[1024];
    int failed = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "error:")) failed = 1;
        else if (strncmp(line, "um train:", 9) == 0 || strncmp(line, "resuming", 8) == 0) failed = 0;  // a later attempt
    }
    fclose(f);
    return failed;
}

static void read_run(Run *r, const char *out, const char *corpus, const char *arch, const char *seed, int steps,
                     const char *size) {
    memset(r, 0, sizeof *r);
    r->train_tail = NAN;
    snprintf(r->dir, sizeof r->dir, "%s/runs/%s/%s/seed%s", out, corpus, arch, seed);
    char path[1200];
    snprintf(path, sizeof path, "%s/history.tsv", r->dir);
    read_history(r, path, steps);
    snprintf(path, sizeof path, "%s/done", r->dir);
    int done = file_exists(path);
    snprintf(path, sizeof path, "%s/summary.txt", r->dir);
    if (done && summary_read(&r->sum, path) == 0) {
        // A run finished with other steps or preset (an old EXP_OUT reused)
        // is not part of this table. (`um eval` summaries carry neither.)
        double s = summary_num(&r->sum, "steps"), s_done = summary_num(&r->sum, "steps_done");
        const char *z = summary_get(&r->sum, "size");
        int other = (isfinite(s) && (int)s != steps) || (isfinite(s_done) && (int)s_done != steps) ||
                    (z && strcmp(z, size) != 0);
        r->state = other ? RUN_OTHER_SETTINGS : RUN_DONE;
        return;
    }
    snprintf(path, sizeof path, "%s/train.log", r->dir);
    if (!file_exists(path)) r->state = RUN_NOT_STARTED;
    else r->state = log_says_failed(path) ? RUN_FAILED : RUN_UNFINISHED;
}

// ---------------------------------------------------------------- statistics
typedef struct {
    double mean, sd;  // sd: sample standard deviation (n-1), 0 for n = 1
    int n;
} Stat;

static Stat stat_of(const double *x, int n) {
    Stat s = {NAN, 0, 0};
    double sum = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) sum += x[i], s.n++;
    if (!s.n) return s;
    s.mean = sum / s.n;
    double ss = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) ss += (x[i] - s.mean) * (x[i] - s.mean);
    s.sd = s.n > 1 ? sqrt(ss / (s.n - 1)) : 0;
    return s;
}

// "1.8234 ± 0.0041 (n=3)", "1.8234 (n=1)" or "-"; scale multiplies (100 for %).
static void fmt_stat(char *buf, size_t len, Stat s, double scale, int decimals, int show_n) {
    if (!s.n) {
        snprintf(buf, len, "-");
        return;
    }
    int k = snprintf(buf, len, "%.*f", decimals, s.mean * scale);
    if (s.n > 1) k += snprintf(buf + k, len - k, " ± %.*f", decimals, s.sd * scale);
    if (show_n) snprintf(buf + k, len - k, " (n=%d)", s.n);
}

// 12345678 -> "12.35M", 6600 -> "6.6k".
static void fmt_count(char *buf, size_t len, double x) {
    if (!isfinite(x)) snprintf(buf, len, "-");
    else if (x >= 1e9) snprintf(buf, len, "%.2fG", x / 1e9);
    else if (x >= 1e6) snprintf(buf, len, "%.2fM", x / 1e6);
    else if (x >= 1e3) snprintf(buf, len, "%.1fk", x / 1e3);
    else snprintf(buf, len, "%.0f", x);
}

// ---------------------------------------------------------------- the experiment
typedef struct {
    const char *out, *report, *figures, *size, *command;
    int steps, speed_steps, status_only;
    char *archs[MAX_LIST], *corpora[MAX_LIST], *seeds[MAX_LIST];
    int n_archs, n_corpora, n_seeds;
} Options;

typedef struct {
    Options o;
    Run *runs;                  // [corpus][arch][seed]
    Summary params[MAX_LIST];   // per arch (may be empty)
    Summary speed[MAX_LIST];    // per arch (may be empty)
    int has_speed[MAX_LIST];
} Experiment;

static Run *run_at(Experiment *e, int c, int a, int s) {
    return &e->runs[((size_t)c * e->o.n_archs + a) * e->o.n_seeds + s];
}

// One figure of each finished seed of (corpus, arch) -> its stat.
static Stat arch_stat(Experiment *e, int c, int a, const char *key) {
    double x[MAX_LIST];
    int n = 0;
    for (int s = 0; s < e->o.n_seeds; s++) {
        Run *r = run_at(e, c, a, s);
        if (r->state != RUN_DONE) continue;
        double v = summary_num(&r->sum, key);
        if (!isfinite(v) && strcmp(key, "train_bits_per_byte") == 0) v = r->train_tail;
        x[n++] = v;
    }
    return stat_of(x, n);
}

// A count from `um params`, else from any finished run's summary.
static double arch_count(Experiment *e, int a, const char *key) {
    double v = summary_num(&e->params[a], key);
    for (int c = 0; c < e->o.n_corpora && !isfinite(v); c++)
        for (int s = 0; s < e->o.n_seeds && !isfinite(v); s++)
            if (run_at(e, c, a, s)->state == RUN_DONE) v = summary_num(&run_at(e, c, a, s)->sum, key);
    return v;
}

static int split_list(char *text, char **items) {
    int n = 0;
    for (char *t = strtok(text, " \t,"); t && n < MAX_LIST; t = strtok(NULL, " \t,")) items[n++] = t;
    return n;
}

static void usage(int status) {
    printf("usage: bin/exp_report --out DIR --report FILE.md --figures DIR --size NAME --steps N\n"
           "                      --seeds \"1 2 3\" --archs \"dense ...\" --corpora \"encyclopedia ...\"\n"
           "                      [--speed-steps N] [--command TEXT] [--status]\n"
           "  Reads the runs of chapters/09_results/experiments.mk under --out and writes the quality\n"
           "  table (--report) and its figures. Usually run as: make experiments-report\n"
           "  --status: only print each run's state and step (make experiments-status); writes nothing.\n");
    exit(status);
}

static Options parse_options(int argc, char **argv) {
    Options o = {.command = "make experiments", .speed_steps = 0};
    static const struct option LONG[] = {
        {"out", 1, 0, 'o'},     {"report", 1, 0, 'r'},  {"figures", 1, 0, 'f'}, {"size", 1, 0, 'z'},
        {"steps", 1, 0, 's'},   {"seeds", 1, 0, 'e'},   {"archs", 1, 0, 'a'},   {"corpora", 1, 0, 'c'},
        {"speed-steps", 1, 0, 'p'}, {"command", 1, 0, 'm'}, {"status", 0, 0, 't'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", LONG, NULL)) != -1) {
        switch (ch) {
        case 'o': o.out = optarg; break;
        case 'r': o.report = optarg; break;
        case 'f': o.figures = optarg; break;
        case 'z': o.size = optarg; break;
        case 's': o.steps = atoi(optarg); break;
        case 'e': o.n_seeds = split_list(optarg, o.seeds); break;
        case 'a': o.n_archs = split_list(optarg, o.archs); break;
        case 'c': o.n_corpora = split_list(optarg, o.corpora); break;
        case 'p': o.speed_steps = atoi(optarg); break;
        case 'm': o.command = optarg; break;
        case 't': o.status_only = 1; break;
        case 'h': usage(0); break;
        default: usage(UM_EXIT_USAGE);
        }
    }
    if (optind < argc) um_die(UM_EXIT_USAGE, "exp_report: unexpected argument '%s' (try --help)", argv[optind]);
    if (o.status_only && !o.report) o.report = "-", o.figures = "-";
    if (!o.out || !o.report || !o.figures || !o.size || o.steps <= 0 || !o.n_seeds || !o.n_archs || !o.n_corpora)
        um_die(UM_EXIT_USAGE, "exp_report: --out, --report, --figures, --size, --steps, --seeds, --archs and "
                              "--corpora are all needed (try --help)");
    return o;
}

static void load(Experiment *e) {
    const Options *o = &e->o;
    e->runs = calloc((size_t)o->n_corpora * o->n_archs * o->n_seeds, sizeof(Run));
    if (!e->runs) um_die(UM_EXIT_RUNTIME, "exp_report: out of memory");
    for (int c = 0; c < o->n_corpora; c++)
        for (int a = 0; a < o->n_archs; a++)
            for (int s = 0; s < o->n_seeds; s++) read_run(run_at(e, c, a, s), o->out, o->corpora[c], o->archs[a], o->seeds[s], o->steps, o->size);
    char path[1200];
    for (int a = 0; a < o->n_archs; a++) {
        snprintf(path, sizeof path, "%s/params/%s.txt", o->out, o->archs[a]);
        summary_read(&e->params[a], path);
        snprintf(path, sizeof path, "%s/speed/%s/summary.txt", o->out, o->archs[a]);
        e->has_speed[a] = summary_read(&e->speed[a], path) == 0;
    }
}

// ---------------------------------------------------------------- figures
// Each arch keeps its colour in every figure.
static uint32_t arch_color(int a) { return um_series_color(a); }

static void save_png(const UmCanvas *c, const char *dir, const char *name) {
    char path[1200];
    UmError err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (um_png_write(c, path, &err)) um_die(UM_EXIT_RUNTIME, "exp_report: %s", err.msg);
}

// The mean validation curve of (corpus, arch) over its finished seeds (or,
// when none finished, over the unfinished ones, so far). Returns the point
// count; *partial says which it was.
static int mean_curve(Experiment *e, int c, int a, float *xs, float *ys, int *partial) {
    for (int want_done = 1; want_done >= 0; want_done--) {
        int n = 0, runs = 0;
        for (int s = 0; s < e->o.n_seeds; s++) {
            Run *r = run_at(e, c, a, s);
            if ((r->state == RUN_DONE) != want_done || r->n_val == 0) continue;
            runs++;
            if (r->n_val > n) {  // steps are the same in every run; extend with the longer one
                for (int i = n; i < r->n_val; i++) xs[i] = r->val_step[i], ys[i] = 0;
                n = r->n_val;
            }
        }
        if (!runs) continue;
        for (int i = 0; i < n; i++) {
            int k = 0;
            double sum = 0;
            for (int s = 0; s < e->o.n_seeds; s++) {
                Run *r = run_at(e, c, a, s);
                if ((r->state == RUN_DONE) == want_done && i < r->n_val) sum += r->val[i], k++;
            }
            ys[i] = (float)(sum / k);
        }
        *partial = !want_done;
        return n;
    }
    return 0;
}

// Validation loss against step: the whole run, and its second half enlarged.
static void figure_val_curves(Experiment *e, int c, const char *name) {
    UmCanvas cv;
    UmError err;
    if (um_canvas_create(&cv, 1200, 520, &err)) um_die(UM_EXIT_RUNTIME, "exp_report: %s", err.msg);
    um_canvas_clear(&cv, UM_THEME_BG);
    static float xs[MAX_LIST][MAX_POINTS], ys[MAX_LIST][MAX_POINTS];
    static char labels[MAX_LIST][64];
    UmSeries all[MAX_LIST], half[MAX_LIST];
    int ns = 0;
    for (int a = 0; a < e->o.n_archs; a++) {
        int partial = 0, n = mean_curve(e, c, a, xs[a], ys[a], &partial);
        if (!n) continue;
        snprintf(labels[a], sizeof labels[a], "%s%s", e->o.archs[a], partial ? " (unfinished)" : "");
        all[ns] = (UmSeries){.x = xs[a], .y = ys[a], .n = n, .color = arch_color(a), .label = labels[a]};
        int first = 0;  // the points from half way
        while (first < n && xs[a][first] < e->o.steps / 2.0f) first++;
        half[ns] = (UmSeries){.x = xs[a] + first, .y = ys[a] + first, .n = n - first, .color = arch_color(a), .label = labels[a]};
        ns++;
    }
    char title[256];
    snprintf(title, sizeof title, "validation bits/byte, %s, %s preset (mean over finished seeds)", e->o.corpora[c], e->o.size);
    UmLinePlotStyle st = {.line_width = 2, .legend = 1, .x_label = "step", .y_label = "bits/byte",
                          .x_min = 0, .x_max = e->o.steps};
    um_draw_line_plot(&cv, um_draw_panel(&cv, um_rect(0, 0, 600, 520), title), all, ns, &st);
    st.x_min = e->o.steps / 2.0;
    um_draw_line_plot(&cv, um_draw_panel(&cv, um_rect(600, 0, 600, 520), "second half of the run, enlarged"), half, ns, &st);
    save_png(&cv, e->o.figures, name);
    um_canvas_free(&cv);
}

// Validation loss against total parameters, one panel per corpus: each arch
// is a vertical bar spanning its seeds' results (a dot for one seed).
static void figure_loss_vs_params(Experiment *e, const char *name) {
    UmCanvas cv;
    UmError err;
    int w = 560;
    if (um_canvas_create(&cv, w * e->o.n_corpora, 480, &err)) um_die(UM_EXIT_RUNTIME, "exp_report: %s", err.msg);
    um_canvas_clear(&cv, UM_THEME_BG);
    double max_p = 0;
    for (int a = 0; a < e->o.n_archs; a++) {
        double p = arch_count(e, a, "total_params");
        if (isfinite(p) && p > max_p) max_p = p;
    }
    for (int c = 0; c < e->o.n_corpora; c++) {
        static float xs[MAX_LIST][MAX_LIST], ys[MAX_LIST][MAX_LIST];
        UmSeries series[MAX_LIST];
        int ns = 0;
        for (int a = 0; a < e->o.n_archs; a++) {
            double p = arch_count(e, a, "total_params") / 1e6;
            int n = 0;
            for (int s = 0; s < e->o.n_seeds; s++) {
                Run *r = run_at(e, c, a, s);
                double v = r->state == RUN_DONE ? summary_num(&r->sum, "val_bits_per_byte") : NAN;
                if (isfinite(v) && isfinite(p)) xs[a][n] = (float)p, ys[a][n++] = (float)v;
            }
            for (int i = 1; i < n; i++)  // ascending, so the bar is one stroke from min to max
                for (int j = i; j > 0 && ys[a][j] < ys[a][j - 1]; j--) {
                    float t = ys[a][j];
                    ys[a][j] = ys[a][j - 1], ys[a][j - 1] = t;
                }
            series[ns++] = (UmSeries){.x = xs[a], .y = ys[a], .n = n, .color = arch_color(a), .label = e->o.archs[a]};
        }
        char title[256];
        snprintf(title, sizeof title, "val bits/byte vs total parameters, %s", e->o.corpora[c]);
        UmLinePlotStyle st = {.line_width = 7, .legend = 1, .x_label = "total parameters (millions)",
                              .y_label = "bits/byte", .x_min = 0, .x_max = max_p > 0 ? max_p / 1e6 * 1.15 : 1};
        um_draw_line_plot(&cv, um_draw_panel(&cv, um_rect(c * w, 0, w, 480), title), series, ns, &st);
    }
    save_png(&cv, e->o.figures, name);
    um_canvas_free(&cv);
}

// Fact recall per arch on one corpus (the mean over finished seeds, in %).
static void figure_recall(Experiment *e, int c, const char *name) {
    UmCanvas cv;
    UmError err;
    if (um_canvas_create(&cv, 720, 440, &err)) um_die(UM_EXIT_RUNTIME, "exp_report: %s", err.msg);
    um_canvas_clear(&cv, UM_THEME_BG);
    float values[MAX_LIST];
    uint32_t colors[MAX_LIST];
    const char *labels[MAX_LIST];
    for (int a = 0; a < e->o.n_archs; a++) {
        Stat s = arch_stat(e, c, a, "fact_recall");
        values[a] = s.n ? (float)(100 * s.mean) : NAN;
        colors[a] = arch_color(a);
        labels[a] = e->o.archs[a];
    }
    char title[256];
    snprintf(title, sizeof title, "fact recall, %s, %s preset (%% exact answers, mean over seeds)", e->o.corpora[c], e->o.size);
    UmBarStyle st = {.colors = colors, .labels = labels, .y_label = "% of questions"};
    um_draw_bar_chart(&cv, um_draw_panel(&cv, um_canvas_rect(&cv), title), values, e->o.n_archs, &st);
    save_png(&cv, e->o.figures, name);
    um_canvas_free(&cv);
}

// ---------------------------------------------------------------- markdown
static void cpu_name(char *buf, size_t len) {
    snprintf(buf, len, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            char *v = strchr(line, ':') + 1;
            while (*v == ' ') v++;
            v[strcspn(v, "\n")] = 0;
            snprintf(buf, len, "%s", v);
            break;
        }
    fclose(f);
}

// The git commits the runs were trained with (second field of attempts.txt).
static void commits_used(Experiment *e, char *buf, size_t len) {
    buf[0] = 0;
    for (size_t i = 0; i < (size_t)e->o.n_corpora * e->o.n_archs * e->o.n_seeds; i++) {
        char path[1200], line[4096], when[64], commit[64];
        snprintf(path, sizeof path, "%s/attempts.txt", e->runs[i].dir);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "%63s %63s", when, commit) == 2 && !strstr(buf, commit) && strlen(buf) + strlen(commit) + 3 < len)
                snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? ", " : "", commit);
        fclose(f);
    }
    if (!buf[0]) snprintf(buf, len, "-");
}

static void write_header(FILE *f, Experiment *e, int finished, int total) {
    const Options *o = &e->o;
    char now[64], cpu[256], commits[512];
    time_t t = time(NULL);
    strftime(now, sizeof now, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    cpu_name(cpu, sizeof cpu);
    commits_used(e, commits, sizeof commits);
    Summary *any = NULL;
    for (int i = 0; i < o->n_corpora * o->n_archs * o->n_seeds && !any; i++)
        if (e->runs[i].state == RUN_DONE) any = &e->runs[i].sum;
    fprintf(f, "# Quality table: %s preset\n\n", o->size);
    fprintf(f, "Written by `bin/exp_report` (chapters/09_results/report.c) on %s from the runs in `%s`.\n\n", now, o->out);
    fprintf(f, "- **Runs:** %d of %d finished.", finished, total);
    if (finished < total) fprintf(f, " Unfinished, failed and missing runs are listed at the end and left out of every mean.");
    fprintf(f, "\n- **Setting:** preset `%s`, %d steps per run", o->size, o->steps);
    if (any) fprintf(f, " of %s sequences x %s bytes", summary_get(any, "batch") ? summary_get(any, "batch") : "?",
                     summary_get(any, "context") ? summary_get(any, "context") : "?");
    fprintf(f, "; every arch sees the same batches in the same order for a given seed (same data, steps and seed; the presets match activated FLOPs/token).\n");
    fprintf(f, "- **Seeds:**");
    for (int s = 0; s < o->n_seeds; s++) fprintf(f, " %s", o->seeds[s]);
    fprintf(f, ". Figures are the mean ± the sample standard deviation over the seeds that finished (n of them).\n");
    fprintf(f, "- **Corpora:**");
    for (int c = 0; c < o->n_corpora; c++) fprintf(f, " `out/data/%s.txt`%s", o->corpora[c], c + 1 < o->n_corpora ? "," : "");
    fprintf(f, ". Validation: bits per byte on the whole held-out split at the end; train: the mean batch loss over the last 5%% of the steps.\n");
    fprintf(f, "- **Machine:** %s, %ld cores; every run on 1 thread.\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
    fprintf(f, "- **tokens/s** comes from a separate speed pass (`make experiments-speed`): the harness trains each arch alone, "
               "one after the other, on 1 thread for %d steps on `%s`, validating only at the end. The table's runs trained "
               "several at a time, so their own speeds are not comparable. Anything else running on the machine during the "
               "speed pass lowers these figures.\n",
            o->speed_steps, o->corpora[0]);
    fprintf(f, "- **Code:** git commit(s) %s.\n", commits);
    fprintf(f, "- **Command:** `%s`\n\n", o->command);
}

static void write_table(FILE *f, Experiment *e, int c) {
    const Options *o = &e->o;
    fprintf(f, "## %s\n\n", o->corpora[c]);
    fprintf(f, "| arch | seeds done | total params | activated params | FLOPs/token | train bits/byte | val bits/byte | fact recall | memory usage %% | KL to uniform | tokens/s |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|\n");
    int has_moe = -1;
    for (int a = 0; a < o->n_archs; a++) {
        int done = 0;
        for (int s = 0; s < o->n_seeds; s++) done += run_at(e, c, a, s)->state == RUN_DONE;
        char total[32], act[32], flops[32], train[64], val[64], recall[64], usage[64], kl[64], speed[32];
        fmt_count(total, sizeof total, arch_count(e, a, "total_params"));
        fmt_count(act, sizeof act, arch_count(e, a, "activated_params"));
        fmt_count(flops, sizeof flops, arch_count(e, a, "flops_per_token"));
        fmt_stat(train, sizeof train, arch_stat(e, c, a, "train_bits_per_byte"), 1, 4, 0);
        fmt_stat(val, sizeof val, arch_stat(e, c, a, "val_bits_per_byte"), 1, 4, 1);
        Stat rs = arch_stat(e, c, a, "fact_recall");
        fmt_stat(recall, sizeof recall, rs, 100, 1, 0);
        if (rs.n) strncat(recall, "%", sizeof recall - strlen(recall) - 1);
        fmt_stat(usage, sizeof usage, arch_stat(e, c, a, "memory_usage_pct"), 1, 1, 0);
        fmt_stat(kl, sizeof kl, arch_stat(e, c, a, "memory_kl_uniform"), 1, 3, 0);
        fmt_count(speed, sizeof speed, e->has_speed[a] ? summary_num(&e->speed[a], "tokens_per_s") : NAN);
        fprintf(f, "| %s | %d/%d%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", o->archs[a], done, o->n_seeds,
                done < o->n_seeds ? " *" : "", total, act, flops, train, val, recall, usage, kl, speed);
        if (arch_stat(e, c, a, "moe_busiest_over_even").n) has_moe = a;
    }
    fprintf(f, "\n");
    if (has_moe >= 0) {
        char load[64], over[64];
        fmt_stat(load, sizeof load, arch_stat(e, c, has_moe, "moe_busiest_over_even"), 1, 2, 0);
        fmt_stat(over, sizeof over, arch_stat(e, c, has_moe, "moe_overflow_frac"), 100, 1, 0);
        fprintf(f, "MoE has no memory table; its balance instead: busiest expert's load / the even share %s, "
                   "token-slots over capacity factor 1.25: %s%%.\n\n", load, over);
    }
}

static void write_runs(FILE *f, Experiment *e) {
    const Options *o = &e->o;
    fprintf(f, "## Every run\n\n| corpus | arch | seed | state | last step | val bits/byte | directory |\n|---|---|---|---|---|---|---|\n");
    for (int c = 0; c < o->n_corpora; c++)
        for (int a = 0; a < o->n_archs; a++)
            for (int s = 0; s < o->n_seeds; s++) {
                Run *r = run_at(e, c, a, s);
                double v = r->state == RUN_DONE ? summary_num(&r->sum, "val_bits_per_byte") : NAN;
                char val[32], step[32];
                if (isfinite(v)) snprintf(val, sizeof val, "%.4f", v);
                else if (r->n_val) snprintf(val, sizeof val, "(%.4f at step %.0f)", r->val[r->n_val - 1], r->val_step[r->n_val - 1]);
                else snprintf(val, sizeof val, "-");
                if (r->last_step) snprintf(step, sizeof step, "%d/%d", r->last_step, o->steps);
                else snprintf(step, sizeof step, "-");
                fprintf(f, "| %s | %s | %s | %s | %s | %s | `%s` |\n", o->corpora[c], o->archs[a], o->seeds[s],
                        STATE_NAMES[r->state], step, val, r->dir);
            }
    fprintf(f, "\n\"unfinished\" is a run that is training now or was interrupted (run the command again to resume "
               "it); \"failed\" ended with an error (see its train.log); \"done, other settings\" finished with other "
               "steps or preset than this table's (an old EXP_OUT reused) and is left out.\n");
}

// "chapters/09_results/results.md" -> "results" (the figures' name prefix).
static void report_stem(const char *report, char *buf, size_t len) {
    const char *base = strrchr(report, '/');
    base = base ? base + 1 : report;
    snprintf(buf, len, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = 0;
}

// One line per run on stdout, for watching a long experiment.
static void print_status(Experiment *e) {
    const Options *o = &e->o;
    int count[RUN_DONE + 1] = {0};
    for (int c = 0; c < o->n_corpora; c++)
        for (int a = 0; a < o->n_archs; a++)
            for (int s = 0; s < o->n_seeds; s++) {
                Run *r = run_at(e, c, a, s);
                count[r->state]++;
                printf("%-14s %-10s seed %-3s %-21s step %5d/%d", o->corpora[c], o->archs[a], o->seeds[s],
                       STATE_NAMES[r->state], r->last_step, o->steps);
                if (r->n_val) printf("  val %.4f bits/byte at step %.0f", r->val[r->n_val - 1], r->val_step[r->n_val - 1]);
                printf("\n");
            }
    printf("%d done, %d unfinished, %d failed, %d not started, %d done with other settings\n", count[RUN_DONE],
           count[RUN_UNFINISHED], count[RUN_FAILED], count[RUN_NOT_STARTED], count[RUN_OTHER_SETTINGS]);
}

int main(int argc, char **argv) {
    Experiment e = {.o = parse_options(argc, argv)};
    const Options *o = &e.o;
    load(&e);
    if (o->status_only) {
        print_status(&e);
        free(e.runs);
        return 0;
    }
    char cmd[1300], stem[256], name[512];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", o->figures);
    if (system(cmd) != 0) um_die(UM_EXIT_RUNTIME, "exp_report: cannot create %s", o->figures);
    report_stem(o->report, stem, sizeof stem);
    // The figures' directory as the report links it: relative when it sits beside the report.
    const char *slash = strrchr(o->report, '/');
    size_t dir_len = slash ? (size_t)(slash - o->report + 1) : 0;
    const char *link_dir = strncmp(o->figures, o->report, dir_len) == 0 ? o->figures + dir_len : o->figures;

    int finished = 0, total = o->n_corpora * o->n_archs * o->n_seeds;
    for (int i = 0; i < total; i++) finished += e.runs[i].state == RUN_DONE;
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", o->report, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) um_die(UM_EXIT_RUNTIME, "exp_report: cannot write %s", tmp);
    write_header(f, &e, finished, total);
    for (int c = 0; c < o->n_corpora; c++) {
        write_table(f, &e, c);
        snprintf(name, sizeof name, "%s_val_loss_%s.png", stem, o->corpora[c]);
        figure_val_curves(&e, c, name);
        fprintf(f, "![validation loss, %s](%s/%s)\n\n", o->corpora[c], link_dir, name);
        int any_recall = 0;
        for (int a = 0; a < o->n_archs; a++) any_recall |= arch_stat(&e, c, a, "fact_recall").n > 0;
        if (any_recall) {
            snprintf(name, sizeof name, "%s_recall_%s.png", stem, o->corpora[c]);
            figure_recall(&e, c, name);
            fprintf(f, "![fact recall, %s](%s/%s)\n\n", o->corpora[c], link_dir, name);
        } else {
            fprintf(f, "Fact recall: - (no question file for this corpus%s).\n\n", finished ? "" : ", or no finished run yet");
        }
    }
    snprintf(name, sizeof name, "%s_loss_vs_params.png", stem);
    figure_loss_vs_params(&e, name);
    fprintf(f, "## Validation loss against total parameters\n\nEach arch is a bar from its best to its worst seed "
               "(a dot when one seed finished).\n\n![loss vs parameters](%s/%s)\n\n", link_dir, name);
    fprintf(f, "`*` in \"seeds done\": some seeds are missing from that row.\n\n");
    write_runs(f, &e);
    if (fclose(f) != 0 || rename(tmp, o->report) != 0) um_die(UM_EXIT_RUNTIME, "exp_report: cannot write %s", o->report);
    printf("exp_report: %d of %d runs finished; wrote %s and figures in %s\n", finished, total, o->report, o->figures);
    free(e.runs);
    return 0;
}
