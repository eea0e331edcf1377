// Replicates inside the searches (engine/replicates.hpp, issue 28): hand-worked cases. A
// configuration's value is the mean over its replicates; ASHA ranks and promotes by it and waits
// for every replicate of a rung; TPE observes it.
#include "catch.hpp"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "engine/asha.hpp"
#include "engine/replicates.hpp"
#include "engine/search_registry.hpp"
#include "engine/tpe_search.hpp"
#include "support/search.hpp"
#include "sweeps/spec.hpp"

using namespace ns::engine;
using nlohmann::json;

namespace {

const ns::sweeps::FamilySchema& schema() { return ns::test::quadratic_schema(); }

ns::sweeps::SweepSpec parse(json j) {
  j["name"] = "rep";
  j["family"] = "quadratic";
  j["metric"] = "score";
  j["mode"] = "max";
  j["seed"] = 3;
  return parse_spec(j, "spec.json", schema());
}

std::unique_ptr<Scheduler> build(const ns::sweeps::SweepSpec& spec) {
  SearchInputs in;
  in.trials = ns::sweeps::enumerate(spec);
  in.make_trial = [&spec](int index, const json& proposal) {
    return ns::test::proposed_trial(spec, index, proposal);
  };
  return build_search(spec, std::move(in)).scheduler;
}

ResultRow row_for(const msg::Assign& a, TrialStatus status, double score) {
  Outcome o;
  o.trial_id = a.trial.id;
  o.status = status;
  o.metrics["score"] = score;
  return msg::row_of(a, o);
}

}  // namespace

TEST_CASE("replicate_mean: the mean over replicates that did not fail", "[replicates]") {
  ns::sweeps::Trial config;
  config.id = "c";
  config.params = json{{"x", 1}};
  auto row = [](TrialStatus s, double v, double loss) {
    ResultRow r;
    r.status = s;
    r.metrics = {{"score", v}, {"loss", loss}};
    r.wall_s = 2;
    r.error = s == TrialStatus::kFailed ? "boom" : "";
    return r;
  };
  // ok 1, 2, 6 -> 3; loss NaN in one -> the mean of the finite ones.
  ResultRow m = replicate_mean(config, {row(TrialStatus::kOk, 1, 4), row(TrialStatus::kOk, 2, NAN),
                                        row(TrialStatus::kOk, 6, 2)});
  CHECK(m.status == TrialStatus::kOk);
  CHECK(m.metrics.at("score") == Approx(3));
  CHECK(m.metrics.at("loss") == Approx(3));
  CHECK(m.wall_s == Approx(6));
  CHECK(m.trial_id == "c");
  CHECK(m.params == config.params);
  // A failed replicate leaves the mean; paused wins over ok; stopped over ok.
  m = replicate_mean(config, {row(TrialStatus::kPaused, 5, 0), row(TrialStatus::kFailed, 100, 0)});
  CHECK(m.status == TrialStatus::kPaused);
  CHECK(m.metrics.at("score") == Approx(5));
  m = replicate_mean(config, {row(TrialStatus::kOk, 5, 0), row(TrialStatus::kStopped, 1, 0)});
  CHECK(m.status == TrialStatus::kStopped);
  CHECK(m.metrics.at("score") == Approx(3));
  // All failed: a failed configuration, with the first error.
  m = replicate_mean(config, {row(TrialStatus::kFailed, 1, 0), row(TrialStatus::kTimeout, 1, 0)});
  CHECK(m.status == TrialStatus::kFailed);
  CHECK(m.error.find("all 2 replicates failed; the first: boom") != std::string::npos);
}

TEST_CASE("replicates: ids, seeds and folds of a configuration's replicates", "[replicates]") {
  const auto spec = parse({{"grid", {{"x", {0.5, 1.5}}}}, {"repeats", 2}, {"folds", 3}});
  const auto trials = ns::sweeps::enumerate(spec);
  REQUIRE(trials.size() == 12);
  std::set<std::string> ids;
  std::set<std::uint64_t> seeds;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const auto& t = trials[i];
    CHECK(t.index == static_cast<int>(i));
    CHECK(t.repeat == static_cast<int>(i % 6) / 3);
    CHECK(t.fold == static_cast<int>(i % 3));
    CHECK(t.folds == 3);
    CHECK(t.fold_seed == 3);  // the sweep's seed: every configuration sees the same folds
    ids.insert(t.id);
    seeds.insert(t.seed);
    CHECK(t.id == ns::sweeps::trial_id("quadratic", spec.data, t.params, t.repeat, t.fold, 3));
  }
  CHECK(ids.size() == 12);
  CHECK(seeds.size() == 12);
  // replicates_of gives the same trials from a configuration; its id is none of theirs.
  ns::sweeps::Trial config = config_trial(spec, trials[6], 6);
  CHECK(config.index == 1);
  CHECK_FALSE(ids.count(config.id));
  const auto again = ns::sweeps::replicates_of(spec, config);
  REQUIRE(again.size() == 6);
  for (std::size_t j = 0; j < 6; ++j) {
    CHECK(again[j].id == trials[6 + j].id);
    CHECK(again[j].index == trials[6 + j].index);
    CHECK(again[j].seed == trials[6 + j].seed);
  }
  // Without folds, ids are those of before (repeat only).
  const auto plain = parse({{"grid", {{"x", {0.5}}}}, {"repeats", 2}});
  const auto p = ns::sweeps::enumerate(plain);
  CHECK(p[1].id == ns::sweeps::trial_id("quadratic", plain.data, p[1].params, 1));
  CHECK(p[1].fold == -1);
}

TEST_CASE("replicates: ASHA waits for every replicate of a rung and promotes by their mean",
          "[replicates]") {
  // Three configurations (x = 0, 1, 2) x 2 repeats; rungs at 1 and 3 (eta 3): one of the three
  // goes on. x = 0 has the best single replicate (10, 0: mean 5); x = 1 the best mean (6, 6).
  const auto spec = parse({{"grid", {{"x", {0, 1, 2}}}},
                           {"repeats", 2},
                           {"scheduler",
                            {{"kind", "asha"}, {"resource", "steps"}, {"min", 1}, {"max", 3},
                             {"eta", 3}, {"order", "sweep"}}}});
  const std::map<int, std::vector<double>> value = {{0, {10, 0}}, {1, {6, 6}}, {2, {1, 1}}};
  auto s = build(spec);
  auto* rep = dynamic_cast<ReplicateScheduler*>(s.get());
  REQUIRE(rep != nullptr);
  const auto& asha = dynamic_cast<const AshaScheduler&>(rep->inner());
  std::vector<std::string> order;
  for (int c = 0; c < 3; ++c) {
    for (int r = 0; r < 2; ++r) {
      REQUIRE(s->next(1) != nullptr);
      const msg::Assign a = s->take(1);
      CHECK(a.trial.params.at("x") == c);
      CHECK(a.trial.repeat == r);
      CHECK(a.resource_limit == 1);
      CHECK_FALSE(a.final_rung);
      CHECK(s->on_result(1, a, row_for(a, TrialStatus::kPaused, value.at(c)[r]), false) ==
            Verdict::kDefer);
      CHECK(s->ready_rows().empty());  // paused replicates get no row yet
      // The configuration enters rung 0 only with both replicates, at their mean.
      const auto table = asha.rung_table(0);
      CHECK(table.size() == static_cast<std::size_t>(r == 1 ? c + 1 : c));
    }
  }
  const auto table = asha.rung_table(0);
  REQUIRE(table.size() == 3);
  CHECK(table[0].second == Approx(6));  // x = 1 ranks first by its mean
  CHECK(table[1].second == Approx(5));
  CHECK(table[2].second == Approx(1));
  // The promotion: both replicates of x = 1, to the top rung, one after the other.
  for (int r = 0; r < 2; ++r) {
    REQUIRE(s->next(1) != nullptr);
    const msg::Assign a = s->take(1);
    CHECK(a.trial.params.at("x") == 1);
    CHECK(a.trial.repeat == r);
    CHECK(a.resource_limit == 3);
    CHECK(a.final_rung);
    s->on_result(1, a, row_for(a, TrialStatus::kOk, 7 + r), false);
    const auto rows = s->ready_rows();
    // Both rows land together when the second replicate is back, each with its own value.
    REQUIRE(rows.size() == (r == 0 ? 0u : 2u));
    if (r == 1) {
      CHECK(rows[0].metrics.at("score") == 7);
      CHECK(rows[1].metrics.at("score") == 8);
      CHECK(rows[0].rung == 1);
      CHECK(rows[0].resource == 3);
      CHECK(asha.rung_table(1).at(0).second == Approx(7.5));
    }
  }
  CHECK(s->next(1) == nullptr);
  CHECK(s->pending() == 0);
  // The end: the other configurations' replicates are stopped at rung 0, with their own values.
  const auto rest = s->final_rows();
  REQUIRE(rest.size() == 4);
  for (const auto& r : rest) {
    CHECK(r.status == TrialStatus::kStopped);
    CHECK(r.rung == 0);
    CHECK(r.params.at("x") != 1);
  }
}

TEST_CASE("replicates: TPE observes a configuration's mean once all its replicates are back",
          "[replicates]") {
  const auto spec = parse({{"random",
                            {{"count", 4},
                             {"params", {{"x", {{"dist", "uniform"}, {"low", -3}, {"high", 3}}}}}}},
                           {"search", {{"kind", "tpe"}, {"startup", 2}}},
                           {"repeats", 3}});
  auto s = build(spec);
  auto* rep = dynamic_cast<ReplicateScheduler*>(s.get());
  REQUIRE(rep != nullptr);
  const auto& tpe = dynamic_cast<const TpeScheduler&>(rep->inner());
  const std::vector<double> v = {1, 2, 6};
  std::string config_x;
  for (int r = 0; r < 3; ++r) {
    const msg::Assign a = s->take(1);
    CHECK(a.trial.repeat == r);
    CHECK(a.resource_limit == 0);  // TPE alone: each replicate trains to its end
    if (r == 0) config_x = a.trial.params.at("x").dump();
    CHECK(a.trial.params.at("x").dump() == config_x);
    s->on_result(1, a, row_for(a, TrialStatus::kOk, v[static_cast<std::size_t>(r)]), false);
    const auto obs = tpe.observations();
    REQUIRE(obs.size() == 1);
    if (r < 2) {
      CHECK(obs[0].state == TpeState::kRunning);  // the constant liar until the mean is known
      CHECK(s->ready_rows().empty());
    } else {
      CHECK(obs[0].state == TpeState::kComplete);
      CHECK(obs[0].value == Approx(3));
      CHECK(s->ready_rows().size() == 3);
    }
  }
  // A failed replicate (after its retries) leaves the mean; the others make it.
  const msg::Assign b0 = s->take(1);
  CHECK(b0.trial.params.at("x").dump() != config_x);
  s->on_result(1, b0, row_for(b0, TrialStatus::kFailed, 0), false);
  const msg::Assign b1 = s->take(1);
  s->on_result(1, b1, row_for(b1, TrialStatus::kOk, 4), false);
  const msg::Assign b2 = s->take(1);
  s->on_result(1, b2, row_for(b2, TrialStatus::kOk, 2), false);
  const auto rows = s->ready_rows();
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].status == TrialStatus::kFailed);
  CHECK(tpe.observations().at(1).value == Approx(3));
}

TEST_CASE("replicates: the median rule decides on the mean at each report, replicates in lockstep",
          "[replicates]") {
  const auto spec = parse({{"grid", {{"x", {0, 1}}}},
                           {"repeats", 2},
                           {"scheduler",
                            {{"kind", "median"}, {"resource", "steps"}, {"min", 2}, {"max", 4},
                             {"every", 2}, {"min_samples", 1}}}});
  auto s = build(spec);
  // Every replicate trains to the first report point and pauses there; the search hears of it
  // once both replicates have.
  const msg::Assign a0 = s->take(1);
  CHECK(a0.resource_limit == 2);
  CHECK_FALSE(a0.final_rung);
  CHECK(a0.rungs.empty());
  s->on_result(1, a0, row_for(a0, TrialStatus::kPaused, 10), false);
  const msg::Assign a1 = s->take(1);
  CHECK(a1.trial.params == a0.trial.params);
  CHECK(a1.resource_limit == 2);
  s->on_result(1, a1, row_for(a1, TrialStatus::kPaused, 0), false);
  // Continue (no finished configuration yet): both go on to the end.
  for (int r = 0; r < 2; ++r) {
    const msg::Assign a = s->take(1);
    CHECK(a.trial.params == a0.trial.params);
    CHECK(a.resource_limit == 4);
    CHECK(a.final_rung);
    s->on_result(1, a, row_for(a, TrialStatus::kOk, 10), false);
  }
  CHECK(s->ready_rows().size() == 2);
  // The second configuration: its mean at step 2 (1, 1 -> 1) is below the first's running mean
  // there ((10 + 0) / 2 = 5): both replicates end "stopped" with their own values.
  for (int r = 0; r < 2; ++r) {
    const msg::Assign a = s->take(1);
    CHECK(a.trial.params.at("x") == 1);
    CHECK(a.resource_limit == 2);
    s->on_result(1, a, row_for(a, TrialStatus::kPaused, 1), false);
  }
  const auto rows = s->ready_rows();
  REQUIRE(rows.size() == 2);
  for (const auto& r : rows) {
    CHECK(r.status == TrialStatus::kStopped);
    CHECK(r.metrics.at("score") == 1);
  }
  CHECK(s->next(1) == nullptr);
}

TEST_CASE("replicates: PBT refuses them, the list runs them as trials", "[replicates]") {
  for (const json& extra : {json{{"repeats", 2}}, json{{"folds", 3}}}) {
    json j = {{"random",
               {{"count", 4},
                {"params", {{"x", {{"dist", "uniform"}, {"low", -3}, {"high", 3}}}}}}},
              {"search", {{"kind", "pbt"}, {"interval", 2}, {"max", 4}, {"mutable", {"x"}}}}};
    j.update(extra);
    INFO(extra.dump());
    CHECK_THROWS_WITH(parse(j), Catch::Contains("cannot be combined with") &&
                                    Catch::Contains("no replicates whose mean"));
  }
  const auto list = parse({{"grid", {{"x", {0, 1}}}}, {"repeats", 2}});
  auto s = build(list);
  CHECK(dynamic_cast<ReplicateScheduler*>(s.get()) == nullptr);
  CHECK(s->pending() == 4);
}

TEST_CASE("replicates: a configuration's replicates pack together", "[replicates]") {
  const auto spec = parse({{"grid", {{"x", {0, 1}}}},
                           {"repeats", 3},
                           {"scheduler",
                            {{"kind", "asha"}, {"resource", "steps"}, {"min", 1}, {"max", 3},
                             {"eta", 3}, {"order", "sweep"}}}});
  auto s = build(spec);
  const msg::Assign first = s->take(1);
  const auto more = s->take_more(1, [](const msg::Assign&) { return true; }, 4);
  // The visit's other replicates only: the next configuration is not started by a pack.
  REQUIRE(more.size() == 2);
  for (const auto& m : more) {
    CHECK(m.trial.params == first.trial.params);
    CHECK(m.resource_limit == first.resource_limit);
  }
  CHECK(more[0].trial.repeat == 1);
  CHECK(more[1].trial.repeat == 2);
  CHECK(s->pending() == 3);  // the other configuration's replicates
}
