// engine/rung_walk.hpp: the rung contract on hand-worked cases (rungs {1, 3, 9}), and the
// quadratic family through the executor keeping it (reports at the rungs only, a resume past its
// rungs does not report them again, pause and finish at the limit).
#include "catch.hpp"

#include <stdlib.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "engine/executor.hpp"
#include "engine/rung_walk.hpp"
#include "models/quadratic.hpp"

using namespace ns::engine;
using nlohmann::json;

namespace {

// A context over rungs {1, 3, 9} that records each report and answers with `decide`.
struct Walked {
  ns::sweeps::Trial trial;
  json data = json::object();
  TrialContext ctx{trial, data, "unused"};
  std::vector<double> reports;

  Walked(double limit, bool final_rung,
         std::function<Decision(double)> decide = [](double) { return Decision::kContinue; }) {
    ctx.rungs = {1, 3, 9};
    ctx.resource_limit = limit;
    ctx.final_rung = final_rung;
    ctx.report = [this, decide](double r, const std::map<std::string, double>&) {
      reports.push_back(r);
      return decide(r);
    };
  }
};

// Steps 1, 2, ... until the walk says anything but continue; the last step taken.
int walk_steps(RungWalk& walk, int from = 0) {
  for (int t = from + 1; t < 100; ++t)
    if (walk.at(t, {{"score", static_cast<double>(t)}}) != RungAction::kContinue) return t;
  return -1;
}

}  // namespace

TEST_CASE("rung walk: limit 3 below the final rung pauses at 3, reporting at 1 and 3",
          "[rung_walk]") {
  Walked w(3, false);
  RungWalk walk(w.ctx);
  CHECK(walk.limited());
  CHECK(walk.resume(0) == RungAction::kContinue);
  CHECK(walk.due(1));
  CHECK(walk.at(1, {}) == RungAction::kContinue);
  CHECK_FALSE(walk.due(2));
  CHECK(walk.at(2, {}) == RungAction::kContinue);
  CHECK(walk.due(3));
  CHECK(walk.at(3, {}) == RungAction::kPause);
  CHECK(w.reports == std::vector<double>{1, 3});
}

TEST_CASE("rung walk: the final rung finishes at its limit", "[rung_walk]") {
  Walked w(3, true);
  RungWalk walk(w.ctx);
  walk.resume(0);
  CHECK(walk_steps(walk) == 3);
  CHECK(w.reports == std::vector<double>{1, 3});
  Walked top(9, true);
  RungWalk to_top(top.ctx);
  to_top.resume(0);
  const int last = walk_steps(to_top);
  CHECK(last == 9);
  CHECK(to_top.at(9, {}) == RungAction::kFinish);  // asked again: still the end, no new report
  CHECK(top.reports == std::vector<double>{1, 3, 9});
}

TEST_CASE("rung walk: resumed at or past its limit ends at once without a report",
          "[rung_walk]") {
  Walked w(3, false);
  RungWalk walk(w.ctx);
  CHECK(walk.resume(5) == RungAction::kPause);
  CHECK(w.reports.empty());
  Walked at_final(3, true);
  RungWalk finish(at_final.ctx);
  CHECK(finish.resume(3) == RungAction::kFinish);
  CHECK(at_final.reports.empty());
}

TEST_CASE("rung walk: a resume passes the rungs it already reported", "[rung_walk]") {
  Walked w(9, true);
  RungWalk walk(w.ctx);
  CHECK(walk.resume(3) == RungAction::kContinue);
  CHECK_FALSE(walk.due(4));
  CHECK(walk_steps(walk, 3) == 9);
  CHECK(w.reports == std::vector<double>{9});
}

TEST_CASE("rung walk: the scheduler's stop at 1 stops there", "[rung_walk]") {
  Walked w(9, true, [](double r) { return r == 1 ? Decision::kStop : Decision::kContinue; });
  RungWalk walk(w.ctx);
  walk.resume(0);
  CHECK(walk.at(1, {}) == RungAction::kStop);
  CHECK(w.reports == std::vector<double>{1});
  // A stop at the limit's rung wins over the pause.
  Walked s(3, false, [](double r) { return r == 3 ? Decision::kStop : Decision::kContinue; });
  RungWalk at3(s.ctx);
  at3.resume(0);
  CHECK(at3.at(1, {}) == RungAction::kContinue);
  CHECK(at3.at(3, {}) == RungAction::kStop);
  CHECK(s.reports == std::vector<double>{1, 3});
}

TEST_CASE("rung walk: reports only at rungs, once for rungs crossed together", "[rung_walk]") {
  Walked w(0, false);  // no limit: trains to its end
  RungWalk walk(w.ctx);
  CHECK_FALSE(walk.limited());
  CHECK(walk.resume(0) == RungAction::kContinue);
  for (double r : {0.5, 0.99, 1.5, 2.0, 10.0, 11.0, 50.0})
    CHECK(walk.at(r, {}) == RungAction::kContinue);
  CHECK(w.reports == std::vector<double>{1.5, 10.0});  // 10 passes 3 and 9 at once
  CHECK_FALSE(walk.due(1000));
}

TEST_CASE("rung cursor: the executor's rule is the walk's", "[rung_walk]") {
  RungCursor c({1, 3, 9});
  CHECK_FALSE(c.reaches(0.5));
  CHECK_FALSE(c.pass(0.5));
  CHECK(c.pass(4));
  CHECK_FALSE(c.pass(4));
  CHECK_FALSE(c.reaches(8.9));
  CHECK(c.reaches(9));
  CHECK(c.pass(9));
  CHECK_FALSE(c.pass(100));
}

TEST_CASE("quadratic through the executor keeps the rung contract", "[rung_walk][executor]") {
  char tmpl[] = "/tmp/ns_rung_walk_XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::filesystem::path dir = tmpl;
  FamilyRegistry reg;
  reg.add(ns::models::quadratic_family());
  TrialExecutor ex(reg, "quadratic", json::object(), dir.string(), RankInfo{1, "h", "cpu", 1});
  std::vector<double> reports;
  ex.set_reporter([&](const msg::Report& r) {
    reports.push_back(r.resource);
    return Decision::kContinue;
  });
  auto params = ns::models::quadratic_family()->schema().model_defaults;
  params.update(ns::models::quadratic_family()->schema().training_defaults);
  auto never = [] { return false; };
  msg::Assign a;
  a.trial = ns::sweeps::Trial{"q1", 0, 0, 7, params};
  a.rungs = {1, 3, 9};
  a.resource_limit = 3;
  const Outcome paused = ex.execute(a, never);
  CHECK(paused.status == TrialStatus::kPaused);
  CHECK(reports == std::vector<double>{1, 3});
  // Resumed from its checkpoint at step 3 up to the final rung: only rung 9 is new.
  reports.clear();
  a.resource_limit = 9;
  a.final_rung = true;
  const Outcome done = ex.execute(a, never);
  CHECK(done.status == TrialStatus::kOk);
  CHECK(reports == std::vector<double>{9});
  // Resumed past its limit (the pause not recorded): paused again at once, no report.
  reports.clear();
  msg::Assign b = a;
  b.trial.id = "q2";
  b.resource_limit = 3;
  b.final_rung = false;
  const Outcome first = ex.execute(b, never);
  CHECK(first.status == TrialStatus::kPaused);
  reports.clear();
  b.resource_limit = 2;
  const Outcome again = ex.execute(b, never);
  CHECK(again.status == TrialStatus::kPaused);
  CHECK(again.metrics == first.metrics);  // step 3's, without a step
  CHECK(reports.empty());
  std::filesystem::remove_all(dir);
}
