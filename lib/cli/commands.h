// commands.h: the subcommands of bin/um, one file each.
#ifndef UM_COMMANDS_H
#define UM_COMMANDS_H

int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_params(int argc, char **argv);
int cmd_viz(int argc, char **argv);
int cmd_ablate(int argc, char **argv);
int cmd_bench(int argc, char **argv);

// Shared by the commands (cli_common.c).
#include "cli/options.h"
#include "model/config.h"
#include "model/transformer.h"

void cli_set_threads(const UmOptions *o);
int cli_threads(void);
// Build a model from a checkpoint's config and load it; dies with the reason.
// max_batch: the largest batch the model will see (at least 16, for recall).
void cli_load_model(UmModel *model, const char *ckpt_path, int max_batch);
// Dies (exit 2) when the validation split cannot fill one batch of B x T.
#include "model/data.h"
void cli_require_val_batches(const UmData *d, int B, int T);
// mkdir -p of the directory part of path.
void cli_make_parent_dirs(const char *path);

#define DEFAULT_DATA "out/data/fortunes.txt"

#endif
