// Warm start (engine/warm_start.hpp, issue 28): earlier sweeps' finished configurations become
// TPE's prior observations (means over replicates, within this space), and the list reuses
// rows of the same trials run with the same inputs.
#include "catch.hpp"

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "engine/search_registry.hpp"
#include "engine/tpe_search.hpp"
#include "engine/warm_start.hpp"
#include "support/search.hpp"
#include "support/temp_dir.hpp"
#include "sweeps/spec.hpp"

using namespace ns::engine;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const ns::sweeps::FamilySchema& schema() { return ns::test::quadratic_schema(); }
using ns::test::TempDir;

/// An earlier sweep's directory: sweep.json (family, varied, inputs) and results.csv.
void earlier(const fs::path& dir, const std::string& family, const std::string& csv) {
  fs::create_directories(dir);
  std::ofstream(dir / "sweep.json")
      << json{{"family", family}, {"name", "old"}, {"varied", {"x", "z"}}, {"inputs", json::array()}}
             .dump();
  std::ofstream(dir / "results.csv") << csv;
}

const char* kHeader =
    "trial_id,status,x,y,z,score,seed,repeat,attempt,wall_s,rank,host,device,error\n";

ns::sweeps::SweepSpec tpe_spec(const fs::path& dir, int startup = 0) {
  return parse_spec({{"name", "new"},
                     {"family", "quadratic"},
                     {"metric", "score"},
                     {"mode", "max"},
                     {"seed", 5},
                     {"random",
                      {{"count", 6},
                       {"params",
                        {{"x", {{"dist", "uniform"}, {"low", -2}, {"high", 2}}},
                         {"y", {{"dist", "uniform"}, {"low", -2}, {"high", 2}}}}}}},
                     {"search", {{"kind", "tpe"}, {"startup", startup}}},
                     {"warm_start", {dir.string()}}},
                    "spec.json", schema());
}

}  // namespace

TEST_CASE("warm start: TPE's prior observations are configuration means within the space",
          "[warm_start]") {
  TempDir t("warm");
  // Configuration x=1 (two replicates: 3 and 5 -> 4), x=-1 (one: 2), x=9 outside [-2, 2], a
  // failed row, a row with a NaN score; z is not in the new space; y is not in the old sweep.
  earlier(t.path / "old", "quadratic",
          std::string(kHeader) +
              "a,ok,1,0,7,3,1,0,1,0.1,0,h,cpu,\n"
              "b,ok,1,0,7,5,2,1,1,0.1,0,h,cpu,\n"
              "c,ok,-1,0,7,2,3,0,1,0.1,0,h,cpu,\n"
              "d,ok,9,0,7,8,4,0,1,0.1,0,h,cpu,\n"
              "e,failed,0.5,0,7,nan,5,0,1,0.1,0,h,cpu,boom\n"
              "f,ok,0.5,0,7,nan,6,0,1,0.1,0,h,cpu,\n");
  const auto spec = tpe_spec(t.path / "old");
  const WarmStart w = read_warm_start(spec, true, {}, {});
  REQUIRE(w.prior.size() == 2);
  // y is a column of the quadratic family's results (a parameter): the old rows have it.
  CHECK(w.prior[0].params == json{{"x", 1}, {"y", 0}});
  CHECK(w.prior[0].value == Approx(4));
  CHECK(w.prior[0].state == TpeState::kComplete);
  CHECK(w.prior[1].params == json{{"x", -1}, {"y", 0}});
  CHECK(w.prior[1].value == Approx(2));
  REQUIRE(w.record.size() == 1);
  CHECK(w.record[0].at("observations") == 2);
  CHECK(w.record[0].at("dropped_outside") == 1);
  bool warned_z = false, warned_outside = false;
  for (const auto& s : w.warnings) {
    warned_z |= s.find("z") != std::string::npos && s.find("not in this search space") != std::string::npos;
    warned_outside |= s.find("1 row(s) lie outside this search space") != std::string::npos;
  }
  CHECK(warned_z);
  CHECK(warned_outside);
  // And back from warm_start.json.
  const auto again = prior_from_json(prior_json(w.prior));
  REQUIRE(again.size() == 2);
  CHECK(again[0].value == Approx(4));
  CHECK(again[1].params == w.prior[1].params);
}

TEST_CASE("warm start: the observations enter TPE's densities with their values", "[warm_start]") {
  TempDir t("warm");
  earlier(t.path / "old", "quadratic",
          std::string(kHeader) + "a,ok,1,1,0,3,1,0,1,0.1,0,h,cpu,\n"
                                 "b,ok,-1,-1,0,-3,2,0,1,0.1,0,h,cpu,\n"
                                 "c,ok,0.5,-1.5,0,1,3,0,1,0.1,0,h,cpu,\n");
  const auto spec = tpe_spec(t.path / "old");
  const WarmStart w = read_warm_start(spec, true, {}, {});
  REQUIRE(w.prior.size() == 3);
  auto make = [&spec](int index, const json& p) { return ns::test::proposed_trial(spec, index, p); };
  TpeSearchOptions with = tpe_search_options(spec, spec.options_as<TpeSpec>());
  TpeSearchOptions without = with;
  with.prior = w.prior;
  const TpeProposer warm(spec.random, with, make), cold(spec.random, without, make);
  auto none = [](const std::string&) { return false; };
  // With no observation of its own, the warm proposer proposes what the cold one proposes when
  // it is given the prior as its observations: they are observations, values included.
  for (int k = 0; k < 4; ++k) {
    INFO(k);
    const auto a = warm.propose(k, {}, none);
    const auto b = cold.propose(k, w.prior, none);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->params == b->params);
  }
  // A different value changes the densities (so the values are used, not only the points).
  std::vector<TpeObservation> flipped = w.prior;
  for (auto& o : flipped) o.value = -o.value;
  bool differs = false;
  for (int k = 0; k < 4; ++k) differs |= cold.propose(k, flipped, none)->params != warm.propose(k, {}, none)->params;
  CHECK(differs);
}

TEST_CASE("warm start: refused inputs", "[warm_start]") {
  TempDir t("warm");
  earlier(t.path / "cmd", "command", std::string(kHeader) + "a,ok,1,1,0,3,1,0,1,0.1,0,h,cpu,\n");
  CHECK_THROWS_WITH(read_warm_start(tpe_spec(t.path / "cmd"), true, {}, {}),
                    Catch::Contains("a sweep of family 'command', this spec's is 'quadratic'"));
  CHECK_THROWS_WITH(read_warm_start(tpe_spec(t.path / "missing"), true, {}, {}),
                    Catch::Contains("not a sweep's output directory"));
  earlier(t.path / "nometric", "quadratic", "trial_id,status,x,loss,seed,repeat,attempt,wall_s,rank,host,device,error\n");
  CHECK_THROWS_WITH(read_warm_start(tpe_spec(t.path / "nometric"), true, {}, {}),
                    Catch::Contains("results.csv has no column 'score'"));
  // The spec: an early-stopping kind alone has no use for it; startup 0 only with a warm start.
  json asha = {{"name", "a"}, {"family", "quadratic"}, {"metric", "score"}, {"mode", "max"},
               {"grid", {{"x", {0, 1, 2}}}},
               {"scheduler", {{"kind", "asha"}, {"resource", "steps"}, {"min", 1}, {"max", 3}}},
               {"warm_start", {"runs/x"}}};
  CHECK_THROWS_WITH(parse_spec(asha, "s.json", schema()), Catch::Contains("s.json: $.warm_start: works with TPE"));
  json cold = {{"name", "c"}, {"family", "quadratic"}, {"metric", "score"}, {"mode", "max"},
               {"random", {{"count", 3}, {"params", {{"x", {{"dist", "uniform"}, {"low", 0}, {"high", 1}}}}}}},
               {"search", {{"kind", "tpe"}, {"startup", 0}}}};
  CHECK_THROWS_WITH(parse_spec(cold, "s.json", schema()), Catch::Contains("$.search.startup"));
  cold["warm_start"] = {"a", "a"};
  CHECK_THROWS_WITH(parse_spec(cold, "s.json", schema()), Catch::Contains("$.warm_start[1]: named twice"));
}

TEST_CASE("warm start: the list reuses ok rows of the same trials and the same inputs",
          "[warm_start]") {
  TempDir t("warm");
  const json j = {{"name", "g"}, {"family", "quadratic"}, {"metric", "score"}, {"mode", "max"},
                  {"grid", {{"x", {0, 1, 2}}}}, {"warm_start", {(t.path / "old").string()}}};
  const auto spec = parse_spec(j, "s.json", schema());
  const auto trials = ns::sweeps::enumerate(spec);
  // The old sweep ran x = 0 (ok) and x = 1 (failed), and a trial this spec does not have.
  std::string csv = "trial_id,status,fail_first_n,fail_prob,k,noise,shape,sleep_s,sleep_sigma,x,y,"
                    "score,loss,slept_s,seed,repeat,attempt,wall_s,rank,host,device,error\n";
  csv += trials[0].id + ",ok,0,0,0,0,bowl,0,0,0,0,-5,5,0,11,0,1,1.5,1,h,cpu,\n";
  csv += trials[1].id + ",failed,0,0,0,0,bowl,0,0,1,0,nan,nan,0,12,0,1,1.5,1,h,cpu,boom\n";
  csv += "ffffffffffffffff,ok,0,0,0,0,bowl,0,0,7,0,-1,1,0,13,0,1,1.5,1,h,cpu,\n";
  earlier(t.path / "old", "quadratic", csv);
  WarmStart w = read_warm_start(spec, false, trials, {});
  REQUIRE(w.reused.size() == 1);
  CHECK(w.reused[0].trial_id == trials[0].id);
  CHECK(w.reused[0].metrics.at("score") == -5);
  CHECK(w.reused[0].wall_s == Approx(1.5));
  CHECK(w.reused[0].seed == 11);
  CHECK(w.reused[0].params == trials[0].params);
  CHECK(w.reused[0].error.find("reused from") != std::string::npos);
  // Other input files: nothing is reused.
  InputDigest d;
  d.path = "data.h5";
  d.sha256 = "abc";
  w = read_warm_start(spec, false, trials, {d});
  CHECK(w.reused.empty());
  REQUIRE_FALSE(w.warnings.empty());
  CHECK(w.warnings[0].find("input files differ") != std::string::npos);
}
