// dispatch.c: pick the SIMD path once, from UM_SIMD or from the CPU.
#include "kernels/dispatch.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

// -1 until the first kernel call resolves it. Atomic because kernels may be
// called from several threads at once (the trainer, the visualiser).
static atomic_int g_path = -1;

const char *um_simd_name_of(UmSimdPath path) {
    switch (path) {
    case UM_SIMD_AVX512: return "avx512";
    case UM_SIMD_AVX2: return "avx2";
    default: return "scalar";
    }
}

int um_simd_available(UmSimdPath path) {
    if (path == UM_SIMD_SCALAR) return 1;
#ifdef UM_NO_SIMD
    return 0;  // built with SIMD=0 (or the double build): only *_ref exists
#else
    __builtin_cpu_init();
    // __builtin_cpu_supports also checks that the OS saves the wide registers.
    if (path == UM_SIMD_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (path == UM_SIMD_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return 0;
#endif
}

static UmSimdPath path_from_env_or_cpu(void) {
    const char *want = getenv("UM_SIMD");
    if (!want || !*want) {
        if (um_simd_available(UM_SIMD_AVX512)) return UM_SIMD_AVX512;
        if (um_simd_available(UM_SIMD_AVX2)) return UM_SIMD_AVX2;
        return UM_SIMD_SCALAR;
    }
    UmSimdPath path;
    if (strcmp(want, "scalar") == 0) path = UM_SIMD_SCALAR;
    else if (strcmp(want, "avx2") == 0) path = UM_SIMD_AVX2;
    else if (strcmp(want, "avx512") == 0) path = UM_SIMD_AVX512;
    else um_die(UM_EXIT_USAGE, "UM_SIMD=%s is not a path (hint: use scalar, avx2 or avx512)", want);
    if (!um_simd_available(path))
        um_die(UM_EXIT_USAGE, "UM_SIMD=%s but this %s cannot run it (hint: unset UM_SIMD to use the best available)",
               want,
#ifdef UM_NO_SIMD
               "build (SIMD=0)"
#else
               "CPU"
#endif
        );
    return path;
}

UmSimdPath um_simd_path(void) {
    int p = atomic_load_explicit(&g_path, memory_order_relaxed);
    if (p < 0) {
        p = (int)path_from_env_or_cpu();
        atomic_store(&g_path, p);
    }
    return (UmSimdPath)p;
}

const char *um_simd_path_name(void) { return um_simd_name_of(um_simd_path()); }

int um_simd_use(UmSimdPath path) {
    if (!um_simd_available(path)) return -1;
    atomic_store(&g_path, (int)path);
    return 0;
}

void um_simd_reset(void) { atomic_store(&g_path, -1); }
