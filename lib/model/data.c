// data.c: see data.h.
#include "model/data.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

size_t data_chunk_bytes(size_t n) {
    size_t chunk = n / UM_DATA_VAL_EVERY;  // small files still get 10 chunks
    if (chunk > UM_DATA_CHUNK) chunk = UM_DATA_CHUNK;
    return chunk ? chunk : 1;
}

// Far more than a course model can use; the limit turns "--data /dev/zero"
// or a runaway pipe into an error instead of an out-of-memory crash.
#define DATA_MAX_BYTES ((size_t)1 << 30)

// Reads the whole file at path into *bytes (malloc'd), n bytes. Pipes and
// process substitutions work too: it reads to EOF rather than trusting st_size.
static int read_whole_file(const char *path, unsigned char **bytes, size_t *n, UmError *err) {
    struct stat st;
    if (stat(path, &st) != 0) return um_fail(err, "cannot open data file '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return um_fail(err, "data path '%s' is a directory, not a file", path);
    if (S_ISREG(st.st_mode) && (size_t)st.st_size > DATA_MAX_BYTES)
        return um_fail(err, "data file '%s' is %lld bytes, more than the %zu MiB limit", path, (long long)st.st_size,
                       DATA_MAX_BYTES >> 20);
    FILE *f = fopen(path, "rb");
    if (!f) return um_fail(err, "cannot open data file '%s': %s", path, strerror(errno));
    // one byte more than a regular file's size, so EOF is seen without regrowing
    size_t cap = (S_ISREG(st.st_mode) ? (size_t)st.st_size : 0) + 4096, len = 0;
    unsigned char *buf = malloc_check(cap);
    for (;;) {
        if (len == cap) {
            if (cap > DATA_MAX_BYTES) {
                free(buf);
                fclose(f);
                return um_fail(err, "data file '%s' is more than the %zu MiB limit", path, DATA_MAX_BYTES >> 20);
            }
            unsigned char *bigger = realloc(buf, cap * 2);
            if (!bigger) um_die(UM_EXIT_RUNTIME, "out of memory reading '%s'", path);
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return um_fail(err, "cannot read data file '%s': %s", path, strerror(errno));
    }
    *bytes = buf;
    *n = len;
    return 0;
}

// Appends every chunk that belongs to the wanted side of the split to out.
static size_t gather_chunks(unsigned char *out, const unsigned char *bytes, size_t n, size_t chunk,
                            int want_val) {
    size_t len = 0;
    for (size_t start = 0, i = 0; start < n; start += chunk, i++) {
        int is_val = i % UM_DATA_VAL_EVERY == UM_DATA_VAL_EVERY - 1;
        if (is_val != want_val) continue;
        size_t take = n - start < chunk ? n - start : chunk;
        memcpy(out + len, bytes + start, take);
        len += take;
    }
    return len;
}

int data_load(UmData *d, const char *path, int T, UmError *err) {
    memset(d, 0, sizeof *d);
    if (T < 1) return um_fail(err, "sequence length T must be at least 1, got %d", T);
    if (read_whole_file(path, &d->bytes, &d->n, err) != 0) return -1;
    if (d->n == 0) {
        data_free(d);
        return um_fail(err, "data file '%s' is empty", path);
    }
    d->chunk = data_chunk_bytes(d->n);
    d->train = malloc_check(d->n);
    d->val = malloc_check(d->n);
    d->n_train = gather_chunks(d->train, d->bytes, d->n, d->chunk, 0);
    d->n_val = gather_chunks(d->val, d->bytes, d->n, d->chunk, 1);
    size_t need = (size_t)T + 1;
    if (d->n_train < need || d->n_val < need) {
        size_t n = d->n, nt = d->n_train, nv = d->n_val;
        data_free(d);
        return um_fail(err,
                       "data file '%s' is too short for T=%d: its %zu bytes split into %zu train and %zu "
                       "validation bytes, and each needs at least %zu",
                       path, T, n, nt, nv, need);
    }
    return 0;
}

void data_free(UmData *d) {
    free(d->bytes);
    free(d->train);
    free(d->val);
    memset(d, 0, sizeof *d);
}

size_t data_train_bytes(const UmData *d) { return d->n_train; }
size_t data_val_bytes(const UmData *d) { return d->n_val; }

const unsigned char *data_val_stream(const UmData *d, size_t *n) {
    if (n) *n = d->n_val;
    return d->val;
}

const unsigned char *data_train_stream(const UmData *d, size_t *n) {
    if (n) *n = d->n_train;
    return d->train;
}

// One row: T inputs from stream[start..] and the T bytes after each as targets.
static void copy_window(const unsigned char *stream, size_t start, int T, int *inputs, int *targets) {
    for (int t = 0; t < T; t++) {
        inputs[t] = stream[start + (size_t)t];
        targets[t] = stream[start + (size_t)t + 1];
    }
}

void data_train_batch(const UmData *d, UmRng *rng, int B, int T, int *inputs, int *targets) {
    if (T < 1 || d->n_train < (size_t)T + 1)
        um_die(UM_EXIT_RUNTIME, "train batch with T=%d needs %d bytes, the train stream has %zu", T, T + 1,
               d->n_train);
    uint64_t starts = d->n_train - (size_t)T;  // valid starts: 0 .. n_train-T-1
    for (int b = 0; b < B; b++) {
        // 64 random bits: rng_below's 24-bit resolution would leave gaps in big files
        uint64_t r = ((uint64_t)rng_u32(rng) << 32) | rng_u32(rng);
        copy_window(d->train, (size_t)(r % starts), T, inputs + (size_t)b * T, targets + (size_t)b * T);
    }
}

int data_val_batch_count(const UmData *d, int B, int T) {
    if (B < 1 || T < 1 || d->n_val < 2) return 0;
    size_t windows = (d->n_val - 1) / (size_t)T;
    size_t count = windows / (size_t)B;
    return count > INT_MAX ? INT_MAX : (int)count;
}

void data_val_batch(const UmData *d, int index, int B, int T, int *inputs, int *targets) {
    int count = data_val_batch_count(d, B, T);
    if (index < 0 || index >= count)
        um_die(UM_EXIT_RUNTIME, "validation batch %d out of range (there are %d for B=%d T=%d)", index, count,
               B, T);
    for (int b = 0; b < B; b++) {
        size_t window = (size_t)b * (size_t)count + (size_t)index;  // column-wise, see data.h
        copy_window(d->val, window * (size_t)T, T, inputs + (size_t)b * T, targets + (size_t)b * T);
    }
}

double data_unigram_entropy_bits(const unsigned char *bytes, size_t n) {
    if (n == 0) return 0.0;
    size_t count[256] = {0};
    for (size_t i = 0; i < n; i++) count[bytes[i]]++;
    double h = 0.0;
    for (int c = 0; c < 256; c++) {
        if (!count[c]) continue;
        double p = (double)count[c] / (double)n;
        h -= p * log2(p);
    }
    return h;
}
