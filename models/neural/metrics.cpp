#include "models/neural/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "core/error.hpp"

namespace ns::models::neural {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Variance over the elements, divided by (n - ddof).
double variance(const std::vector<double>& v, int ddof) {
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / static_cast<double>(static_cast<std::int64_t>(v.size()) - ddof);
}

}  // namespace

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  NS_CHECK(x.size() == y.size() && !x.empty(), "pearson: sizes {} and {} differ or are empty",
           x.size(), y.size());
  const double mx = mean(x), my = mean(y);
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  const double n = static_cast<double>(x.size());
  const double sx = std::sqrt(sxx / n), sy = std::sqrt(syy / n);
  if (sx <= 1e-5 || sy <= 1e-5) return 0.0;
  return (sxy / n) / (sx * sy);
}

double cc_max(const std::vector<double>& trials, std::int64_t repeats, std::int64_t images) {
  NS_CHECK(static_cast<std::int64_t>(trials.size()) == repeats * images,
           "cc_max: {} values for {} repeats x {} images", trials.size(), repeats, images);
  if (images < 2) return kNaN;
  // R' = the fewest repeats present for any image.
  std::int64_t r_min = repeats;
  for (std::int64_t m = 0; m < images; ++m) {
    std::int64_t present = 0;
    for (std::int64_t r = 0; r < repeats; ++r)
      if (!std::isnan(trials[r * images + m])) ++present;
    r_min = std::min(r_min, present);
  }
  if (r_min < 2) return kNaN;
  // Complete R' x M table: per image, its first R' present repeats.
  std::vector<std::vector<double>> y(r_min, std::vector<double>(images));
  for (std::int64_t m = 0; m < images; ++m) {
    std::int64_t k = 0;
    for (std::int64_t r = 0; r < repeats && k < r_min; ++r) {
      const double v = trials[r * images + m];
      if (!std::isnan(v)) y[k++][m] = v;
    }
  }
  const double R = static_cast<double>(r_min);
  std::vector<double> sum(images, 0.0);
  double sum_var = 0;
  for (const auto& row : y) {
    for (std::int64_t m = 0; m < images; ++m) sum[m] += row[m];
    sum_var += variance(row, 1);
  }
  // Schoppe 2016 Eq. 29 (signal power, Sahani & Linden 2003).
  const double sp = (variance(sum, 1) - sum_var) / (R * (R - 1));
  std::vector<double> ybar(images);
  for (std::int64_t m = 0; m < images; ++m) ybar[m] = sum[m] / R;
  const double var_ybar = variance(ybar, 0);
  if (!(sp > 0) || !(var_ybar > 0)) return kNaN;
  return std::sqrt(sp / var_ybar);
}

double fev(const std::vector<double>& pred, const std::vector<double>& truth) {
  NS_CHECK(pred.size() == truth.size() && !pred.empty(), "fev: sizes {} and {} differ",
           pred.size(), truth.size());
  const double var = variance(truth, 0);
  if (!(var > 1e-12)) return kNaN;
  double mse = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) mse += (pred[i] - truth[i]) * (pred[i] - truth[i]);
  mse /= static_cast<double>(pred.size());
  return 1.0 - mse / var;
}

std::pair<double, std::int64_t> nan_mean(const std::vector<double>& v) {
  double s = 0;
  std::int64_t n = 0, excluded = 0;
  for (double x : v) {
    if (std::isnan(x)) {
      ++excluded;
    } else {
      s += x;
      ++n;
    }
  }
  return {n > 0 ? s / static_cast<double>(n) : kNaN, excluded};
}

SplitScores score_split(const std::vector<float>& pred, const std::vector<std::int64_t>& index,
                        const PopulationView& data) {
  const auto M = static_cast<std::int64_t>(index.size());
  const std::int64_t N = data.neurons;
  NS_CHECK(static_cast<std::int64_t>(pred.size()) == M * N,
           "score_split: {} predictions for {} images x {} neurons", pred.size(), M, N);
  SplitScores s;
  s.pearson.assign(N, kNaN);
  s.ccmax.assign(N, kNaN);
  s.ccnorm.assign(N, kNaN);
  s.fev.assign(N, kNaN);
  std::vector<double> p(M), y(M), t(M), tr;
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t i = 0; i < M; ++i) {
      p[i] = pred[i * N + n];
      y[i] = data.responses[index[i] * N + n];
    }
    s.pearson[n] = pearson(p, y);
    if (data.trials != nullptr && data.repeats > 0) {
      tr.assign(data.repeats * M, 0.0);
      for (std::int64_t r = 0; r < data.repeats; ++r)
        for (std::int64_t i = 0; i < M; ++i)
          tr[r * M + i] = data.trials[(r * data.images + index[i]) * N + n];
      s.ccmax[n] = cc_max(tr, data.repeats, M);
      s.ccnorm[n] = s.pearson[n] / s.ccmax[n];  // NaN when CCmax is
    }
    if (data.truth != nullptr) {
      for (std::int64_t i = 0; i < M; ++i) t[i] = data.truth[index[i] * N + n];
      s.fev[n] = fev(p, t);
    }
  }
  std::vector<double> cc2(N);
  for (std::int64_t n = 0; n < N; ++n) cc2[n] = s.ccnorm[n] * s.ccnorm[n];
  s.mean_pearson = nan_mean(s.pearson).first;
  std::tie(s.mean_ccnorm, s.ccnorm_excluded) = nan_mean(s.ccnorm);
  s.mean_ccnorm2 = nan_mean(cc2).first;
  s.mean_ccmax = nan_mean(s.ccmax).first;
  s.mean_fev = nan_mean(s.fev).first;
  return s;
}

}  // namespace ns::models::neural
