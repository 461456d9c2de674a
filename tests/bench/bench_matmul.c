// bench_matmul.c: GFLOP/s of the linear layer on the model's shapes, per SIMD
// path, single-threaded and with 2 threads, and against OpenBLAS when the
// build found it (-DUM_HAVE_OPENBLAS). Prints one `name: value` per line;
// notes go to stderr. Not a test: nothing here asserts a time.
//
//   matmul_gflops_<path>_<fwd|bwd>_<N>x<C>x<OC>[_t2]   one shape
//   matmul_gflops_<path>[_bwd][_t2]                    geometric mean over shapes
//   matmul_vs_openblas[_bwd]                           ours / OpenBLAS, geomean, 1 thread
//
// Usage: bench_matmul [seconds per measurement, default 0.25]
//        UM_BENCH_PATHS=avx512 bench_matmul      (only the listed paths)
//
// Forward is out = inp @ W^T (2*N*C*OC flops); backward is dinp and dW
// together (4*N*C*OC flops). The scalar reference is timed on the first 256
// rows only (its speed does not depend on N, and full size takes minutes).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/real.h"
#include "base/rng.h"
#include "base/timer.h"
#include "kernels/dispatch.h"
#include "kernels/matmul.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef UM_HAVE_OPENBLAS
#include <cblas.h>
#endif

typedef struct {
    int N, C, OC;
    const char *what;
} Shape;

// N = B*T tokens; C -> OC as in the model's linear layers.
static const Shape SHAPES[] = {
    {512, 128, 384, "qkv D=128"},      {1024, 128, 512, "mlp up D=128"},   {1024, 512, 128, "mlp down D=128"},
    {2048, 256, 768, "qkv D=256"},     {2048, 1024, 256, "mlp down D=256"}, {2048, 384, 1536, "mlp up D=384"},
    {4096, 768, 768, "attn proj D=768"}, {4096, 192, 768, "mlp up D=192"},   {2048, 256, 256, "head V=256"},
};
#define NSHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))

typedef struct {
    real *inp, *w, *out, *dout, *dinp, *dw;
} Buffers;

static void fill(real *x, size_t n, UmRng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (real)rng_uniform(rng) - (real)0.5;
}

static Buffers make_buffers(const Shape *s, UmRng *rng) {
    Buffers b;
    size_t nc = (size_t)s->N * s->C, oc = (size_t)s->OC * s->C, no = (size_t)s->N * s->OC;
    b.inp = um_alloc(nc * sizeof(real));
    b.dinp = um_alloc(nc * sizeof(real));
    b.w = um_alloc(oc * sizeof(real));
    b.dw = um_alloc(oc * sizeof(real));
    b.out = um_alloc(no * sizeof(real));
    b.dout = um_alloc(no * sizeof(real));
    fill(b.inp, nc, rng);
    fill(b.w, oc, rng);
    fill(b.dout, no, rng);
    return b;
}

static void free_buffers(Buffers *b) {
    um_free(b->inp), um_free(b->dinp), um_free(b->w), um_free(b->dw), um_free(b->out), um_free(b->dout);
}

enum { OURS, REFERENCE, OPENBLAS };

static void run_once(int who, int backward, const Buffers *b, int N, int C, int OC) {
    if (who == REFERENCE) {
        if (backward) matmul_backward_ref(b->dinp, b->dw, NULL, b->dout, b->inp, b->w, N, C, OC);
        else matmul_forward_ref(b->out, b->inp, b->w, NULL, N, C, OC);
    } else if (who == OURS) {
        if (backward) matmul_backward(b->dinp, b->dw, NULL, b->dout, b->inp, b->w, N, C, OC);
        else matmul_forward(b->out, b->inp, b->w, NULL, N, C, OC);
    } else {
#ifdef UM_HAVE_OPENBLAS
        if (backward) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1, b->dout, OC, b->w, C, 1, b->dinp, C);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1, b->dout, OC, b->inp, C, 1, b->dw, C);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1, b->inp, C, b->w, C, 0, b->out, OC);
        }
#endif
    }
}

// Best-of timing: repeat for about `budget` seconds (at least 3 runs after a
// warm-up) and keep the fastest, the run least disturbed by other processes.
static double gflops(int who, int backward, const Buffers *b, const Shape *s, double budget) {
    int N = who == REFERENCE && s->N > 256 ? 256 : s->N;
    double flops = (backward ? 4.0 : 2.0) * N * s->C * s->OC;
    run_once(who, backward, b, N, s->C, s->OC);
    double best = INFINITY, start = um_now();
    for (int rep = 0; rep < 3 || um_now() - start < budget; rep++) {
        double t0 = um_now();
        run_once(who, backward, b, N, s->C, s->OC);
        double dt = um_now() - t0;
        if (dt < best) best = dt;
        if (rep > 1000) break;
    }
    return flops / best * 1e-9;
}

static void set_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
#ifdef UM_HAVE_OPENBLAS
    openblas_set_num_threads(n);
#endif
    (void)n;
}

static double geomean(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += log(x[i]);
    return exp(s / n);
}

int main(int argc, char **argv) {
    double budget = argc > 1 ? atof(argv[1]) : 0.25;  // seconds per measurement
    UmRng rng;
    rng_seed(&rng, 1234);
    Buffers bufs[NSHAPES];
    for (int i = 0; i < NSHAPES; i++) bufs[i] = make_buffers(&SHAPES[i], &rng);

    const UmSimdPath paths[] = {UM_SIMD_SCALAR, UM_SIMD_AVX2, UM_SIMD_AVX512};
    const int thread_counts[] = {1, 2};
    // ours[t][bwd][shape] for the best path, to compare with OpenBLAS.
    double best_ours[2][2][NSHAPES] = {{{0}}};

    for (int ti = 0; ti < 2; ti++) {
        const int threads = thread_counts[ti];
        const char *tsuffix = threads == 1 ? "" : "_t2";
        set_threads(threads);
        for (int pi = 0; pi < 3; pi++) {
            const char *only = getenv("UM_BENCH_PATHS");  // e.g. "avx512" or "avx2,avx512"
            if (only && !strstr(only, um_simd_name_of(paths[pi]))) continue;
            if (um_simd_use(paths[pi]) != 0) {
                fprintf(stderr, "note: %s not available on this CPU/build, skipped\n", um_simd_name_of(paths[pi]));
                continue;
            }
            const char *name = um_simd_name_of(paths[pi]);
            const int who = paths[pi] == UM_SIMD_SCALAR ? REFERENCE : OURS;
            for (int bwd = 0; bwd < 2; bwd++) {
                double g[NSHAPES];
                for (int i = 0; i < NSHAPES; i++) {
                    const Shape *s = &SHAPES[i];
                    g[i] = gflops(who, bwd, &bufs[i], s, who == REFERENCE ? 0.05 : budget);
                    printf("matmul_gflops_%s_%s_%dx%dx%d%s: %.2f\n", name, bwd ? "bwd" : "fwd", s->N, s->C, s->OC,
                           tsuffix, g[i]);
                    if (g[i] > best_ours[ti][bwd][i]) best_ours[ti][bwd][i] = g[i];
                }
                printf("matmul_gflops_%s%s%s: %.2f\n", name, bwd ? "_bwd" : "", tsuffix, geomean(g, NSHAPES));
                fflush(stdout);
            }
        }
    }
    double fwd1 = geomean(best_ours[0][0], NSHAPES), fwd2 = geomean(best_ours[1][0], NSHAPES);
    printf("matmul_thread_scaling: %.2f\n", fwd2 / fwd1);

#ifdef UM_HAVE_OPENBLAS
    // Single thread, each shape timed right after ours so both see the same
    // machine load.
    // Which kernels OpenBLAS picked for this CPU (OPENBLAS_CORETYPE=SkylakeX
    // forces its AVX-512 ones).
    fprintf(stderr, "note: OpenBLAS core %s\n", openblas_get_corename());
    set_threads(1);
    um_simd_use(um_simd_available(UM_SIMD_AVX512) ? UM_SIMD_AVX512 : UM_SIMD_AVX2);
    for (int bwd = 0; bwd < 2; bwd++) {
        double ratio[NSHAPES], blas[NSHAPES];
        for (int i = 0; i < NSHAPES; i++) {
            const Shape *s = &SHAPES[i];
            double ours = gflops(OURS, bwd, &bufs[i], s, budget);
            blas[i] = gflops(OPENBLAS, bwd, &bufs[i], s, budget);
            ratio[i] = ours / blas[i];
            printf("openblas_gflops_%s_%dx%dx%d: %.2f\n", bwd ? "bwd" : "fwd", s->N, s->C, s->OC, blas[i]);
        }
        printf("openblas_gflops%s: %.2f\n", bwd ? "_bwd" : "", geomean(blas, NSHAPES));
        printf("matmul_vs_openblas%s: %.3f\n", bwd ? "_bwd" : "", geomean(ratio, NSHAPES));
    }
#else
    fprintf(stderr, "note: built without OpenBLAS, no matmul_vs_openblas line\n");
#endif
    for (int i = 0; i < NSHAPES; i++) free_buffers(&bufs[i]);
    return 0;
}
