// live.c: the SDL-free half of a visualiser session (see live.h).
#include "live.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/timer.h"
#include "panels.h"
#include "png.h"

void viz_options_defaults(UmVizOptions *o) {
    if (!o->png_dir) o->png_dir = "out/viz";
    if (o->png_every < 0) o->png_every = 0;
    if (!o->title) o->title = "ultramem.c";
    if (!o->runs_dir) o->runs_dir = "out/runs";
    if (!o->run_name) o->run_name = o->title;
    if (o->width <= 0) o->width = 1280;
    if (o->height <= 0) o->height = 800;
    if (o->publish_every_s <= 0) o->publish_every_s = 0.1;
    // Scripts and the smoke test can bound a window session from outside.
    const char *mf = getenv("UM_VIZ_MAX_FRAMES");
    if (o->max_frames <= 0 && mf) o->max_frames = atoi(mf);
}

// mkdir -p
static int make_dirs(const char *path, UmError *err) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) return um_fail(err, "cannot create directory %s: %s", dir, strerror(errno));
        *p = '/';
    }
    return 0;
}

// ---------------------------------------------------------------- run histories
// A run's losses as text, one point a line: "train STEP LOSS" or "val STEP LOSS"
// (nats/byte), so later runs can draw this one beside theirs.
static void file_name_of(char *buf, size_t len, const char *runs_dir, const char *name) {
    char clean[64];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof clean; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
        clean[i] = ok ? ch : '_';
    }
    clean[i] = 0;
    snprintf(buf, len, "%s/%s.tsv", runs_dir, clean);
}

static void save_history(const VizSession *s) {
    if (!s->o.runs_dir[0] || s->master->hist.n == 0) return;
    char path[1024], tmp[1100];
    if (make_dirs(s->o.runs_dir, NULL)) return;
    file_name_of(path, sizeof path, s->o.runs_dir, s->o.run_name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    const VizHistory *h = &s->master->hist;
    fprintf(f, "# ultramem.c loss history: train|val STEP LOSS (nats/byte)\nname %s\n", s->o.run_name);
    for (int i = 0; i < h->n; i++) fprintf(f, "train %g %.5f\n", h->step[i], h->train[i]);
    for (int i = 0; i < h->val_n; i++) fprintf(f, "val %g %.5f\n", h->val_step[i], h->val[i]);
    if (fclose(f) == 0) rename(tmp, path);  // atomic: a reader never sees half a file
}

static int load_history(VizHistory *h, const char *path, const char *name) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    memset(h, 0, sizeof *h);
    snprintf(h->name, sizeof h->name, "%.40s", name);
    char line[256], kind[16];
    float step, loss;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "name ", 5)) {  // the run's own name (the file name is a cleaned-up copy)
            line[strcspn(line, "\n")] = 0;
            snprintf(h->name, sizeof h->name, "%.40s", line + 5);
            continue;
        }
        if (sscanf(line, "%15s %f %f", kind, &step, &loss) == 3 && isfinite(loss)) {
            if (!strcmp(kind, "train")) viz_history_add(h, step, loss, NAN);
            if (!strcmp(kind, "val")) viz_history_add_val(h, step, loss);
        }
    }
    fclose(f);
    return h->n > 0 || h->val_n > 0 ? 0 : -1;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Earlier runs: every <runs_dir>/*.tsv except this run's own, by name.
static void load_previous(VizSession *s) {
    if (!s->o.runs_dir[0]) return;
    DIR *d = opendir(s->o.runs_dir);
    if (!d) return;
    char *names[64];
    int n = 0;
    char own[1024];
    file_name_of(own, sizeof own, "", s->o.run_name);  // "/<name>.tsv"
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".tsv") || !strcmp(e->d_name, own + 1)) continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) {
        char path[1024], label[64];
        snprintf(path, sizeof path, "%s/%s", s->o.runs_dir, names[i]);
        snprintf(label, sizeof label, "%.*s", (int)strlen(names[i]) - 4, names[i]);
        if (s->n_previous < VIZ_MAX_RUNS && load_history(&s->previous[s->n_previous], path, label) == 0) s->n_previous++;
        free(names[i]);
    }
}

// ---------------------------------------------------------------- open / close
int viz_session_open(VizSession *s, const UmVizOptions *o, UmModel *model, UmError *err) {
    memset(s, 0, sizeof *s);
    s->o = *o;
    viz_options_defaults(&s->o);
    s->model = model;
    if (um_canvas_create(&s->canvas, s->o.width, s->o.height, err)) return -1;
    if (viz_exchange_init(&s->x) || !(s->master = viz_snapshot_new())) {
        um_canvas_free(&s->canvas);
        return um_fail(err, "visualiser: out of memory for snapshots");
    }
    pthread_mutex_init(&s->ctl, NULL);
    pthread_cond_init(&s->wake, NULL);
    viz_taps_attach(&s->taps, model);
    load_previous(s);
    VizSnapshot *m = s->master;
    m->title = s->o.title;
    m->ctx_source = s->o.text_context_source;
    m->val_loss = -1;
    m->previous = s->previous, m->n_previous = s->n_previous;
    snprintf(m->hist.name, sizeof m->hist.name, "%.40s", s->o.run_name);
    s->paused = s->o.start_paused;
    s->token = model->cfg.block_size / 2;
    viz_taps_select(&s->taps, s->token, 0);
    return 0;
}

void viz_session_close(VizSession *s) {
    viz_taps_detach(&s->taps);
    viz_exchange_free(&s->x);
    viz_snapshot_free(s->master);
    um_canvas_free(&s->canvas);
    free(s->prompt_tokens);
    pthread_mutex_destroy(&s->ctl);
    pthread_cond_destroy(&s->wake);
    memset(s, 0, sizeof *s);
}

// ---------------------------------------------------------------- worker side
static void record_step(VizSession *s, const UmModel *m, const UmStepInfo *info) {
    VizSnapshot *ms = s->master;
    double now = um_now();
    // tokens/s: the loop's own figure when it has one, else timed here.
    if (info->tokens_per_s > 0) {
        s->tokens_per_s = info->tokens_per_s;
    } else if (s->last_step_time > 0 && now > s->last_step_time) {
        double tps = (double)m->B * m->T / (now - s->last_step_time);
        s->tokens_per_s = s->tokens_per_s > 0 ? 0.8 * s->tokens_per_s + 0.2 * tps : tps;
    }
    // A short moving average of the train loss (bias-corrected: the first
    // points are not pulled towards 0), so the trend is readable.
    s->steps_seen++;
    s->ema_loss = 0.9 * s->ema_loss + 0.1 * info->train_loss;
    double smooth = s->ema_loss / (1.0 - pow(0.9, s->steps_seen));
    // The first steps' speed is warm-up noise (page faults, thread start): not plotted.
    float tps = s->steps_seen > 2 ? (float)s->tokens_per_s : NAN;
    viz_history_add(&ms->hist, (float)info->step, (float)smooth, tps);
    if (info->evaluated) viz_history_add_val(&ms->hist, (float)info->step, (float)info->val_loss);
    ms->step = info->step, ms->total_steps = info->total_steps;
    ms->train_loss = smooth, ms->val_loss = info->val_loss, ms->tokens_per_s = s->tokens_per_s;
    ms->training = 1;
    ms->finished = info->step >= info->total_steps;
}

static void capture(VizSession *s, UmModel *m) {
    viz_capture(s->master, &s->taps, m, s->layer, s->head, s->token);
}

static void publish(VizSession *s, UmModel *m) {
    capture(s, m);
    pthread_mutex_lock(&s->ctl);
    s->master->paused = s->paused;
    pthread_mutex_unlock(&s->ctl);
    memcpy(s->x.back, s->master, sizeof *s->master);
    viz_exchange_publish(&s->x);
    s->last_publish = um_now();
}

// While paused the user may pick another token or head: run the first
// sequence of the last batch through the model again so the probes hold it.
static void rerun_first_sequence(UmModel *m) {
    int T = m->T, *tokens = malloc((size_t)T * sizeof(int));
    if (!tokens) return;
    memcpy(tokens, m->inputs, (size_t)T * sizeof(int));
    model_forward(m, tokens, NULL, 1, T);
    free(tokens);
}

static void headless_frame(VizSession *s, UmModel *m, const char *name) {
    capture(s, m);
    draw_frame(&s->canvas, s->master, s->layout, 0);
    UmError err;
    if (viz_session_save_png(s, name, &err)) fprintf(stderr, "visualiser: %s\n", err.msg);
}

void viz_session_hook(void *ctx, UmModel *m, const UmStepInfo *info) {
    VizSession *s = ctx;
    record_step(s, m, info);
    viz_taps_after_step(&s->taps, info->step);
    if (info->evaluated) save_history(s);
    if (s->headless) {
        char name[64];
        snprintf(name, sizeof name, "frame_%06d", info->step);
        if (s->o.png_every > 0 && info->step % s->o.png_every == 0) headless_frame(s, m, name);
        s->last_step_time = um_now();
        return;
    }
    pthread_mutex_lock(&s->ctl);
    viz_taps_select(&s->taps, s->token, s->head);  // takes effect in the next forward
    int due = um_now() - s->last_publish >= s->o.publish_every_s || s->paused || s->selection_changed ||
              info->step >= info->total_steps;
    s->selection_changed = 0;
    pthread_mutex_unlock(&s->ctl);
    if (due) publish(s, m);

    pthread_mutex_lock(&s->ctl);
    while (s->paused && s->step_budget == 0 && !s->stop) {
        if (s->selection_changed) {  // show the new selection without training a step
            s->selection_changed = 0;
            viz_taps_select(&s->taps, s->token, s->head);
            pthread_mutex_unlock(&s->ctl);
            rerun_first_sequence(m);
            publish(s, m);
            pthread_mutex_lock(&s->ctl);
            continue;
        }
        pthread_cond_wait(&s->wake, &s->ctl);
    }
    if (s->step_budget > 0) s->step_budget--;
    pthread_mutex_unlock(&s->ctl);
    s->last_step_time = um_now();  // time spent paused is not training time
}

// ---------------------------------------------------------------- UI side
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

int viz_session_act(VizSession *s, VizAction a) {
    int ctx_len = s->x.front ? s->x.front->ctx_len : 0;
    int last_token = ctx_len > 0 ? ctx_len - 1 : s->model->cfg.block_size - 1;
    pthread_mutex_lock(&s->ctl);
    int layer = s->layer, head = s->head, token = s->token, n_layers = s->taps.n;
    switch (a) {
    case VIZ_ACT_PAUSE: s->paused = !s->paused, s->step_budget = 0; break;
    case VIZ_ACT_STEP: s->paused = 1, s->step_budget++; break;
    case VIZ_ACT_LAYER_NEXT: layer = n_layers ? (layer + 1) % n_layers : 0; break;
    case VIZ_ACT_LAYER_PREV: layer = n_layers ? (layer + n_layers - 1) % n_layers : 0; break;
    case VIZ_ACT_HEAD_NEXT: head = (head + 1) % viz_taps_heads(&s->taps, layer); break;
    case VIZ_ACT_HEAD_PREV: {
        int H = viz_taps_heads(&s->taps, layer);
        head = (head + H - 1) % H;
        break;
    }
    case VIZ_ACT_TOKEN_NEXT: token++; break;
    case VIZ_ACT_TOKEN_PREV: token--; break;
    case VIZ_ACT_TOKEN_NEXT8: token += 8; break;
    case VIZ_ACT_TOKEN_PREV8: token -= 8; break;
    case VIZ_ACT_TOKEN_FIRST: token = 0; break;
    case VIZ_ACT_TOKEN_LAST: token = last_token; break;
    case VIZ_ACT_LAYOUT_NEXT: s->layout = (s->layout + 1) % VIZ_LAYOUT_COUNT; break;
    case VIZ_ACT_LAYOUT_1: case VIZ_ACT_LAYOUT_2: case VIZ_ACT_LAYOUT_3: case VIZ_ACT_LAYOUT_4:
        s->layout = a - VIZ_ACT_LAYOUT_1;
        break;
    case VIZ_ACT_HELP: s->show_help = !s->show_help; break;
    case VIZ_ACT_QUIT: s->quit = 1, s->stop = 1; break;
    default: break;
    }
    head = clampi(head, 0, viz_taps_heads(&s->taps, layer) - 1);
    token = clampi(token, 0, last_token);
    int changed = layer != s->layer || head != s->head || token != s->token;
    s->layer = layer, s->head = head, s->token = token;
    if (changed) s->selection_changed = 1;
    pthread_cond_broadcast(&s->wake);  // a paused worker re-checks pause, step, stop and selection
    pthread_mutex_unlock(&s->ctl);
    if (a == VIZ_ACT_SAVE_PNG) {
        char name[64];
        UmError err;
        snprintf(name, sizeof name, "screenshot_%03d", ++s->saved);
        if (viz_session_save_png(s, name, &err) == 0)
            printf("visualiser: saved %s/%s.png\n", s->o.png_dir, name);
        else
            fprintf(stderr, "visualiser: %s\n", err.msg);
    }
    if (changed && s->inspect) viz_inspect_refresh(s);
    return 1;
}

const VizSnapshot *viz_session_draw(VizSession *s, int *is_new) {
    VizSnapshot *f = viz_exchange_take(&s->x, is_new);
    pthread_mutex_lock(&s->ctl);
    f->paused = s->paused;  // the key's effect shows at once, before the worker's next step
    pthread_mutex_unlock(&s->ctl);
    draw_frame(&s->canvas, f, s->layout, s->show_help);
    return f;
}

int viz_session_save_png(VizSession *s, const char *name, UmError *err) {
    if (make_dirs(s->o.png_dir, err)) return -1;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.png", s->o.png_dir, name);
    return um_png_write(&s->canvas, path, err);
}

// ---------------------------------------------------------------- headless
int viz_run_headless(const UmVizOptions *o, UmModel *model, UmVizTrainFn train_fn, void *ctx) {
    VizSession *s = um_alloc(sizeof *s);
    UmError err;
    if (viz_session_open(s, o, model, &err)) um_die(UM_EXIT_RUNTIME, "visualiser: %s", err.msg);
    s->headless = 1;
    if (s->o.png_every > 0)
        printf("visualiser: no window; writing a frame every %d steps to %s/ (frame_NNNNNN.png) and %s/summary.png\n",
               s->o.png_every, s->o.png_dir, s->o.png_dir);
    else
        printf("visualiser: no window; the summary image goes to %s/summary.png\n", s->o.png_dir);
    int rc = train_fn(ctx, viz_session_hook, s, &s->stop);
    s->master->finished = 1;
    save_history(s);
    headless_frame(s, model, "summary");
    printf("visualiser: summary image %s/summary.png\n", s->o.png_dir);
    viz_session_close(s);
    um_free(s);
    return rc;
}

// ---------------------------------------------------------------- inspect
int viz_inspect_begin(VizSession *s, const unsigned char *prompt, int len, UmError *err) {
    int T = s->model->cfg.block_size;
    if (len < 1) return um_fail(err, "the prompt is empty: give --prompt TEXT");
    if (len > T) {
        printf("visualiser: the prompt has %d bytes, the model's context is %d: showing the last %d\n", len, T, T);
        prompt += len - T, len = T;
    }
    s->inspect = 1;
    s->prompt_len = len;
    s->prompt_tokens = malloc((size_t)len * sizeof(int));
    if (!s->prompt_tokens) return um_fail(err, "out of memory");
    for (int i = 0; i < len; i++) s->prompt_tokens[i] = prompt[i];
    s->token = len - 1;
    s->master->training = 0;
    viz_inspect_refresh(s);
    return 0;
}

// Reads are counted afresh for each run of the prompt, so the access panel
// shows this text's reads only.
static void reset_reads(VizTaps *t) { viz_taps_reset_reads(t); }

void viz_inspect_refresh(VizSession *s) {
    viz_taps_select(&s->taps, s->token, s->head);
    reset_reads(&s->taps);
    model_forward(s->model, s->prompt_tokens, NULL, 1, s->prompt_len);
    viz_taps_after_step(&s->taps, 0);  // (for MoE load shares)
    for (int i = 0; i < s->taps.n; i++) s->taps.tap[i].steps_in_chunk = 0;  // reads: this text only, no window
    capture(s, s->model);
    memcpy(s->x.back, s->master, sizeof *s->master);
    viz_exchange_publish(&s->x);
}

int viz_inspect_headless(const UmVizOptions *o, UmModel *model, const unsigned char *prompt, int len) {
    VizSession *s = um_alloc(sizeof *s);
    UmError err;
    if (viz_session_open(s, o, model, &err)) um_die(UM_EXIT_RUNTIME, "visualiser: %s", err.msg);
    if (viz_inspect_begin(s, prompt, len, &err)) um_die(UM_EXIT_USAGE, "um viz: %s", err.msg);
    s->layout = VIZ_LAYOUT_RETRIEVAL;
    for (int t = 0; t < s->prompt_len; t++) {
        s->token = t;
        viz_inspect_refresh(s);
        draw_frame(&s->canvas, s->master, s->layout, 0);
        char name[32];
        snprintf(name, sizeof name, "position_%03d", t);
        if (viz_session_save_png(s, name, &err)) um_die(UM_EXIT_RUNTIME, "visualiser: %s", err.msg);
    }
    printf("visualiser: no window; wrote %d images (one per prompt position) to %s/position_NNN.png\n", s->prompt_len,
           s->o.png_dir);
    viz_session_close(s);
    um_free(s);
    return 0;
}
