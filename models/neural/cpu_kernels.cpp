#include "models/neural/cpu_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

// Compiled with -O3 -fno-math-errno -fopenmp-simd (models/neural/CMakeLists.txt), without
// fast-math (NaN must propagate: a diverged trial has to show as NaN, not as a finite loss).
#if defined(NS_USE_LIBMVEC) && defined(__x86_64__)  // set by CMake when GCC links libmvec
// glibc declares its vector variants (libmvec) only under -ffast-math; declaring them here lets
// GCC vectorize the loops below with them without fast-math's other assumptions. libmvec's
// float functions are accurate to 4 ulp and fall back to the scalar code for special inputs.
extern "C" {
float expf(float) noexcept __attribute__((simd("notinbranch")));
float expm1f(float) noexcept __attribute__((simd("notinbranch")));
float log1pf(float) noexcept __attribute__((simd("notinbranch")));
}
#define NS_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NS_VECTOR_CLONES
#endif

namespace ns::models::neural {
namespace {

inline float softplus(float v) {
  const float positive = v > 0.0f ? v : 0.0f;  // NaN -> 0 here, NaN below
  return positive + log1pf(expf(-std::fabs(v)));
}

// The gradient through softplus and the pooling: dout / pool^2 * sigmoid(z).
inline float softplus_pool_grad(float dout, float inv_area, float z) {
  return dout * inv_area / (1.0f + expf(-z));
}

// Two per-channel sums accumulated in float within blocks of rows and in double across blocks
// (float sums over a whole activation, ~450k rows, would lose digits). Call row_done() after
// each row's contributions to a() and b(); the destructor adds the last block.
class BlockSums {
 public:
  BlockSums(std::size_t channels, double* out_a, double* out_b)
      : a_(channels, 0.0f), b_(channels, 0.0f), out_a_(out_a), out_b_(out_b) {}
  ~BlockSums() { flush(); }
  BlockSums(const BlockSums&) = delete;
  BlockSums& operator=(const BlockSums&) = delete;

  float* a() { return a_.data(); }
  float* b() { return b_.data(); }
  void row_done() {
    if (++rows_ == kBlockRows) flush();
  }

 private:
  static constexpr std::size_t kBlockRows = 128;
  void flush() {
    for (std::size_t c = 0; c < a_.size(); ++c) {
      out_a_[c] += a_[c];
      out_b_[c] += b_[c];
      a_[c] = b_[c] = 0.0f;
    }
    rows_ = 0;
  }
  std::vector<float> a_, b_;
  double* out_a_;
  double* out_b_;
  std::size_t rows_ = 0;
};

}  // namespace

NS_VECTOR_CLONES void softplus_forward(const float* __restrict x, float* __restrict y,
                                       std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) y[i] = softplus(x[i]);
}

NS_VECTOR_CLONES void softplus_backward(const float* __restrict dy, const float* __restrict y,
                                        float* __restrict dx, std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) dx[i] = -dy[i] * expm1f(-y[i]);
}

NS_VECTOR_CLONES void channel_moments(const float* __restrict x, std::size_t rows,
                                      std::size_t channels, const float* __restrict shift,
                                      double* __restrict sum, double* __restrict sumsq) {
  BlockSums sums(channels, sum, sumsq);
  float* __restrict sp = sums.a();
  float* __restrict qp = sums.b();
  for (std::size_t r = 0; r < rows; ++r) {
    const float* __restrict row = x + r * channels;
#pragma omp simd
    for (std::size_t c = 0; c < channels; ++c) {
      const float d = row[c] - shift[c];
      sp[c] += d;
      qp[c] += d * d;
    }
    sums.row_done();
  }
}

NS_VECTOR_CLONES void bn_softplus_pool_forward(const float* __restrict x,
                                               const ChannelsLastShape& shape, std::size_t first,
                                               std::size_t last, const float* __restrict scale,
                                               const float* __restrict offset,
                                               float* __restrict out) {
  const std::size_t H = shape.height, W = shape.width, C = shape.channels, p = shape.pool;
  const std::size_t Ho = H / p, Wo = W / p;
  if (p == 1) {
    for (std::size_t r = first * H * W; r < last * H * W; ++r) {
      const float* __restrict in = x + r * C;
      float* __restrict o = out + r * C;
#pragma omp simd
      for (std::size_t c = 0; c < C; ++c) o[c] = softplus(in[c] * scale[c] + offset[c]);
    }
    return;
  }
  const float inv_area = 1.0f / static_cast<float>(p * p);
  std::fill(out + first * Ho * Wo * C, out + last * Ho * Wo * C, 0.0f);
  for (std::size_t b = first; b < last; ++b) {
    for (std::size_t h = 0; h < H; ++h) {
      float* __restrict orow = out + ((b * Ho + h / p) * Wo) * C;
      for (std::size_t w = 0; w < W; ++w) {
        const float* __restrict in = x + ((b * H + h) * W + w) * C;
        float* __restrict o = orow + (w / p) * C;
#pragma omp simd
        for (std::size_t c = 0; c < C; ++c)
          o[c] += softplus(in[c] * scale[c] + offset[c]) * inv_area;
      }
    }
  }
}

namespace {

// Calls body(r, in, dout_row) per input row r of images [first, last): `in` the row of x,
// `dout_row` the row of dout its pooling window maps to.
template <class Body>
inline void for_each_row(const float* x, const float* dout, const ChannelsLastShape& shape,
                         std::size_t first, std::size_t last, Body&& body) {
  const std::size_t H = shape.height, W = shape.width, C = shape.channels, p = shape.pool;
  const std::size_t Ho = H / p, Wo = W / p;
  for (std::size_t b = first; b < last; ++b)
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t w = 0; w < W; ++w) {
        const std::size_t r = (b * H + h) * W + w;
        body(r, x + r * C, dout + ((b * Ho + h / p) * Wo + w / p) * C);
      }
}

}  // namespace

NS_VECTOR_CLONES void bn_softplus_pool_backward_reduce(
    const float* __restrict dout, const float* __restrict x, const ChannelsLastShape& shape,
    std::size_t first, std::size_t last, const float* __restrict scale,
    const float* __restrict offset, const float* __restrict mean, const float* __restrict invstd,
    double* __restrict sum_g, double* __restrict sum_gx) {
  const std::size_t C = shape.channels;
  const float inv_area = 1.0f / static_cast<float>(shape.pool * shape.pool);
  BlockSums sums(C, sum_g, sum_gx);
  float* __restrict sp = sums.a();
  float* __restrict qp = sums.b();
  for_each_row(x, dout, shape, first, last, [&](std::size_t, const float* in, const float* d) {
#pragma omp simd
    for (std::size_t c = 0; c < C; ++c) {
      const float g = softplus_pool_grad(d[c], inv_area, in[c] * scale[c] + offset[c]);
      sp[c] += g;
      qp[c] += g * (in[c] - mean[c]) * invstd[c];
    }
    sums.row_done();
  });
}

NS_VECTOR_CLONES void bn_softplus_pool_backward_apply(
    const float* __restrict dout, const float* __restrict x, const ChannelsLastShape& shape,
    std::size_t first, std::size_t last, const float* __restrict scale,
    const float* __restrict offset, const float* __restrict mean, const float* __restrict invstd,
    const float* __restrict k, const float* __restrict mean_g, const float* __restrict mean_gx,
    float* __restrict dx) {
  const std::size_t C = shape.channels;
  const float inv_area = 1.0f / static_cast<float>(shape.pool * shape.pool);
  for_each_row(x, dout, shape, first, last, [&](std::size_t r, const float* in, const float* d) {
    float* __restrict o = dx + r * C;
#pragma omp simd
    for (std::size_t c = 0; c < C; ++c) {
      const float g = softplus_pool_grad(d[c], inv_area, in[c] * scale[c] + offset[c]);
      const float xhat = (in[c] - mean[c]) * invstd[c];
      o[c] = k[c] * (g - mean_g[c] - xhat * mean_gx[c]);
    }
  });
}

}  // namespace ns::models::neural
