#include "cli/options.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

typedef enum { T_STR, T_INT, T_I64, T_REAL, T_BOOL } FlagType;

typedef struct {
    const char *name;  // without the leading "--"
    FlagType type;
    size_t offset;
    double lo, hi;  // allowed range for numbers
    int commands;   // CMD_ bits
    const char *help;
} Flag;

#define OFF(f) offsetof(UmOptions, f)
#define ALLC (CMD_TRAIN | CMD_SAMPLE | CMD_EVAL | CMD_PARAMS | CMD_VIZ)
static const Flag FLAGS[] = {
    {"arch", T_STR, OFF(arch), 0, 0, CMD_TRAIN | CMD_PARAMS, "architecture: dense (default) | pkm | moe | ultramem | ultramem2 | peer"},
    {"size", T_STR, OFF(size), 0, 0, CMD_TRAIN | CMD_PARAMS, "preset: nano | tiny (default) | small"},
    {"data", T_STR, OFF(data), 0, 0, CMD_TRAIN | CMD_EVAL | CMD_VIZ, "training text (any UTF-8/bytes file); default out/data/fortunes.txt"},
    {"questions", T_STR, OFF(questions), 0, 0, CMD_TRAIN | CMD_EVAL, "question file for fact recall (prompt<TAB>answer lines)"},
    {"steps", T_INT, OFF(steps), 1, 1e8, CMD_TRAIN | CMD_VIZ, "optimizer steps (default: the preset's)"},
    {"batch", T_INT, OFF(batch), 1, 4096, CMD_TRAIN | CMD_EVAL | CMD_VIZ, "sequences per step (default: the preset's)"},
    {"lr", T_REAL, OFF(lr), 1e-7, 1, CMD_TRAIN | CMD_VIZ, "peak learning rate (default: the preset's)"},
    {"eval-every", T_INT, OFF(eval_every), 0, 1e8, CMD_TRAIN | CMD_VIZ, "validate every N steps (0: only at the end)"},
    {"eval-batches", T_INT, OFF(eval_batches), 1, 1e6, CMD_TRAIN | CMD_EVAL | CMD_VIZ, "validation batches per evaluation"},
    {"ckpt-every", T_INT, OFF(ckpt_every), 0, 1e8, CMD_TRAIN | CMD_VIZ, "checkpoint every N steps (0: only at the end)"},
    {"seed", T_I64, OFF(seed), 0, 9.2e18, CMD_TRAIN | CMD_SAMPLE | CMD_VIZ, "random seed (default 1337)"},
    {"threads", T_INT, OFF(threads), 1, 1024, ALLC, "OpenMP threads (default: all cores)"},
    {"ckpt", T_STR, OFF(ckpt), 0, 0, CMD_TRAIN | CMD_SAMPLE | CMD_EVAL | CMD_VIZ, "checkpoint file to write (train) or read"},
    {"resume", T_BOOL, OFF(resume), 0, 0, CMD_TRAIN | CMD_VIZ, "continue training from --ckpt (bit-identical to an uninterrupted run)"},
    {"prompt", T_STR, OFF(prompt), 0, 0, CMD_SAMPLE | CMD_VIZ, "text to start from"},
    {"tokens", T_INT, OFF(tokens), 1, 1e6, CMD_SAMPLE, "bytes to generate (default 200)"},
    {"temperature", T_REAL, OFF(temperature), 0, 100, CMD_SAMPLE, "sampling temperature, 0 = greedy (default 0.8)"},
    {"top-k", T_INT, OFF(top_k), 0, 256, CMD_SAMPLE, "sample among the k most likely bytes, 0 = all (default 40)"},
    {"max-questions", T_INT, OFF(max_questions), 0, 1e8, CMD_TRAIN | CMD_EVAL, "questions scored for recall, 0 = all (default 1000)"},
    {"png", T_STR, OFF(png), 0, 0, CMD_TRAIN | CMD_VIZ, "write visualiser frames as PNG files into this directory"},
    {"no-viz", T_BOOL, OFF(no_viz), 0, 0, CMD_TRAIN, "never open the visualiser window"},
};
#undef OFF
#define N_FLAGS ((int)(sizeof FLAGS / sizeof FLAGS[0]))

static void print_help(int cmd, const char *cmd_name, const char *summary) {
    printf("usage: um %s [flags]\n\n%s\n\nflags:\n", cmd_name, summary);
    for (int i = 0; i < N_FLAGS; i++) {
        if (!(FLAGS[i].commands & cmd)) continue;
        char left[40];
        snprintf(left, sizeof left, "--%s%s", FLAGS[i].name,
                 FLAGS[i].type == T_BOOL ? "" : FLAGS[i].type == T_STR ? " TEXT" : " N");
        printf("  %-22s %s\n", left, FLAGS[i].help);
    }
    printf("  %-22s %s\n", "--help", "show this help");
}

static void usage_error(const char *cmd_name, const char *fmt, const char *a, const char *b, const char *c) {
    fprintf(stderr, "error: um %s: ", cmd_name);
    fprintf(stderr, fmt, a, b, c);
    fprintf(stderr, " (see: um %s --help)\n", cmd_name);
    exit(UM_EXIT_USAGE);
}

static void set_value(UmOptions *o, const Flag *f, const char *value, const char *cmd_name) {
    void *dst = (char *)o + f->offset;
    if (f->type == T_STR) {
        if (!*value) usage_error(cmd_name, "--%s needs a non-empty value%s%s", f->name, "", "");
        *(const char **)dst = value;
        return;
    }
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    int integer = f->type == T_INT || f->type == T_I64;
    if (*value == 0 || *end != 0 || errno == ERANGE || v != v)
        usage_error(cmd_name, "--%s expects a number, got '%s'%s", f->name, value, "");
    if (integer && v != (double)(long long)v)
        usage_error(cmd_name, "--%s expects a whole number, got '%s'%s", f->name, value, "");
    if (v < f->lo || v > f->hi) {
        char range[64];
        snprintf(range, sizeof range, "%g..%g", f->lo, f->hi);
        usage_error(cmd_name, "--%s %s is out of range (allowed: %s)", f->name, value, range);
    }
    if (f->type == T_INT) *(int *)dst = (int)v;
    else if (f->type == T_I64) *(long long *)dst = strtoll(value, NULL, 10);
    else *(double *)dst = v;
}

void options_parse(UmOptions *o, int cmd, const char *cmd_name, const char *summary, int argc, char **argv,
                   int first) {
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(cmd, cmd_name, summary);
            exit(0);
        }
        if (strncmp(arg, "--", 2) != 0) usage_error(cmd_name, "unexpected argument '%s'%s%s", arg, "", "");
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int found = -1;
        for (int f = 0; f < N_FLAGS; f++)
            if (strlen(FLAGS[f].name) == len && strncmp(FLAGS[f].name, name, len) == 0) found = f;
        if (found < 0 || !(FLAGS[found].commands & cmd))
            usage_error(cmd_name, "unknown flag '%s'%s%s", arg, "", "");
        const Flag *f = &FLAGS[found];
        if (o->given[found]) usage_error(cmd_name, "--%s given twice%s%s", f->name, "", "");
        o->given[found] = 1;
        if (f->type == T_BOOL) {
            if (eq) usage_error(cmd_name, "--%s takes no value%s%s", f->name, "", "");
            *(int *)((char *)o + f->offset) = 1;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) usage_error(cmd_name, "--%s needs a value%s%s", f->name, "", "");
        set_value(o, f, value, cmd_name);
    }
}

int option_given(const UmOptions *o, const char *name) {
    for (int f = 0; f < N_FLAGS; f++)
        if (strcmp(FLAGS[f].name, name) == 0) return o->given[f];
    return 0;
}
