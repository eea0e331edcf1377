#include "models/neural/softplus_kernel.hpp"

#include <cmath>

// Compiled with -fno-math-errno -fopenmp-simd (models/neural/CMakeLists.txt), without fast-math
// (NaN must propagate: a diverged trial has to show as NaN, not as a finite loss).
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

NS_VECTOR_CLONES void softplus_forward(const float* __restrict x, float* __restrict y,
                                       std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float positive = v > 0.0f ? v : 0.0f;  // NaN -> 0 here, NaN below
    y[i] = positive + log1pf(expf(-std::fabs(v)));
  }
}

NS_VECTOR_CLONES void softplus_backward(const float* __restrict dy, const float* __restrict y,
                                        float* __restrict dx, std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) dx[i] = -dy[i] * expm1f(-y[i]);
}

}  // namespace ns::models::neural
