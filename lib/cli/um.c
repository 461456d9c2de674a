// um.c: the command-line front door.
//
//   um train   train a model (and watch it in the visualiser)
//   um sample  generate text from a checkpoint
//   um eval    validation bits/byte and fact recall of a checkpoint
//   um params  parameter and FLOP accounting of an arch and size
//   um viz     look inside a checkpoint: retrieval for each byte of a prompt
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "cli/commands.h"
int cli_use_exercises(int argc, char **argv);  // use_exercises.c: --use-exercises runs bin/um-exercises

static void usage(FILE *out) {
    fprintf(out,
            "usage: um <command> [flags]   (um <command> --help for its flags)\n\n"
            "commands:\n"
            "  train    train a byte-level model: um train --arch dense --size tiny --data FILE\n"
            "  sample   generate text:            um sample --ckpt FILE --prompt TEXT\n"
            "  eval     bits/byte and recall:     um eval --ckpt FILE --data FILE --questions FILE\n"
            "  params   parameters and FLOPs:     um params --arch moe --size tiny\n"
            "  viz      look inside a checkpoint: um viz --ckpt FILE --prompt TEXT\n"
            "  ablate   UltraMem ablation ladder: um ablate --size nano\n"
            "  bench    decode step vs batch:     um bench --decode [--quick]\n\n"
            "um train --use-exercises ... trains with your exercise code (exercises/*.c; make bin/um-exercises)\n");
}

int main(int argc, char **argv) {
    argc = cli_use_exercises(argc, argv);  // may re-execute bin/um-exercises (your exercise code)
    if (argc < 2) {
        usage(stderr);
        return UM_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc, argv);
    if (!strcmp(cmd, "sample")) return cmd_sample(argc, argv);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
    if (!strcmp(cmd, "params")) return cmd_params(argc, argv);
    if (!strcmp(cmd, "viz")) return cmd_viz(argc, argv);
    if (!strcmp(cmd, "ablate")) return cmd_ablate(argc, argv);  // the UltraMem ablation ladder (cmd_ablate.c)
    if (!strcmp(cmd, "bench")) return cmd_bench(argc, argv);  // decode latency/bytes vs batch (cmd_bench.c)
    fprintf(stderr, "error: unknown command '%s' (allowed: train, sample, eval, params, viz; see: um --help)\n", cmd);
    return UM_EXIT_USAGE;
}
