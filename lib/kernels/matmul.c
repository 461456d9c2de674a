// matmul.c: the scalar reference linear layer, and the dispatcher.
#include "kernels/matmul.h"

#include <stddef.h>

// inp (N, C), weight (OC, C), bias (OC) or NULL -> out (N, OC)
void matmul_forward_ref(real *out, const real *inp, const real *weight, const real *bias, int N, int C, int OC) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const real *x = inp + (size_t)n * C;
        real *y = out + (size_t)n * OC;
        for (int o = 0; o < OC; o++) {
            const real *w = weight + (size_t)o * C;
            real acc = bias ? bias[o] : 0;
            for (int c = 0; c < C; c++) acc += x[c] * w[c];
            y[o] = acc;
        }
    }
}

// Forward was: out[n][o] = bias[o] + sum_c inp[n][c] * weight[o][c]; so
//   dinp[n][c]    += sum_o dout[n][o] * weight[o][c]
//   dweight[o][c] += sum_n dout[n][o] * inp[n][c]
//   dbias[o]      += sum_n dout[n][o]
// Two loop nests, each parallel over the rows it owns, so threads never
// write to the same element.
void matmul_backward_ref(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                         const real *weight, int N, int C, int OC) {
    if (dinp) {
#pragma omp parallel for
        for (int n = 0; n < N; n++) {
            const real *g = dout + (size_t)n * OC;
            real *dx = dinp + (size_t)n * C;
            for (int o = 0; o < OC; o++) {
                const real *w = weight + (size_t)o * C;
                for (int c = 0; c < C; c++) dx[c] += g[o] * w[c];
            }
        }
    }
    if (dweight || dbias) {
#pragma omp parallel for
        for (int o = 0; o < OC; o++) {
            for (int n = 0; n < N; n++) {
                real g = dout[(size_t)n * OC + o];
                if (dbias) dbias[o] += g;
                if (dweight) {
                    const real *x = inp + (size_t)n * C;
                    real *dw = dweight + (size_t)o * C;
                    for (int c = 0; c < C; c++) dw[c] += g * x[c];
                }
            }
        }
    }
}

void matmul_forward(real *out, const real *inp, const real *weight, const real *bias, int N, int C, int OC) {
    matmul_forward_ref(out, inp, weight, bias, N, C, OC);
}

void matmul_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                     const real *weight, int N, int C, int OC) {
    matmul_backward_ref(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}
