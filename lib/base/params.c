// params.c: see params.h.
#include "base/params.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"

void params_init(UmParamRegistry *reg) { memset(reg, 0, sizeof *reg); }

void params_free(UmParamRegistry *reg) {
    for (int i = 0; i < reg->count; i++) {
        UmParam *p = reg->params[i];
        um_free(p->data);
        um_free(p->grad);
        um_free(p->adam_m);
        um_free(p->adam_v);
        um_free(p);
    }
    um_free(reg->params);
    memset(reg, 0, sizeof *reg);
}

int params_add_group(UmParamRegistry *reg, const char *name, real lr_mult, real weight_decay) {
    if (reg->n_groups == UM_MAX_GROUPS) um_die(UM_EXIT_RUNTIME, "more than %d optimizer groups", UM_MAX_GROUPS);
    UmParamGroup *g = &reg->groups[reg->n_groups];
    snprintf(g->name, sizeof g->name, "%s", name);
    g->lr_mult = lr_mult;
    g->weight_decay = weight_decay;
    return reg->n_groups++;
}

int params_group(UmParamRegistry *reg, const char *name, real lr_mult, real weight_decay) {
    for (int g = 0; g < reg->n_groups; g++)
        if (strcmp(reg->groups[g].name, name) == 0) return g;
    return params_add_group(reg, name, lr_mult, weight_decay);
}

static void grow(UmParamRegistry *reg) {
    int cap = reg->capacity ? 2 * reg->capacity : 64;
    UmParam **bigger = um_alloc(cap * sizeof *bigger);
    if (reg->count) memcpy(bigger, reg->params, reg->count * sizeof *bigger);
    um_free(reg->params);
    reg->params = bigger;
    reg->capacity = cap;
}

UmParam *params_add(UmParamRegistry *reg, const char *name, int group, int ndim, const int *shape) {
    if (ndim < 1 || ndim > UM_MAX_DIMS) um_die(UM_EXIT_RUNTIME, "param %s: ndim %d not in 1..%d", name, ndim, UM_MAX_DIMS);
    if (group < 0 || group >= reg->n_groups) um_die(UM_EXIT_RUNTIME, "param %s: no optimizer group %d", name, group);
    if (strlen(name) >= UM_NAME_LEN) um_die(UM_EXIT_RUNTIME, "param name too long: %s", name);
    if (params_find(reg, name)) um_die(UM_EXIT_RUNTIME, "param %s registered twice", name);
    if (reg->count == reg->capacity) grow(reg);
    UmParam *p = um_alloc(sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] <= 0) um_die(UM_EXIT_RUNTIME, "param %s: dimension %d is %d", name, d, shape[d]);
        p->shape[d] = shape[d];
        p->numel *= (size_t)shape[d];
    }
    p->group = group;
    p->data = um_alloc(p->numel * sizeof(real));
    p->grad = um_alloc(p->numel * sizeof(real));
    p->adam_m = um_alloc(p->numel * sizeof(real));
    p->adam_v = um_alloc(p->numel * sizeof(real));
    reg->params[reg->count++] = p;
    return p;
}

void param_fill(UmParam *p, real value) {
    for (size_t i = 0; i < p->numel; i++) p->data[i] = value;
}

void param_normal(UmParam *p, UmRng *rng, real std) {
    for (size_t i = 0; i < p->numel; i++) p->data[i] = (real)(std * rng_normal(rng));
}

void param_uniform(UmParam *p, UmRng *rng, real bound) {
    for (size_t i = 0; i < p->numel; i++) p->data[i] = (real)(bound * (2.0 * rng_uniform(rng) - 1.0));
}

UmParam *params_find(const UmParamRegistry *reg, const char *name) {
    for (int i = 0; i < reg->count; i++)
        if (strcmp(reg->params[i]->name, name) == 0) return reg->params[i];
    return NULL;
}

size_t params_total(const UmParamRegistry *reg) {
    size_t n = 0;
    for (int i = 0; i < reg->count; i++) n += reg->params[i]->numel;
    return n;
}

void params_zero_grad(UmParamRegistry *reg) {
    for (int i = 0; i < reg->count; i++) memset(reg->params[i]->grad, 0, reg->params[i]->numel * sizeof(real));
}
