#include "models/neural/metrics.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace ns::models::neural;

namespace {
const double kNaN = std::nan("");
}

TEST_CASE("CCmax matches the worked case of the published recipe", "[metrics]") {
  // 2 repeats x 4 images: y = [[1,2,3,4],[2,2,4,4]] -> 8 / sqrt(51)
  const std::vector<double> y = {1, 2, 3, 4, 2, 2, 4, 4};
  REQUIRE(cc_max(y, 2, 4) == Approx(8.0 / std::sqrt(51.0)).epsilon(1e-12));
  REQUIRE(cc_max(y, 2, 4) == Approx(1.1202).margin(5e-5));
}

TEST_CASE("CCmax with missing repeats uses each image's first R' present repeats", "[metrics]") {
  // 3 repeats; image 0 lacks repeat 0, so every image keeps its first 2 present repeats:
  // image 0 -> (1, 2), image 1 -> (2, 2), image 2 -> (3, 4), image 3 -> (4, 4): the worked case.
  const std::vector<double> y = {kNaN, 2, 3, 4,  //
                                 1,    2, 4, 4,  //
                                 2,    9, 9, 9};
  REQUIRE(cc_max(y, 3, 4) == Approx(8.0 / std::sqrt(51.0)).epsilon(1e-12));
  // Without the NaN all 3 repeats are used and the value changes.
  std::vector<double> full = y;
  full[0] = 1;
  REQUIRE(cc_max(full, 3, 4) != Approx(8.0 / std::sqrt(51.0)).epsilon(1e-6));
  // An image with a single present repeat leaves R' = 1: excluded (NaN).
  const std::vector<double> sparse = {kNaN, 2, 3, 4, kNaN, 2, 4, 4, 2, 1, 3, 5};
  REQUIRE(std::isnan(cc_max(sparse, 3, 4)));
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
