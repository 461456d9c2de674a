// live.h: a visualiser session: watch a model train (or inspect a checkpoint),
// in a window when there is a display, as PNG files when there is not.
//
// Training with the window:
//   main thread                          worker thread
//   -----------                          -------------
//   viz_run_training(...)  --starts-->   train_fn(ctx, viz_session_hook, session, &stop)
//   every ~33 ms: take the latest          after each step: viz_session_hook
//   snapshot, draw the frame, present        - updates loss history, read window
//   keys: pause, step, select, quit          - every ~100 ms: copies what the panels
//                                              draw into a snapshot and publishes it
//                                            - while paused: waits (the only wait)
// The window never holds a lock while drawing, and training never waits for
// the window except when the user paused it.
//
// Headless (no display, or o->no_window): train_fn runs on the calling
// thread; every png_every steps a frame is written to png_dir, and at the end
// a summary image.
//
// Where the code is: this header's SDL-free parts (the session, the hook,
// headless runs, key actions) are in live.c; viz_run_training and
// viz_inspect, which open the window when they can, are in window.c (the only
// files that include SDL; the test binary links live.c without them).
#ifndef UM_VIZ_LIVE_H
#define UM_VIZ_LIVE_H

#include <pthread.h>

#include "canvas.h"
#include "capture.h"
#include "model/train.h"
#include "snapshot.h"

typedef struct {
    const char *png_dir;    // frames go here (default "out/viz"); the P key saves here too
    int png_every;          // headless: a frame every K steps (default 100; 0: only the summary)
    int no_window;          // 1: never open a window
    const char *title;      // shown in the status bar and window title (e.g. "pkm tiny")
    const char *text_context_source;  // where the text comes from (e.g. the data file), shown under it
    const char *runs_dir;   // loss histories: this run saved as <runs_dir>/<run_name>.tsv, earlier
                            // runs there drawn beside it (default "out/runs"; "" turns it off)
    const char *run_name;   // default: title
    int width, height;      // canvas size (default 1280 x 800)
    double publish_every_s; // snapshot interval for the window (default 0.1)
    int max_frames;         // window: quit after this many frames (0: until closed; env UM_VIZ_MAX_FRAMES)
    int close_when_done;    // window: close when training finishes (default: stay open)
    int start_paused;       // window: begin paused
} UmVizOptions;

// Runs one training run. train_fn must call hook(hook_ctx, model, info) after
// every step and stop soon after *stop becomes 1 (train_run does both via
// UmTrainRun.on_step / .hook_ctx / .stop).
typedef int (*UmVizTrainFn)(void *ctx, UmStepHook hook, void *hook_ctx, volatile int *stop);

// Fills defaults for the fields left 0/NULL.
void viz_options_defaults(UmVizOptions *o);

// Show training in the window if there is a display (DISPLAY or
// WAYLAND_DISPLAY set, or SDL_VIDEODRIVER chosen explicitly, and SDL video
// starts), else headless PNGs (saying where). Returns train_fn's result.
int viz_run_training(const UmVizOptions *o, UmModel *model, UmVizTrainFn train_fn, void *ctx);   // window.c

// `um viz`: no training. Runs the model on a prompt and shows retrieval for
// each position (left/right keys). Headless: one PNG per position.
int viz_inspect(const UmVizOptions *o, UmModel *model, const unsigned char *prompt, int len);  // window.c

// The SDL-free halves of the two (used by window.c when there is no display).
int viz_run_headless(const UmVizOptions *o, UmModel *model, UmVizTrainFn train_fn, void *ctx);
int viz_inspect_headless(const UmVizOptions *o, UmModel *model, const unsigned char *prompt, int len);

// ---------------------------------------------------------------- the session
// (window.c drives it; tests drive it directly)
typedef enum {
    VIZ_ACT_NONE = 0,
    VIZ_ACT_PAUSE,  // toggle
    VIZ_ACT_STEP,   // one step, then pause
    VIZ_ACT_LAYER_NEXT, VIZ_ACT_LAYER_PREV,
    VIZ_ACT_HEAD_NEXT, VIZ_ACT_HEAD_PREV,
    VIZ_ACT_TOKEN_NEXT, VIZ_ACT_TOKEN_PREV, VIZ_ACT_TOKEN_NEXT8, VIZ_ACT_TOKEN_PREV8,
    VIZ_ACT_TOKEN_FIRST, VIZ_ACT_TOKEN_LAST,
    VIZ_ACT_LAYOUT_NEXT, VIZ_ACT_LAYOUT_1, VIZ_ACT_LAYOUT_2, VIZ_ACT_LAYOUT_3, VIZ_ACT_LAYOUT_4,
    VIZ_ACT_SAVE_PNG,
    VIZ_ACT_HELP,
    VIZ_ACT_QUIT,
} VizAction;

typedef struct {
    UmVizOptions o;
    UmModel *model;
    VizTaps taps;
    VizExchange x;
    VizSnapshot *master;  // worker-private: histories accumulate here, copied on publish
    VizHistory previous[VIZ_MAX_RUNS];
    int n_previous;

    // Control shared by the window (writes) and the worker (reads), under `ctl`.
    pthread_mutex_t ctl;
    pthread_cond_t wake;
    int paused, step_budget;
    volatile int stop;
    int layer, head, token;  // what the user selected
    int selection_changed;

    // Worker-side bookkeeping.
    double last_publish, last_step_time, ema_loss;
    int steps_seen;
    double tokens_per_s;

    int headless;  // 1: frames go to PNG files on the training thread

    // Window/UI side.
    int layout, show_help, quit;
    int inspect;  // 1: `um viz` (no training): selection changes rerun the prompt
    int prompt_len;
    int *prompt_tokens;
    int saved;    // PNGs saved with the P key
    UmCanvas canvas;
} VizSession;

int viz_session_open(VizSession *s, const UmVizOptions *o, UmModel *model, UmError *err);
void viz_session_close(VizSession *s);

// The UmStepHook (worker thread). hook_ctx is the session.
void viz_session_hook(void *ctx, UmModel *model, const UmStepInfo *info);

// Apply a key's action (main thread). Returns 1 if the frame should be redrawn.
int viz_session_act(VizSession *s, VizAction a);

// Draw the latest published snapshot into s->canvas; *is_new tells whether
// it changed since the last call. Returns the snapshot drawn.
const VizSnapshot *viz_session_draw(VizSession *s, int *is_new);

// Write s->canvas to <png_dir>/<name>.png (making the directory); prints nothing.
int viz_session_save_png(VizSession *s, const char *name, UmError *err);

// Inspect mode: run the prompt through the model with the current selection
// and publish the result (main thread; no worker exists then).
void viz_inspect_refresh(VizSession *s);
int viz_inspect_begin(VizSession *s, const unsigned char *prompt, int len, UmError *err);

#endif
