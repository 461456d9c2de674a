// timer.h: wall-clock seconds from a monotonic clock.
#ifndef UM_TIMER_H
#define UM_TIMER_H

double um_now(void);  // seconds since an arbitrary fixed point

#endif
