// plan's cost estimate and allocation advice (engine/estimate.hpp).
#include "catch.hpp"

#include "core/error.hpp"
#include "core/duration.hpp"
#include "engine/estimate.hpp"

using namespace ns::engine;
using ns::core::human_duration;

TEST_CASE("estimate: seconds per unit of cost from measured trials, scaled per pending trial", "[estimate]") {
  // Two measured trials: cost 1 took 10 s, cost 3 took 50 s -> 60 s / 4 units = 15 s per unit.
  auto e = estimate_cost({{1, 10}, {3, 50}}, {1, 2, 4});
  CHECK(e.samples == 2);
  CHECK(e.s_per_cost == Approx(15));
  REQUIRE(e.predicted_s.size() == 3);
  CHECK(e.predicted_s[2] == Approx(60));
  CHECK(e.total_s == Approx(105));
  CHECK(e.min_s == Approx(15));
  CHECK(e.max_s == Approx(60));
  CHECK(e.mean_s == Approx(35));
}

TEST_CASE("estimate: a fixed part per trial when the times say so", "[estimate]") {
  // 12 s at cost 1, 16 s at cost 3, 14 s at cost 2: 10 s fixed + 2 s per unit.
  auto e = estimate_cost({{1, 12}, {3, 16}, {2, 14}}, {5, 0.5});
  CHECK(e.s_fixed == Approx(10));
  CHECK(e.s_per_cost == Approx(2));
  CHECK(e.predicted_s[0] == Approx(20));
  CHECK(e.predicted_s[1] == Approx(11));
  // Dearer trials that ran faster (noise): no negative slope, the mean for every trial.
  auto flat = estimate_cost({{1, 12}, {3, 10}}, {7});
  CHECK(flat.s_per_cost == 0);
  CHECK(flat.predicted_s[0] == Approx(11));
  // Equal costs: through the origin.
  auto same = estimate_cost({{2, 10}, {2, 14}}, {1});
  CHECK(same.s_fixed == 0);
  CHECK(same.predicted_s[0] == Approx(6));
}

TEST_CASE("estimate: unusable timings are skipped; none at all is an error", "[estimate]") {
  auto e = estimate_cost({{1, 0}, {1, 8}, {0, 5}}, {1});
  CHECK(e.samples == 1);
  CHECK(e.total_s == Approx(8));
  CHECK_THROWS_AS(estimate_cost({{1, 0}}, {1}), ns::Error);
  CHECK_THROWS_AS(estimate_cost({}, {1}), ns::Error);
}

TEST_CASE("calibration sample spans the cost range", "[estimate]") {
  std::vector<double> costs = {5, 1, 9, 3, 7};
  auto s = calibration_sample(costs, 3);
  REQUIRE(s.size() == 3);
  CHECK(costs[s[0]] == 1);
  CHECK(costs[s[1]] == 5);
  CHECK(costs[s[2]] == 9);
  CHECK(calibration_sample(costs, 10).size() == 5);
  CHECK(calibration_sample(costs, 0).empty());
}

TEST_CASE("allocation: one unlimited job; makespan from longest-first list scheduling", "[estimate]") {
  // LPT on 2 workers: 5 | 4, then 3 -> w2 (7), 3 -> w1 (8), 2 -> w2 (9): makespan 9, bound 8.5.
  auto p = plan_allocation({3, 5, 2, 4, 3}, {2, 0, 0, 0, 0});
  CHECK(p.jobs == 1);
  CHECK(p.makespan_s == Approx(9));
  CHECK(p.bound_s == Approx(8.5));
  CHECK(p.warnings.empty());
}

TEST_CASE("allocation: walltime chunks, and the limits it warns about", "[estimate]") {
  // 10 trials of 30 s on 2 workers, jobs of 100 s with a 10 s margin: 90 s usable -> 3 trials
  // per worker per job -> 6 per job -> 2 jobs.
  std::vector<double> d(10, 30.0);
  Allocation a{2, 100, 10, 0, 0};
  auto p = plan_allocation(d, a);
  CHECK(p.jobs == 2);
  CHECK(p.usable_s == Approx(90));
  CHECK(p.makespan_s == Approx(100 + 60));
  CHECK(p.warnings.empty());

  a.max_jobs = 1;
  a.queue_max_s = 60;
  p = plan_allocation(d, a);
  REQUIRE(p.warnings.size() == 2);
  CHECK_THAT(p.warnings[0], Catch::Contains("exceeds the queue's limit"));
  CHECK_THAT(p.warnings[1], Catch::Contains("needs 2 jobs"));
  CHECK(p.over_max_jobs);
}

TEST_CASE("allocation: a trial longer than a job continues in the next one, with a warning", "[estimate]") {
  auto p = plan_allocation({250, 10}, {1, 100, 0, 0, 0});
  CHECK(p.jobs == 3);  // 100 + 100 + 50 of the long trial, then the 10 s one
  CHECK_THAT(p.warnings.at(0), Catch::Contains("longer than a job's usable time"));
  auto none = plan_allocation({10}, {1, 60, 60, 0, 0});
  CHECK(none.jobs == 0);
  CHECK_THAT(none.warnings.at(0), Catch::Contains("nothing can run"));
}

TEST_CASE("human durations", "[estimate]") {
  CHECK(human_duration(12.34) == "12.3 s");
  CHECK(human_duration(250) == "4 m 10 s");
  CHECK(human_duration(7500) == "2 h 05 m");
  CHECK(human_duration(3 * 86400 + 4 * 3600) == "3 d 4 h");
}
