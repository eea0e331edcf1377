#pragma once
// The mask CNN's elementwise hot spots on CPU as plain loops over float arrays (torch-free;
// maskcnn.cpp wraps them in autograd functions): softplus, and BatchNorm followed by softplus
// in one pass over channels-last data. On x86-64 with glibc each loop is compiled for AVX-512,
// AVX2 and SSE2 (chosen at load time) and calls glibc's vector math (libmvec); elsewhere the
// loops are scalar. bench/train_step.md has the timings.

#include <cstddef>

namespace ns::models::neural {

/// y[i] = log(1 + exp(x[i])), computed as max(x, 0) + log1p(exp(-|x|)) (no overflow).
/// NaN stays NaN, +inf gives +inf, -inf gives 0.
void softplus_forward(const float* x, float* y, std::size_t n);

/// dx[i] = dy[i] * sigmoid(x[i]) from the forward's output y: sigmoid(x) = 1 - exp(-y),
/// computed as -expm1(-y) (accurate where y is tiny).
void softplus_backward(const float* dy, const float* y, float* dx, std::size_t n);

// BatchNorm + softplus over `rows` rows of `channels` floats (channels-last: [B*H*W, C]).
// Reductions add into double arrays of `channels` entries (the caller sums per-thread parts).

/// sum[c] += sum_r (x[r, c] - shift[c]); sumsq[c] += sum_r (x[r, c] - shift[c])^2.
void channel_moments(const float* x, std::size_t rows, std::size_t channels, const float* shift,
                     double* sum, double* sumsq);

/// y[r, c] = softplus(x[r, c] * scale[c] + offset[c]).
void affine_softplus_forward(const float* x, std::size_t rows, std::size_t channels,
                             const float* scale, const float* offset, float* y);

/// With g = dy * sigmoid(z) (z the softplus input, from y as in softplus_backward) and
/// xhat = (x - mean) * invstd: sum_g[c] += sum_r g; sum_gx[c] += sum_r g * xhat.
void bn_softplus_backward_reduce(const float* dy, const float* y, const float* x,
                                 std::size_t rows, std::size_t channels, const float* mean,
                                 const float* invstd, double* sum_g, double* sum_gx);

/// dx[r, c] = k[c] * (g - mean_g[c] - xhat * mean_gx[c]), g and xhat as above
/// (k = weight * invstd; mean_g, mean_gx the reductions divided by the row count).
void bn_softplus_backward_apply(const float* dy, const float* y, const float* x,
                                std::size_t rows, std::size_t channels, const float* mean,
                                const float* invstd, const float* k, const float* mean_g,
                                const float* mean_gx, float* dx);

}  // namespace ns::models::neural
