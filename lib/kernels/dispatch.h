// dispatch.h: which SIMD path the kernels take on this CPU.
//
// Every fast kernel exists up to three times: the plain C reference (*_ref),
// an AVX2+FMA version and an AVX-512 version. The path is chosen once, at the
// first kernel call: the widest one the CPU supports, unless the environment
// variable UM_SIMD=scalar|avx2|avx512 forces one. Asking for a path this CPU
// (or this build, `make SIMD=0`) cannot run is a usage error: exit status 2.
#ifndef UM_DISPATCH_H
#define UM_DISPATCH_H

typedef enum { UM_SIMD_SCALAR = 0, UM_SIMD_AVX2 = 1, UM_SIMD_AVX512 = 2 } UmSimdPath;

// The path in use (resolved on first call from UM_SIMD or the CPU).
UmSimdPath um_simd_path(void);

// "scalar", "avx2" or "avx512": for log lines like "kernels: avx512".
const char *um_simd_path_name(void);
const char *um_simd_name_of(UmSimdPath path);

// 1 if this build and this CPU can run the path, else 0.
int um_simd_available(UmSimdPath path);

// Switch paths from code (tests and benchmarks compare paths in one process).
// Returns 0, or -1 (and changes nothing) if the path is not available.
int um_simd_use(UmSimdPath path);

// Forget the choice, so the next kernel call reads UM_SIMD again (tests).
void um_simd_reset(void);

#endif
