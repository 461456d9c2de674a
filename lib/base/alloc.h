// alloc.h: 64-byte aligned allocation, so SIMD kernels can use aligned loads
// and a tensor never straddles a cache line at its start.
#ifndef UM_ALLOC_H
#define UM_ALLOC_H

#include <stddef.h>

#define UM_ALIGN 64

void *um_alloc(size_t bytes);   // zero-filled, aligned; dies on failure
void um_free(void *ptr);

#endif
