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

TrialTable trial_table(const std::vector<double>& trials, std::int64_t repeats,
                       std::int64_t images) {
  NS_CHECK(static_cast<std::int64_t>(trials.size()) == repeats * images,
           "cc_max: {} values for {} repeats x {} images", trials.size(), repeats, images);
  TrialTable t;
  t.repeats = repeats;
  t.images = images;
  t.present.assign(images, 0);
  t.mean.assign(images, kNaN);
  std::vector<double> sum(images, 0.0);
  std::int64_t cells = 0, with_repeat = 0;
  for (std::int64_t r = 0; r < repeats; ++r)
    for (std::int64_t m = 0; m < images; ++m) {
      const double v = trials[r * images + m];
      if (std::isnan(v)) continue;
      sum[m] += v;
      ++t.present[m];
      ++cells;
    }
  for (std::int64_t m = 0; m < images; ++m)
    if (t.present[m] > 0) {
      t.mean[m] = sum[m] / static_cast<double>(t.present[m]);
      ++with_repeat;
    }
  t.cells = cells;
  t.images_present = with_repeat;
  return t;
}

double effective_repeats(const TrialTable& t) {
  std::vector<std::int64_t> n;
  for (std::int64_t k : t.present)
    if (k > 0) n.push_back(k);
  if (n.empty()) return 0.0;
  std::sort(n.begin(), n.end());
  const std::size_t h = n.size() / 2;
  return n.size() % 2 ? static_cast<double>(n[h]) : 0.5 * static_cast<double>(n[h - 1] + n[h]);
}

namespace {

// b'q for a consistent system C b = q, C symmetric positive semi-definite (k x k, row-major):
// pivoted Cholesky stops at the numerical rank; the pivoted leading block is invertible, so
// b = (C11^-1 q1, 0) solves the system and b'q = |L11^-1 q1|^2. Returns (b'q, rank).
std::pair<double, std::int64_t> psd_solve_dot(std::vector<double> c, std::vector<double> q,
                                              std::int64_t k) {
  double max_diag = 0;
  for (std::int64_t i = 0; i < k; ++i) max_diag = std::max(max_diag, c[i * k + i]);
  const double tol = 1e-10 * std::max(max_diag, 1e-300);
  std::int64_t rank = 0;
  double dot = 0;
  for (std::int64_t j = 0; j < k; ++j) {
    std::int64_t piv = j;
    for (std::int64_t i = j + 1; i < k; ++i)
      if (c[i * k + i] > c[piv * k + piv]) piv = i;
    if (!(c[piv * k + piv] > tol)) break;
    if (piv != j) {  // symmetric swap of rows/columns j and piv, and of q
      for (std::int64_t i = 0; i < k; ++i) std::swap(c[j * k + i], c[piv * k + i]);
      for (std::int64_t i = 0; i < k; ++i) std::swap(c[i * k + j], c[i * k + piv]);
      std::swap(q[j], q[piv]);
    }
    // Outer-product Cholesky step: column j of L, then the Schur complement.
    const double d = std::sqrt(c[j * k + j]);
    for (std::int64_t i = j + 1; i < k; ++i) c[i * k + j] /= d;
    q[j] /= d;  // forward substitution of L z = q alongside
    dot += q[j] * q[j];
    for (std::int64_t i = j + 1; i < k; ++i) {
      q[i] -= c[i * k + j] * q[j];
      for (std::int64_t l = j + 1; l <= i; ++l) {
        c[i * k + l] -= c[i * k + j] * c[l * k + j];
        c[l * k + i] = c[i * k + l];
      }
    }
    ++rank;
  }
  return {dot, rank};
}

}  // namespace

// signal_power and cc_max given the summary of the same trials (built once per neuron).
double signal_power(const std::vector<double>& trials, const TrialTable& t) {
  const std::int64_t repeats = t.repeats, images = t.images;
  // Repeats (levels of the second factor) with at least one present cell.
  std::vector<std::int64_t> rep_index;
  std::vector<std::int64_t> n_r;
  for (std::int64_t r = 0; r < repeats; ++r) {
    std::int64_t c = 0;
    for (std::int64_t m = 0; m < images; ++m) c += std::isnan(trials[r * images + m]) ? 0 : 1;
    if (c > 0) {
      rep_index.push_back(r);
      n_r.push_back(c);
    }
  }
  const auto R = static_cast<std::int64_t>(rep_index.size());
  const std::int64_t M = t.images_present, n = t.cells;
  if (M < 2 || R < 1) return kNaN;
  // Centre on the grand mean of the present cells (the sums of squares below do not change;
  // the rounding does).
  double grand = 0;
  for (double v : trials)
    if (!std::isnan(v)) grand += v;
  grand /= static_cast<double>(n);
  // Sums over the present cells: total SS, image means, repeat totals; the reduced normal
  // equations of the additive model y = mu + a_m + b_r + e after absorbing the image effects:
  //   C b = q,  C_rs = n_r d_rs - sum_m N_mr N_ms / n_m,  q_r = T_r - sum_m N_mr ybar_m.
  double ss_total = 0, red_images = 0;
  std::vector<double> total_r(R, 0.0), c(R * R, 0.0), q(R, 0.0);
  std::vector<std::int64_t> cols;
  for (std::int64_t m = 0; m < images; ++m) {
    if (t.present[m] == 0) continue;
    const double ybar = t.mean[m] - grand;
    const double inv_n = 1.0 / static_cast<double>(t.present[m]);
    red_images += static_cast<double>(t.present[m]) * ybar * ybar;
    cols.clear();
    for (std::int64_t j = 0; j < R; ++j) {
      const double v = trials[rep_index[j] * images + m];
      if (std::isnan(v)) continue;
      const double y = v - grand;
      ss_total += y * y;
      total_r[j] += y;
      q[j] -= ybar;
      cols.push_back(j);
    }
    for (std::int64_t a : cols)
      for (std::int64_t b : cols) c[a * R + b] -= inv_n;
  }
  double red_repeats = 0;
  for (std::int64_t j = 0; j < R; ++j) {
    c[j * R + j] += static_cast<double>(n_r[j]);
    q[j] += total_r[j];
    red_repeats += total_r[j] * total_r[j] / static_cast<double>(n_r[j]);
  }
  const auto [bq, rank_c] = psd_solve_dot(c, q, R);
  // Reductions in sum of squares: R(mu, a, b) = sum_m n_m ybar_m^2 + b'q; R(mu, b) = sum_r
  // T_r^2 / n_r. Henderson's method III: the image sum of squares adjusted for repeats and
  // the residual, with their ranks and expected values
  //   E[SS_image|repeat] = df_image s2 + SP (n - R),  E[SS_resid] = df_resid s2
  // (n - R = tr(Z'(I - P_repeat)Z) for the image incidence Z).
  const double ss_image = red_images + bq - red_repeats;
  const double ss_resid = ss_total - red_images - bq;
  const auto df_image = static_cast<double>(M + rank_c - R);
  const auto df_resid = static_cast<double>(n - M - rank_c);
  if (!(df_image > 0) || !(df_resid > 0)) return kNaN;
  const double ms_resid = std::max(ss_resid, 0.0) / df_resid;
  return (ss_image - df_image * ms_resid) / static_cast<double>(n - R);
}

double cc_max(const std::vector<double>& trials, const TrialTable& t) {
  if (t.images_present < 2) return kNaN;
  const double sp = signal_power(trials, t);
  // Var(ybar) over the images with a present repeat, 1/M, with the same trial means as Pearson.
  std::vector<double> ybar;
  for (double v : t.mean)
    if (!std::isnan(v)) ybar.push_back(v);
  const double var_ybar = variance(ybar, 0);
  if (!(sp > 0) || !(var_ybar > 0)) return kNaN;
  return std::sqrt(sp / var_ybar);
}

double signal_power(const std::vector<double>& trials, std::int64_t repeats,
                    std::int64_t images) {
  return signal_power(trials, trial_table(trials, repeats, images));
}

double cc_max(const std::vector<double>& trials, std::int64_t repeats, std::int64_t images) {
  return cc_max(trials, trial_table(trials, repeats, images));
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
  std::vector<double> p, y, t(M), tr;
  for (std::int64_t n = 0; n < N; ++n) {
    p.clear();
    y.clear();
    if (data.trials != nullptr && data.repeats > 0) {
      // One trial mean per image, ybar_m over its present repeats, for Pearson and CCmax alike;
      // an image with no repeat present for this neuron is left out of both.
      tr.assign(data.repeats * M, 0.0);
      for (std::int64_t r = 0; r < data.repeats; ++r)
        for (std::int64_t i = 0; i < M; ++i)
          tr[r * M + i] = data.trials[(r * data.images + index[i]) * N + n];
      const TrialTable table = trial_table(tr, data.repeats, M);
      for (std::int64_t i = 0; i < M; ++i) {
        if (table.present[i] == 0) continue;
        p.push_back(pred[i * N + n]);
        y.push_back(table.mean[i]);
      }
      if (!p.empty()) s.pearson[n] = pearson(p, y);
      s.ccmax[n] = cc_max(tr, table);
      s.ccnorm[n] = s.pearson[n] / s.ccmax[n];  // NaN when CCmax is
    } else {
      for (std::int64_t i = 0; i < M; ++i) {
        p.push_back(pred[i * N + n]);
        y.push_back(data.responses[index[i] * N + n]);
      }
      s.pearson[n] = pearson(p, y);
    }
    if (data.truth != nullptr) {
      p.resize(M);
      for (std::int64_t i = 0; i < M; ++i) {
        p[i] = pred[i * N + n];
        t[i] = data.truth[index[i] * N + n];
      }
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
