#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "cli/commands.h"
#include "model/checkpoint.h"
#include "model/evaluate.h"
#ifdef _OPENMP
#include <omp.h>
#endif

void cli_set_threads(const UmOptions *o) {
#ifdef _OPENMP
    if (o->threads > 0) omp_set_num_threads(o->threads);
#else
    if (o->threads > 1) fprintf(stderr, "note: built without OpenMP, --threads %d runs on 1 thread\n", o->threads);
#endif
}

int cli_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void cli_load_model(UmModel *model, const char *path, int max_batch) {
    UmError err;
    UmModelConfig cfg;
    if (checkpoint_read_config(path, &cfg, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
    if (max_batch < UM_DEFAULT_MAX_BATCH) max_batch = UM_DEFAULT_MAX_BATCH;
    if (model_init_batch(model, &cfg, 0, max_batch, &err)) um_die(UM_EXIT_RUNTIME, "%s: %s", path, err.msg);
    if (checkpoint_load(path, model, NULL, &err)) um_die(UM_EXIT_RUNTIME, "%s", err.msg);
}

void cli_make_parent_dirs(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) um_die(UM_EXIT_RUNTIME, "cannot create directory %s: %s", dir, strerror(errno));
        *p = '/';
    }
}

void cli_require_val_batches(const UmData *d, int B, int T) {
    if (eval_batches_available(d, B, T) == 0)
        um_die(UM_EXIT_USAGE, "--batch %d: the validation split (%zu bytes) holds fewer than %d sequences of %d bytes; "
               "use a smaller --batch or a larger --data file", B, data_val_bytes(d), B, T + 1);
}
