// The built-in simulated V1 population (issue 3): natural-ish images (1/f amplitude spectrum,
// like natural scenes: Field 1987), simple cells (half-squared Gabor, an LN model) and complex
// cells (energy model of a quadrature Gabor pair, Adelson & Bergen 1985) with localized,
// oriented receptive fields, Poisson trial-to-trial noise. Deterministic from its seed: every
// random number comes from ns::models::neural::Rng.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <complex>

#include "core/error.hpp"
#include "models/neural/dataset.hpp"
#include "models/neural/rng.hpp"

namespace ns::models::neural {
namespace {

// Field of size n x n with amplitude spectrum 1/f: random complex coefficients shaped by 1/f,
// inverse DFT (separable, O(n^3)), real part. Zero mean, unit variance.
std::vector<double> pink_noise(std::int64_t n, Rng& rng,
                               const std::vector<std::complex<double>>& twiddle) {
  using C = std::complex<double>;
  std::vector<C> spec(n * n), tmp(n * n);
  for (std::int64_t u = 0; u < n; ++u) {
    for (std::int64_t v = 0; v < n; ++v) {
      const double fu = static_cast<double>(std::min(u, n - u)) / n;
      const double fv = static_cast<double>(std::min(v, n - v)) / n;
      const double f = std::sqrt(fu * fu + fv * fv);
      const double re = rng.normal(), im = rng.normal();
      spec[u * n + v] = f > 0 ? C(re, im) / f : C(0, 0);
    }
  }
  // Rows then columns: x[a][b] = sum_u sum_v spec[u][v] e^{2 pi i (u a + v b) / n}.
  for (std::int64_t u = 0; u < n; ++u)
    for (std::int64_t b = 0; b < n; ++b) {
      C s = 0;
      for (std::int64_t v = 0; v < n; ++v) s += spec[u * n + v] * twiddle[(v * b) % n];
      tmp[u * n + b] = s;
    }
  std::vector<double> out(n * n);
  double mean = 0;
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = 0; b < n; ++b) {
      C s = 0;
      for (std::int64_t u = 0; u < n; ++u) s += tmp[u * n + b] * twiddle[(u * a) % n];
      out[a * n + b] = s.real();
      mean += s.real();
    }
  mean /= static_cast<double>(n * n);
  double var = 0;
  for (double& x : out) {
    x -= mean;
    var += x * x;
  }
  const double sd = std::sqrt(var / static_cast<double>(n * n));
  for (double& x : out) x /= sd > 0 ? sd : 1.0;
  return out;
}

struct Gabor {
  std::vector<double> even, odd;  // quadrature pair, zero mean, unit L2 norm
};

Gabor make_gabor(std::int64_t n, double cx, double cy, double theta, double lambda, double sigma,
                 double aspect, double phase) {
  Gabor g;
  g.even.resize(n * n);
  g.odd.resize(n * n);
  const double ct = std::cos(theta), st = std::sin(theta);
  for (std::int64_t y = 0; y < n; ++y)
    for (std::int64_t x = 0; x < n; ++x) {
      const double dx = x - cx, dy = y - cy;
      const double xr = dx * ct + dy * st, yr = -dx * st + dy * ct;
      const double env = std::exp(-(xr * xr) / (2 * sigma * sigma) -
                                  (yr * yr) / (2 * aspect * aspect * sigma * sigma));
      g.even[y * n + x] = env * std::cos(2 * M_PI * xr / lambda + phase);
      g.odd[y * n + x] = env * std::sin(2 * M_PI * xr / lambda + phase);
    }
  for (auto* v : {&g.even, &g.odd}) {
    double mean = 0, norm = 0;
    for (double x : *v) mean += x;
    mean /= static_cast<double>(v->size());
    for (double& x : *v) {
      x -= mean;
      norm += x * x;
    }
    norm = std::sqrt(norm);
    for (double& x : *v) x /= norm;
  }
  return g;
}

}  // namespace

NeuralData simulate_v1(const SimOptions& o) {
  NS_CHECK(o.missing_mode == "cell" || o.missing_mode == "trial" || o.missing_mode == "repeat",
           "simulated data: missing_mode must be \"cell\", \"trial\" or \"repeat\", got \"{}\"",
           o.missing_mode);
  NS_CHECK(o.images >= 10 && o.size >= 8 && o.neurons >= 1 && o.repeats >= 1,
           "simulated data needs images >= 10, size >= 8, neurons >= 1, repeats >= 1 (got {}, "
           "{}, {}, {})",
           o.images, o.size, o.neurons, o.repeats);
  const std::int64_t n = o.size, M = o.images, N = o.neurons, R = o.repeats, P = n * n;
  NeuralData d;
  d.source = fmt::format("simulated(seed={}, images={}, size={}, neurons={}, repeats={}{})",
                         o.seed, M, n, N, R,
                         o.missing > 0 ? fmt::format(", missing={} per {}", o.missing,
                                                     o.missing_mode)
                                       : std::string());
  d.images = M;
  d.channels = 1;
  d.height = d.width = n;
  d.neurons = N;
  d.repeats = R;

  // Images: 1/f noise with a random contrast per image, as uint8-valued pixels.
  std::vector<std::complex<double>> twiddle(n);
  for (std::int64_t k = 0; k < n; ++k) twiddle[k] = std::polar(1.0, 2 * M_PI * k / n);
  Rng img_rng(mix_seed(o.seed, 1));
  d.pixels.resize(M * P);
  std::vector<double> stim(M * P);  // (pixel - 128) / 128, what the cells see
  for (std::int64_t m = 0; m < M; ++m) {
    const std::vector<double> z = pink_noise(n, img_rng, twiddle);
    const double contrast = img_rng.uniform(0.3, 1.0);
    for (std::int64_t i = 0; i < P; ++i) {
      const double px = std::round(std::clamp(128.0 + 45.0 * contrast * z[i], 0.0, 255.0));
      d.pixels[m * P + i] = static_cast<float>(px);
      stim[m * P + i] = (px - 128.0) / 128.0;
    }
  }

  // Cells: localized oriented RFs near the centre; sizes scale with the image (32 px reference).
  Rng cell_rng(mix_seed(o.seed, 2));
  const double scale = static_cast<double>(n) / 32.0;
  std::vector<double> rate(M * N);
  for (std::int64_t c = 0; c < N; ++c) {
    const double cx = cell_rng.uniform(0.3, 0.7) * (n - 1);
    const double cy = cell_rng.uniform(0.3, 0.7) * (n - 1);
    const double theta = cell_rng.uniform(0, M_PI);
    const double lambda = cell_rng.uniform(3.0, 6.0) * scale;
    const double sigma = lambda * cell_rng.uniform(0.3, 0.45);
    const double aspect = cell_rng.uniform(1.0, 1.6);
    const double phase = cell_rng.uniform(0, 2 * M_PI);
    const bool complex_cell = cell_rng.uniform() < o.complex_fraction;
    const double mu = o.mean_rate * cell_rng.uniform(0.5, 1.5);
    const Gabor g = make_gabor(n, cx, cy, theta, lambda, sigma, aspect, phase);
    std::vector<double> raw(M);
    double raw_mean = 0;
    for (std::int64_t m = 0; m < M; ++m) {
      double e = 0, q = 0;
      const double* s = &stim[m * P];
      for (std::int64_t i = 0; i < P; ++i) {
        e += g.even[i] * s[i];
        q += g.odd[i] * s[i];
      }
      raw[m] = complex_cell ? e * e + q * q : (e > 0 ? e * e : 0.0);  // energy / half-squaring
      raw_mean += raw[m];
    }
    raw_mean /= static_cast<double>(M);
    // Mean rate mu: 10 % spontaneous, 90 % stimulus driven.
    const double gain = raw_mean > 0 ? 0.9 * mu / raw_mean : 0.0;
    for (std::int64_t m = 0; m < M; ++m) rate[m * N + c] = 0.1 * mu + gain * raw[m];
  }

  // Poisson repeats; optional missing repeats (at least one kept per image and neuron).
  Rng noise_rng(mix_seed(o.seed, 3));
  Rng miss_rng(mix_seed(o.seed, 4));
  d.trials.resize(R * M * N);
  for (std::int64_t r = 0; r < R; ++r)
    for (std::int64_t i = 0; i < M * N; ++i)
      d.trials[r * M * N + i] = static_cast<float>(noise_rng.poisson(rate[i]));
  // The "cell" stream is the one sweeps made before the other modes existed (same data).
  if (o.missing > 0 && o.missing_mode == "cell") {
    for (std::int64_t i = 0; i < M * N; ++i) {
      const std::int64_t keep = static_cast<std::int64_t>(miss_rng.below(R));
      for (std::int64_t r = 0; r < R; ++r)
        if (r != keep && miss_rng.uniform() < o.missing) d.trials[r * M * N + i] = std::nanf("");
    }
  } else if (o.missing > 0 && o.missing_mode == "trial") {
    for (std::int64_t m = 0; m < M; ++m) {
      const std::int64_t keep = static_cast<std::int64_t>(miss_rng.below(R));
      for (std::int64_t r = 0; r < R; ++r)
        if (r != keep && miss_rng.uniform() < o.missing)
          for (std::int64_t c = 0; c < N; ++c) d.trials[(r * M + m) * N + c] = std::nanf("");
    }
  } else if (o.missing > 0 && o.missing_mode == "repeat") {
    for (std::int64_t c = 0; c < N; ++c) {
      const std::int64_t keep0 = static_cast<std::int64_t>(miss_rng.below(R));
      const std::int64_t keep1 = (keep0 + 1) % R;
      for (std::int64_t r = 0; r < R; ++r)
        if (r != keep0 && r != keep1 && miss_rng.uniform() < o.missing)
          for (std::int64_t m = 0; m < M; ++m) d.trials[(r * M + m) * N + c] = std::nanf("");
    }
  }
  d.responses.resize(M * N);
  d.truth.resize(M * N);
  for (std::int64_t i = 0; i < M * N; ++i) {
    double s = 0;
    int k = 0;
    for (std::int64_t r = 0; r < R; ++r) {
      const float v = d.trials[r * M * N + i];
      if (!std::isnan(v)) {
        s += v;
        ++k;
      }
    }
    d.responses[i] = static_cast<float>(s / k);
    d.truth[i] = static_cast<float>(rate[i]);
  }
  d.split = random_split(M, mix_seed(o.seed, 5));
  return d;
}

}  // namespace ns::models::neural
