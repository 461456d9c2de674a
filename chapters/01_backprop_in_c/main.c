// Chapter 01: backprop in C, and how to know it is right.
//
// A tiny classifier, wired by hand from the library's forward/backward pairs:
//
//   x (N,C) -> linear W1 (F,C), b1 (F) -> h (N,F) -> GELU -> a (N,F)
//           -> linear W2 (V,F), b2 (V) -> logits (N,V) -> softmax cross-entropy -> loss
//
// 1. forward, then backward in reverse order (every backward accumulates);
// 2. the famous  dlogits = (p - y) / N  printed for one token;
// 3. a gradient check: analytic gradients vs central differences, in float;
// 4. a sweep of eps from 1e-1 to 1e-6, in float and in double, to show why
//    the library's gradient checks are built in double.
//
// Run: make ch01
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/real.h"
#include "base/rng.h"
#include "kernels/matmul.h"
#include "nn/crossentropy.h"
#include "nn/gelu.h"

enum { N = 4, C = 6, F = 8, V = 5 };  // tokens, input width, hidden width, classes

// ------------------------------------------------------------------ the network

// Everything the network owns: parameters, their gradients, the input (we
// check its gradient too), and the activations the backward pass reads.
typedef struct {
    float x[N * C], W1[F * C], b1[F], W2[V * F], b2[V];          // input and parameters
    float dx[N * C], dW1[F * C], db1[F], dW2[V * F], db2[V];     // their gradients
    int targets[N];                                              // the right class of each token
    float h[N * F], a[N * F], logits[N * V], probs[N * V], losses[N];  // activations (the cache)
    float da[N * F], dh[N * F], dlogits[N * V];                  // gradients of activations
} Net;

// One tensor the gradient check visits: its values and its analytic gradient.
typedef struct {
    const char *name;
    float *data, *grad;
    int numel, cols;  // cols: for printing 2-D indices
} Tensor;

static void fill_normal(float *x, int n, UmRng *rng, double std) {
    for (int i = 0; i < n; i++) x[i] = (float)(std * rng_normal(rng));
}

static void net_init(Net *net, uint64_t seed) {
    memset(net, 0, sizeof *net);
    UmRng rng;
    rng_seed(&rng, seed);
    fill_normal(net->x, N * C, &rng, 1.0);
    fill_normal(net->W1, F * C, &rng, 0.5);
    fill_normal(net->b1, F, &rng, 0.1);
    fill_normal(net->W2, V * F, &rng, 0.5);
    fill_normal(net->b2, V, &rng, 0.1);
    for (int n = 0; n < N; n++) net->targets[n] = (int)rng_below(&rng, V);
}

// The forward pass: four library calls. Returns the mean loss in nats.
static double net_forward(Net *net) {
    matmul_forward(net->h, net->x, net->W1, net->b1, N, C, F);           // h = x W1^T + b1
    gelu_forward(net->a, net->h, N * F);                                 // a = gelu(h)
    matmul_forward(net->logits, net->a, net->W2, net->b2, N, F, V);      // logits = a W2^T + b2
    softmax_crossentropy_forward(net->losses, net->probs, net->logits, net->targets, N, V);
    double sum = 0;
    for (int n = 0; n < N; n++) sum += net->losses[n];
    return sum / N;
}

// The backward pass: the same calls in reverse order. Every backward ADDS
// into its outputs, so all gradients start at zero.
static void net_backward(Net *net) {
    memset(net->dlogits, 0, sizeof net->dlogits);
    memset(net->da, 0, sizeof net->da);
    memset(net->dh, 0, sizeof net->dh);
    // loss = (1/N) sum_n loss_n, so each token's gradient is scaled by 1/N
    softmax_crossentropy_backward(net->dlogits, net->probs, net->targets, (float)(1.0 / N), N, V);
    matmul_backward(net->da, net->dW2, net->db2, net->dlogits, net->a, net->W2, N, F, V);
    gelu_backward(net->dh, net->h, net->da, N * F);
    matmul_backward(net->dx, net->dW1, net->db1, net->dh, net->x, net->W1, N, C, F);
}

static void net_zero_grad(Net *net) {
    memset(net->dx, 0, sizeof net->dx);
    memset(net->dW1, 0, sizeof net->dW1);
    memset(net->db1, 0, sizeof net->db1);
    memset(net->dW2, 0, sizeof net->dW2);
    memset(net->db2, 0, sizeof net->db2);
}

static int net_tensors(Net *net, Tensor *t) {
    t[0] = (Tensor){"x", net->x, net->dx, N * C, C};
    t[1] = (Tensor){"W1", net->W1, net->dW1, F * C, C};
    t[2] = (Tensor){"b1", net->b1, net->db1, F, 0};
    t[3] = (Tensor){"W2", net->W2, net->dW2, V * F, F};
    t[4] = (Tensor){"b2", net->b2, net->db2, V, 0};
    return 5;
}

// ------------------------------------------------------------------ the same forward in double
// To show what double precision buys, the forward is written once more with
// plain loops in double. Same maths as the library calls above.

typedef struct {
    double x[N * C], W1[F * C], b1[F], W2[V * F], b2[V];
} NetD;

static double gelu_d(double x) { return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

static double net_forward_d(const NetD *p, const int *targets) {
    double total = 0;
    for (int n = 0; n < N; n++) {
        double a[F], z[V];
        for (int f = 0; f < F; f++) {
            double h = p->b1[f];
            for (int c = 0; c < C; c++) h += p->x[n * C + c] * p->W1[f * C + c];
            a[f] = gelu_d(h);
        }
        double zmax = -INFINITY;
        for (int v = 0; v < V; v++) {
            z[v] = p->b2[v];
            for (int f = 0; f < F; f++) z[v] += a[f] * p->W2[v * F + f];
            if (z[v] > zmax) zmax = z[v];
        }
        double sum = 0;
        for (int v = 0; v < V; v++) sum += exp(z[v] - zmax);
        total += log(sum) - (z[targets[n]] - zmax);  // -log softmax(z)[target]
    }
    return total / N;
}

static void to_double(double *dst, const float *src, int n) {
    for (int i = 0; i < n; i++) dst[i] = src[i];
}

static void net_to_double(NetD *d, const Net *net) {
    to_double(d->x, net->x, N * C);
    to_double(d->W1, net->W1, F * C);
    to_double(d->b1, net->b1, F);
    to_double(d->W2, net->W2, V * F);
    to_double(d->b2, net->b2, V);
}

// Pointer to the double copy of tensor ti (same order as net_tensors).
static double *tensor_d(NetD *d, int ti) {
    double *all[] = {d->x, d->W1, d->b1, d->W2, d->b2};
    return all[ti];
}

// ------------------------------------------------------------------ finite differences

// Central difference  dL/dw ~ (L(w + eps) - L(w - eps)) / (2 eps)  in float.
// Restores w afterwards (saving and writing back the exact old value).
static double numeric_grad_f(Net *net, float *w, double eps) {
    float saved = *w;
    *w = (float)(saved + eps);
    double plus = net_forward(net);
    *w = (float)(saved - eps);
    double minus = net_forward(net);
    *w = saved;
    return (plus - minus) / (2 * eps);
}

static double numeric_grad_d(NetD *d, const int *targets, double *w, double eps) {
    double saved = *w;
    *w = saved + eps;
    double plus = net_forward_d(d, targets);
    *w = saved - eps;
    double minus = net_forward_d(d, targets);
    *w = saved;
    return (plus - minus) / (2 * eps);
}

// |a - b| / max(|a|, |b|): scale-free, so a gradient of 1e-4 and one of 10
// are judged alike. Both zero counts as agreement.
static double rel_error(double a, double b) {
    double scale = fmax(fabs(a), fabs(b));
    return scale > 0 ? fabs(a - b) / scale : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// ------------------------------------------------------------------ the demo, part by part

static void show_p_minus_y(const Net *net) {
    printf("== 2. softmax cross-entropy: dlogits = (p - y) / N, token 0 (target %d) ==\n", net->targets[0]);
    printf("  class        ");
    for (int v = 0; v < V; v++) printf("%9d", v);
    printf("\n  p            ");
    for (int v = 0; v < V; v++) printf("%9.4f", net->probs[v]);
    printf("\n  y            ");
    for (int v = 0; v < V; v++) printf("%9d", v == net->targets[0]);
    printf("\n  N * dlogits  ");
    for (int v = 0; v < V; v++) printf("%9.4f", N * net->dlogits[v]);
    printf("\n  (the row sums to 0: raising every logit equally changes nothing)\n\n");
}

static void show_accumulation(Net *net) {
    printf("== backward accumulates ==\n");
    float before = net->dW1[0];
    net_backward(net);  // a second backward without zeroing the gradients first
    printf("  dW1[0][0] after one backward %.6f, after a second one without zeroing %.6f (x%.3f)\n", before,
           net->dW1[0], net->dW1[0] / before);
    printf("  so gradients are zeroed once per step; then fan-out and residuals just add up.\n\n");
    net_zero_grad(net);
    net_backward(net);
}

typedef struct {
    int tensor, row, col;
} Entry;

static void show_gradcheck_table(Net *net, const Tensor *ts, double eps) {
    printf("== 3. gradient check in float, central differences, eps = %g ==\n", eps);
    printf("  %-10s %14s %14s %12s\n", "entry", "analytic", "numeric", "rel error");
    const Entry entries[] = {{0, 1, 3}, {1, 0, 0}, {1, 3, 2}, {2, 1, 0}, {3, 2, 5}, {3, 4, 7}, {4, 0, 0}, {4, 3, 0}};
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        const Tensor *t = &ts[entries[i].tensor];
        int idx = t->cols ? entries[i].row * t->cols + entries[i].col : entries[i].row;
        char name[32];
        if (t->cols) snprintf(name, sizeof name, "%s[%d][%d]", t->name, entries[i].row, entries[i].col);
        else snprintf(name, sizeof name, "%s[%d]", t->name, entries[i].row);
        double analytic = t->grad[idx];
        double numeric = numeric_grad_f(net, &t->data[idx], eps);
        printf("  %-10s %14.8f %14.8f %12.2e\n", name, analytic, numeric, rel_error(analytic, numeric));
    }
    printf("\n");
}

// For each eps: the median and the worst relative error over every entry of
// every tensor, with the loss computed in float and in double.
static void show_eps_sweep(Net *net, const Tensor *ts, int nt) {
    printf("== 4. which eps? relative error over all entries, float vs double loss ==\n");
    printf("  %8s | %12s %12s | %12s %12s\n", "eps", "float median", "float worst", "double median", "double worst");
    NetD netd;
    net_to_double(&netd, net);
    for (int e = 1; e <= 6; e++) {
        double eps = pow(10.0, -e);
        double errf[N * C + F * C + F + V * F + V], errd[N * C + F * C + F + V * F + V];
        int count = 0;
        for (int ti = 0; ti < nt; ti++) {
            for (int i = 0; i < ts[ti].numel; i++, count++) {
                double analytic = ts[ti].grad[i];
                errf[count] = rel_error(analytic, numeric_grad_f(net, &ts[ti].data[i], eps));
                errd[count] = rel_error(analytic, numeric_grad_d(&netd, net->targets, &tensor_d(&netd, ti)[i], eps));
            }
        }
        qsort(errf, count, sizeof errf[0], cmp_double);
        qsort(errd, count, sizeof errd[0], cmp_double);
        printf("  %8.0e | %12.2e %12.2e | %12.2e %12.2e\n", eps, errf[count / 2], errf[count - 1], errd[count / 2],
               errd[count - 1]);
    }
    printf("  float: big eps -> the eps^2 truncation term; small eps -> rounding (~6e-8 * |L| / eps) wins.\n");
    printf("  double: rounding is ~1e9 times smaller, so the error keeps falling until eps ~1e-4; its floor\n");
    printf("  (~1e-7) is the float *analytic* gradient it is compared with, not the finite difference.\n");
    printf("  That is why tests/gradcheck_*.c run in the double build (bin/test_f64), with eps ~1e-5.\n");
}

int main(void) {
    Net net;
    net_init(&net, 42);
    Tensor ts[5];
    int nt = net_tensors(&net, ts);

    printf("== 1. forward and backward ==\n");
    printf("  x (%d,%d) -> linear (%d) -> GELU -> linear (%d) -> softmax cross-entropy\n", N, C, F, V);
    double loss = net_forward(&net);
    net_zero_grad(&net);
    net_backward(&net);
    printf("  mean loss %.6f nats (a uniform guess would be ln %d = %.6f)\n\n", loss, V, log((double)V));

    show_p_minus_y(&net);
    show_accumulation(&net);
    show_gradcheck_table(&net, ts, 1e-2);
    show_eps_sweep(&net, ts, nt);
    return 0;
}
