// window.c: the SDL2 window. It only presents the canvas and reads keys.
//
// Everything drawn is drawn by the panels into s->canvas (RGBA bytes in
// memory, which SDL calls SDL_PIXELFORMAT_RGBA32), uploaded unchanged into a
// streaming texture and scaled to the window. Training runs on a worker
// thread (pthread); this thread paces itself at ~30 frames per second and
// never waits for training: it takes the newest snapshot if there is one.
#include <SDL.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/timer.h"
#include "live.h"
#include "panels.h"

#define FRAME_S (1.0 / 30)

// A window only when something can show it: a display, or a video driver
// chosen on purpose (SDL_VIDEODRIVER=dummy in the smoke test).
static int window_available(const UmVizOptions *o) {
    if (o->no_window) return 0;
    if (!getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY") && !getenv("SDL_VIDEODRIVER")) return 0;
    if (SDL_Init(SDL_INIT_VIDEO) != 0) {
        fprintf(stderr, "visualiser: no window (%s)\n", SDL_GetError());
        return 0;
    }
    return 1;
}

static VizAction action_of(const SDL_KeyboardEvent *k) {
    int shift = (k->keysym.mod & KMOD_SHIFT) != 0;
    switch (k->keysym.sym) {
    case SDLK_SPACE: return VIZ_ACT_PAUSE;
    case SDLK_s: case SDLK_PERIOD: return VIZ_ACT_STEP;
    case SDLK_RIGHTBRACKET: case SDLK_PAGEDOWN: return VIZ_ACT_LAYER_NEXT;
    case SDLK_LEFTBRACKET: case SDLK_PAGEUP: return VIZ_ACT_LAYER_PREV;
    case SDLK_UP: return VIZ_ACT_HEAD_NEXT;
    case SDLK_DOWN: return VIZ_ACT_HEAD_PREV;
    case SDLK_RIGHT: return shift ? VIZ_ACT_TOKEN_NEXT8 : VIZ_ACT_TOKEN_NEXT;
    case SDLK_LEFT: return shift ? VIZ_ACT_TOKEN_PREV8 : VIZ_ACT_TOKEN_PREV;
    case SDLK_HOME: return VIZ_ACT_TOKEN_FIRST;
    case SDLK_END: return VIZ_ACT_TOKEN_LAST;
    case SDLK_TAB: return VIZ_ACT_LAYOUT_NEXT;
    case SDLK_1: return VIZ_ACT_LAYOUT_1;
    case SDLK_2: return VIZ_ACT_LAYOUT_2;
    case SDLK_3: return VIZ_ACT_LAYOUT_3;
    case SDLK_4: return VIZ_ACT_LAYOUT_4;
    case SDLK_p: return VIZ_ACT_SAVE_PNG;
    case SDLK_h: case SDLK_F1: case SDLK_SLASH: return VIZ_ACT_HELP;
    case SDLK_q: case SDLK_ESCAPE: return VIZ_ACT_QUIT;
    default: return VIZ_ACT_NONE;
    }
}

typedef struct {
    SDL_Window *win;
    SDL_Renderer *ren;
    SDL_Texture *tex;
} Screen;

static int screen_open(Screen *sc, const VizSession *s) {
    memset(sc, 0, sizeof *sc);
    sc->win = SDL_CreateWindow(s->o.title, SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED, s->canvas.w, s->canvas.h,
                               SDL_WINDOW_RESIZABLE);
    if (!sc->win) return -1;
    sc->ren = SDL_CreateRenderer(sc->win, -1, 0);
    if (!sc->ren) sc->ren = SDL_CreateRenderer(sc->win, -1, SDL_RENDERER_SOFTWARE);
    if (!sc->ren) return -1;
    SDL_RenderSetLogicalSize(sc->ren, s->canvas.w, s->canvas.h);  // resizing scales, keeps the aspect
    sc->tex = SDL_CreateTexture(sc->ren, SDL_PIXELFORMAT_RGBA32, SDL_TEXTUREACCESS_STREAMING, s->canvas.w, s->canvas.h);
    return sc->tex ? 0 : -1;
}

static void screen_close(Screen *sc) {
    if (sc->tex) SDL_DestroyTexture(sc->tex);
    if (sc->ren) SDL_DestroyRenderer(sc->ren);
    if (sc->win) SDL_DestroyWindow(sc->win);
    SDL_Quit();
}

static void present(Screen *sc, const UmCanvas *c) {
    SDL_UpdateTexture(sc->tex, NULL, c->pixels, c->w * 4);
    SDL_RenderClear(sc->ren);
    SDL_RenderCopy(sc->ren, sc->tex, NULL, NULL);
    SDL_RenderPresent(sc->ren);
}

// The frame loop, shared by training and inspection. done() says whether
// the work behind the window has finished (training returned).
static void frame_loop(VizSession *s, Screen *sc, const volatile int *worker_done) {
    int frames = 0, dirty = 1;
    while (!s->quit) {
        double t0 = um_now();
        SDL_Event ev;
        while (SDL_PollEvent(&ev)) {
            if (ev.type == SDL_QUIT) viz_session_act(s, VIZ_ACT_QUIT);
            if (ev.type == SDL_KEYDOWN) dirty |= viz_session_act(s, action_of(&ev.key));
            if (ev.type == SDL_WINDOWEVENT) dirty = 1;
        }
        int fresh;
        viz_session_draw(s, &fresh);  // cheap enough to redraw every frame (a few ms)
        if (fresh || dirty) present(sc, &s->canvas);
        dirty = 0;
        frames++;
        if (s->o.max_frames > 0 && frames >= s->o.max_frames) viz_session_act(s, VIZ_ACT_QUIT);
        if (worker_done && *worker_done && s->o.close_when_done) break;
        double left = FRAME_S - (um_now() - t0);
        if (left > 0) SDL_Delay((Uint32)(left * 1000));
    }
}

// ---------------------------------------------------------------- training
typedef struct {
    VizSession *s;
    UmVizTrainFn fn;
    void *ctx;
    int rc;
    volatile int done;
} Worker;

static void *worker_main(void *arg) {
    Worker *w = arg;
    w->rc = w->fn(w->ctx, viz_session_hook, w->s, &w->s->stop);
    w->done = 1;
    return NULL;
}

int viz_run_training(const UmVizOptions *o, UmModel *model, UmVizTrainFn train_fn, void *ctx) {
    if (!window_available(o)) return viz_run_headless(o, model, train_fn, ctx);
    VizSession *s = um_alloc(sizeof *s);
    UmError err;
    if (viz_session_open(s, o, model, &err)) um_die(UM_EXIT_RUNTIME, "visualiser: %s", err.msg);
    Screen sc;
    if (screen_open(&sc, s)) {
        fprintf(stderr, "visualiser: cannot open a window (%s); writing PNGs instead\n", SDL_GetError());
        screen_close(&sc);
        viz_session_close(s);
        um_free(s);
        return viz_run_headless(o, model, train_fn, ctx);
    }
    printf("visualiser: window open (H: keys, Q: quit; training stops and saves when you quit)\n");
    Worker w = {.s = s, .fn = train_fn, .ctx = ctx};
    pthread_t th;
    if (pthread_create(&th, NULL, worker_main, &w) != 0) um_die(UM_EXIT_RUNTIME, "visualiser: cannot start the training thread");
    frame_loop(s, &sc, &w.done);
    viz_session_act(s, VIZ_ACT_QUIT);  // wakes a paused worker and asks it to stop
    pthread_join(th, NULL);
    screen_close(&sc);
    viz_session_close(s);
    um_free(s);
    return w.rc;
}

// ---------------------------------------------------------------- inspection
int viz_inspect(const UmVizOptions *o, UmModel *model, const unsigned char *prompt, int len) {
    if (!window_available(o)) return viz_inspect_headless(o, model, prompt, len);
    VizSession *s = um_alloc(sizeof *s);
    UmError err;
    if (viz_session_open(s, o, model, &err)) um_die(UM_EXIT_RUNTIME, "visualiser: %s", err.msg);
    if (viz_inspect_begin(s, prompt, len, &err)) um_die(UM_EXIT_USAGE, "um viz: %s", err.msg);
    s->layout = VIZ_LAYOUT_RETRIEVAL;
    Screen sc;
    if (screen_open(&sc, s)) {
        fprintf(stderr, "visualiser: cannot open a window (%s); writing PNGs instead\n", SDL_GetError());
        screen_close(&sc);
        viz_session_close(s);
        um_free(s);
        return viz_inspect_headless(o, model, prompt, len);
    }
    printf("visualiser: left/right walk the prompt, [ ] the layers, up/down the heads, H: keys, Q: quit\n");
    frame_loop(s, &sc, NULL);
    screen_close(&sc);
    viz_session_close(s);
    um_free(s);
    return 0;
}
