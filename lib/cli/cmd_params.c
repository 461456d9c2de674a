// cmd_params.c: `um params`, what a model costs.
#include <stdio.h>

#include "base/error.h"
#include "cli/commands.h"

static const char *SUMMARY =
    "Print the parameter and compute accounting of an architecture at a size preset:\n"
    "total and activated parameters, forward FLOPs per token, and bytes of parameters read per token.\n"
    "Example: um params --arch dense --size tiny";

int cmd_params(int argc, char **argv) {
    UmOptions o = {.arch = "dense", .size = "tiny"};
    options_parse(&o, CMD_PARAMS, "params", SUMMARY, argc, argv, 2);
    int arch = arch_from_name(o.arch);
    if (arch < 0) um_die(UM_EXIT_USAGE, "um params: unknown --arch '%s' (allowed: dense, pkm, moe, ultramem, ultramem2, peer)", o.arch);
    UmModelConfig mc;
    UmTrainConfig tc;
    UmError err;
    if (config_preset(&mc, &tc, o.size, arch, &err)) um_die(UM_EXIT_USAGE, "um params: %s", err.msg);
    UmModel model;
    if (model_init(&model, &mc, 1, &err)) um_die(UM_EXIT_USAGE, "um params: %s", err.msg);
    printf("arch: %s\nsize: %s\n", o.arch, o.size);
    printf("layers: %d\ndim: %d\nheads: %d\ncontext: %d\nmlp_hidden: %d\n", mc.n_layers, mc.dim, mc.n_heads,
           mc.block_size, mc.mlp_hidden);
    if (arch == ARCH_PKM)
        printf("pkm: block %d, %d x %d = %d slots, %d heads, key dim %d, top-%d\n", mc.mem_block, mc.pkm_keys,
               mc.pkm_keys, mc.pkm_keys * mc.pkm_keys, mc.pkm_heads, mc.pkm_key_dim, mc.pkm_topk);
    if (arch == ARCH_MOE)
        printf("moe: top-%d of %d experts of width %d in every block%s\n", mc.moe_topk, mc.moe_experts, mc.moe_hidden,
               mc.moe_shared ? " + a shared expert" : "");
    printf("total_params: %zu\n", model_total_params(&model));
    printf("activated_params: %zu\n", model_activated_params(&model));
    printf("flops_per_token: %.0f\n", model_flops_per_token(&model));
    printf("bytes_read_per_token: %zu\n", model_activated_params(&model) * sizeof(float));
    model_free(&model);
    return 0;
}
