// report/importance: PED-ANOVA importance (global variant) on the quadratic objective, where the
// true importances are known, a hand-worked case and the degenerate ones; the Pareto front.
#include <cmath>
#include <random>
#include <sstream>

#include "catch.hpp"
#include "report/analysis.hpp"
#include "report/importance.hpp"
#include "report/report.hpp"
#include "report/terminal.hpp"
#include "test_util.hpp"

using namespace ns::report;
namespace fs = std::filesystem;

namespace {

// models/quadratic.hpp's objective (noise 0): score = -((x-1)^2 + (y+2)^2) + 0.1 k, maximized.
double quadratic(double x, double y, int k) {
  return -((x - 1) * (x - 1) + (y + 2) * (y + 2)) + 0.1 * k;
}

// The space: x uniform on [-3, 5], y uniform on [-4, 0], k in {0, ..., 5}. The three terms are
// independent and additive, so the functional ANOVA variance of each is its own variance; for
// u ~ U[-a, a], var(u^2) = E u^4 - (E u^2)^2 = a^4/5 - a^4/9 = 4 a^4 / 45:
//   (x-1)^2, a = 4: 1024/45 = 22.76
//   (y+2)^2, a = 2: 64/45 = 1.422
//   0.1 k, k uniform on 0..5: 0.01 * 35/12 = 0.0292
// True variance fractions: x 0.940, y 0.059, k 0.0012: x > y > k. (With y on [-3, -1] instead,
// y's and k's effects among the top 10% are about equal (y's term spans 1, k's 0.5) and the
// order of those two flips with the seed: PED-ANOVA measures what it takes to reach the top.)
std::vector<Domain> quadratic_space() {
  Domain x, y, k;
  x.kind = y.kind = Domain::Kind::kRange;
  x.low = -3, x.high = 5;
  y.low = -4, y.high = 0;
  k.kind = Domain::Kind::kValues;
  k.values = {"0", "1", "2", "3", "4", "5"};
  return {x, y, k};
}

std::string text(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

double fraction_of(const ImportanceResult& r, const std::string& p) {
  for (const auto& q : r.params)
    if (q.param == p) return q.fraction;
  FAIL("no parameter " << p);
  return 0;
}

std::string order(const ImportanceResult& r) {
  std::string s;
  for (const auto& p : r.params) s += (s.empty() ? "" : " ") + p.param;
  return s;
}

}  // namespace

TEST_CASE("importance: the quadratic objective, 200 random draws: x > y > k") {
  for (unsigned seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> ux(-3, 5), uy(-4, 0);
    std::uniform_int_distribution<int> uk(0, 5);
    std::vector<std::vector<std::string>> cells;
    std::vector<RankKey> keys;
    for (int i = 0; i < 200; ++i) {
      const double x = ux(rng), y = uy(rng);
      const int k = uk(rng);
      cells.push_back({text(x), text(y), std::to_string(k)});
      keys.emplace_back(0, quadratic(x, y, k));
    }
    const ImportanceResult r = ped_anova({"x", "y", "k"}, quadratic_space(), cells, keys);
    INFO("seed " << seed << ": x " << fraction_of(r, "x") << " y " << fraction_of(r, "y")
                 << " k " << fraction_of(r, "k"));
    CHECK(r.why_none.empty());
    CHECK(r.trials == 200);
    CHECK(r.top == 20);  // ceil(0.1 * 200)
    CHECK(order(r) == "x y k");
    CHECK(fraction_of(r, "x") > 0.5);
    CHECK(fraction_of(r, "x") + fraction_of(r, "y") + fraction_of(r, "k") == Approx(1));
  }
}

TEST_CASE("importance: the quadratic objective on a full grid: x > y > k") {
  // x in -2..4 (7 values), y in -3..-1 by 0.5 (5), k in 0..5 (6): 210 trials, one per point.
  std::vector<Domain> space(3);
  space[0].kind = space[1].kind = space[2].kind = Domain::Kind::kValues;
  space[0].values = {"-2", "-1", "0", "1", "2", "3", "4"};
  space[1].values = {"-3", "-2.5", "-2", "-1.5", "-1"};
  space[2].values = {"0", "1", "2", "3", "4", "5"};
  std::vector<std::vector<std::string>> cells;
  std::vector<RankKey> keys;
  for (const auto& x : space[0].values)
    for (const auto& y : space[1].values)
      for (const auto& k : space[2].values) {
        cells.push_back({x, y, k});
        keys.emplace_back(0, quadratic(std::stod(x), std::stod(y), std::stoi(k)));
      }
  const ImportanceResult r = ped_anova({"x", "y", "k"}, space, cells, keys);
  INFO("x " << fraction_of(r, "x") << " y " << fraction_of(r, "y") << " k " << fraction_of(r, "k"));
  CHECK(r.trials == 210);
  // ceil(21) top trials and every trial tied with the 21st (score -0.5: x=1, y in {-3,-1},
  // k=5 and x in {0,2}, y=-2, k=5): 22.
  CHECK(r.top == 22);
  CHECK(order(r) == "x y k");
}

TEST_CASE("importance: a spec's numbers match results.csv's cells as numbers (1.0 is 1)") {
  // The quadratic grid of examples/quadratic_grid.json: sweep.json's spec holds x and y as JSON
  // floats (written "-1.0"), results.csv writes the cells "-1". Both spellings must give the same
  // importances; x and y decide the top trials, so neither may come out 0.
  std::vector<Domain> as_csv(3), as_spec(3);
  for (auto* s : {&as_csv, &as_spec})
    for (auto& d : *s) d.kind = Domain::Kind::kValues;
  as_csv[0].values = {"-1", "0", "1", "2", "3"};
  as_csv[1].values = {"-4", "-3", "-2", "-1", "0"};
  as_csv[2].values = {"0", "1", "2", "3", "4", "5", "6", "7"};
  as_spec[0].values = {"-1.0", "0.0", "1.0", "2.0", "3.0"};
  as_spec[1].values = {"-4.0", "-3.0", "-2.0", "-1.0", "0.0"};
  as_spec[2].values = as_csv[2].values;
  std::vector<std::vector<std::string>> cells;
  std::vector<RankKey> keys;
  for (const auto& x : as_csv[0].values)
    for (const auto& y : as_csv[1].values)
      for (const auto& k : as_csv[2].values) {
        cells.push_back({x, y, k});
        keys.emplace_back(0, quadratic(std::stod(x), std::stod(y), std::stoi(k)));
      }
  const ImportanceResult a = ped_anova({"x", "y", "k"}, as_csv, cells, keys);
  const ImportanceResult b = ped_anova({"x", "y", "k"}, as_spec, cells, keys);
  for (const char* p : {"x", "y", "k"}) CHECK(fraction_of(b, p) == Approx(fraction_of(a, p)));
  CHECK(fraction_of(b, "x") > 0.2);
  CHECK(fraction_of(b, "y") > 0.2);
}

TEST_CASE("importance: one relevant, one irrelevant parameter (hand-worked)") {
  // a in {0, 1, 2, 3}, b in {p, q, r, s}; the metric is a alone: 16 trials, one per pair. The top
  // 10% (ceil(1.6) = 2) plus ties are the 4 trials with a = 3, one for each b: b's top density is
  // its baseline (uniform, divergence 0) while a's top trials sit on one value.
  Domain a, b;
  a.kind = Domain::Kind::kValues;
  a.values = {"0", "1", "2", "3"};
  b.kind = Domain::Kind::kCategorical;
  b.values = {"p", "q", "r", "s"};
  std::vector<std::vector<std::string>> cells;
  std::vector<RankKey> keys;
  for (const auto& x : a.values)
    for (const auto& y : b.values) {
      cells.push_back({x, y});
      keys.emplace_back(0, std::stod(x));
    }
  const ImportanceResult r = ped_anova({"a", "b"}, {a, b}, cells, keys);
  REQUIRE(r.top == 4);
  CHECK(order(r) == "a b");
  CHECK(r.params[1].raw == Approx(0).margin(1e-12));
  CHECK(fraction_of(r, "a") == Approx(1));
  // a by hand: 4 top trials all at index 3, so Scott's bandwidth is 0 and the floor 0.5/1.64
  // holds; the kernel's weights on indices 0..3 are exp(-(3-j)^2 / (2 h^2)), normalised; with the
  // prior (weight 1, 1/4 on each value) p_j = (4 w_j + 1/4) / 5 and the divergence is
  // 4 Σ (p_j - 1/4)^2.
  const double h = 0.5 / 1.64;
  double w[4], sum = 0;
  for (int j = 0; j < 4; ++j) sum += w[j] = std::exp(-(3 - j) * (3 - j) / (2 * h * h));
  double d = 0;
  for (int j = 0; j < 4; ++j) d += 4 * std::pow((4 * w[j] / sum + 0.25) / 5 - 0.25, 2);
  CHECK(r.params[0].raw == Approx(d));
  // Roughly p = (0.85, 0.05, 0.05, 0.05): 4 (0.6^2 + 3 * 0.2^2) = 1.92.
  CHECK(d == Approx(1.92).epsilon(0.02));
}

TEST_CASE("importance: a range's divergence is 0 for the uniform and grows as points cluster") {
  std::vector<double> spread, clustered;
  for (int i = 0; i < 50; ++i) {
    spread.push_back((i + 0.5) / 50);
    clustered.push_back(0.5 + (i - 25) * 0.001);
  }
  CHECK(range_divergence(spread) < 0.05);
  CHECK(range_divergence(clustered) > 5);
  // The empty top set: only the prior, the baseline itself.
  CHECK(range_divergence({}) == Approx(0).margin(1e-12));
}

TEST_CASE("importance: the degenerate cases say why") {
  Domain one, two;
  one.kind = two.kind = Domain::Kind::kValues;
  one.values = {"7"};
  two.values = {"1", "2"};
  SECTION("fewer trials than the 2 top trials") {
    const ImportanceResult r = ped_anova({"a"}, {two}, {{"1"}}, {{0, 1.0}});
    CHECK(r.why_none == "needs at least 2 trials, found 1");
    CHECK(std::isnan(r.params[0].fraction));
  }
  SECTION("every trial in the top: nothing to compare with") {
    const ImportanceResult r = ped_anova({"a"}, {two}, {{"1"}, {"2"}}, {{0, 1.0}, {0, 2.0}});
    CHECK(r.top == 2);
    CHECK(r.why_none.find("all 2 trials are in the top 2") == 0);
  }
  SECTION("a parameter with one value is n/a, listed last; the other takes all") {
    std::vector<std::vector<std::string>> cells;
    std::vector<RankKey> keys;
    for (int i = 0; i < 10; ++i) {
      cells.push_back({"7", i % 2 ? "2" : "1"});
      keys.emplace_back(0, i % 2);
    }
    const ImportanceResult r = ped_anova({"fixed", "b"}, {one, two}, cells, keys);
    REQUIRE(r.params.size() == 2);
    CHECK(r.params[0].param == "b");
    CHECK(r.params[0].fraction == Approx(1));
    CHECK(r.params[1].param == "fixed");
    CHECK(std::isnan(r.params[1].raw));
    CHECK(r.params[1].why_na == "one value in the search space");
  }
  SECTION("the stage comes first: a stopped trial with a better value ranks below a finished one") {
    std::vector<std::vector<std::string>> cells = {{"1"}, {"2"}, {"2"}, {"2"}, {"1"}};
    std::vector<RankKey> keys = {{INFINITY, 0.0}, {0, 9.0}, {0, 8.0}, {1, 7.0}, {INFINITY, -1.0}};
    const ImportanceResult r = ped_anova({"a"}, {two}, cells, keys);
    CHECK(r.top == 2);  // the two finished ones, both a = 1
    CHECK(r.params[0].raw == Approx(values_divergence({0, 0}, 2, true)));
  }
}

TEST_CASE("pareto: a hand-worked set, ties and both directions") {
  // (a, b): maximize a, minimize b.
  const std::vector<double> a = {0.9, 0.8, 0.8, 0.7, 0.95, 0.6, 0.9, NAN};
  const std::vector<double> b = {10, 5, 5, 7, 30, 1, 12, 0};
  // 4 (0.95, 30) best a; 0 (0.9, 10) beats 6 (0.9, 12); 1 and 2 equal (0.8, 5): both; 3 (0.7, 7)
  // is dominated by 1; 5 (0.6, 1); 7 has no a.
  CHECK(pareto_front(a, b, true, false) == std::vector<std::size_t>{4, 0, 1, 2, 5});
  // Minimize a, maximize b: 5 (0.6, 1) has the best a; then each point whose b beats every b
  // of a better a: 3 (0.7, 7); not 1, 2 (5 < 7); 6 (0.9, 12), which beats 0 at an equal a;
  // 4 (0.95, 30).
  CHECK(pareto_front(a, b, false, true) == std::vector<std::size_t>{5, 3, 6, 4});
  // Both maximized: 4 (0.95, 30) dominates every other point.
  CHECK(pareto_front(a, b, true, true) == std::vector<std::size_t>{4});
  CHECK(pareto_front({}, {}, true, true).empty());
}

TEST_CASE("report: importance ranks the fixture's parameters; --metric2 picks the Pareto view") {
  test::TempDir tmp;
  const fs::path dir = test::copy_fixture("maskcnn_sweep", tmp.path);
  const Results r = load_results(dir);
  const Selection sel = choose_selection(r, "", "");
  const SecondMetric second = choose_second(r, sel, "", "");
  CHECK(second.name == "wall_s");
  CHECK_FALSE(second.maximize);
  const Analysis a = analyze(r, sel, &second);
  REQUIRE(a.importance.params.size() == 2);
  CHECK(a.importance.trials == 14);
  CHECK(a.importance.params[0].domain.source == "grid of 3 values");
  CHECK(a.marginals[0].param == a.importance.params[0].param);
  CHECK(a.has_pareto);
  CHECK(a.pareto.ids.size() == 14);
  CHECK_FALSE(a.pareto.front.empty());
  // Unknown, the same metric, or a direction that cannot be read from the name: exit 2.
  CHECK_THROWS_WITH(choose_second(r, sel, "nope", ""), Catch::Contains("--metric2 \"nope\""));
  CHECK_THROWS_WITH(choose_second(r, sel, "val_ccnorm", ""), Catch::Contains("already ranks"));
  CHECK_THROWS_WITH(choose_second(r, sel, "k1", ""), Catch::Contains("--mode2"));
  CHECK(choose_second(r, sel, "channels", "max").maximize);
  const std::string text = render_terminal(r, a, 3);
  CHECK(text.find("What mattered: PED-ANOVA importance") != std::string::npos);
  CHECK(text.find("Pareto front: val_ccnorm (max) against wall_s (min") != std::string::npos);
}
