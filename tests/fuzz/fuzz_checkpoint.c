// fuzz_checkpoint.c: the checkpoint loader against arbitrary bytes.
//
// A real checkpoint ends in a CRC-32 of everything before it, so random bytes
// almost never get past the checksum. The target therefore loads each input
// twice: once as it is (the CRC check itself), and once with the right CRC
// appended, which lets the fuzzer reach the config parser, the tensor headers
// and the copy loop. Whatever the bytes, loading must end in 0 or -1 with a
// reason, never in a crash, a read out of bounds or a half-loaded model.
#include <math.h>
#include <string.h>

#include "base/crc32.h"
#include "fuzz_common.h"
#include "model/checkpoint.h"

// Building the model allocates its parameters and activations; a config that
// asks for gigabytes is legal (the loader refuses the file later), but would
// make the fuzzer spend its time in malloc. Skip those here.
static int small_enough(const UmModelConfig *c) {
    double D = c->dim, F = c->mlp_hidden, T = c->block_size, L = c->n_layers;
    double params = 256.0 * D + T * D + L * (4 * D * D + 2 * D * F + 8 * D + F);
    double acts = UM_DEFAULT_MAX_BATCH * T * (L * (16 * D + 2 * F + T) + 3 * 256);
    if (c->arch == ARCH_PKM) params += (double)c->pkm_keys * c->pkm_keys * D + 2.0 * c->pkm_keys * c->pkm_key_dim * c->pkm_heads;
    if (c->arch == ARCH_MOE) params += L * (double)c->moe_experts * (2 * D + 1) * c->moe_hidden;
    if (c->arch > ARCH_MOE) return 0;  // the newer layers have their own size fields: not estimated here
    return params * 5 + acts < 8e6;  // a few tens of MB at most
}

static void load(const char *path) {
    UmModelConfig cfg;
    UmError err;
    err.msg[0] = 0;
    if (checkpoint_read_config(path, &cfg, &err) != 0) {
        FUZZ_CHECK(err.msg[0] != 0, "a refused checkpoint must say why");
        return;
    }
    if (!small_enough(&cfg)) return;
    UmModel m;
    if (model_init(&m, &cfg, 1, &err) != 0) return;
    // Loading must change nothing when it fails: compare a weight before/after.
    UmParam *first = m.params.params[0];
    real before = first->data[0];
    UmTrainState state = {0, 0};
    err.msg[0] = 0;
    if (checkpoint_load(path, &m, &state, &err) != 0) {
        FUZZ_CHECK(err.msg[0] != 0, "a refused checkpoint must say why");
        FUZZ_CHECK(memcmp(&before, &first->data[0], sizeof before) == 0, "failed load changed %s", first->name);
    } else {
        for (int i = 0; i < m.params.count; i++)  // the loader refuses NaN/Inf
            for (size_t j = 0; j < m.params.params[i]->numel; j++)
                FUZZ_CHECK(isfinite(m.params.params[i]->data[j]), "loaded a non-finite %s", m.params.params[i]->name);
    }
    model_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load(fuzz_file(data, size));
    unsigned char *fixed = malloc(size + 4);
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    uint32_t crc = crc32_update(0, data, size);
    memcpy(fixed + size, &crc, 4);
    load(fuzz_file(fixed, size + 4));
    free(fixed);
    return 0;
}
