#include "base/progress.h"

#include <stdarg.h>
#include <unistd.h>

#include "base/timer.h"

void progress_start(UmProgress *p, FILE *out, int total, int plain_every) {
    p->out = out;
    p->total = total;
    p->is_tty = isatty(fileno(out));
    p->plain_every = plain_every > 0 ? plain_every : 1;
    p->start_time = um_now();
    p->tokens = 0;
}

double progress_tokens_per_second(const UmProgress *p) {
    double dt = um_now() - p->start_time;
    return dt > 0 ? p->tokens / dt : 0;
}

static void format_duration(char *buf, size_t n, double s) {
    if (s < 0 || s > 1e7) s = 0;
    int secs = (int)(s + 0.5);
    if (secs >= 3600) snprintf(buf, n, "%dh%02dm", secs / 3600, secs / 60 % 60);
    else if (secs >= 60) snprintf(buf, n, "%dm%02ds", secs / 60, secs % 60);
    else snprintf(buf, n, "%ds", secs);
}

void progress_update(UmProgress *p, int step, double loss, long tokens_this_step) {
    p->tokens += tokens_this_step;
    double elapsed = um_now() - p->start_time;
    double eta = step > 0 ? elapsed / step * (p->total - step) : 0;
    char eta_s[32];
    format_duration(eta_s, sizeof eta_s, eta);
    double tps = progress_tokens_per_second(p);
    if (p->is_tty) {
        enum { WIDTH = 24 };
        char bar[WIDTH + 1];
        int filled = p->total > 0 ? step * WIDTH / p->total : WIDTH;
        for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
        bar[WIDTH] = 0;
        fprintf(p->out, "\rstep %d/%d [%s] loss %.3f | %.1fk tok/s | ETA %s\033[K", step, p->total, bar, loss,
                tps / 1000, eta_s);
        fflush(p->out);
    } else if (step % p->plain_every == 0 || step == p->total) {
        fprintf(p->out, "step %d/%d loss %.4f | %.1fk tok/s | ETA %s\n", step, p->total, loss, tps / 1000, eta_s);
        fflush(p->out);
    }
}

void progress_message(UmProgress *p, const char *fmt, ...) {
    if (p->is_tty) fprintf(p->out, "\r\033[K");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fprintf(p->out, "\n");
    fflush(p->out);
}

void progress_finish(UmProgress *p) {
    if (p->is_tty) fprintf(p->out, "\n");
    fflush(p->out);
}
