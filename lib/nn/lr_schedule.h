// lr_schedule.h: learning-rate schedule, linear warmup then cosine decay.
//
//   step < warmup:  lr = max_lr * (step+1) / warmup
//   afterwards:     lr = min_lr + (max_lr - min_lr) * 0.5 (1 + cos(pi * progress))
//   progress = (step - warmup) / (total - warmup), in [0, 1]
#ifndef UM_LR_SCHEDULE_H
#define UM_LR_SCHEDULE_H

double lr_cosine(int step, int total, int warmup, double max_lr, double min_lr);

#endif
