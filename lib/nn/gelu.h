// gelu.h: the GELU activation, tanh approximation (as GPT-2).
//   out = 0.5 x (1 + tanh( sqrt(2/pi) (x + 0.044715 x^3) ))      inp (n) -> out (n)
#ifndef UM_GELU_H
#define UM_GELU_H

#include <stddef.h>

#include "base/real.h"

void gelu_forward(real *out, const real *inp, size_t n);
void gelu_backward(real *dinp, const real *inp, const real *dout, size_t n);  // dinp +=

// d gelu(x) / dx, for callers that apply it in place (the MLP's backward).
real gelu_derivative(real x);

#endif
