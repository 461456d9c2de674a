// test_window.c: smoke test of the SDL window path, without a display.
//
// SDL's "dummy" video driver accepts windows and renderers and shows nothing,
// so the whole window path (SDL_Init, window, renderer, streaming texture,
// the event and frame loop, the worker thread for training) runs in a test.
// The window code is not linked into this binary (window*.c are left out of
// bin/test_f32), so the test runs bin/um as a child process:
//   SDL_VIDEODRIVER=dummy UM_VIZ_MAX_FRAMES=N bin/um viz|train ...
// (UM_VIZ_MAX_FRAMES closes the window after N frames.) `make test` builds
// bin/um before running the suites; UM_BIN overrides which binary is run.
//
// Suite: viz_window.
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers/testutil.h"

static const char *um_bin(void) {
    const char *b = getenv("UM_BIN");
    return b ? b : "bin/um";
}

// Run a shell command, capture its output into `out`, return its exit status.
static int run(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(out, cap, "cannot run: %s", cmd);
        return -1;
    }
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// A small training text and a 2-step PKM nano checkpoint in a fresh
// directory, made once per test case (an unchecked fixture: it runs in the
// parent, which only starts a child process, never OpenMP).
static char FIXTURE_DIR[256];

static void make_checkpoint(void) {
    char *dir = FIXTURE_DIR;
    make_temp_dir(dir, sizeof FIXTURE_DIR);
    char path[512], cmd[2048], out[8192];
    snprintf(path, sizeof path, "%s/text.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) {  // no ck_assert here: this runs outside any test
        fprintf(stderr, "viz_window fixture: cannot write %s\n", path);
        FIXTURE_DIR[0] = 0;
        return;
    }
    for (int i = 0; i < 600; i++) fprintf(f, "The fox %d reads slot %d of the memory.\n", i, (i * 37) % 256);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "%s train --arch pkm --size nano --steps 2 --eval-every 0 --eval-batches 1 --no-viz "
             "--data %s/text.txt --ckpt %s/m.ckpt 2>&1",
             um_bin(), dir, dir);
    int rc = run(cmd, out, sizeof out);
    if (rc != 0) {
        fprintf(stderr, "viz_window fixture: training failed (%d):\n%s", rc, out);
        FIXTURE_DIR[0] = 0;
    }
}

static const char *fixture_dir(void) {
    ck_assert_msg(FIXTURE_DIR[0] != 0, "the fixture checkpoint could not be made (see the message above)");
    return FIXTURE_DIR;
}

START_TEST(test_viz_window_under_dummy_driver) {
    const char *dir = fixture_dir();
    char cmd[2048], out[8192];
    snprintf(cmd, sizeof cmd, "%s viz --help 2>&1", um_bin());
    ck_assert_msg(run(cmd, out, sizeof out) == 0,
                  "%s has no `viz` command: lib/cli/um.c must dispatch \"viz\" to cmd_viz (lib/cli/cmd_viz.c)", um_bin());
    snprintf(cmd, sizeof cmd,
             "env -u DISPLAY -u WAYLAND_DISPLAY SDL_VIDEODRIVER=dummy UM_VIZ_MAX_FRAMES=5 "
             "%s viz --ckpt %s/m.ckpt --prompt 'The fox reads' 2>&1",
             um_bin(), dir);
    int rc = run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "um viz exited %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "left/right walk the prompt") != NULL, "the window path did not run:\n%s", out);
}
END_TEST

START_TEST(test_train_window_under_dummy_driver) {
    const char *dir = fixture_dir();
    char cmd[2048], out[16384];
    // close_when_done is not set, so the frame limit is what ends the window;
    // quitting must stop the worker and still save a checkpoint.
    snprintf(cmd, sizeof cmd,
             "env -u DISPLAY -u WAYLAND_DISPLAY SDL_VIDEODRIVER=dummy UM_VIZ_MAX_FRAMES=15 "
             "%s train --arch pkm --size nano --steps 3 --eval-every 0 --eval-batches 1 "
             "--data %s/text.txt --ckpt %s/w.ckpt 2>&1",
             um_bin(), dir, dir);
    int rc = run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "um train with the window exited %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "window open") != NULL, "the window path did not run:\n%s", out);
    char ck[512];
    struct stat st;
    snprintf(ck, sizeof ck, "%s/w.ckpt", dir);
    ck_assert_msg(stat(ck, &st) == 0, "no checkpoint after the window closed:\n%s", out);
}
END_TEST

START_TEST(test_headless_without_display) {
    const char *dir = fixture_dir();
    char cmd[2048], out[8192], png[512];
    snprintf(cmd, sizeof cmd,
             "env -u DISPLAY -u WAYLAND_DISPLAY -u SDL_VIDEODRIVER %s viz --ckpt %s/m.ckpt --prompt 'fox' "
             "--png %s/frames 2>&1",
             um_bin(), dir, dir);
    int rc = run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "um viz --png exited %d:\n%s", rc, out);
    struct stat st;
    for (int t = 0; t < 3; t++) {
        snprintf(png, sizeof png, "%s/frames/position_%03d.png", dir, t);
        ck_assert_msg(stat(png, &st) == 0 && st.st_size > 1000, "missing %s:\n%s", png, out);
    }
    ck_assert_msg(strstr(out, "/frames/position_NNN.png") != NULL, "it must say where the images went:\n%s", out);
}
END_TEST

// UltraMem's skip-layer memories are probed too: a 2-step nano run with
// --png must write its summary frame (with the Tucker grid, the winners and
// the core's singular values drawn from the layer, not "no data").
START_TEST(test_ultramem_training_png) {
    const char *dir = fixture_dir();
    char cmd[2048], out[8192], png[512];
    snprintf(cmd, sizeof cmd,
             "env -u DISPLAY -u WAYLAND_DISPLAY -u SDL_VIDEODRIVER %s train --arch ultramem --size nano --steps 2 "
             "--eval-every 0 --eval-batches 1 --data %s/text.txt --ckpt %s/u.ckpt --png %s/um_frames 2>&1",
             um_bin(), dir, dir, dir);
    int rc = run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "um train --arch ultramem --png exited %d:\n%s", rc, out);
    struct stat st;
    snprintf(png, sizeof png, "%s/um_frames/summary.png", dir);
    ck_assert_msg(stat(png, &st) == 0 && st.st_size > 1000, "missing %s:\n%s", png, out);
    // And the checkpoint inspects: one image per prompt position.
    snprintf(cmd, sizeof cmd,
             "env -u DISPLAY -u WAYLAND_DISPLAY -u SDL_VIDEODRIVER %s viz --ckpt %s/u.ckpt --prompt 'fox' "
             "--png %s/um_viz 2>&1",
             um_bin(), dir, dir);
    rc = run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "um viz on an ultramem checkpoint exited %d:\n%s", rc, out);
    for (int t = 0; t < 3; t++) {
        snprintf(png, sizeof png, "%s/um_viz/position_%03d.png", dir, t);
        ck_assert_msg(stat(png, &st) == 0 && st.st_size > 1000, "missing %s:\n%s", png, out);
    }
}
END_TEST

// UltraMemV2 and PEER are probed in every block: a 2-step nano run with
// --png must write its summary frame (grid, winners and reads from the layer).
static void check_training_png(const char *arch) {
    const char *dir = fixture_dir();
    char cmd[2048], out[8192], png[512];
    snprintf(cmd, sizeof cmd,
             "env -u DISPLAY -u WAYLAND_DISPLAY -u SDL_VIDEODRIVER %s train --arch %s --size nano --steps 2 "
             "--eval-every 0 --eval-batches 1 --data %s/text.txt --ckpt %s/%s.ckpt --png %s/%s_frames 2>&1",
             um_bin(), arch, dir, dir, arch, dir, arch);
    int rc = run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "um train --arch %s --png exited %d:\n%s", arch, rc, out);
    struct stat st;
    snprintf(png, sizeof png, "%s/%s_frames/summary.png", dir, arch);
    ck_assert_msg(stat(png, &st) == 0 && st.st_size > 1000, "missing %s:\n%s", png, out);
}

START_TEST(test_ultramem2_training_png) { check_training_png("ultramem2"); }
END_TEST

START_TEST(test_peer_training_png) { check_training_png("peer"); }
END_TEST

Suite *viz_window_suite(void) {
    Suite *s = suite_create("viz_window");
    TCase *tc = tcase_create("window");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, make_checkpoint, NULL);
    tcase_add_test(tc, test_viz_window_under_dummy_driver);
    tcase_add_test(tc, test_train_window_under_dummy_driver);
    tcase_add_test(tc, test_headless_without_display);
    tcase_add_test(tc, test_ultramem_training_png);
    tcase_add_test(tc, test_ultramem2_training_png);
    tcase_add_test(tc, test_peer_training_png);
    suite_add_tcase(s, tc);
    return s;
}
