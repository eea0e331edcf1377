// engine/best_config: the configuration with the best mean over its replicates (best_config.json),
// on hand-worked rows; and SweepOutput writes it as rows land and rebuilds the same file on resume.
#include "catch.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/best_config.hpp"
#include "engine/search_registry.hpp"
#include "engine/sweep_output.hpp"
#include "models/quadratic.hpp"
#include "support/temp_dir.hpp"
#include "sweeps/spec.hpp"

using nlohmann::json;
using ns::engine::BestConfigTracker;
using ns::engine::ResultRow;
using ns::engine::TrialStatus;
namespace fs = std::filesystem;

namespace {

// A row of configuration `x` (its one parameter), replicate `repeat`, with the metric `score`.
ResultRow row(const std::string& id, double x, int repeat, double score,
              TrialStatus status = TrialStatus::kOk) {
  ResultRow r;
  r.trial_id = id;
  r.status = status;
  r.params = {{"x", x}};
  r.metrics = {{"score", score}};
  r.seed = 100 + static_cast<std::uint64_t>(repeat);
  r.repeat = repeat;
  return r;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("best_config: 3 configurations x 3 repeats, ranked by their mean", "[best_config]") {
  // x = 1: 1, 2, 3 (mean 2, SEM 1/sqrt 3); x = 2: 2, 2, 2.6 (mean 2.2, SEM 0.2);
  // x = 3: 0, 0, 6 (mean 2; it holds the single best row, 6). Rows land interleaved.
  const std::vector<ResultRow> rows = {
      row("a0", 1, 0, 1), row("b0", 2, 0, 2),   row("c0", 3, 0, 0),
      row("a1", 1, 1, 2), row("c1", 3, 1, 6),   row("b1", 2, 1, 2),
      row("a2", 1, 2, 3), row("b2", 2, 2, 2.6), row("c2", 3, 2, 0)};
  BestConfigTracker max("score", true, 3, {"x"}), min("score", false, 3, {"x"});
  ns::engine::BestTracker best_row("score", true);
  for (const auto& r : rows) {
    max.offer(r);
    min.offer(r);
    best_row.offer(r);
  }
  const json j = max.to_json();
  CHECK(j.at("params") == json{{"x", 2}});
  CHECK(j.at("value").get<double>() == Approx(2.2));
  CHECK(j.at("sem").get<double>() == Approx(0.2));
  CHECK(j.at("n") == 3);
  CHECK(j.at("replicates") == 3);
  CHECK(j.at("complete") == true);
  CHECK(j.at("metric") == "score");
  CHECK(j.at("mode") == "max");
  REQUIRE(j.at("rows").size() == 3);
  CHECK(j.at("rows")[0] ==
        json{{"trial_id", "b0"}, {"seed", 100}, {"repeat", 0}, {"value", 2.0}, {"status", "ok"}});
  CHECK(j.at("rows")[2].at("trial_id") == "b2");
  // The single best row is another configuration's lucky replicate.
  CHECK(best_row.to_json().at("trial_id") == "c1");
  // Lower is better: x = 1 and x = 3 tie at 2; the first to appear wins.
  CHECK(min.to_json().at("params") == json{{"x", 1}});
  CHECK(min.to_json().at("sem").get<double>() == Approx(1 / std::sqrt(3.0)));
}

TEST_CASE("best_config: a lucky replicate of an incomplete configuration does not win",
          "[best_config]") {
  BestConfigTracker t("score", true, 3, {"x"});
  // Only incomplete configurations so far: the best mean among them.
  CHECK(t.offer(row("a0", 1, 0, 1)));
  CHECK(t.to_json().at("complete") == false);
  CHECK(t.offer(row("d0", 4, 0, 10)));
  CHECK(t.to_json().at("params") == json{{"x", 4}});
  // x = 1 completes (mean 2): complete configurations rank first, whatever the mean.
  CHECK_FALSE(t.offer(row("a1", 1, 1, 2)));  // x = 4 stays the best: nothing changed
  CHECK(t.offer(row("a2", 1, 2, 3)));
  CHECK(t.to_json().at("params") == json{{"x", 1}});
  CHECK(t.to_json().at("complete") == true);
  CHECK_FALSE(t.offer(row("d1", 4, 1, 9)));  // still incomplete (2 of 3)
  CHECK(t.to_json().at("params") == json{{"x", 1}});
  // Its last replicate ends (failed): complete with n = 2, mean 9.5.
  CHECK(t.offer(row("d2", 4, 2, NAN, TrialStatus::kFailed)));
  const json j = t.to_json();
  CHECK(j.at("params") == json{{"x", 4}});
  CHECK(j.at("value").get<double>() == Approx(9.5));
  CHECK(j.at("n") == 2);
  CHECK(j.at("complete") == true);
  REQUIRE(j.at("rows").size() == 3);
  CHECK(j.at("rows")[2].at("status") == "failed");
  CHECK(j.at("rows")[2].at("value").is_null());
}

TEST_CASE(
    "best_config: failed replicates count as ended, not in the mean; a retry replaces its row",
    "[best_config]") {
  BestConfigTracker t("score", true, 3, {"x"});
  for (const auto& r : {row("a0", 1, 0, 2), row("a1", 1, 1, 2), row("a2", 1, 2, 2.3)}) t.offer(r);
  // x = 2: 3 and a failure (with a metric, which does not count): 2 of 3 ended, incomplete.
  t.offer(row("e0", 2, 0, 3));
  t.offer(row("e1", 2, 1, 100, TrialStatus::kTimeout));
  CHECK(t.to_json().at("params") == json{{"x", 1}});
  // The third replicate fails too: complete, mean 3 over n = 1.
  t.offer(row("e2", 2, 2, NAN, TrialStatus::kFailed));
  CHECK(t.to_json().at("params") == json{{"x", 2}});
  CHECK(t.to_json().at("value") == 3.0);
  CHECK(t.to_json().at("n") == 1);
  CHECK(t.to_json().at("sem").is_null());
  // A retry of e2 succeeds: its row replaces the failed one, in its place.
  t.offer(row("e2", 2, 2, 5));
  const json j = t.to_json();
  CHECK(j.at("params") == json{{"x", 2}});
  CHECK(j.at("value").get<double>() == Approx(4.0));
  CHECK(j.at("n") == 2);
  REQUIRE(j.at("rows").size() == 3);
  CHECK(j.at("rows")[2].at("trial_id") == "e2");
  CHECK(j.at("rows")[2].at("status") == "ok");
  CHECK(j.at("rows")[1].at("status") == "timeout");
  CHECK(j.at("rows")[1].at("value") == 100.0);  // listed with its metric, not counted
  // A retry that fails again: mean 3, x = 1 (2.1) still behind.
  t.offer(row("e2", 2, 2, NAN, TrialStatus::kFailed));
  CHECK(t.to_json().at("value") == 3.0);
  // No row with a value: no best configuration.
  BestConfigTracker none("score", true, 2, {"x"});
  CHECK_FALSE(none.offer(row("f0", 1, 0, NAN, TrialStatus::kFailed)));
  CHECK_FALSE(none.has_best());
  CHECK(none.to_json().is_null());
}

TEST_CASE("best_config: with early stopping only the highest stage competes", "[best_config]") {
  auto at = [](ResultRow r, int rung, double resource) {
    r.rung = rung;
    r.resource = resource;
    return r;
  };
  BestConfigTracker t("score", true, 2, {"x"});
  // x = 1 ends at resource 3 (a high value there), x = 2 at resource 9.
  t.offer(at(row("a0", 1, 0, 5), 0, 3));
  t.offer(at(row("a1", 1, 1, 5), 0, 3));
  CHECK(t.to_json().at("params") == json{{"x", 1}});
  t.offer(at(row("b0", 2, 0, 1), 1, 9));
  CHECK(t.to_json().at("params") == json{{"x", 2}});  // incomplete, but at the highest stage
  t.offer(at(row("b1", 2, 1, 2), 1, 9));
  const json j = t.to_json();
  CHECK(j.at("params") == json{{"x", 2}});
  CHECK(j.at("value").get<double>() == Approx(1.5));
  CHECK(j.at("rows")[0].at("rung") == 1);
  CHECK(j.at("rows")[0].at("resource") == 9.0);
}

TEST_CASE("best_config: rows read back from results.csv give the same file", "[best_config]") {
  const std::vector<std::string> header = {"trial_id", "status", "x",       "score",  "rung",
                                           "resource", "fold",   "seed",    "repeat", "attempt",
                                           "wall_s",   "started", "ended",  "rank",   "host",
                                           "device",   "error"};
  ns::engine::ResultsTable table("/nonexistent/results.csv", {"x"}, {"score"}, true, true);
  REQUIRE(table.header() == header);
  BestConfigTracker live("score", false, 4, {"x"}), read("score", false, 4, {"x"});
  std::vector<ResultRow> rows;
  for (int i = 0; i < 12; ++i) {
    ResultRow r = row("t" + std::to_string(i), i % 3 == 0 ? 0.5 : 1.0 * (i % 3), i / 3,
                      std::sin(i) + (i % 3), i == 4 ? TrialStatus::kStopped : TrialStatus::kOk);
    r.fold = i % 2;
    if (i % 5 != 0) r.rung = 2, r.resource = 27;
    CHECK(live.offer(r) == read.offer_record(header, table.cells(r)));
    CHECK(live.to_json() == read.to_json());
  }
  CHECK(live.to_json().at("rows")[0].contains("fold"));
}

TEST_CASE("best_config.json: written as rows land, the same file rebuilt on resume",
          "[best_config][sweep_output]") {
  const ns::test::TempDir scratch("best_config");
  const fs::path& d = scratch.path;
  const auto family = ns::models::quadratic_family();
  const json j = {{"family", "quadratic"}, {"grid", {{"x", {0.0, 1.0, 2.0}}}},
                  {"repeats", 3},          {"metric", "score"},
                  {"mode", "max"},         {"out", d.string()}};
  const auto spec = ns::engine::parse_spec(j, "t.json", family->schema());
  REQUIRE(spec.replicates() == 3);
  const auto trials = ns::sweeps::enumerate(spec);
  REQUIRE(trials.size() == 9);
  ns::engine::OutputPlan plan{spec, family->schema().metrics, spec.out};
  // Scores by x: 0 -> 1, 2, 3 (mean 2); 1 -> 2.5, 2.5, 1.9 (mean 2.3); 2 -> 9, 0, 0 (mean 3; the
  // best single row), but its last replicate lands after the kill.
  auto score = [](const ns::sweeps::Trial& t) {
    const double x = t.params.at("x").get<double>();
    const double by_x[3][3] = {{1, 2, 3}, {2.5, 2.5, 1.9}, {9, 0, 0}};
    return by_x[static_cast<int>(x)][t.repeat];
  };
  auto ok_row = [&](const ns::sweeps::Trial& t) {
    ResultRow r;
    r.trial_id = t.id;
    r.status = TrialStatus::kOk;
    r.params = t.params;
    r.seed = t.seed;
    r.repeat = t.repeat;
    r.metrics = {{"score", score(t)}, {"loss", -score(t)}, {"slept_s", 0.0}};
    return r;
  };
  std::string written;
  {
    ns::engine::SweepOutput out(plan, json::object(), 9);
    CHECK_FALSE(fs::exists(d / "best_config.json"));
    for (std::size_t i = 0; i + 1 < trials.size(); ++i) out.record(ok_row(trials[i]));
    written = read(d / "best_config.json");
  }
  const json first = json::parse(written);
  CHECK(first.at("params").at("x") == 1.0);
  CHECK(first.at("value").get<double>() == Approx(2.3));
  CHECK(first.at("n") == 3);
  CHECK(json::parse(read(d / "best.json")).at("params").at("x") == 2.0);
  // A resume rebuilds the same file from results.csv, also when it was lost.
  fs::remove(d / "best_config.json");
  {
    ns::engine::SweepOutput out(plan, json::object(), 9);
    CHECK(read(d / "best_config.json") == written);
    out.record(ok_row(trials.back()));
  }
  const json last = json::parse(read(d / "best_config.json"));
  CHECK(last.at("params").at("x") == 2.0);
  CHECK(last.at("value").get<double>() == Approx(3.0));
  CHECK(last.at("rows").size() == 3);
  const std::string after = read(d / "best_config.json");
  { ns::engine::SweepOutput out(plan, json::object(), 9); }
  CHECK(read(d / "best_config.json") == after);
}
