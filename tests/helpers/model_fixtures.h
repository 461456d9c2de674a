// model_fixtures.h: small models and data files for tests.
#ifndef UM_MODEL_FIXTURES_H
#define UM_MODEL_FIXTURES_H

#include "model/config.h"
#include "model/transformer.h"

// A very small dense config (seconds to train): T=16, L=2, D=32, H=2.
UmModelConfig tiny_test_config(void);

// Write a deterministic English-like text of about n bytes to path.
void write_test_text(const char *path, size_t n);

#endif
