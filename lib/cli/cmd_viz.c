// cmd_viz.c: `um viz`, look inside a trained model, one prompt position at a time.
//
// No training: the checkpoint's model reads the prompt once per selected
// position, and the window shows what its sparse layers did for that byte
// (the key-score grid, the slots read and their values, the reads of the
// whole prompt; for MoE, the router). With --png DIR, or without a display,
// one image per position is written instead.
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "cli/commands.h"
#include "live.h"

static const char *SUMMARY =
    "Show what a trained model's memory layers retrieve for each position of a prompt (no training).\n"
    "Example: um viz --ckpt out/run/model.ckpt --prompt \"The capital of \"\n"
    "Keys: left/right walk the prompt, [ ] change layer, up/down change head, H lists all keys.";

int cmd_viz(int argc, char **argv) {
    UmOptions o = {.prompt = ""};
    options_parse(&o, CMD_VIZ, "viz", SUMMARY, argc, argv, 2);
    if (!o.ckpt) um_die(UM_EXIT_USAGE, "um viz: --ckpt FILE is required (see: um viz --help)");
    if (!o.prompt[0]) um_die(UM_EXIT_USAGE, "um viz: --prompt TEXT is required: the text whose positions to inspect");
    cli_set_threads(&o);
    UmModel model;
    cli_load_model(&model, o.ckpt, 1);  // one sequence: the prompt
    char title[256];
    snprintf(title, sizeof title, "um viz: %s (%s)", o.ckpt, arch_name(model.cfg.arch));
    UmVizOptions v = {.png_dir = o.png, .no_window = o.png != NULL, .title = title,
                      .text_context_source = "--prompt", .runs_dir = ""};
    int rc = viz_inspect(&v, &model, (const unsigned char *)o.prompt, (int)strlen(o.prompt));
    model_free(&model);
    return rc;
}
