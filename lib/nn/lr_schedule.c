// lr_schedule.c: linear warmup, then cosine decay to min_lr.
#include "nn/lr_schedule.h"

#include <math.h>

double lr_cosine(int step, int total, int warmup, double max_lr, double min_lr) {
    // Warmup: step 0 already gets max_lr/warmup, so no step trains at lr 0.
    if (step < warmup) return max_lr * (step + 1) / warmup;
    if (total <= warmup) return min_lr;  // no decay phase at all
    double progress = (double)(step - warmup) / (total - warmup);
    if (progress > 1) progress = 1;  // past the end we stay at min_lr
    return min_lr + (max_lr - min_lr) * 0.5 * (1 + cos(M_PI * progress));
}
