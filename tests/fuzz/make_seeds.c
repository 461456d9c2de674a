// make_seeds.c: writes the checkpoint seeds of the fuzz corpus.
//
//   make fuzz-seeds   (rebuilds tests/fuzz/seeds/checkpoint/*.bin and config/*_nano.txt)
//
// Real checkpoints of the smallest models the config allows (a few KB, so
// the fuzzer can mutate them quickly), WITHOUT their trailing CRC: the
// checkpoint target appends the right CRC itself (see fuzz_checkpoint.c).
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "model/checkpoint.h"

static void seed(const char *dir, const char *name, int T, int L, int D, int H, int F, uint64_t step) {
    UmModelConfig c = {.arch = ARCH_DENSE, .vocab = 256, .block_size = T, .n_layers = L, .dim = D, .n_heads = H,
                       .mlp_hidden = F};
    UmModel m;
    UmError err;
    if (model_init(&m, &c, 7, &err)) um_die(1, "%s", err.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    UmTrainState s = {step, 0x1234567};
    if (checkpoint_save(path, &m, &s, &err)) um_die(1, "%s", err.msg);
    model_free(&m);
    FILE *f = fopen_check(path, "rb+");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    if (truncate(path, n - 4) != 0) um_die(1, "truncate %s failed", path);
}

// The config text of every arch's nano preset (the config target's seeds).
static void config_seeds(const char *dir) {
    for (int arch = 0; arch < ARCH_COUNT; arch++) {
        UmModelConfig m;
        UmTrainConfig t;
        if (config_preset(&m, &t, "nano", arch, NULL)) continue;  // not built yet
        char text[4096], path[512];
        int n = config_to_text(&m, text, sizeof text);
        if (n < 0) um_die(1, "config_to_text failed");
        snprintf(path, sizeof path, "%s/%s_nano.txt", dir, arch_name(arch));
        FILE *f = fopen_check(path, "wb");
        fwrite_check(text, 1, (size_t)n, f);
        fclose_check(f);
    }
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/fuzz/seeds/checkpoint";
    if (argc > 2) config_seeds(argv[2]);
    seed(dir, "d2_l1", 2, 1, 2, 1, 1, 0);
    seed(dir, "d2_l2", 3, 2, 2, 2, 2, 5);
    seed(dir, "d4_l1", 4, 1, 4, 2, 3, 17);
    printf("wrote checkpoint seeds to %s\n", dir);
    return 0;
}
