#pragma once
// Softplus and its gradient as plain loops over float arrays (torch-free; maskcnn.cpp wraps
// them in an autograd function). On x86-64 with glibc each loop is compiled for AVX-512, AVX2
// and SSE2 (chosen at load time) and calls glibc's vector math (libmvec); elsewhere it is a
// scalar loop. Same function as torch::softplus (beta 1); bench/train_step.md has the timings.

#include <cstddef>

namespace ns::models::neural {

/// y[i] = log(1 + exp(x[i])), computed as max(x, 0) + log1p(exp(-|x|)) (no overflow).
/// NaN stays NaN, +inf gives +inf, -inf gives 0.
void softplus_forward(const float* x, float* y, std::size_t n);

/// dx[i] = dy[i] * sigmoid(x[i]) from the forward's output y: sigmoid(x) = 1 - exp(-y),
/// computed as -expm1(-y) (accurate where y is tiny).
void softplus_backward(const float* dy, const float* y, float* dx, std::size_t n);

}  // namespace ns::models::neural
