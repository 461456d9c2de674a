// progress.h: one status line for a long loop.
//
// In a terminal the line redraws itself in place ("\r"); when output goes to
// a file or a pipe (CI logs) it prints a plain line every `plain_every`
// updates instead, so logs stay readable.
//   step 120/2000 [=====>        ] loss 2.913 | 41.2k tok/s | ETA 1m32s
#ifndef UM_PROGRESS_H
#define UM_PROGRESS_H

#include <stdio.h>

typedef struct {
    FILE *out;
    int total;
    int is_tty;
    int plain_every;
    double start_time;
    long tokens;
} UmProgress;

void progress_start(UmProgress *p, FILE *out, int total, int plain_every);
// Report that `step` (1-based) steps are done, having processed tokens_this_step.
void progress_update(UmProgress *p, int step, double loss, long tokens_this_step);
// Print a full line (e.g. a validation result) without garbling the bar.
void progress_message(UmProgress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void progress_finish(UmProgress *p);
double progress_tokens_per_second(const UmProgress *p);

#endif
