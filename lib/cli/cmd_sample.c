// cmd_sample.c: `um sample`, generate text from a checkpoint.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cli/commands.h"
#include "model/sampler.h"

static const char *SUMMARY =
    "Generate text from a trained checkpoint.\n"
    "Example: um sample --ckpt out/run/model.ckpt --prompt \"The \" --tokens 300";

int cmd_sample(int argc, char **argv) {
    UmOptions o = {.prompt = "", .tokens = 200, .temperature = 0.8, .top_k = 40, .seed = 1337};
    options_parse(&o, CMD_SAMPLE, "sample", SUMMARY, argc, argv, 2);
    if (!o.ckpt) um_die(UM_EXIT_USAGE, "um sample: --ckpt FILE is required (see: um sample --help)");
    cli_set_threads(&o);
    UmModel model;
    cli_load_model(&model, o.ckpt, 1);
    UmSampling s = {.temperature = o.temperature, .top_k = o.top_k};
    UmRng rng;
    rng_seed(&rng, (uint64_t)o.seed);
    int plen = (int)strlen(o.prompt);
    unsigned char *out = malloc_check((size_t)plen + o.tokens + 1);
    int n = generate(&model, (const unsigned char *)o.prompt, plen, o.tokens, &s, &rng, out);
    fwrite(out, 1, n, stdout);
    printf("\n");
    free(out);
    model_free(&model);
    return 0;
}
