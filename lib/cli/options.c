#include "cli/options.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
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
    const char *choices;  // T_STR only: comma-separated allowed values, or NULL for any text
    int empty_ok;         // T_STR only: "" is a meaningful value
} Flag;

#define OFF(f) offsetof(UmOptions, f)
#define ALLC (CMD_TRAIN | CMD_SAMPLE | CMD_EVAL | CMD_PARAMS | CMD_VIZ)
static const Flag FLAGS[] = {
    {"arch", T_STR, OFF(arch), 0, 0, CMD_TRAIN | CMD_PARAMS, "architecture: dense (default) | pkm | moe | ultramem | ultramem2 | peer",
     "dense,pkm,moe,ultramem,ultramem2,peer", 0},
    {"size", T_STR, OFF(size), 0, 0, CMD_TRAIN | CMD_PARAMS, "preset: nano | tiny (default) | small", "nano,tiny,small", 0},
    {"data", T_STR, OFF(data), 0, 0, CMD_TRAIN | CMD_EVAL | CMD_VIZ, "training text (any UTF-8/bytes file); default out/data/fortunes.txt", NULL, 0},
    {"questions", T_STR, OFF(questions), 0, 0, CMD_TRAIN | CMD_EVAL, "question file for fact recall (prompt<TAB>answer lines)", NULL, 0},
    {"steps", T_INT, OFF(steps), 1, 1e8, CMD_TRAIN | CMD_VIZ, "optimizer steps (default: the preset's)", NULL, 0},
    {"batch", T_INT, OFF(batch), 1, 4096, CMD_TRAIN | CMD_EVAL | CMD_VIZ, "sequences per step (default: the preset's)", NULL, 0},
    {"lr", T_REAL, OFF(lr), 1e-7, 1, CMD_TRAIN | CMD_VIZ, "peak learning rate (default: the preset's)", NULL, 0},
    {"eval-every", T_INT, OFF(eval_every), 0, 1e8, CMD_TRAIN | CMD_VIZ, "validate every N steps (0: only at the end)", NULL, 0},
    {"eval-batches", T_INT, OFF(eval_batches), 1, 1e6, CMD_TRAIN | CMD_EVAL | CMD_VIZ, "validation batches per evaluation", NULL, 0},
    {"ckpt-every", T_INT, OFF(ckpt_every), 0, 1e8, CMD_TRAIN | CMD_VIZ, "checkpoint every N steps (0: only at the end)", NULL, 0},
    {"seed", T_I64, OFF(seed), 0, 9.2e18, CMD_TRAIN | CMD_SAMPLE | CMD_VIZ, "random seed (default 1337)", NULL, 0},
    {"threads", T_INT, OFF(threads), 1, 1024, ALLC, "OpenMP threads (default: all cores)", NULL, 0},
    {"ckpt", T_STR, OFF(ckpt), 0, 0, CMD_TRAIN | CMD_SAMPLE | CMD_EVAL | CMD_VIZ, "checkpoint file to write (train) or read", NULL, 0},
    {"resume", T_BOOL, OFF(resume), 0, 0, CMD_TRAIN | CMD_VIZ, "continue training from --ckpt (bit-identical to an uninterrupted run)", NULL, 0},
    {"prompt", T_STR, OFF(prompt), 0, 0, CMD_SAMPLE | CMD_VIZ, "text to start from", NULL, 1},
    {"tokens", T_INT, OFF(tokens), 1, 1e6, CMD_SAMPLE, "bytes to generate (default 200)", NULL, 0},
    {"temperature", T_REAL, OFF(temperature), 0, 100, CMD_SAMPLE, "sampling temperature, 0 = greedy (default 0.8)", NULL, 0},
    {"top-k", T_INT, OFF(top_k), 0, 256, CMD_SAMPLE, "sample among the k most likely bytes, 0 = all (default 40)", NULL, 0},
    {"max-questions", T_INT, OFF(max_questions), 0, 1e8, CMD_TRAIN | CMD_EVAL, "questions scored for recall, 0 = all (default 1000)", NULL, 0},
    {"summary", T_STR, OFF(summary), 0, 0, CMD_TRAIN | CMD_EVAL,
     "write the results as 'name: value' lines to this file (params, FLOPs, bits/byte, recall, memory health, tokens/s)", NULL, 0},
    {"history", T_STR, OFF(history), 0, 0, CMD_TRAIN,
     "write the loss history ('train|val STEP LOSS' in nats, as out/runs/*.tsv) to this file; --resume keeps it", NULL, 0},
    {"png", T_STR, OFF(png), 0, 0, CMD_TRAIN | CMD_VIZ, "write visualiser frames as PNG files into this directory", NULL, 0},
    {"no-viz", T_BOOL, OFF(no_viz), 0, 0, CMD_TRAIN, "never open the visualiser window", NULL, 0},
    {"moe-alpha", T_REAL, OFF(moe_alpha), 0, 10, CMD_TRAIN, "arch moe: load-balancing loss weight (default 0.01; 0 shows collapse)", NULL, 0},
    {"moe-zloss", T_REAL, OFF(moe_zloss), 0, 10, CMD_TRAIN, "arch moe: router z-loss weight (default 0.001)", NULL, 0},
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

// One line on stderr, "error: um <cmd>: <what> (allowed: ...); see: um <cmd> --help", then exit 2.
static void usage_error(const char *cmd_name, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void usage_error(const char *cmd_name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "error: um %s: ", cmd_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "; see: um %s --help\n", cmd_name);
    va_end(ap);
    exit(UM_EXIT_USAGE);
}

// "1..100000000" for whole numbers, "1e-07..1" for reals.
static const char *range_text(const Flag *f, char *buf, size_t len) {
    if (f->type == T_REAL) snprintf(buf, len, "%g..%g", f->lo, f->hi);
    else snprintf(buf, len, "%.0f..%.0f", f->lo, f->hi);
    return buf;
}

// Whole numbers: optional sign then decimal digits, nothing else. strtod
// would take "1e5", "0x10", " 7" or "1.0", and strtoll would then read
// something else than the range check saw; so the text itself is checked.
static int parse_whole(const char *value, long long *out) {
    const char *p = value + (*value == '+' || *value == '-');
    if (!*p) return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return -1;
    errno = 0;
    *out = strtoll(value, NULL, 10);
    return errno == ERANGE ? 1 : 0;  // 1: a whole number, but beyond long long
}

// Reals: what strtod reads, except leading blanks, NaN and infinities.
static int parse_real(const char *value, double *out) {
    if (!*value || isspace((unsigned char)*value)) return -1;
    char *end;
    errno = 0;
    *out = strtod(value, &end);
    if (*end != 0 || !isfinite(*out)) return -1;
    return errno == ERANGE ? 1 : 0;  // 1: overflow or underflow
}

static void check_choice(const Flag *f, const char *value, const char *cmd_name) {
    size_t n = strlen(value);
    for (const char *c = f->choices; *c;) {
        const char *comma = strchr(c, ',');
        size_t len = comma ? (size_t)(comma - c) : strlen(c);
        if (len == n && strncmp(c, value, n) == 0) return;
        c += len + (comma != NULL);
    }
    char allowed[256];
    size_t k = 0;
    for (const char *c = f->choices; *c && k + 3 < sizeof allowed; c++) {
        allowed[k++] = *c;
        if (*c == ',') allowed[k++] = ' ';
    }
    allowed[k] = 0;
    usage_error(cmd_name, "--%s '%s' is not allowed (allowed: %s)", f->name, value, allowed);
}

static void set_value(UmOptions *o, const Flag *f, const char *value, const char *cmd_name) {
    void *dst = (char *)o + f->offset;
    char range[96];
    if (f->type == T_STR) {
        if (!*value && !f->empty_ok) usage_error(cmd_name, "--%s needs a non-empty value", f->name);
        if (f->choices) check_choice(f, value, cmd_name);
        *(const char **)dst = value;
        return;
    }
    if (f->type == T_REAL) {
        double v;
        int rc = parse_real(value, &v);
        if (rc < 0) usage_error(cmd_name, "--%s expects a number, got '%s' (allowed: %s)", f->name, value, range_text(f, range, sizeof range));
        if (rc > 0 || v < f->lo || v > f->hi)
            usage_error(cmd_name, "--%s %s is out of range (allowed: %s)", f->name, value, range_text(f, range, sizeof range));
        *(double *)dst = v;
        return;
    }
    long long v;
    int rc = parse_whole(value, &v);
    if (rc < 0)
        usage_error(cmd_name, "--%s expects a whole number, got '%s' (allowed: %s)", f->name, value, range_text(f, range, sizeof range));
    // lo and hi are whole numbers below 2^63, so these comparisons are exact enough
    if (rc > 0 || (double)v < f->lo || (double)v > f->hi)
        usage_error(cmd_name, "--%s %s is out of range (allowed: %s)", f->name, value, range_text(f, range, sizeof range));
    if (f->type == T_INT) *(int *)dst = (int)v;
    else *(long long *)dst = v;
}

static int find_flag(const char *name, size_t len) {
    for (int f = 0; f < N_FLAGS; f++)
        if (strlen(FLAGS[f].name) == len && strncmp(FLAGS[f].name, name, len) == 0) return f;
    return -1;
}

// Flags that only make sense together (checked after every flag is read).
static void check_combinations(const UmOptions *o, int cmd, const char *cmd_name) {
    if ((cmd & (CMD_SAMPLE | CMD_EVAL)) && !o->ckpt)
        usage_error(cmd_name, "--ckpt FILE is required (the checkpoint to %s)", cmd == CMD_SAMPLE ? "sample from" : "evaluate");
    if (o->resume && !o->ckpt) usage_error(cmd_name, "--resume needs --ckpt FILE (the run to continue)");
}

void options_parse(UmOptions *o, int cmd, const char *cmd_name, const char *summary, int argc, char **argv,
                   int first) {
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(cmd, cmd_name, summary);
            exit(0);
        }
        if (strncmp(arg, "--", 2) != 0) usage_error(cmd_name, "unexpected argument '%s' (flags start with --)", arg);
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int found = find_flag(name, len);
        if (found < 0) usage_error(cmd_name, "unknown flag '--%.*s'", (int)(len > 64 ? 64 : len), name);
        const Flag *f = &FLAGS[found];
        if (!(f->commands & cmd)) usage_error(cmd_name, "--%s is not a flag of um %s", f->name, cmd_name);
        if (o->given[found]) usage_error(cmd_name, "--%s given twice", f->name);
        o->given[found] = 1;
        if (f->type == T_BOOL) {
            if (eq) usage_error(cmd_name, "--%s takes no value, got '%s'", f->name, eq + 1);
            *(int *)((char *)o + f->offset) = 1;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) usage_error(cmd_name, "--%s needs a value", f->name);
        // "--ckpt --resume" is a forgotten value, not a file named "--resume"
        if (!eq && strncmp(value, "--", 2) == 0 && find_flag(value + 2, strcspn(value + 2, "=")) >= 0)
            usage_error(cmd_name, "--%s needs a value, got the flag '%s'", f->name, value);
        set_value(o, f, value, cmd_name);
    }
    check_combinations(o, cmd, cmd_name);
}

int option_given(const UmOptions *o, const char *name) {
    for (int f = 0; f < N_FLAGS; f++)
        if (strcmp(FLAGS[f].name, name) == 0) return o->given[f];
    return 0;
}
