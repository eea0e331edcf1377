// TPE's sampling core (engine/tpe.hpp): the split, the weights, the Parzen densities checked
// against numbers worked by hand from the formulas, and proposals on small 1-d problems.
#include "catch.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "engine/tpe.hpp"

using namespace ns::engine;
using nlohmann::json;
using ns::sweeps::Distribution;

namespace {

Distribution uniform(double lo, double hi) { return Distribution{ns::sweeps::DistKind::kUniform, lo, hi, {}}; }
Distribution log_uniform(double lo, double hi) { return Distribution{ns::sweeps::DistKind::kLogUniform, lo, hi, {}}; }
Distribution integer(double lo, double hi) { return Distribution{ns::sweeps::DistKind::kInt, lo, hi, {}}; }
Distribution choice(std::vector<json> values) {
  return Distribution{ns::sweeps::DistKind::kChoice, 0, 0, std::move(values)};
}

TpeObservation complete(json params, double value) {
  TpeObservation o;
  o.params = std::move(params);
  o.value = value;
  return o;
}
TpeObservation stopped(json params, double value, double resource) {
  TpeObservation o = complete(std::move(params), value);
  o.state = TpeState::kStopped;
  o.resource = resource;
  return o;
}
TpeObservation running(json params) {
  TpeObservation o;
  o.params = std::move(params);
  o.state = TpeState::kRunning;
  return o;
}

TpeOptions minimize() {
  TpeOptions o;
  o.maximize = false;
  return o;
}

double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// 30 observations of x on a grid (k + 1/2) / 30, in a scrambled journal order (k = 7 i mod 30),
// valued |x - 0.21| (minimized): the good three (gamma(30) = 3) are x = 0.2167, 0.1833, 0.25.
std::vector<TpeObservation> cluster_near_02() {
  std::vector<TpeObservation> obs;
  for (int i = 0; i < 30; ++i) {
    const double x = ((7 * i) % 30 + 0.5) / 30;
    obs.push_back(complete(json{{"x", x}}, std::fabs(x - 0.21)));
  }
  return obs;
}

}  // namespace

TEST_CASE("TPE gamma: min(ceil(0.1 n), 25), and the split's sizes", "[tpe]") {
  const TpeOptions o;
  CHECK(tpe_gamma(0, o) == 0);
  CHECK(tpe_gamma(5, o) == 1);     // ceil(0.5)
  CHECK(tpe_gamma(10, o) == 1);    // ceil(1.0)
  CHECK(tpe_gamma(30, o) == 3);    // ceil(3.0)
  CHECK(tpe_gamma(300, o) == 25);  // ceil(30) capped at 25
  for (int n : {5, 10, 30, 300}) {
    std::vector<TpeObservation> obs;
    for (int i = 0; i < n; ++i) obs.push_back(complete(json{{"x", 0.5}}, i));
    obs.push_back(running(json{{"x", 0.5}}));  // not counted in n, always bad
    const TpeSplit s = tpe_split(obs, o);
    CHECK(static_cast<int>(s.good.size()) == tpe_gamma(n, o));
    CHECK(static_cast<int>(s.bad.size()) == n + 1 - tpe_gamma(n, o));
    // Maximizing values 0..n-1: the good ones are the last gamma(n), in journal order.
    for (std::size_t k = 0; k < s.good.size(); ++k)
      CHECK(s.good[k] == n - static_cast<int>(s.good.size()) + static_cast<int>(k));
    CHECK(s.bad.back() == n);  // the running one
  }
}

TEST_CASE("TPE default weights for n = 30: a linear ramp over the 5 oldest, then 25 ones",
          "[tpe]") {
  CHECK(tpe_weights(0).empty());
  CHECK(tpe_weights(24) == std::vector<double>(24, 1.0));
  CHECK(tpe_weights(25) == std::vector<double>(25, 1.0));  // linspace(1/25, 1, 0) is empty
  const std::vector<double> w = tpe_weights(30);
  REQUIRE(w.size() == 30);
  // numpy.linspace(1/30, 1, 5): 1/30 + i (1 - 1/30) / 4 = 0.03333, 0.275, 0.51667, 0.75833, 1
  CHECK(w[0] == Approx(1.0 / 30));
  CHECK(w[1] == Approx(0.275));
  CHECK(w[2] == Approx(0.5166666666666667));
  CHECK(w[3] == Approx(0.7583333333333333));
  CHECK(w[4] == 1.0);
  for (int i = 5; i < 30; ++i) CHECK(w[i] == 1.0);
  // In an estimator: the observations' weights then prior_weight 1, over their sum
  // 2.583333 (the ramp: 5 (1/30 + 1) / 2) + 25 + 1 = 28.583333.
  const ParzenEstimator pe(uniform(0, 1), std::vector<double>(30, 0.5), 1.0);
  REQUIRE(pe.weights().size() == 31);
  CHECK(pe.weights()[0] == Approx((1.0 / 30) / 28.583333333333333));
  CHECK(pe.weights()[29] == Approx(1 / 28.583333333333333));
  CHECK(pe.weights()[30] == Approx(1 / 28.583333333333333));
}

TEST_CASE("TPE truncated-normal mixture on [0, 1] for observations 0.2 and 0.7, by hand", "[tpe]") {
  const ParzenEstimator pe(uniform(0, 1), {0.2, 0.7}, 1.0);
  // Means: the observations, then the prior at the midpoint 0.5.
  REQUIRE(pe.mus() == std::vector<double>{0.2, 0.7, 0.5});
  // Bandwidths: sorted means with the ends, [0 | 0.2, 0.5, 0.7 | 1]. The lowest (0.2) and the
  // highest (0.7) take their inner gap: 0.5 - 0.2 = 0.3, 0.7 - 0.5 = 0.2. Magic clip: at least
  // 1 / min(100, 3 kernels + 1) = 0.25, so 0.2 -> 0.25. The prior: the width, 1.
  REQUIRE(pe.sigmas().size() == 3);
  CHECK(pe.sigmas()[0] == Approx(0.3));
  CHECK(pe.sigmas()[1] == Approx(0.25));
  CHECK(pe.sigmas()[2] == Approx(1.0));
  CHECK(pe.weights() == std::vector<double>{1.0 / 3, 1.0 / 3, 1.0 / 3});
  // f(x) = sum_k 1/3 phi((x - mu_k) / s_k) / (s_k Z_k), Z_k = Phi((1 - mu_k) / s_k) -
  // Phi(-mu_k / s_k): Z = 0.743677 (0.2, 0.3), 0.882375 (0.7, 0.25), 0.382925 (0.5, 1).
  // x = 0.2: phi(0) / (0.3 * 0.743677) / 3 = 0.596051; phi(-2) / (0.25 * 0.882375) / 3 =
  //          0.081584; phi(-0.3) / 0.382925 / 3 = 0.331995; sum 1.009630.
  CHECK(std::exp(pe.log_pdf(0.2)) == Approx(1.0096302240273225).epsilon(1e-9));
  // x = 0.9: 0.039178 + 0.437745 + 0.320576 = 0.797499.
  CHECK(std::exp(pe.log_pdf(0.9)) == Approx(0.7974990661277077).epsilon(1e-9));
  // x = 0 (an end): 0.477280 + 0.011961 + 0.306470 = 0.795711.
  CHECK(std::exp(pe.log_pdf(0.0)) == Approx(0.7957111482146587).epsilon(1e-9));
  CHECK(pe.log_pdf(-0.01) == -std::numeric_limits<double>::infinity());
  CHECK(pe.log_pdf(1.01) == -std::numeric_limits<double>::infinity());
  // A density: the midpoint rule over [0, 1] gives 1.
  double integral = 0;
  for (int i = 0; i < 10000; ++i) integral += std::exp(pe.log_pdf((i + 0.5) / 10000)) / 10000;
  CHECK(integral == Approx(1.0).epsilon(1e-6));
  // No observation: the prior alone, N(0.5, 1) truncated to [0, 1]: phi(0.5) / 0.382925.
  const ParzenEstimator prior(uniform(0, 1), {}, 1.0);
  CHECK(prior.weights() == std::vector<double>{1.0});
  CHECK(std::exp(prior.log_pdf(0.0)) == Approx(0.3520653267642995 / 0.38292492254802624));
}

TEST_CASE("TPE draws a kernel value by its inverse CDF: F(sample(u)) = u", "[tpe]") {
  // Observation 0.05 on [0, 1]: sorted [0 | 0.05, 0.5 | 1], its bandwidth the gap 0.45; the
  // prior N(0.5, 1). Weights 1/2, 1/2: u_kernel 0.25 picks the observation, 0.75 the prior.
  const ParzenEstimator pe(uniform(0, 1), {0.05}, 1.0);
  REQUIRE(pe.sigmas()[0] == Approx(0.45));
  for (int k : {0, 1}) {
    const double mu = pe.mus()[k], s = pe.sigmas()[k];
    const double lo = Phi((0 - mu) / s), mass = Phi((1 - mu) / s) - lo;
    // Below and above the median (the two branches), and deep in both tails.
    for (double u : {0.0, 1e-9, 0.001, 0.1, 0.5, 0.77, 0.999, 1 - 1e-9}) {
      const double x = pe.sample(k == 0 ? 0.25 : 0.75, u);
      CHECK(x >= 0);
      CHECK(x <= 1);
      CHECK((Phi((x - mu) / s) - lo) / mass == Approx(u).margin(1e-12));
    }
  }
}

TEST_CASE("TPE log_uniform: the log-space density at log x with the Jacobian 1/x", "[tpe]") {
  const ParzenEstimator lg(log_uniform(1e-3, 1), {0.01, 0.1}, 1.0);
  const ParzenEstimator in_log(uniform(std::log(1e-3), std::log(1.0)),
                               {std::log(0.01), std::log(0.1)}, 1.0);
  REQUIRE(lg.mus().size() == 3);
  for (int k = 0; k < 3; ++k) {
    CHECK(lg.mus()[k] == Approx(in_log.mus()[k]));
    CHECK(lg.sigmas()[k] == Approx(in_log.sigmas()[k]));
  }
  for (double x : {1e-3, 0.003, 0.01, 0.05, 0.1, 0.5, 1.0})
    CHECK(lg.log_pdf(x) == Approx(in_log.log_pdf(std::log(x)) - std::log(x)));
  // A density in x: integrate over [1e-3, 1] in log steps (dx = x d(log x)).
  double integral = 0;
  const int n = 20000;
  const double a = std::log(1e-3), b = 0, h = (b - a) / n;
  for (int i = 0; i < n; ++i) {
    const double x = std::exp(a + (i + 0.5) * h);
    integral += std::exp(lg.log_pdf(x)) * x * h;
  }
  CHECK(integral == Approx(1.0).epsilon(1e-6));
  CHECK(lg.log_pdf(2.0) == -std::numeric_limits<double>::infinity());
}

TEST_CASE("TPE int: probabilities are CDF differences on [k - 1/2, k + 1/2] and sum to 1",
          "[tpe]") {
  // int [1, 5] -> [0.5, 5.5]; observations 2, 2, 5 and the prior at 3. Sorted means with the
  // ends: [0.5 | 2, 2, 3, 5 | 5.5] (equal means in journal order). Bandwidths: the first 2 (the
  // lowest) its inner gap 0; the second 2: max(0, 1) = 1; 5 (the highest) its inner gap 2. Magic
  // clip: at least 5 / min(100, 4 + 1) = 1: sigmas 1, 1, 2; the prior 5. Weights 1/4 each.
  const ParzenEstimator pe(integer(1, 5), {2, 2, 5}, 1.0);
  REQUIRE(pe.sigmas().size() == 4);
  CHECK(pe.sigmas()[0] == Approx(1));
  CHECK(pe.sigmas()[1] == Approx(1));
  CHECK(pe.sigmas()[2] == Approx(2));
  CHECK(pe.sigmas()[3] == Approx(5));
  CHECK(pe.low() == 0.5);
  CHECK(pe.high() == 5.5);
  double total = 0;
  for (int k = 1; k <= 5; ++k) {
    double expected = 0;
    for (int j = 0; j < 4; ++j) {
      const double m = pe.mus()[j], s = pe.sigmas()[j];
      expected += 0.25 * (Phi((k + 0.5 - m) / s) - Phi((k - 0.5 - m) / s)) /
                  (Phi((5.5 - m) / s) - Phi((0.5 - m) / s));
    }
    const double p = std::exp(pe.log_pdf(k));
    CHECK(p == Approx(expected).epsilon(1e-12));
    total += p;
  }
  CHECK(total == Approx(1.0).epsilon(1e-12));
  // P(2) = 1/4 [2 (Phi(0.5) - Phi(-0.5)) / (Phi(3.5) - Phi(-1.5)) + (Phi(-1.25) - Phi(-1.75)) /
  //        (Phi(0.25) - Phi(-2.25)) + (Phi(-0.1) - Phi(-0.3)) / (Phi(0.5) - Phi(-0.5))]
  CHECK(std::exp(pe.log_pdf(2)) == Approx(0.28415814748754387).epsilon(1e-12));
  CHECK(pe.log_pdf(2.5) == -std::numeric_limits<double>::infinity());
  CHECK(pe.log_pdf(6) == -std::numeric_limits<double>::infinity());
  // Draws round a continuous draw on [0.5, 5.5]: integers in [1, 5], all of them reached.
  std::set<double> seen;
  for (int i = 0; i < 200; ++i) {
    const double x = pe.sample((i % 4 + 0.5) / 4, (i / 4 + 0.5) / 50);
    CHECK(x == std::floor(x));
    seen.insert(x);
  }
  CHECK(seen == std::set<double>{1, 2, 3, 4, 5});
}

TEST_CASE("TPE categorical: observation kernels smoothed by the prior weight, ties equal",
          "[tpe]") {
  const Distribution abc = choice({"a", "b", "c"});
  // Observations a, b (a tie: one each). n + 1 = 3 kernels, so each observation kernel puts
  // 1 + 1/3 on its choice and 1/3 on every choice, over 2: a -> (2/3, 1/6, 1/6),
  // b -> (1/6, 2/3, 1/6); the prior (1/3, 1/3, 1/3). Weights 1/3 each:
  // P(a) = P(b) = (2/3 + 1/6 + 1/3) / 3 = 7/18, P(c) = (1/6 + 1/6 + 1/3) / 3 = 4/18.
  const ParzenEstimator tie(abc, {0, 1}, 1.0);
  CHECK(tie.choice_weights()[0][0] == Approx(2.0 / 3));
  CHECK(tie.choice_weights()[0][1] == Approx(1.0 / 6));
  CHECK(std::exp(tie.log_pdf(0)) == Approx(7.0 / 18));
  CHECK(std::exp(tie.log_pdf(1)) == Approx(7.0 / 18));
  CHECK(std::exp(tie.log_pdf(2)) == Approx(4.0 / 18));
  // a, a, b: 4 kernels, 1 + 1/4 and 1/4, over 7/4: a -> (5/7, 1/7, 1/7). Weights 1/4:
  // P(a) = (10/7 + 1/7 + 1/3) / 4 = 10/21, P(b) = (2/7 + 5/7 + 1/3) / 4 = 7/21,
  // P(c) = (3/7 + 1/3) / 4 = 4/21.
  const ParzenEstimator two(abc, {0, 0, 1}, 1.0);
  CHECK(std::exp(two.log_pdf(0)) == Approx(10.0 / 21));
  CHECK(std::exp(two.log_pdf(1)) == Approx(7.0 / 21));
  CHECK(std::exp(two.log_pdf(2)) == Approx(4.0 / 21));
  // No observation: uniform.
  const ParzenEstimator none(abc, {}, 1.0);
  CHECK(std::exp(none.log_pdf(2)) == Approx(1.0 / 3));
  // Sampling follows the weights: u_kernel picks the kernel, u_value the choice in it.
  CHECK(two.sample(0.1, 0.1) == 0);   // kernel 0 (a), 0.1 < 5/7
  CHECK(two.sample(0.6, 0.1) == 0);   // kernel 2 (b), 0.1 < 1/7 -> a
  CHECK(two.sample(0.6, 0.5) == 1);   // kernel 2 (b), 1/7 <= 0.5 < 6/7 -> b
  CHECK(two.sample(0.9, 0.99) == 2);  // the prior, 0.99 >= 2/3 -> c
}

TEST_CASE("TPE choices with duplicate values map to the first equal choice", "[tpe]") {
  const Distribution dup = choice({1, 1, 2});
  CHECK(tpe_point(dup, json(1), "here") == 0);
  CHECK(tpe_point(dup, json(1.0), "here") == 0);  // JSON numbers compare by value
  CHECK(tpe_point(dup, json(2), "here") == 2);
  CHECK(tpe_value(dup, 1) == json(1));
  CHECK_THROWS_WITH(tpe_point(dup, json("x"), "tpe observation 4 'k'"),
                    "tpe observation 4 'k': expected one of the choices 1, 1, 2, got \"x\"");
  // Observations 1, 1, 2 -> points 0, 0, 2: the second 1 only gets prior mass.
  const ParzenEstimator pe(dup, {0, 0, 2}, 1.0);
  CHECK(std::exp(pe.log_pdf(0)) == Approx(10.0 / 21));
  CHECK(std::exp(pe.log_pdf(1)) == Approx(4.0 / 21));
  CHECK(std::exp(pe.log_pdf(2)) == Approx(7.0 / 21));
  // A proposal is a value of the list, as written.
  std::vector<TpeObservation> obs;
  for (int i = 0; i < 12; ++i) obs.push_back(complete(json{{"k", i % 3 == 2 ? 2 : 1}}, i % 3 == 2));
  const TpeSampler tpe({{"k", dup}}, TpeOptions{});
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const json p = tpe.propose(obs, seed);
    CHECK(p.at("k").is_number_integer());
    CHECK((p.at("k") == json(1) || p.at("k") == json(2)));
  }
}

TEST_CASE("TPE argmax ties: the first drawn of the best candidates wins", "[tpe]") {
  // Good: one "a" and one "b" (gamma(20) = 2); bad: 18 "c". l and g give a and b exactly the
  // same probabilities, so every a and b candidate ties on the best score.
  std::vector<TpeObservation> obs = {complete(json{{"k", "a"}}, 10),
                                     complete(json{{"k", "b"}}, 10)};
  for (int i = 0; i < 18; ++i) obs.push_back(complete(json{{"k", "c"}}, 0));
  const TpeSampler tpe({{"k", choice({"a", "b", "c"})}}, TpeOptions{});
  std::set<std::string> winners;
  int later_ties = 0;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const std::vector<TpeCandidate> c = tpe.candidates("k", obs, seed);
    std::size_t first = 0;
    for (std::size_t i = 1; i < c.size(); ++i)
      if (c[i].score() > c[first].score()) first = i;
    REQUIRE(c[first].point != 2);  // a or b
    for (std::size_t i = first + 1; i < c.size(); ++i)
      later_ties += c[i].score() == c[first].score() && c[i].point != c[first].point;
    const json p = tpe.propose(obs, seed);
    CHECK(p.at("k") == tpe_value(tpe.space()[0].second, c[first].point));
    winners.insert(p.at("k").get<std::string>());
  }
  CHECK(winners == std::set<std::string>{"a", "b"});  // draw order decides, not the choice
  CHECK(later_ties > 0);                              // a later equal candidate lost
}

TEST_CASE("TPE ties in the objective keep journal order: the earlier entry ranks first", "[tpe]") {
  std::vector<TpeObservation> obs;
  for (int i = 0; i < 20; ++i) obs.push_back(complete(json{{"x", 0.5}}, 1.0));
  for (bool maximize : {true, false}) {
    TpeOptions o;
    o.maximize = maximize;
    const TpeSplit s = tpe_split(obs, o);
    CHECK(s.good == std::vector<int>{0, 1});  // gamma(20) = 2
  }
  // A tie for the last good place: 0.1 (entry 1) beats everything; 0.3 at entries 0 and 3.
  std::vector<TpeObservation> v = {complete({}, 0.3), complete({}, 0.1), complete({}, 0.5),
                                   complete({}, 0.3)};
  for (int i = 0; i < 7; ++i) v.push_back(complete({}, 0.9));
  TpeOptions o = minimize();
  o.gamma_fraction = 1;  // gamma(n) = min(n, gamma_max)
  o.gamma_max = 3;
  CHECK(tpe_split(v, o).good == std::vector<int>{0, 1, 3});
  o.gamma_max = 2;  // entry 0 wins the tie against entry 3
  CHECK(tpe_split(v, o).good == std::vector<int>{0, 1});
}

TEST_CASE("TPE ranking: a stopped trial ranks below any complete one, then by rung", "[tpe]") {
  // Maximizing. A complete trial with a poor value, stopped trials with better values.
  std::vector<TpeObservation> obs = {
      stopped({}, 0.99, 3),           // 0: excellent, but stopped at rung 3
      complete({}, 0.01),             // 1: complete, poor
      stopped({}, 0.2, 9),            // 2: stopped later (rung 9), worse value than 0
      stopped({}, 0.5, 9),            // 3: rung 9, better than 2
      stopped({}, std::nan(""), 27),  // 4: the latest rung, but NaN there
  };
  for (int i = 0; i < 15; ++i) obs.push_back(stopped({}, 0.9, 1));  // 5..19, rung 1
  TpeOptions o;
  // n = 20, gamma 2: the complete trial, then the best of the stopped: the latest rung (27)
  // first, whatever its value.
  CHECK(tpe_split(obs, o).good == std::vector<int>{1, 4});
  o.gamma_fraction = 1;  // gamma(n) = min(n, gamma_max)
  o.gamma_max = 3;       // then rung 9 by value: 3 (0.5) before 2 (0.2)
  CHECK(tpe_split(obs, o).good == std::vector<int>{1, 3, 4});
  o.gamma_max = 4;  // then 2: rung 9 before rung 3, whose 0.99 is better
  CHECK(tpe_split(obs, o).good == std::vector<int>{1, 2, 3, 4});
  o.gamma_max = 5;
  CHECK(tpe_split(obs, o).good == std::vector<int>{0, 1, 2, 3, 4});
  // The same when minimizing: the complete one first, whatever its value.
  TpeOptions m = minimize();
  m.gamma_fraction = 1;
  m.gamma_max = 1;
  obs[1].value = 1e9;
  CHECK(tpe_split(obs, m).good == std::vector<int>{1});
}

TEST_CASE("TPE proposes near the good cluster: x near 0.2 on [0, 1]", "[tpe]") {
  const TpeSampler tpe({{"x", uniform(0, 1)}}, minimize());
  const std::vector<TpeObservation> obs = cluster_near_02();
  const TpeSplit s = tpe_split(obs, tpe.options());
  REQUIRE(s.good.size() == 3);
  std::vector<double> good;
  for (int i : s.good) good.push_back(obs[i].params.at("x").get<double>());
  std::sort(good.begin(), good.end());
  CHECK(good == std::vector<double>{5.5 / 30, 6.5 / 30, 7.5 / 30});
  // l/g is largest around the good points: at 0.2 well above 0, far away well below.
  const auto [l, g] = tpe.densities("x", obs);
  CHECK(l.log_pdf(0.2) - g.log_pdf(0.2) > 1.0);
  CHECK(l.log_pdf(0.8) - g.log_pdf(0.8) < -1.0);
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    const json p = tpe.propose(obs, seed);
    CHECK(std::fabs(p.at("x").get<double>() - 0.2) < 0.08);
    // The proposal is the first candidate of the largest log l - log g.
    const std::vector<TpeCandidate> c = tpe.candidates("x", obs, seed);
    REQUIRE(c.size() == 24);
    std::size_t best = 0;
    for (std::size_t i = 0; i < c.size(); ++i) {
      CHECK(c[i].log_l == Approx(l.log_pdf(c[i].point)));
      CHECK(c[i].log_g == Approx(g.log_pdf(c[i].point)));
      if (c[i].score() > c[best].score()) best = i;
    }
    CHECK(p.at("x").get<double>() == c[best].point);
  }
}

TEST_CASE("TPE constant liar: running trials at x push the next proposal away from x", "[tpe]") {
  const TpeSampler tpe({{"x", uniform(0, 1)}}, minimize());
  std::vector<TpeObservation> obs = cluster_near_02();
  const std::uint64_t seed = 42;
  const double first = tpe.propose(obs, seed).at("x").get<double>();
  const std::vector<TpeCandidate> before = tpe.candidates("x", obs, seed);
  // Two workers are already training at the first proposal.
  obs.push_back(running(json{{"x", first}}));
  obs.push_back(running(json{{"x", first}}));
  CHECK(tpe_split(obs, tpe.options()).bad.size() == 29);  // 27 + the 2 running
  const std::vector<TpeCandidate> after = tpe.candidates("x", obs, seed);
  // l is unchanged (running trials are never good, n is unchanged), so are the candidates;
  // g rises at `first`, and its score falls.
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].point == before[i].point);
    CHECK(after[i].log_l == before[i].log_l);
  }
  const auto [l0, g0] = tpe.densities("x", cluster_near_02());
  const auto [l1, g1] = tpe.densities("x", obs);
  CHECK(g1.log_pdf(first) > g0.log_pdf(first));
  const double second = tpe.propose(obs, seed).at("x").get<double>();
  CHECK(second != first);
  CHECK(std::fabs(second - 0.2) < 0.1);  // still near the good cluster
}

TEST_CASE("TPE is deterministic: the same seed and history give the same proposal", "[tpe]") {
  const TpeSpace space = {{"act", choice({"relu", "tanh", "gelu"})},
                          {"layers", integer(1, 6)},
                          {"lr", log_uniform(1e-4, 1)},
                          {"x", uniform(-2, 2)}};
  const TpeSampler tpe(space, TpeOptions{});
  std::vector<TpeObservation> obs;
  for (int i = 0; i < 25; ++i) {
    const json p = tpe.propose(obs, 1000 + i);
    const double v = -std::pow(p.at("x").get<double>() - 0.5, 2) -
                     std::pow(std::log10(p.at("lr").get<double>()) + 2, 2) +
                     (p.at("act") == "tanh" ? 1 : 0) - 0.1 * p.at("layers").get<int>();
    obs.push_back(complete(p, v));
  }
  obs.push_back(running(tpe.propose(obs, 77)));
  const json a = tpe.propose(obs, 7);
  CHECK(a == tpe.propose(obs, 7));
  CHECK(a == TpeSampler(space, TpeOptions{}).propose(obs, 7));
  CHECK(a.at("layers").is_number_integer());
  CHECK(a.at("lr").is_number_float());
  CHECK(a.at("x").is_number_float());
  CHECK(a.at("act").is_string());
  const json b = tpe.propose(obs, 8);
  CHECK(a.at("x") != b.at("x"));
  CHECK(a.at("lr") != b.at("lr"));
  // Streams are per parameter: dropping "act" from the space changes no other's proposal.
  const TpeSampler fewer({space.begin() + 1, space.end()}, TpeOptions{});
  const json c = fewer.propose(obs, 7);
  CHECK(c.at("x") == a.at("x"));
  CHECK(c.at("lr") == a.at("lr"));
  CHECK(c.at("layers") == a.at("layers"));
}

TEST_CASE("TPE startup: before `startup` finished observations, draws from the prior", "[tpe]") {
  // The random search's semantics.
  CHECK(tpe_prior_draw(uniform(2, 4), 0.25) == json(2.5));
  CHECK(tpe_prior_draw(log_uniform(1e-4, 1), 0.5).get<double>() == Approx(1e-2));
  CHECK(tpe_prior_draw(log_uniform(1e-4, 1), 0.0).get<double>() == Approx(1e-4));
  CHECK(tpe_prior_draw(integer(1, 3), 0.0) == json(1));
  CHECK(tpe_prior_draw(integer(1, 3), 0.34) == json(2));   // 1 + floor(1.02)
  CHECK(tpe_prior_draw(integer(1, 3), 0.999) == json(3));  // inclusive
  CHECK(tpe_prior_draw(choice({"a", "b"}), 0.99) == json("b"));

  const TpeSpace space = {{"k", integer(1, 3)}, {"lr", log_uniform(1e-4, 1)}, {"x", uniform(0, 1)}};
  const TpeSampler tpe(space, TpeOptions{});  // startup 10
  std::vector<TpeObservation> obs;
  for (int i = 0; i < 9; ++i) obs.push_back(complete(json{{"k", 1}, {"lr", 0.5}, {"x", 0.9}}, i));
  for (int i = 0; i < 5; ++i) obs.push_back(running(json{{"k", 1}, {"lr", 0.5}, {"x", 0.9}}));
  CHECK(tpe.in_startup(obs));  // 9 finished; running ones do not count
  // The history does not matter in startup: the same draw as with none.
  for (std::uint64_t seed = 0; seed < 5; ++seed)
    CHECK(tpe.propose(obs, seed) == tpe.propose({}, seed));
  // Prior draws: uniform over the space (log-uniform in log space, ints inclusive).
  double sum_x = 0, sum_log_lr = 0;
  std::map<int, int> ks;
  const int n = 4000;
  for (int seed = 0; seed < n; ++seed) {
    const json p = tpe.propose(obs, seed);
    sum_x += p.at("x").get<double>();
    sum_log_lr += std::log10(p.at("lr").get<double>());
    ks[p.at("k").get<int>()]++;
  }
  CHECK(sum_x / n == Approx(0.5).margin(0.03));
  CHECK(sum_log_lr / n == Approx(-2).margin(0.1));
  REQUIRE(ks.size() == 3);
  for (auto [k, count] : ks) CHECK(count == Approx(n / 3.0).margin(n * 0.05));
  // The tenth finished observation ends startup.
  obs.push_back(stopped(json{{"k", 2}, {"lr", 0.1}, {"x", 0.4}}, 3, 1));
  CHECK_FALSE(tpe.in_startup(obs));
}

TEST_CASE("TPE rejects bad spaces, options and observation values with clear messages", "[tpe]") {
  CHECK_THROWS_WITH(TpeSampler({{"b", uniform(0, 1)}, {"a", uniform(0, 1)}}, TpeOptions{}),
                    "tpe: the space's names must be sorted and distinct; 'b' comes before 'a'");
  CHECK_THROWS_WITH(TpeSampler({{"lr", log_uniform(0, 1)}}, TpeOptions{}),
                    "tpe: parameter 'lr': log_uniform needs low > 0, got 0");
  TpeOptions o;
  o.candidates = 0;
  CHECK_THROWS_WITH(TpeSampler({{"x", uniform(0, 1)}}, o), "tpe: candidates must be >= 1, got 0");
  TpeOptions s;
  s.startup = 0;
  const TpeSampler tpe({{"k", integer(1, 3)}, {"x", uniform(0, 1)}}, s);
  CHECK_THROWS_WITH(tpe.propose({complete(json{{"x", 0.5}}, 1), complete(json{{"x", 1.5}}, 2)}, 1),
                    "tpe observation 1 'x': expected a number in [0, 1], got 1.5");
  CHECK_THROWS_WITH(tpe.propose({complete(json{{"k", 2.5}}, 1)}, 1),
                    "tpe observation 0 'k': expected an integer in [1, 3], got 2.5");
  CHECK_THROWS_WITH(tpe.densities("y", {}), "tpe: unknown parameter 'y'; known: k, x");
  // An absent or null parameter leaves that observation out of its densities only.
  const std::vector<TpeObservation> partial = {complete(json{{"x", 0.5}}, 1),
                                               complete(json{{"k", nullptr}, {"x", 0.25}}, 2)};
  const auto [lk, gk] = tpe.densities("k", partial);
  CHECK(lk.weights().size() + gk.weights().size() == 2);  // the priors only
  const auto [lx, gx] = tpe.densities("x", partial);
  CHECK(lx.weights().size() + gx.weights().size() == 4);
  CHECK(tpe.propose(partial, 3).at("k").is_number_integer());
}
