#define _POSIX_C_SOURCE 199309L
#include "base/timer.h"

#include <time.h>

double um_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
