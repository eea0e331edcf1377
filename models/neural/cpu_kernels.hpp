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

// BatchNorm + softplus (+ average pooling) over channels-last data: x is [B, H, W, C] in memory,
// the output [B, H/pool, W/pool, C] (pool 1: no pooling; pool > 1 divides H and W). Functions
// taking [first, last) work on those images only. Reductions add into double arrays of C
// entries (the caller sums per-thread parts).
struct ChannelsLastShape {
  std::size_t batch, height, width, channels, pool;
};

/// sum[c] += sum_r (x[r, c] - shift[c]); sumsq[c] += sum_r (x[r, c] - shift[c])^2, over `rows`
/// rows of `channels` floats.
void channel_moments(const float* x, std::size_t rows, std::size_t channels, const float* shift,
                     double* sum, double* sumsq);

/// out = avg_pool(softplus(x * scale[c] + offset[c]), pool) for images [first, last).
void bn_softplus_pool_forward(const float* x, const ChannelsLastShape& shape, std::size_t first,
                              std::size_t last, const float* scale, const float* offset,
                              float* out);

/// With z = x * scale + offset, g = (dout of x's pooling window) / pool^2 * sigmoid(z) and
/// xhat = (x - mean) * invstd: sum_g[c] += sum g; sum_gx[c] += sum g * xhat (images
/// [first, last)).
void bn_softplus_pool_backward_reduce(const float* dout, const float* x,
                                      const ChannelsLastShape& shape, std::size_t first,
                                      std::size_t last, const float* scale, const float* offset,
                                      const float* mean, const float* invstd, double* sum_g,
                                      double* sum_gx);

/// dx = k[c] * (g - mean_g[c] - xhat * mean_gx[c]) with g and xhat as above (k = weight *
/// invstd; mean_g, mean_gx the reductions divided by B * H * W).
void bn_softplus_pool_backward_apply(const float* dout, const float* x,
                                     const ChannelsLastShape& shape, std::size_t first,
                                     std::size_t last, const float* scale, const float* offset,
                                     const float* mean, const float* invstd, const float* k,
                                     const float* mean_g, const float* mean_gx, float* dx);

}  // namespace ns::models::neural
