// report/analysis: configurations, SEM, failures, marginals and the best configuration, checked against
// values computed by hand from tests/report/data/maskcnn_sweep/results.csv.
#include "catch.hpp"
#include <cmath>

#include <tuple>

#include "core/error.hpp"
#include "engine/best_config.hpp"
#include "report/analysis.hpp"
#include "test_util.hpp"

using namespace ns::report;

namespace {
const Results& maskcnn() {
  static const Results r = load_results(test::fixture("maskcnn_sweep"));
  return r;
}
}  // namespace

TEST_CASE(
    "analysis: selection metric and mode come from sweep.json, --metric, --mode or the name") {
  const Results& r = maskcnn();
  Selection s = choose_selection(r, "", "");
  CHECK(s.metric == "val_ccnorm");
  CHECK(s.maximize);
  CHECK(s.mode_source == "as sweep.json says");
  s = choose_selection(r, "val_loss", "");
  CHECK_FALSE(s.maximize);
  CHECK(s.mode_source == "inferred from the name");
  CHECK(choose_selection(r, "test_pearson", "").maximize);
  CHECK_FALSE(choose_selection(r, "val_ccnorm", "min").maximize);
  REQUIRE_THROWS_WITH(
      choose_selection(r, "val_acc", ""),
      Catch::Contains("unknown metric \"val_acc\"") &&
          Catch::Contains("val_loss, val_pearson, val_ccnorm, test_pearson, test_ccnorm"));
  REQUIRE_THROWS_AS(choose_selection(r, "lr", ""), ns::Error);  // a parameter, not a metric
}

TEST_CASE("analysis: without sweep.json a metric must be named, and an odd name needs --mode") {
  const Results r = load_results(test::fixture("classifier_nosweep"));
  REQUIRE_THROWS_WITH(choose_selection(r, "", ""),
                      Catch::Contains("no selection metric") &&
                          Catch::Contains("train_loss, val_loss, val_accuracy, test_accuracy"));
  CHECK(choose_selection(r, "val_accuracy", "").maximize);

  test::TempDir tmp;
  test::write_text(tmp.path / "results.csv",
                   "trial_id,status,x,val_widget,seed,repeat,error\nt,ok,1,2,0,0,\n");
  const Results odd = load_results(tmp.path);
  REQUIRE_THROWS_WITH(
      choose_selection(odd, "", ""),
      Catch::Contains("cannot tell whether a higher or a lower \"val_widget\" is better; "
                      "pass --mode max or --mode min"));
  CHECK_FALSE(choose_selection(odd, "", "min").maximize);
}

TEST_CASE("analysis: configurations are ranked by the mean over seeds, with SEM and n") {
  const Results& r = maskcnn();
  const Analysis a = analyze(r, choose_selection(r, "", ""));
  CHECK(a.trials == 17);
  CHECK(a.ok == 14);
  CHECK(a.ok_without_metric == 0);
  REQUIRE(a.configs.size() == 6);
  struct Want {
    const char* channels;
    const char* lr;
    double mean, sem;
    std::size_t n;
    const char* best;
  };
  // By hand: E = {0.602, 0.588}: mean 0.595, sd 0.0098995, SEM 0.007; and so on.
  const Want want[] = {{"16", "0.001", 0.595, 0.007, 2, "e5b61c83"},
                       {"16", "0.003", 0.572, 0.003, 2, "f6c7d219"},
                       {"8", "0.001", 0.5666667, 0.0034801, 3, "b8f0a6d3"},
                       {"8", "0.003", 0.54, NAN, 1, "c3d04b5e"},
                       {"16", "0.0003", 0.53, 0.0023094, 3, "d6e2f8a0"},
                       {"8", "0.0003", 0.505, 0.0040415, 3, "a1f3c0d2"}};
  for (std::size_t i = 0; i < 6; ++i) {
    INFO("rank " << i + 1);
    const ConfigStats& c = a.configs[i];
    CHECK(c.values == std::vector<std::string>{want[i].channels, want[i].lr});
    CHECK(c.mean == Approx(want[i].mean).epsilon(1e-6));
    if (std::isnan(want[i].sem))
      CHECK(std::isnan(c.sem));
    else
      CHECK(c.sem == Approx(want[i].sem).epsilon(1e-4));
    CHECK(c.trials.size() == want[i].n);
    CHECK(c.best->id == want[i].best);
  }
}

TEST_CASE("analysis: failures are grouped by status and first line of the message") {
  const Results& r = maskcnn();
  const Analysis a = analyze(r, choose_selection(r, "", ""));
  REQUIRE(a.problems.size() == 2);
  CHECK(a.problems[0].status == "failed");
  CHECK(a.problems[0].count == 2);
  REQUIRE(a.problems[0].messages.size() == 1);
  CHECK(a.problems[0].messages[0].second == 2);
  CHECK(a.problems[0].messages[0].first ==
        "loss is nan at iteration 350 (lr=0.003, loss \"poisson\"); lower lr or add gradient "
        "clipping");
  CHECK(a.problems[1].status == "timeout");
  CHECK(a.problems[1].count == 1);
}

TEST_CASE("analysis: marginals per value and influence as the spread of the value means") {
  const Results& r = maskcnn();
  const Analysis a = analyze(r, choose_selection(r, "", ""));
  REQUIRE(a.marginals.size() == 2);
  const Marginal& lr = a.marginals[0];  // the most influential first
  CHECK(lr.param == "lr");
  CHECK(lr.numeric);
  REQUIRE(lr.rows.size() == 3);
  CHECK(lr.rows[0].value == "0.0003");  // numeric order, not text order
  CHECK(lr.rows[0].n == 6);
  CHECK(lr.rows[0].mean == Approx(3.105 / 6));
  CHECK(lr.rows[0].best == Approx(0.534));
  CHECK(lr.rows[1].value == "0.001");
  CHECK(lr.rows[1].mean == Approx(2.89 / 5));
  CHECK(lr.rows[2].mean == Approx(1.684 / 3));
  CHECK(lr.spread == Approx(2.89 / 5 - 3.105 / 6));
  const Marginal& ch = a.marginals[1];
  CHECK(ch.param == "channels");
  CHECK(ch.rows[0].value == "8");  // "8" < "16" as numbers
  CHECK(ch.rows[0].mean == Approx(3.755 / 7));
  CHECK(ch.rows[1].mean == Approx(3.924 / 7));
  CHECK(ch.rows[1].best == Approx(0.602));
  CHECK(ch.spread == Approx(3.924 / 7 - 3.755 / 7));
}

TEST_CASE("analysis: lower-is-better metrics rank the other way") {
  const Results& r = maskcnn();
  const Analysis a = analyze(r, choose_selection(r, "val_loss", ""));
  // val_loss means: E (0.7431+0.7522)/2 = 0.74765 is the lowest.
  CHECK(a.configs.front().values == std::vector<std::string>{"16", "0.001"});
  CHECK(a.configs.front().mean == Approx(0.74765));
  CHECK(a.configs.front().best->id == "e5b61c83");
  CHECK(a.configs.back().values == std::vector<std::string>{"8", "0.0003"});
}

TEST_CASE("analysis: --best-config is best_config.json's answer: complete configurations first") {
  const Results& r = maskcnn();
  REQUIRE(r.sweep.replicates == 3);  // sweep.json's spec: "repeats": 3
  const Analysis a = analyze(r, choose_selection(r, "", ""));
  // channels 16, lr 0.001 has the best mean (0.595) but only 2 of its 3 replicates ended (the
  // third is the partial last line); channels 16, lr 0.003 has all three (ok, ok, timeout):
  // mean (0.575 + 0.569) / 2 = 0.572, SEM 0.003.
  CHECK(a.configs.front().values == std::vector<std::string>{"16", "0.001"});
  const auto j = best_config_json(a);
  CHECK(j["metric"] == "val_ccnorm");
  CHECK(j["mode"] == "max");
  CHECK(j["value"].get<double>() == Approx(0.572));
  CHECK(j["sem"].get<double>() == Approx(0.003));
  CHECK(j["n"] == 2);
  CHECK(j["replicates"] == 3);
  CHECK(j["complete"] == true);
  CHECK(j["params"]["channels"] == 16);
  CHECK(j["params"]["lr"].get<double>() == 0.003);
  CHECK(j["params"]["act"] == "softplus");
  CHECK(j["params"]["bn_before_act"] == true);
  CHECK(j["params"]["smoothness"].get<double>() == 5e-06);
  REQUIRE(j["rows"].size() == 3);
  CHECK(j["rows"][0]["trial_id"] == "f6c7d219");
  CHECK(j["rows"][0]["value"].get<double>() == Approx(0.575));
  CHECK(j["rows"][0]["seed"].get<std::uint64_t>() == 832793787593048ULL);
  CHECK(j["rows"][0]["repeat"] == 0);
  CHECK(j["rows"][2]["trial_id"] == "f8a4b0c2");
  CHECK(j["rows"][2]["status"] == "timeout");
  CHECK(j["rows"][2]["value"].is_null());
  // Its entry in the leaderboard: rank 2 by mean.
  REQUIRE(a.best_config_index == 1);
  CHECK(a.configs[1].best->id == "f6c7d219");
}

TEST_CASE("analysis: --best-config and the engine's best_config.json name the same configuration") {
  // A sweep with 3 repeats, written as the engine writes it: x = 3 has one lucky replicate and
  // no other row (incomplete), x = 2 the best complete mean, x = 1 a failed replicate.
  test::TempDir tmp;
  const std::vector<std::string> params = {"lr", "x"};
  ns::engine::ResultsTable table((tmp.path / "results.csv").string(), params, {"score"});
  table.open();
  test::write_text(tmp.path / "sweep.json",
                   R"({"metric": "score", "mode": "max", "metrics": ["score"], "varied": ["x"],
                       "spec": {"repeats": 3}})");
  ns::engine::BestConfigTracker engine("score", true, 3, params);
  const std::vector<std::tuple<std::string, double, int, double, ns::engine::TrialStatus>> rows = {
      {"a0", 1, 0, 1.0, ns::engine::TrialStatus::kOk},
      {"b0", 2, 0, 2.0, ns::engine::TrialStatus::kOk},
      {"c0", 3, 0, 9.0, ns::engine::TrialStatus::kOk},
      {"a1", 1, 1, NAN, ns::engine::TrialStatus::kFailed},
      {"b1", 2, 1, 2.5, ns::engine::TrialStatus::kOk},
      {"a2", 1, 2, 4.0, ns::engine::TrialStatus::kOk},
      {"b2", 2, 2, 2.25, ns::engine::TrialStatus::kOk},
      {"a1", 1, 1, 1.5, ns::engine::TrialStatus::kOk}};  // a retry of a1
  for (const auto& [id, x, repeat, score, status] : rows) {
    ns::engine::ResultRow row;
    row.trial_id = id;
    row.status = status;
    row.params = {{"lr", 0.001}, {"x", x}};
    row.metrics = {{"score", score}};
    row.seed = 40 + static_cast<std::uint64_t>(repeat);
    row.repeat = repeat;
    table.append(row);
    engine.offer(row);
  }
  const Results r = load_results(tmp.path);
  const Analysis a = analyze(r, choose_selection(r, "", ""));
  const auto j = best_config_json(a);
  CHECK(j == engine.to_json());
  CHECK(j["params"]["x"] == 2);
  CHECK(j["value"].get<double>() == Approx(2.25));
  CHECK(j["complete"] == true);
  // The leaderboard ranks by the mean alone: x = 3's single row first; the best configuration
  // line names x = 2.
  CHECK(a.configs.front().values == std::vector<std::string>{"3"});
  REQUIRE(a.best_config_index >= 0);
  CHECK(a.configs[static_cast<std::size_t>(a.best_config_index)].values ==
        std::vector<std::string>{"2"});
}

TEST_CASE("analysis: no ok trial yet gives an empty leaderboard and a null best configuration") {
  test::TempDir tmp;
  test::write_text(tmp.path / "results.csv",
                   "trial_id,status,lr,val_loss,seed,repeat,error\nt1,failed,0.1,nan,1,0,boom\n");
  const Results r = load_results(tmp.path);
  const Analysis a = analyze(r, choose_selection(r, "", ""));
  CHECK(a.configs.empty());
  CHECK(a.problems.size() == 1);
  CHECK(best_config_json(a).is_null());
  CHECK(a.best_config_index == -1);
}

TEST_CASE("analysis: summarize_message keeps the first non-empty line, bounded") {
  CHECK(summarize_message("") == "(no message)");
  CHECK(summarize_message("\n  \n  CUDA out of memory  \nTried to allocate") ==
        "CUDA out of memory");
  CHECK(summarize_message(std::string(300, 'x')).size() == 120);
}
