// params.h: the parameter registry.
//
// Every trainable tensor of a model is registered here exactly once, with its
// name, shape, optimizer group and initialisation. Everything that must visit
// "all the parameters" (the optimizer, the checkpoint, the gradient check,
// the parameter count) iterates the registry; nothing else lists parameters
// by hand, so adding a layer can never forget to save or update a tensor.
//
// A parameter owns four arrays of numel reals: data, grad, and AdamW's two
// moments m and v. They are allocated when the parameter is registered and
// their addresses never change, so a layer may keep the UmParam* it got back.
#ifndef UM_PARAMS_H
#define UM_PARAMS_H

#include <stddef.h>

#include "base/real.h"
#include "base/rng.h"

#define UM_MAX_DIMS 4
#define UM_MAX_GROUPS 8
#define UM_NAME_LEN 64

typedef struct {
    char name[UM_NAME_LEN];  // e.g. "blocks.3.attn.wqkv"
    int ndim;
    int shape[UM_MAX_DIMS];
    size_t numel;
    int group;  // index into UmParamRegistry.groups
    real *data, *grad;
    real *adam_m, *adam_v;
} UmParam;

// An optimizer group: parameters that share a learning-rate multiplier and
// a weight decay (e.g. memory values train with their own learning rate).
typedef struct {
    char name[32];
    real lr_mult;
    real weight_decay;
} UmParamGroup;

typedef struct {
    UmParam **params;  // params[i] stays at the same address for its lifetime
    int count, capacity;
    UmParamGroup groups[UM_MAX_GROUPS];
    int n_groups;
} UmParamRegistry;

void params_init(UmParamRegistry *reg);
void params_free(UmParamRegistry *reg);

// Add an optimizer group, return its index.
int params_add_group(UmParamRegistry *reg, const char *name, real lr_mult, real weight_decay);

// The group with this name, created with (lr_mult, weight_decay) if it does
// not exist yet. Layers use this so that, say, every block's MoE shares one
// "moe" group instead of adding one each.
int params_group(UmParamRegistry *reg, const char *name, real lr_mult, real weight_decay);

// Register a tensor (zero-filled). shape has ndim entries.
UmParam *params_add(UmParamRegistry *reg, const char *name, int group, int ndim, const int *shape);

// Initialisations, applied to an already registered tensor.
void param_fill(UmParam *p, real value);
void param_normal(UmParam *p, UmRng *rng, real std);
void param_uniform(UmParam *p, UmRng *rng, real bound);  // U(-bound, bound)

// Look up by name; NULL when absent.
UmParam *params_find(const UmParamRegistry *reg, const char *name);

size_t params_total(const UmParamRegistry *reg);  // number of scalars
void params_zero_grad(UmParamRegistry *reg);

#endif
