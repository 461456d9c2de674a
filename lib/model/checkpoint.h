// checkpoint.h: save and load a training run, safely.
//
// File format (version 1). All integers little-endian; all tensors float32
// (a double build converts on the way in and out).
//
//   offset  size        field
//   0       8           magic "UMCKPT01"
//   8       4   u32     format version (1)
//   12      4   u32     config_len: bytes of the config text that follows
//   16      config_len  model config as "key=value\n" lines (see config.h),
//                       e.g. "arch=0\nvocab=256\nblock_size=128\n..."
//   ...     8   u64     step: optimizer steps completed
//   ...     8   u64     rng_state: the training data sampler's RNG state
//   ...     4   u32     n_tensors
//   then n_tensors times:
//           2   u16     name_len, then name_len bytes of name (no NUL),
//                       e.g. "blocks.0.attn.wqkv"
//           4   u32     ndim, then ndim x u32 shape
//           4*numel     data     (float32)
//           4*numel     adam_m   (AdamW first moment)
//           4*numel     adam_v   (AdamW second moment)
//   last    4   u32     CRC-32 (IEEE, as zlib) of every byte before it
//
// Writing is atomic: the file is written to "<path>.tmp", flushed, fsync'd,
// then renamed over <path>, so a crash mid-write leaves the old checkpoint.
// Loading reads the whole file, checks size, magic, version and CRC before
// touching the model, then requires every tensor name and shape to match
// the model's registry. Any failure returns -1 with a one-line reason and
// leaves the model unchanged.
#ifndef UM_CHECKPOINT_H
#define UM_CHECKPOINT_H

#include <stdint.h>

#include "base/error.h"
#include "model/transformer.h"

#define UM_CKPT_MAGIC "UMCKPT01"
#define UM_CKPT_VERSION 1

typedef struct {
    uint64_t step;
    uint64_t rng_state;
} UmTrainState;

int checkpoint_save(const char *path, const UmModel *model, const UmTrainState *state, UmError *err);

// Read only the config (to build a model of the right shape before loading).
int checkpoint_read_config(const char *path, UmModelConfig *cfg, UmError *err);

// Load weights, optimizer moments and state into a model built with the same
// config. state may be NULL.
int checkpoint_load(const char *path, UmModel *model, UmTrainState *state, UmError *err);

#endif
