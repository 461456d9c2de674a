// fuzz_config.c: the model-config text stored in checkpoints ("key=value\n").
//
// config_parse must accept exactly the texts config_to_text writes (round
// trip), refuse the rest with a reason, and never read past the text.
#include <string.h>

#include "fuzz_common.h"
#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;
    char *text = malloc(size + 1);  // exactly sized, so ASan sees any overread
    memcpy(text, data, size);
    text[size] = 0;
    UmModelConfig cfg, again;
    UmError err;
    err.msg[0] = 0;
    if (config_parse(&cfg, text, &err) != 0) {
        FUZZ_CHECK(err.msg[0] != 0, "a refused config must say why");
    } else if (config_validate(&cfg, &err) == 0) {
        char buf[1024], diff[128];
        int n = config_to_text(&cfg, buf, sizeof buf);
        FUZZ_CHECK(n > 0, "config_to_text failed on a valid config");
        FUZZ_CHECK(config_parse(&again, buf, &err) == 0, "round trip refused: %s", err.msg);
        FUZZ_CHECK(config_diff(&cfg, &again, diff, sizeof diff) == 0, "round trip changed %s", diff);
    }
    free(text);
    return 0;
}
