// data.h: byte-level training data with a deterministic train/validation split.
//
// The model reads raw bytes (vocabulary V = 256), so any file is data: UTF-8
// text, or even binary with NUL bytes. data_load() reads the whole file and
// splits it into a training stream and a validation stream:
//
//   file:   | c0 | c1 | c2 | ... | c8 | c9 | c10 | ... | c19 | ...
//   train:    c0   c1   c2   ...   c8         c10   ...          (9 of every 10)
//   val:                                 c9                c19   (every 10th)
//
// The file is cut into chunks of data_chunk_bytes(n) bytes (4 KiB, or n/10
// for files under 40 KiB so that validation is never empty); chunk i goes to
// validation when i % 10 == 9. Each stream is the concatenation of its chunks,
// and every sequence is a window of T+1 consecutive bytes of ONE stream, so no
// sequence mixes training and validation bytes. Interleaving chunks (rather
// than holding out the last 10% of the file) keeps validation representative
// of a file whose style changes from start to end, such as a concatenation of
// several books. The split depends only on the file, never on T or a seed.
//
// A batch is B sequences of T inputs each, stored row-major as int[B*T]:
// inputs[b*T + t] = byte at position p+t and targets[b*T + t] = byte at p+t+1,
// i.e. the target of every input is the byte that follows it.
#ifndef UM_DATA_H
#define UM_DATA_H

#include <stddef.h>

#include "base/error.h"
#include "base/rng.h"

#define UM_DATA_CHUNK 4096  // split granularity for files of 40 KiB and more
#define UM_DATA_VAL_EVERY 10  // every 10th chunk is validation

typedef struct {
    unsigned char *bytes;  // the whole file, n bytes
    size_t n;
    size_t chunk;          // chunk size used for the split
    unsigned char *train;  // training stream (9 chunks in 10), n_train bytes
    size_t n_train;
    unsigned char *val;    // validation stream (every 10th chunk), n_val bytes
    size_t n_val;
} UmData;

// Reads path and splits it. Returns 0, or -1 with a one-line reason in err
// when the path is missing, unreadable, a directory, empty, or too short for
// one sequence of T+1 bytes in BOTH the training and validation streams.
int data_load(UmData *d, const char *path, int T, UmError *err);
void data_free(UmData *d);

// The chunk size data_load uses for an n-byte file.
size_t data_chunk_bytes(size_t n);

size_t data_train_bytes(const UmData *d);
size_t data_val_bytes(const UmData *d);
const unsigned char *data_val_stream(const UmData *d, size_t *n);
const unsigned char *data_train_stream(const UmData *d, size_t *n);

// B random windows of the training stream, each start uniform over every
// valid position; the same rng state gives the same batch.
// inputs, targets: int[B*T].
void data_train_batch(const UmData *d, UmRng *rng, int B, int T, int *inputs, int *targets);

// The validation stream holds W = (n_val - 1) / T non-overlapping windows of
// T inputs (plus the one byte after each as the last target). They are dealt
// out column-wise: row b of batch i is window b*count + i, where count =
// data_val_batch_count(d, B, T) = W / B. So all batches together cover each
// of the first count*B windows exactly once, in order along each row, and any
// PREFIX of batches already samples the whole stream evenly; a caller with
// a budget evaluates batches 0..min(count, budget)-1. 0 means the stream has
// fewer than B windows.
int data_val_batch_count(const UmData *d, int B, int T);
void data_val_batch(const UmData *d, int index, int B, int T, int *inputs, int *targets);

// Entropy of the byte histogram in bits per byte: 0 for a constant file, 8 for
// all 256 values equally often. A model that ignores context cannot do better,
// so it is the loss (in bits) that training must beat.
double data_unigram_entropy_bits(const unsigned char *bytes, size_t n);

#endif
