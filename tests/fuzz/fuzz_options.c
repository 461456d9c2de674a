// fuzz_options.c: bin/um's flag parser (numbers, names, config strings).
//
// Input: byte 0 picks the command (train/sample/eval/params), the rest is
// split at NUL bytes into argv. options_parse either accepts (then every
// number must lie in its flag's range and the arch/size strings must resolve
// or be refused with a reason) or exits: status 2 for bad usage, 0 for
// --help, nothing else. To survive those exits in-process, this target is
// linked with an options.c compiled with -Dexit=um_fuzz_exit (hardening.mk),
// and um_fuzz_exit jumps back here.
#include <setjmp.h>
#include <string.h>

#include "cli/options.h"
#include "fuzz_common.h"
#include "model/config.h"

static jmp_buf back_here;
static int exit_status;

void um_fuzz_exit(int status) __attribute__((noreturn));
void um_fuzz_exit(int status) {
    exit_status = status;
    longjmp(back_here, 1);
}

static const struct {
    int bit;
    const char *name;
} COMMANDS[] = {{CMD_TRAIN, "train"}, {CMD_SAMPLE, "sample"}, {CMD_EVAL, "eval"}, {CMD_PARAMS, "params"}};

#define IN_RANGE(field, lo, hi) FUZZ_CHECK(!option_given(&o, #field) || (o.field >= (lo) && o.field <= (hi)), #field)

static void check_accepted(UmOptions o) {
    IN_RANGE(steps, 1, 100000000);
    IN_RANGE(batch, 1, 4096);
    IN_RANGE(lr, 1e-7, 1);
    IN_RANGE(threads, 1, 1024);
    IN_RANGE(tokens, 1, 1000000);
    IN_RANGE(temperature, 0, 100);
    IN_RANGE(seed, 0, 9200000000000000000.0);
    FUZZ_CHECK(!option_given(&o, "top-k") || (o.top_k >= 0 && o.top_k <= 256), "top-k");
    // the config strings, as cmd_train/cmd_params resolve them
    int arch = arch_from_name(o.arch);
    UmModelConfig mc;
    UmTrainConfig tc;
    UmError err;
    err.msg[0] = 0;
    if (arch >= 0 && config_preset(&mc, &tc, o.size, arch, &err) != 0)
        FUZZ_CHECK(err.msg[0] != 0, "a refused preset must say why");
    if (arch >= 0 && err.msg[0] == 0) FUZZ_CHECK(config_validate(&mc, &err) == 0, "a preset is invalid: %s", err.msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    int c = data[0] % 4;
    char *text = malloc(size);  // argv strings live here: byte 0 becomes the first NUL
    memcpy(text, data, size);
    text[0] = 0;
    char *argv[66] = {"um", (char *)COMMANDS[c].name};
    int argc = 2;
    for (size_t i = 1; i < size && argc < 64; i++)
        if (text[i - 1] == 0) argv[argc++] = text + i;
    if (text[size - 1] != 0) argc -= argc > 2;  // the last piece has no NUL: drop it (no terminator)
    UmOptions o;
    memset(&o, 0, sizeof o);
    o.arch = "dense", o.size = "tiny";
    exit_status = -1;
    if (setjmp(back_here) == 0) {
        options_parse(&o, COMMANDS[c].bit, COMMANDS[c].name, "fuzz", argc, argv, 2);
        check_accepted(o);
    } else {
        FUZZ_CHECK(exit_status == 0 || exit_status == 2, "options_parse exited with status %d", exit_status);
    }
    free(text);
    return 0;
}
