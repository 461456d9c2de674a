#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

void *um_alloc(size_t bytes) {
    size_t rounded = (bytes + UM_ALIGN - 1) / UM_ALIGN * UM_ALIGN;  // aligned_alloc wants a multiple
    if (rounded == 0) rounded = UM_ALIGN;
    void *p = aligned_alloc(UM_ALIGN, rounded);
    if (!p) um_die(UM_EXIT_RUNTIME, "out of memory allocating %zu bytes (hint: try a smaller --size)", bytes);
    memset(p, 0, rounded);
    return p;
}

void um_free(void *ptr) { free(ptr); }
