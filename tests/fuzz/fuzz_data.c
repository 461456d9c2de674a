// fuzz_data.c: the training-data loader and its batch samplers.
//
// The first input byte picks the context length T (1..64); the rest is the
// data file. Any file must load (or be refused with a reason), and then every
// training and validation batch must read inside the streams: the sanitizers
// watch every byte copied into the batch arrays.
#include <string.h>

#include "fuzz_common.h"
#include "model/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int T = 1 + data[0] % 64;
    UmData d;
    UmError err;
    err.msg[0] = 0;
    if (data_load(&d, fuzz_file(data + 1, size - 1), T, &err) != 0) {
        FUZZ_CHECK(err.msg[0] != 0, "a refused data file must say why");
        return 0;
    }
    FUZZ_CHECK(d.n == size - 1, "loaded %zu of %zu bytes", d.n, size - 1);
    FUZZ_CHECK(d.n_train + d.n_val == d.n, "split lost bytes: %zu + %zu != %zu", d.n_train, d.n_val, d.n);
    FUZZ_CHECK(d.n_train > (size_t)T && d.n_val > (size_t)T, "streams too short for T=%d", T);
    int B = 1 + (size > 1 ? data[1] % 8 : 0);
    int *in = malloc(sizeof(int) * (size_t)B * T), *tg = malloc(sizeof(int) * (size_t)B * T);
    UmRng rng;
    rng_seed(&rng, size);
    for (int i = 0; i < 4; i++) data_train_batch(&d, &rng, B, T, in, tg);
    int count = data_val_batch_count(&d, B, T);
    for (int i = 0; i < count && i < 64; i++) data_val_batch(&d, i, B, T, in, tg);
    double h = data_unigram_entropy_bits(d.bytes, d.n);
    FUZZ_CHECK(h >= 0 && h <= 8.0 + 1e-9, "entropy %g outside 0..8", h);
    free(in);
    free(tg);
    data_free(&d);
    return 0;
}
