#include "model_fixtures.h"

#include <stdio.h>

#include "base/error.h"
#include "base/rng.h"

UmModelConfig tiny_test_config(void) {
    UmModelConfig c;
    UmTrainConfig t;
    config_preset(&c, &t, "nano", ARCH_DENSE, NULL);
    return c;
}

void write_test_text(const char *path, size_t n) {
    static const char *words[] = {"the ", "cat ", "sat ", "on ", "a ", "mat. ", "dog ", "ran ", "far ", "away. ",
                                  "memory ", "keys ", "values ", "are ", "read ", "fast. "};
    UmRng rng;
    rng_seed(&rng, 7);
    FILE *f = fopen_check(path, "wb");
    size_t written = 0;
    while (written < n) {
        const char *w = words[rng_below(&rng, 16)];
        written += fprintf(f, "%s", w);
    }
    fclose_check(f);
}
