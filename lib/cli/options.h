// options.h: the command-line flags of bin/um, parsed from one table.
//
// Each flag is declared once (name, type, range, which commands take it,
// help text). The parser rejects unknown flags, missing values, malformed or
// out-of-range numbers with one line naming the flag, the value and what is
// allowed, and exits with status 2. --help prints the table for a command.
#ifndef UM_OPTIONS_H
#define UM_OPTIONS_H

#include <stdint.h>

// Commands, as bits so a flag can belong to several.
enum { CMD_TRAIN = 1, CMD_SAMPLE = 2, CMD_EVAL = 4, CMD_PARAMS = 8, CMD_VIZ = 16 };

typedef struct {
    // model and data
    const char *arch, *size, *data, *questions;
    // run control
    int steps, batch, threads, eval_every, ckpt_every;
    double lr;
    long long seed;
    const char *ckpt;
    int resume;
    // sampling
    const char *prompt;
    int tokens, top_k;
    double temperature;
    // evaluation
    int max_questions, eval_batches;
    // machine-readable records of a run (the experiments harness reads them)
    const char *summary, *history;
    // visualiser
    const char *png;
    int no_viz;
    // MoE training knobs
    double moe_alpha, moe_zloss;
    // which flags were given (by table index), to tell defaults from choices
    unsigned char given[64];
} UmOptions;

// Parse argv[first..argc) for command `cmd` (one of the CMD_ bits). Prints
// help and exits 0 on --help; exits 2 on bad usage.
void options_parse(UmOptions *o, int cmd, const char *cmd_name, const char *summary, int argc, char **argv,
                   int first);

// Was flag "--name" given on the command line?
int option_given(const UmOptions *o, const char *name);

#endif
