// The TPE search scheduler (engine/tpe_search.hpp) driven through the Scheduler interface: the
// startup draws come first, proposals follow the journal, running trials steer proposals away
// (constant liar), retries, repeated configurations, and a restore from the journal at every
// cut point proposes exactly what the uninterrupted search did.
#include "catch.hpp"

#include <cmath>
#include <set>

#include "core/hash.hpp"
#include "engine/tpe_search.hpp"
#include "sweeps/spec.hpp"
#include "support/rows.hpp"

using namespace ns::engine;
using nlohmann::json;
using ns::test::row;

namespace {

TpeSpace space_xy() {
  ns::sweeps::Distribution u{ns::sweeps::DistKind::kUniform, -5, 5, {}};
  return {{"x", u}, {"y", u}};
}

// Trials as the application builds them: id from the parameters.
ns::sweeps::Trial make(int index, const json& proposal) {
  ns::sweeps::Trial t;
  t.index = index;
  t.params = proposal;
  t.id = ns::sweeps::trial_id("quadratic", json(), proposal, 0);
  return t;
}

std::vector<ns::sweeps::Trial> startup(int n, std::uint64_t seed) {
  std::vector<ns::sweeps::Trial> v;
  for (int i = 0; i < n; ++i) {
    const double x = -5 + 10 * ns::core::unit_double(ns::core::mix_seed(seed, 2 * i));
    const double y = -5 + 10 * ns::core::unit_double(ns::core::mix_seed(seed, 2 * i + 1));
    v.push_back(make(i, {{"x", x}, {"y", y}}));
  }
  return v;
}

TpeSearchOptions options(int trials, int startup_n) {
  TpeSearchOptions o;
  o.tpe.startup = startup_n;
  o.tpe.maximize = true;
  o.trials = trials;
  o.seed = 11;
  o.metric = "score";
  return o;
}

double score(const json& p) {
  const double x = p.at("x"), y = p.at("y");
  return -((x - 1) * (x - 1) + (y + 2) * (y + 2));
}

struct Search {
  std::vector<json> journal;
  TpeScheduler s;
  Search(int trials, int startup_n)
      : s(space_xy(), options(trials, startup_n), startup(startup_n, 5), make,
          [this](const json& e) { journal.push_back(e); }) {}
};

// One trial at a time, each finished before the next is proposed: the ids in order.
std::vector<std::string> run_serial(TpeScheduler& s, std::set<std::string>* finished = nullptr,
                                    int stop_after = -1) {
  std::vector<std::string> ids;
  while (const msg::Assign* n = s.next(1)) {
    if (stop_after >= 0 && static_cast<int>(ids.size()) == stop_after) break;
    const std::string shown = n->trial.id;
    msg::Assign a = s.take(1);
    REQUIRE(a.trial.id == shown);
    ids.push_back(a.trial.id);
    REQUIRE(s.on_result(1, a, row(a, TrialStatus::kOk, score(a.trial.params)), false) ==
            Verdict::kRecord);
    if (finished) finished->insert(a.trial.id);
  }
  return ids;
}

}  // namespace

TEST_CASE("tpe search: startup draws first, then proposals near the optimum", "[tpe]") {
  Search a(40, 10);
  const auto ids = run_serial(a.s);
  REQUIRE(ids.size() == 40);
  CHECK(a.s.pending() == 0);
  const auto st = startup(10, 5);
  for (int i = 0; i < 10; ++i) CHECK(ids[i] == st[i].id);  // the random draws, in order
  CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == 40);
  // Journal: a proposal and a result per trial, in order, the proposal first.
  REQUIRE(a.journal.size() == 80);
  for (int i = 0; i < 40; ++i) {
    CHECK(a.journal[2 * i].at("event") == "tpe_propose");
    CHECK(a.journal[2 * i].at("index") == i);
    CHECK(a.journal[2 * i + 1].at("event") == "tpe_result");
    CHECK(a.journal[2 * i + 1].at("trial") == a.journal[2 * i].at("trial"));
  }
  // The last 10 proposals score better on average than the 10 random draws (TPE learns).
  const auto obs = a.s.observations();
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) first += obs[i].value, last += obs[30 + i].value;
  CHECK(last > first);
}

TEST_CASE("tpe search: a running trial changes the next proposal (constant liar)", "[tpe]") {
  Search a(30, 5);
  run_serial(a.s, nullptr, 20);
  // Two workers ask at once: the second proposal sees the first as running.
  const msg::Assign first = a.s.take(1);
  const msg::Assign second = a.s.take(2);
  CHECK(first.trial.id != second.trial.id);
  CHECK(first.trial.index == 20);
  CHECK(second.trial.index == 21);
  // Without the running trial the same proposal 21 would come from the same history: the
  // difference is the liar's doing.
  Search b(30, 5);
  run_serial(b.s, nullptr, 20);
  const msg::Assign b_first = b.s.take(1);
  REQUIRE(b_first.trial.id == first.trial.id);
  REQUIRE(b.s.on_result(1, b_first, row(b_first, TrialStatus::kOk, score(b_first.trial.params)),
                        false) == Verdict::kRecord);
  CHECK(b.s.next(1)->trial.id != second.trial.id);
}

TEST_CASE("tpe search: retries come first and failures leave the densities", "[tpe]") {
  TpeSearchOptions o = options(12, 3);
  const int retries = 1;  // the spec's "retries": the coordinator's retry rule (settle_result)
  std::vector<json> journal;
  TpeScheduler s(space_xy(), o, startup(3, 5), make, [&](const json& e) { journal.push_back(e); });
  msg::Assign a = s.take(1);
  CHECK(settle_result(s, 1, a, row(a, TrialStatus::kFailed, NAN), retries, false) ==
        Verdict::kRetry);
  const msg::Assign again = s.take(1);
  CHECK(again.trial.id == a.trial.id);
  CHECK(again.attempt == 2);
  CHECK(settle_result(s, 1, again, row(again, TrialStatus::kFailed, NAN), retries, false) ==
        Verdict::kRecord);
  CHECK(s.observations().empty());  // failed: not an observation
  CHECK(s.proposed() == 1);
  CHECK(s.pending() == 11);
}

TEST_CASE("tpe search: a space of few configurations ends when every one was tried", "[tpe]") {
  ns::sweeps::Distribution c{ns::sweeps::DistKind::kChoice, 0, 0, {json("a"), json("b")}};
  TpeSearchOptions o = options(10, 1);
  TpeScheduler s({{"c", c}}, o, {make(0, {{"c", "a"}})}, make);
  std::set<std::string> seen;
  int n = 0;
  while (const msg::Assign* next = s.next(1)) {
    (void)next;
    msg::Assign a = s.take(1);
    CHECK(seen.insert(a.trial.id).second);
    REQUIRE(s.on_result(1, a, row(a, TrialStatus::kOk, a.trial.params.at("c") == "a" ? 1 : 0),
                        false) == Verdict::kRecord);
    ++n;
  }
  CHECK(n == 2);
  CHECK(s.exhausted());
  CHECK(s.pending() == 0);
}

TEST_CASE("tpe search: restored from the journal at any cut, it proposes what the "
          "uninterrupted search did", "[tpe]") {
  Search ref(25, 6);
  const auto want = run_serial(ref.s);
  REQUIRE(want.size() == 25);
  for (const int cut : {0, 3, 6, 7, 12, 24}) {
    // A first run stopped after `cut` trials; one more was proposed and never finished (the
    // job died while it trained).
    Search first(25, 6);
    std::set<std::string> finished;
    run_serial(first.s, &finished, cut);
    if (first.s.next(1)) first.s.take(1);
    Search second(25, 6);
    second.s.restore(first.journal, finished);
    // The unfinished one comes first, then new proposals.
    std::vector<std::string> got(want.begin(), want.begin() + cut);
    const auto rest = run_serial(second.s, &finished);
    got.insert(got.end(), rest.begin(), rest.end());
    CHECK(got == want);
  }
}

TEST_CASE("tpe search: a result journaled without its row is run again", "[tpe]") {
  Search first(10, 2);
  std::set<std::string> finished;
  run_serial(first.s, &finished, 4);
  const std::string last = first.journal.back().at("trial");
  finished.erase(last);  // the kill came between the journal line and the row
  Search second(10, 2);
  second.s.restore(first.journal, finished);
  CHECK(second.s.next(1)->trial.id == last);
  CHECK(second.s.pending() == 7);  // it, and the 6 not proposed yet
}

TEST_CASE("tpe search: a journal from another spec is refused", "[tpe]") {
  Search first(10, 2);
  run_serial(first.s, nullptr, 3);
  TpeSearchOptions o = options(10, 2);
  TpeScheduler other(space_xy(), o, startup(2, 99), make);  // other startup draws
  CHECK_THROWS_WITH(other.restore(first.journal, {}), Catch::Contains("changed since"));
}

// ---- TPE + ASHA (AshaScheduler::set_search) ----

#include "engine/asha.hpp"

namespace {

struct AshaSearch {
  std::vector<json> journal;
  AshaScheduler s;
  AshaSearch(int trials, int startup_n)
      : s(startup(startup_n, 5), asha_options(), [this](const json& e) { journal.push_back(e); }) {
    s.set_search(std::make_shared<TpeProposer>(space_xy(), options(trials, startup_n), make),
                 trials - startup_n);
  }
  static AshaOptions asha_options() {
    AshaOptions o;
    o.min = 1, o.max = 9, o.eta = 3;
    o.metric = "score";
    return o;
  }
};

// Serial driver: every job runs to its rung at once; the value improves with the rung.
// Returns "id@rung" per job; `finished` collects the ids that got a row.
std::vector<std::string> run_asha(AshaScheduler& s, std::set<std::string>* finished = nullptr,
                                  int stop_after = -1) {
  std::vector<std::string> jobs;
  while (const msg::Assign* n = s.next(1)) {
    if (stop_after >= 0 && static_cast<int>(jobs.size()) == stop_after) return jobs;  // killed
    const std::string shown = n->trial.id;
    msg::Assign a = s.take(1);
    REQUIRE(a.trial.id == shown);
    jobs.push_back(a.trial.id + "@" + std::to_string(static_cast<int>(a.resource_limit)));
    const TrialStatus st = a.final_rung ? TrialStatus::kOk : TrialStatus::kPaused;
    const Verdict v = s.on_result(1, a, row(a, st, score(a.trial.params) + a.resource_limit), false);
    if (v == Verdict::kRecord && finished) finished->insert(a.trial.id);
  }
  for (const auto& r : s.final_rows())
    if (finished) finished->insert(r.trial_id);
  return jobs;
}

}  // namespace

TEST_CASE("tpe + asha: the startup draws, then proposals as new configurations; stopped "
          "trials observed at their rung", "[tpe]") {
  AshaSearch a(15, 5);
  CHECK(a.s.pending() == 15);
  const auto jobs = run_asha(a.s);
  int proposals = 0;
  for (std::size_t i = 0; i < a.journal.size(); ++i) {
    if (a.journal[i].at("event") != "tpe_propose") continue;
    ++proposals;
    // Each proposal is journaled right before its trial's first start, at rung 0.
    REQUIRE(i + 1 < a.journal.size());
    CHECK(a.journal[i + 1].at("event") == "start");
    CHECK(a.journal[i + 1].at("trial") == a.journal[i].at("trial"));
    CHECK(a.journal[i + 1].at("rung") == 0);
    CHECK(a.journal[i].at("index") == 4 + proposals);
  }
  CHECK(proposals == 10);
  CHECK(a.s.pending() == 0);
  const auto obs = a.s.observations();
  REQUIRE(obs.size() == 15);
  int complete = 0, stopped = 0;
  for (const auto& o : obs) {
    if (o.state == TpeState::kComplete) ++complete;
    if (o.state == TpeState::kStopped) {
      ++stopped;
      CHECK((o.resource == 1 || o.resource == 3));
    }
  }
  CHECK(complete >= 1);
  CHECK(complete + stopped == 15);
}

TEST_CASE("tpe + asha: restored from the journal at any cut, the same jobs in the same order",
          "[tpe]") {
  AshaSearch ref(15, 5);
  const auto want = run_asha(ref.s);
  for (const int cut : {0, 4, 5, 6, 11, 17}) {
    if (cut >= static_cast<int>(want.size())) continue;
    AshaSearch first(15, 5);
    std::set<std::string> finished;
    run_asha(first.s, &finished, cut);
    if (first.s.next(1)) first.s.take(1);  // it was training when the job died
    AshaSearch second(15, 5);
    second.s.restore(first.journal, finished);
    std::vector<std::string> got(want.begin(), want.begin() + cut);
    const auto rest = run_asha(second.s);
    got.insert(got.end(), rest.begin(), rest.end());
    CHECK(got == want);
  }
}
