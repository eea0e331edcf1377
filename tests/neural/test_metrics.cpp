#include "models/neural/metrics.hpp"

#include "models/neural/dataset.hpp"

#include "catch.hpp"

#include <cmath>
#include <random>

using namespace ns::models::neural;

namespace {
const double kNaN = std::nan("");
}

TEST_CASE("CCmax matches the worked case of models/neural/README.md", "[metrics]") {
  // 2 repeats x 4 images: y = [[1,2,3,4],[2,2,4,4]] -> 8 / sqrt(51)
  const std::vector<double> y = {1, 2, 3, 4, 2, 2, 4, 4};
  REQUIRE(cc_max(y, 2, 4) == Approx(8.0 / std::sqrt(51.0)).epsilon(1e-12));
  REQUIRE(cc_max(y, 2, 4) == Approx(1.1202).margin(5e-5));
}

namespace {

// Schoppe 2016 Eq. 29 on a complete R x M table, written out as published (and as strflab's
// cc_max): the reference the new estimator must reproduce when nothing is missing.
double eq29_ccmax(const std::vector<double>& y, std::int64_t R, std::int64_t M) {
  auto var = [](const std::vector<double>& v, int ddof) {
    double m = 0;
    for (double x : v) m += x;
    m /= static_cast<double>(v.size());
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return s / static_cast<double>(static_cast<std::int64_t>(v.size()) - ddof);
  };
  std::vector<double> sum(M, 0.0), row(M);
  double sum_var = 0;
  for (std::int64_t r = 0; r < R; ++r) {
    for (std::int64_t m = 0; m < M; ++m) {
      row[m] = y[r * M + m];
      sum[m] += row[m];
    }
    sum_var += var(row, 1);
  }
  const double sp = (var(sum, 1) - sum_var) / static_cast<double>(R * (R - 1));
  std::vector<double> ybar(M);
  for (std::int64_t m = 0; m < M; ++m) ybar[m] = sum[m] / static_cast<double>(R);
  return std::sqrt(sp / var(ybar, 0));
}

// Signal power by the definition, with explicit projections instead of the absorbed normal
// equations of metrics.cpp: SS_image|repeat = |P_full y|^2 - |P_repeat y|^2, the residual
// |y|^2 - |P_full y|^2, ranks from the fits; P_full by least squares on the dense design
// [repeat dummies | image dummies] (Gram-Schmidt, so rank-deficient designs work).
double projection_sp(const std::vector<double>& y, std::int64_t R, std::int64_t M) {
  std::vector<double> cells;
  std::vector<std::int64_t> rr, mm;
  for (std::int64_t r = 0; r < R; ++r)
    for (std::int64_t m = 0; m < M; ++m)
      if (!std::isnan(y[r * M + m])) {
        cells.push_back(y[r * M + m]);
        rr.push_back(r);
        mm.push_back(m);
      }
  const auto n = static_cast<std::int64_t>(cells.size());
  std::vector<std::vector<double>> basis;
  auto add = [&](std::vector<double> v) {
    for (const auto& b : basis) {
      double d = 0;
      for (std::int64_t i = 0; i < n; ++i) d += b[i] * v[i];
      for (std::int64_t i = 0; i < n; ++i) v[i] -= d * b[i];
    }
    double norm = 0;
    for (double x : v) norm += x * x;
    if (norm < 1e-10) return;
    for (double& x : v) x /= std::sqrt(norm);
    basis.push_back(v);
  };
  auto reduction = [&] {
    double s = 0;
    for (const auto& b : basis) {
      double d = 0;
      for (std::int64_t i = 0; i < n; ++i) d += b[i] * cells[i];
      s += d * d;
    }
    return s;
  };
  std::int64_t repeats_present = 0, images_present = 0;
  for (std::int64_t r = 0; r < R; ++r) {
    std::vector<double> v(n, 0.0);
    for (std::int64_t i = 0; i < n; ++i) v[i] = rr[i] == r ? 1.0 : 0.0;
    double any = 0;
    for (double x : v) any += x;
    if (any > 0) ++repeats_present;
    add(v);
  }
  const double red_repeat = reduction();
  const auto rank_repeat = static_cast<std::int64_t>(basis.size());
  for (std::int64_t m = 0; m < M; ++m) {
    std::vector<double> v(n, 0.0);
    double any = 0;
    for (std::int64_t i = 0; i < n; ++i) any += v[i] = mm[i] == m ? 1.0 : 0.0;
    if (any > 0) ++images_present;
    add(v);
  }
  const double red_full = reduction();
  const auto rank_full = static_cast<std::int64_t>(basis.size());
  double total = 0;
  for (double x : cells) total += x * x;
  const double ms_resid = (total - red_full) / static_cast<double>(n - rank_full);
  return ((red_full - red_repeat) - static_cast<double>(rank_full - rank_repeat) * ms_resid) /
         static_cast<double>(n - repeats_present);
}

// Random table of counts (Poisson-like spread) with cells missing with probability p.
std::vector<double> random_table(std::int64_t R, std::int64_t M, double p, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> rate(M), y(R * M);
  for (auto& x : rate) x = 5 * u(gen);
  for (std::int64_t r = 0; r < R; ++r)
    for (std::int64_t m = 0; m < M; ++m) {
      std::poisson_distribution<int> pois(rate[m] + 0.3 * static_cast<double>(r));
      y[r * M + m] = pois(gen);
      if (r > 0 && u(gen) < p) y[r * M + m] = kNaN;  // repeat 0 always present
    }
  return y;
}

}  // namespace

TEST_CASE("CCmax equals Schoppe's Eq. 29 to 1e-12 when nothing is missing", "[metrics]") {
  for (std::int64_t R : {2, 3, 6, 10})
    for (std::int64_t M : {4, 37, 400}) {
      const auto y = random_table(R, M, 0.0, static_cast<unsigned>(R * 1000 + M));
      const double ref = eq29_ccmax(y, R, M);
      if (std::isnan(ref)) continue;
      INFO("R = " << R << ", M = " << M);
      REQUIRE(std::abs(cc_max(y, R, M) - ref) <= 1e-12 * std::max(1.0, std::abs(ref)));
    }
  // A whole repeat missing is the complete table of the others.
  std::vector<double> y = random_table(4, 50, 0.0, 7);
  std::vector<double> three(y.begin(), y.begin() + 3 * 50);
  for (std::int64_t m = 0; m < 50; ++m) y[3 * 50 + m] = kNaN;
  REQUIRE(std::abs(cc_max(y, 4, 50) - eq29_ccmax(three, 3, 50)) <= 1e-12);
}

TEST_CASE("Signal power with missing repeats: hand-worked case", "[metrics]") {
  // 2 repeats x 3 images, image 1 lacks repeat 1: y = [[1, 2, 4], [3, NaN, 6]].
  // Images 0 and 2 differ by +2 in repeat 1 both, so the additive model fits every cell:
  // SS_resid = 0 on df 5 - 3 - 1 = 1. Reductions: full = sum y^2 = 66, repeats alone =
  // 7^2/3 + 9^2/2 = 56.8333, so SS_image|repeat = 55/6 on df 2; n - R = 3 -> SP = 55/18.
  // Trial means ybar = (2, 2, 5), Var (1/M) = 2 -> CCmax = sqrt(55/36).
  const std::vector<double> y = {1, 2, 4, 3, kNaN, 6};
  REQUIRE(signal_power(y, 2, 3) == Approx(55.0 / 18.0).epsilon(1e-12));
  REQUIRE(cc_max(y, 2, 3) == Approx(std::sqrt(55.0) / 6.0).epsilon(1e-12));
  // The same table with the complete-subset rule of old (repeat 0 only) had no noise estimate.
  const TrialTable t = trial_table(y, 2, 3);
  REQUIRE(t.present == std::vector<std::int64_t>{2, 1, 2});
  REQUIRE(t.mean[1] == 2.0);
  REQUIRE(effective_repeats(t) == 2.0);  // median of (2, 1, 2)
  REQUIRE(effective_repeats(trial_table({1, 2, 3, kNaN, kNaN, 6}, 2, 3)) == 1.0);
  REQUIRE(effective_repeats(trial_table({1, 2, 3, 4, kNaN, kNaN, 7, 8}, 2, 4)) == 1.5);
}

TEST_CASE("Signal power with unequal repeats matches the projection definition",
          "[metrics]") {
  for (double p : {0.05, 0.2, 0.5})
    for (std::int64_t R : {2, 3, 6})
      for (std::int64_t M : {5, 40}) {
        const auto y = random_table(R, M, p, static_cast<unsigned>(p * 100 + R * 10 + M));
        INFO("p = " << p << ", R = " << R << ", M = " << M);
        const double ref = projection_sp(y, R, M);
        REQUIRE(signal_power(y, R, M) == Approx(ref).epsilon(1e-9).margin(1e-12));
      }
  // Disconnected design: images 0-1 only in repeats 0-1, images 2-3 only in repeats 2-3.
  const std::vector<double> d = {1, 2, kNaN, kNaN, 2, 4, kNaN, kNaN,  //
                                 kNaN, kNaN, 5, 1, kNaN, kNaN, 6, 3};
  REQUIRE(signal_power(d, 4, 4) == Approx(projection_sp(d, 4, 4)).epsilon(1e-9));
}

TEST_CASE("An image with a single present repeat keeps the neuron scored", "[metrics]") {
  // The worked case with image 3 down to one repeat: the old complete-subset rule dropped the
  // whole neuron (R' = 1); now it is scored.
  const std::vector<double> y = {1, 2, 3, 4,  //
                                 2, 2, 4, kNaN};
  const double c = cc_max(y, 2, 4);
  REQUIRE(std::isfinite(c));
  REQUIRE(c > 0);
  REQUIRE(signal_power(y, 2, 4) == Approx(projection_sp(y, 2, 4)).epsilon(1e-12));
  // Every image with one repeat: no noise estimate at all.
  REQUIRE(std::isnan(cc_max({1, kNaN, 3, kNaN, kNaN, 2, kNaN, 4}, 2, 4)));
  REQUIRE(std::isnan(signal_power({1, kNaN, kNaN, 4}, 2, 2)));
}

TEST_CASE("CCmax is NaN when the signal power is not positive, never clipped", "[metrics]") {
  // Pure noise: repeat sums are constant, so SP < 0.
  REQUIRE(std::isnan(cc_max({1, 2, 2, 1}, 2, 2)));
  // Identical repeats: no noise, SP = Var(ybar) (ddof 1) -> CCmax = sqrt(M / (M - 1)) > 1.
  REQUIRE(cc_max({1, 2, 3, 1, 2, 3}, 2, 3) == Approx(std::sqrt(3.0 / 2.0)).epsilon(1e-12));
}

TEST_CASE("Pearson uses population std and is 0 when either std <= 1e-5", "[metrics]") {
  REQUIRE(pearson({1, 2, 3, 4}, {2, 4, 6, 8}) == Approx(1.0).epsilon(1e-12));
  REQUIRE(pearson({1, 2, 3, 4}, {8, 6, 4, 2}) == Approx(-1.0).epsilon(1e-12));
  REQUIRE(pearson({1, 2, 3, 4}, {1, 3, 2, 4}) == Approx(0.8).epsilon(1e-12));
  REQUIRE(pearson({5, 5, 5, 5}, {1, 2, 3, 4}) == 0.0);
  // std = 0.9e-5 (population): still "zero variance"; 2e-5 is not.
  REQUIRE(pearson({0, 1.8e-5}, {0, 1}) == 0.0);
  REQUIRE(pearson({0, 4e-5}, {0, 1}) == Approx(1.0));
}

TEST_CASE("FEV compares predictions with the noise-free truth", "[metrics]") {
  REQUIRE(fev({1, 2, 3}, {1, 2, 3}) == Approx(1.0));
  REQUIRE(fev({2, 2, 2}, {1, 2, 3}) == Approx(0.0).margin(1e-12));
  REQUIRE(fev({1, 2, 4}, {1, 2, 3}) == Approx(1.0 - (1.0 / 3.0) / (2.0 / 3.0)));
  REQUIRE(std::isnan(fev({1, 2}, {3, 3})));
}

TEST_CASE("score_split: CCnorm = Pearson / CCmax with NaN-aware means", "[metrics]") {
  // 4 images, 2 neurons, 2 repeats. Neuron 0 is the worked case; neuron 1 is pure noise
  // (CCmax NaN, so it is excluded from the CCnorm means).
  PopulationView v;
  v.images = 4;
  v.neurons = 2;
  v.repeats = 2;
  const std::vector<float> trials = {1, 1, 2, 2, 3, 1, 4, 2,   // repeat 0: [image][neuron]
                                     2, 2, 2, 1, 4, 2, 4, 1};  // repeat 1
  std::vector<float> resp(8);
  for (int i = 0; i < 8; ++i) resp[i] = 0.5f * (trials[i] + trials[8 + i]);
  const std::vector<float> truth = {1, 1, 2, 1, 3, 1, 4, 1};
  v.trials = trials.data();
  v.responses = resp.data();
  v.truth = truth.data();
  // Predictions for images {0, 1, 2, 3}: neuron 0 follows the mean response exactly.
  std::vector<float> pred = {1.5f, 0.0f, 2.0f, 1.0f, 3.5f, 2.0f, 4.0f, 3.0f};
  const SplitScores s = score_split(pred, {0, 1, 2, 3}, v);
  REQUIRE(s.pearson[0] == Approx(1.0));
  REQUIRE(s.ccmax[0] == Approx(8.0 / std::sqrt(51.0)));
  REQUIRE(s.ccnorm[0] == Approx(std::sqrt(51.0) / 8.0));
  REQUIRE(std::isnan(s.ccmax[1]));
  REQUIRE(std::isnan(s.ccnorm[1]));
  REQUIRE(s.ccnorm_excluded == 1);
  REQUIRE(s.mean_ccnorm == Approx(std::sqrt(51.0) / 8.0));
  REQUIRE(s.mean_ccnorm2 == Approx(51.0 / 64.0));
  REQUIRE(s.mean_pearson == Approx(0.5 * (s.pearson[0] + s.pearson[1])));
  // Neuron 1's truth is constant: FEV NaN; the mean covers neuron 0 only.
  REQUIRE(std::isnan(s.fev[1]));
  REQUIRE(s.mean_fev == Approx(s.fev[0]));
  // A subset of images is scored on that subset only.
  const SplitScores sub = score_split({1.5f, 0, 2.0f, 0, 3.5f, 0}, {0, 1, 2}, v);
  REQUIRE(sub.pearson[0] == Approx(1.0));
  REQUIRE(sub.pearson[1] == 0.0);  // constant prediction
}

namespace {

// Test-split scores of the noise-free truth used as the prediction.
SplitScores oracle_scores(const NeuralData& d) {
  const std::vector<std::int64_t> test = d.indices(kTest);
  std::vector<float> pred;
  for (std::int64_t m : test)
    for (std::int64_t n = 0; n < d.neurons; ++n) pred.push_back(d.truth[m * d.neurons + n]);
  PopulationView v;
  v.images = d.images;
  v.neurons = d.neurons;
  v.repeats = d.repeats;
  v.responses = d.responses.data();
  v.trials = d.trials.data();
  v.truth = d.truth.data();
  return score_split(pred, test, v);
}

}  // namespace

TEST_CASE("Oracle: the noise-free truth scores CCnorm ~ 1 whatever is missing", "[metrics]") {
  // 6000 images (1200 test), 60 neurons, 6 repeats: the per-neuron CCnorm of a perfect model
  // scatters by a few percent; its mean over 60 neurons by well under 0.01.
  SimOptions o;
  o.images = 6000;
  o.size = 12;
  o.neurons = 60;
  o.repeats = 6;
  for (const char* mode : {"cell", "trial", "repeat"})
    for (double missing : {0.0, 0.05, 0.2}) {
      if (missing == 0.0 && std::string(mode) != "cell") continue;
      o.missing = missing;
      o.missing_mode = mode;
      const NeuralData d = simulate_v1(o);
      const SplitScores s = oracle_scores(d);
      INFO(mode << " missing " << missing << ": mean CCnorm " << s.mean_ccnorm << ", CCnorm^2 "
                << s.mean_ccnorm2 << ", excluded " << s.ccnorm_excluded);
      REQUIRE(s.ccnorm_excluded == 0);
      REQUIRE(std::abs(s.mean_ccnorm - 1.0) <= 0.01);
      REQUIRE(std::abs(s.mean_ccnorm2 - 1.0) <= 0.02);
      // Pearson is against the same trial means: a noisy measurement of a perfect model.
      REQUIRE(s.mean_pearson < s.mean_ccnorm);
    }
}

TEST_CASE("score_split: Pearson and CCmax use one trial mean per image", "[metrics]") {
  // 1 neuron, 2 repeats x 3 images, image 1 lacks repeat 1; `responses` deliberately differs
  // from the trial means: with trials present it is not used for scoring.
  const std::vector<float> trials = {1, 2, 4, 3, std::nanf(""), 6};
  const std::vector<float> resp = {9, 1, 0};
  PopulationView v;
  v.images = 3;
  v.neurons = 1;
  v.repeats = 2;
  v.trials = trials.data();
  v.responses = resp.data();
  const SplitScores s = score_split({2, 2, 5}, {0, 1, 2}, v);  // = the trial means
  REQUIRE(s.pearson[0] == Approx(1.0));
  REQUIRE(s.ccmax[0] == Approx(std::sqrt(55.0) / 6.0));
  REQUIRE(s.ccnorm[0] == Approx(6.0 / std::sqrt(55.0)));
  // An image with no repeat present for a neuron is left out of that neuron's scores.
  const std::vector<float> t2 = {1, std::nanf(""), 4, 3, std::nanf(""), 6};
  v.trials = t2.data();
  const SplitScores s2 = score_split({2, 100, 5}, {0, 1, 2}, v);
  REQUIRE(s2.pearson[0] == Approx(1.0));
}
