// ASHA (engine/asha.hpp) driven through the Scheduler interface with scripted results; every
// decision checked against a hand-worked case.
#include "catch.hpp"

#include <algorithm>
#include <cmath>

#include "engine/asha.hpp"
#include "engine/hyperband.hpp"
#include "engine/median.hpp"
#include "support/rows.hpp"

using namespace ns::engine;
using nlohmann::json;
using ns::test::row;

namespace {

std::vector<ns::sweeps::Trial> trials(int n) {
  std::vector<ns::sweeps::Trial> v;
  for (int i = 0; i < n; ++i) v.push_back(ns::sweeps::Trial{"t" + std::to_string(i), i, 0, 0, json{{"i", i}}});
  return v;
}

AshaOptions options(bool promotion = true) {
  AshaOptions o;
  o.min = 1;
  o.max = 9;
  o.eta = 3;
  o.promotion = promotion;
  o.metric = "score";
  return o;
}

// Takes the next job and returns "<trial>@<rung resource>" (final rungs marked with !).
std::string take(AshaScheduler& s, msg::Assign* out = nullptr) {
  const msg::Assign* shown = s.next(1);
  if (!shown) return "none";
  const std::string seen = shown->trial.id;
  msg::Assign a = s.take(1);
  REQUIRE(a.trial.id == seen);  // take() takes what next() showed
  if (out) *out = a;
  return a.trial.id + "@" + std::to_string(static_cast<int>(a.resource_limit)) +
         (a.final_rung ? "!" : "");
}

}  // namespace

TEST_CASE("ASHA rungs: min * eta^k below max, and max on top", "[asha]") {
  AshaOptions o = options();
  o.min = 1, o.max = 27;
  CHECK(asha_rungs(o) == std::vector<double>{1, 3, 9, 27});
  o.max = 30;
  CHECK(asha_rungs(o) == std::vector<double>{1, 3, 9, 30});
  o.min = 100, o.max = 3000;  // K = floor(log3(30)) = 3
  CHECK(asha_rungs(o) == std::vector<double>{100, 300, 900, 3000});
  o.min = 5, o.max = 5;
  CHECK(asha_rungs(o) == std::vector<double>{5});
  o.eta = 1;
  CHECK_THROWS_WITH(asha_rungs(o), Catch::Contains("eta must be > 1"));
}

TEST_CASE("ASHA stopping cutoff: the (1 - 1/eta) quantile, numpy's linear interpolation",
          "[asha]") {
  CHECK_FALSE(asha_cutoff({}, 3).has_value());
  CHECK(*asha_cutoff({5}, 3) == 5);
  // [1, 2, 3]: position 2/3 * 2 = 1.333 -> 2 + 0.333 * (3 - 2)
  CHECK(*asha_cutoff({3, 1, 2}, 3) == Approx(7.0 / 3));
  // [1, 2, 3, 4]: position 2/3 * 3 = 2 -> 3 (numpy.percentile([1,2,3,4], 66.666...) = 3.0)
  CHECK(*asha_cutoff({4, 1, 3, 2}, 3) == Approx(3.0));
  // eta 2: the median; NaN ignored
  CHECK(*asha_cutoff({1, std::nan(""), 2, 10}, 2) == Approx(2.0));
}

TEST_CASE("ASHA promotion: the paper's get_job, rung by rung, on scripted values", "[asha]") {
  // Rungs 1, 3, 9 (eta 3). 7 configurations.
  AshaScheduler s(trials(7), options());
  msg::Assign a;
  // Nothing recorded: new configurations, to rung 0 (resource 1).
  CHECK(take(s, &a) == "t0@1");
  CHECK(s.on_result(1, a, row(a, TrialStatus::kPaused, 5), false) == Verdict::kHold);
  // One result at rung 0: floor(1/3) = 0 promotions -> a new configuration.
  CHECK(take(s, &a) == "t1@1");
  s.on_result(1, a, row(a, TrialStatus::kPaused, 7), false);
  CHECK(take(s, &a) == "t2@1");
  s.on_result(1, a, row(a, TrialStatus::kPaused, 6), false);
  // Three at rung 0 (7, 6, 5): the top floor(3/3) = 1 is t1 -> promoted to rung 1 (resource 3).
  msg::Assign p;
  CHECK(take(s, &p) == "t1@3");
  // While t1 runs: t1 was promoted, so a new configuration.
  CHECK(take(s, &a) == "t3@1");
  s.on_result(1, a, row(a, TrialStatus::kPaused, 1), false);
  s.on_result(1, p, row(p, TrialStatus::kPaused, 8), false);  // t1 at rung 1
  // Rung 1 has one (floor(1/3) = 0); rung 0 has 4 (7, 6, 5, 1): top 1 = t1, promoted -> new.
  CHECK(take(s, &a) == "t4@1");
  s.on_result(1, a, row(a, TrialStatus::kPaused, 6.5), false);
  // Rung 0: 7, 6.5, 6, 5, 1 -> top floor(5/3) = 1 still t1 -> a new one.
  CHECK(take(s, &a) == "t5@1");
  s.on_result(1, a, row(a, TrialStatus::kPaused, 0), false);
  // Six at rung 0 -> top 2: t1 (promoted) and t4 (6.5) -> t4 to rung 1.
  CHECK(take(s, &p) == "t4@3");
  s.on_result(1, p, row(p, TrialStatus::kPaused, 9), false);
  CHECK(take(s, &a) == "t6@1");
  s.on_result(1, a, row(a, TrialStatus::kPaused, 2), false);
  // No new configuration left; rung 1 has 2 (9, 8): floor(2/3) = 0; rung 0: 7 -> top 2, both
  // promoted. Nothing to do and nothing running: the sweep is over.
  CHECK(take(s) == "none");
  CHECK_FALSE(s.may_have_more());
  CHECK(s.pending() == 0);
  const auto table = s.rung_table(1);
  REQUIRE(table.size() == 2);
  CHECK(table[0] == std::make_pair(std::string("t4"), 9.0));
  // Every paused trial gets its row, "stopped", at its rung.
  const auto rows = s.final_rows();
  REQUIRE(rows.size() == 7);
  for (const auto& r : rows) {
    CHECK(r.status == TrialStatus::kStopped);
    const bool promoted = r.trial_id == "t1" || r.trial_id == "t4";
    CHECK(r.rung == (promoted ? 1 : 0));
    CHECK(r.resource == (promoted ? 3.0 : 1.0));
    CHECK_FALSE(r.metrics.count("rung"));  // bookkeeping, not a metric
    CHECK_FALSE(r.metrics.count("resource"));
  }
}

TEST_CASE("ASHA promotion: the top rung trains to max and ends as finished; ties by sweep order",
          "[asha]") {
  AshaOptions o = options();
  o.max = 3;  // rungs 1, 3
  AshaScheduler s(trials(3), o);
  msg::Assign a;
  for (int i = 0; i < 3; ++i) {
    take(s, &a);
    s.on_result(1, a, row(a, TrialStatus::kPaused, 4.0), false);  // a three-way tie
  }
  msg::Assign top;
  CHECK(take(s, &top) == "t0@3!");  // the tie goes to the first in sweep order; final rung
  CHECK(s.may_have_more());         // t0 runs: a free worker waits rather than leaving
  CHECK(take(s) == "none");
  CHECK(s.on_result(1, top, row(top, TrialStatus::kOk, 6), false) == Verdict::kRecord);
  CHECK_FALSE(s.may_have_more());
  ResultRow r = row(top, TrialStatus::kOk, 6);
  s.annotate(top, r);
  CHECK(r.rung == 1);
  CHECK(r.resource == 3.0);
  CHECK(r.metrics.size() == 1);  // the trial's metric alone
  CHECK(s.final_rows().size() == 2);  // t1, t2 stopped at rung 0
}

TEST_CASE("ASHA: fewer results than eta promote nothing; failures leave the rung; retries first",
          "[asha]") {
  AshaOptions o = options();
  AshaScheduler s(trials(3), o);
  const int retries = 1;  // the spec's "retries": the coordinator's retry rule (settle_result)
  msg::Assign a, b, c;
  take(s, &a);
  take(s, &b);
  take(s, &c);
  s.on_result(1, a, row(a, TrialStatus::kPaused, 1), false);
  // b fails: with a retry left it runs again first, with attempt 2.
  CHECK(settle_result(s, 1, b, row(b, TrialStatus::kFailed, std::nan("")), retries, false) ==
        Verdict::kRetry);
  msg::Assign again;
  CHECK(take(s, &again) == "t1@1");
  CHECK(again.attempt == 2);
  CHECK(settle_result(s, 1, again, row(again, TrialStatus::kFailed, std::nan("")), retries,
                      false) == Verdict::kRecord);
  s.on_result(1, c, row(c, TrialStatus::kPaused, 2), false);
  // Two recorded at rung 0 (the failure is not): floor(2/3) = 0 -> nothing to promote.
  CHECK(s.rung_table(0).size() == 2);
  CHECK(take(s) == "none");
  CHECK_FALSE(s.may_have_more());
}

TEST_CASE("ASHA stopping variant: continue at the first report, stop below the cutoff, ties go on",
          "[asha]") {
  AshaOptions o = options(/*promotion=*/false);
  o.maximize = false;  // minimize: smaller is better
  AshaScheduler s(trials(4), o);
  msg::Assign a;
  CHECK(take(s, &a) == "t0@9!");  // trains toward max, reporting at rungs 1 and 3
  CHECK(a.rungs == std::vector<double>{1, 3});
  auto report = [&](const std::string& id, double resource, double v) {
    return s.on_report(1, msg::Report{id, resource, {{"score", v}}});
  };
  CHECK(report("t0", 1, 5.0) == Decision::kContinue);  // first at rung 0
  take(s, &a);
  CHECK(report("t1", 1, 6.0) == Decision::kStop);      // cutoff over {5}: 5; 6 is worse
  take(s, &a);
  CHECK(report("t2", 1, 5.0) == Decision::kContinue);  // a tie with the cutoff goes on
  take(s, &a);
  // Recorded {5, 6, 5} in score space {-5, -6, -5}: cutoff at 2/3 -> -5; 4.0 (score -4) goes on.
  CHECK(report("t3", 1, 4.0) == Decision::kContinue);
  CHECK(report("t0", 3, 3.0) == Decision::kContinue);  // first at rung 1
  CHECK(report("t3", 3, 3.5) == Decision::kStop);
  // A report between rungs, or at a rung already decided, just continues.
  CHECK(report("t0", 2, 0.0) == Decision::kContinue);
  CHECK(report("t0", 3, 100.0) == Decision::kContinue);
}

TEST_CASE("ASHA synchronous: a rung's promotions wait until every trial in it reported",
          "[asha]") {
  AshaOptions o = options();
  o.synchronous = true;
  AshaScheduler s(trials(3), o);
  msg::Assign a, b, c;
  take(s, &a);
  take(s, &b);
  take(s, &c);
  s.on_result(1, a, row(a, TrialStatus::kPaused, 9), false);
  s.on_result(1, b, row(b, TrialStatus::kPaused, 1), false);
  // Asynchronous ASHA would not promote yet either (floor(2/3) = 0); with t2's result rung 0
  // is complete and its top 1 (t0) goes on.
  CHECK(take(s) == "none");
  CHECK(s.may_have_more());
  s.on_result(1, c, row(c, TrialStatus::kPaused, 5), false);
  CHECK(take(s) == "t0@3");
}

TEST_CASE("ASHA: the journal rebuilds the same state after a kill", "[asha]") {
  std::vector<json> journal;
  AshaScheduler s(trials(5), options(), [&](const json& e) { journal.push_back(e); });
  const std::vector<double> values = {3, 8, 5, 1, 7};
  msg::Assign a;
  for (int i = 0; i < 3; ++i) {
    take(s, &a);
    s.on_result(1, a, row(a, TrialStatus::kPaused, values[i]), false);
  }
  msg::Assign promoted;
  CHECK(take(s, &promoted) == "t1@3");  // running when the "kill" comes
  // A new run: the same trials, the journal so far, no rows.
  AshaScheduler r(trials(5), options());
  r.restore(journal, {});
  CHECK(r.paused() == std::set<std::string>{"t0", "t2"});
  msg::Assign again;
  CHECK(take(r, &again) == "t1@3");  // the trial that was running goes first, same rung
  CHECK(r.rung_table(0) == s.rung_table(0));
  // From here both make the same decisions.
  s.on_result(1, promoted, row(promoted, TrialStatus::kPaused, 9), false);
  r.on_result(1, again, row(again, TrialStatus::kPaused, 9), false);
  CHECK(take(s) == take(r));
  // A torn journal line is not the scheduler's business (read_journal skips it); a trial with a
  // row is over whatever the journal says.
  AshaScheduler q(trials(5), options());
  q.restore(journal, {"t1"});
  CHECK(take(q) == "t3@1");
}

TEST_CASE("Hyperband: brackets as in Li et al. 2018, each an ASHA, the most aggressive first",
          "[asha][hyperband]") {
  // R = 27, eta = 3: s_max = 3; n_s = ceil(4 / (s + 1) * 3^s) = 4, 6, 12, 27 for s = 0..3
  // (sum 49); 27 configurations split by largest remainders: 2, 3, 7, 15.
  CHECK(hyperband_split(27, 1, 27, 3) == std::vector<int>{2, 3, 7, 15});
  CHECK(hyperband_split(49, 1, 27, 3) == std::vector<int>{4, 6, 12, 27});
  CHECK(hyperband_split(1, 1, 27, 3) == std::vector<int>{0, 0, 0, 1});
  AshaOptions o = options();
  o.max = 27;
  HyperbandScheduler h(trials(27), o);
  REQUIRE(h.brackets() == 4);
  CHECK(h.bracket(3).rungs() == std::vector<double>{1, 3, 9, 27});
  CHECK(h.bracket(2).rungs() == std::vector<double>{3, 9, 27});
  CHECK(h.bracket(0).rungs() == std::vector<double>{27});
  CHECK(h.bracket_trials(3).size() == 15);
  CHECK(h.bracket_trials(0).size() == 2);
  // The first jobs come from bracket 3 (t0..t14 in sweep order), to its rung 0.
  msg::Assign a;
  const msg::Assign* shown = h.next(1);
  REQUIRE(shown);
  CHECK(shown->trial.id == "t0");
  a = h.take(1);
  CHECK(a.resource_limit == 1);
  CHECK_FALSE(a.final_rung);
  for (int i = 1; i < 15; ++i) h.take(1);
  // Bracket 3's new configurations are all out and nothing came back: bracket 2 starts (rung 3).
  a = h.take(1);
  CHECK(a.trial.id == "t15");
  CHECK(a.resource_limit == 3);
  for (int i = 0; i < 6; ++i) h.take(1);
  for (int i = 0; i < 3; ++i) h.take(1);
  // Bracket 0: random search, to the full budget at once.
  a = h.take(1);
  CHECK(a.trial.id == "t25");
  CHECK(a.resource_limit == 27);
  CHECK(a.final_rung);
  CHECK(h.on_result(1, a, row(a, TrialStatus::kOk, 3), false) == Verdict::kRecord);
}

TEST_CASE("median stopping rule: best so far against the median of finished trials' running "
          "averages, after min_samples of them", "[asha][median]") {
  MedianOptions o;
  o.min = 2;
  o.max = 6;
  o.every = 2;
  o.min_samples = 2;
  o.metric = "score";
  MedianStoppingScheduler s(trials(5), o);
  CHECK(s.checks() == std::vector<double>{2, 4});
  auto report = [&](const std::string& id, double r, double v) {
    return s.on_report(1, msg::Report{id, r, {{"score", v}}});
  };
  msg::Assign a0 = s.take(1), a1 = s.take(1), a2 = s.take(1);
  CHECK(a0.resource_limit == 6);
  CHECK(a0.final_rung);
  CHECK(a0.rungs == std::vector<double>{2, 4});
  // No finished trial yet: everyone continues.
  CHECK(report("t0", 2, 1.0) == Decision::kContinue);
  CHECK(report("t0", 4, 3.0) == Decision::kContinue);
  CHECK(s.on_result(1, a0, row(a0, TrialStatus::kOk, 4), false) == Verdict::kRecord);
  CHECK(report("t1", 2, 2.0) == Decision::kContinue);
  CHECK(report("t1", 4, 4.0) == Decision::kContinue);  // one finished trial < min_samples 2
  s.on_result(1, a1, row(a1, TrialStatus::kOk, 5), false);
  // Finished: t0 (1, 3), t1 (2, 4). Running averages up to 2: 1, 2 -> median 1.5.
  CHECK(report("t2", 2, 1.4) == Decision::kStop);      // best 1.4 < 1.5
  msg::Assign a3 = s.take(1);
  CHECK(report("t3", 2, 1.5) == Decision::kContinue);  // a tie goes on
  // Up to 4: averages (1+3)/2 = 2 and (2+4)/2 = 3 -> median 2.5; t3's best so far is 2.6.
  CHECK(report("t3", 4, 2.6) == Decision::kContinue);
  msg::Assign a4 = s.take(1);
  CHECK(report("t4", 2, 0.0) == Decision::kStop);
  ResultRow r = row(a4, TrialStatus::kStopped, 0);
  s.annotate(a4, r);
  CHECK(r.resource == 2.0);
  CHECK(r.rung == 0);
  CHECK_FALSE(r.metrics.count("resource"));
  CHECK(s.pending() == 0);
  (void)a2;
  (void)a3;
}

TEST_CASE("resource given to trials (the budget's count): running ones their next rung, ended "
          "ones the rung they reached; rebuilt from the journal", "[asha][budget]") {
  // Rungs 1, 3, 9. Promotion: t0, t1, t2 to rung 0, then t1 (best) to rung 1.
  std::vector<json> journal;
  AshaScheduler s(trials(4), options(), [&](const json& e) { journal.push_back(e); });
  CHECK(s.resource_used() == 0);
  msg::Assign a, b, c, p;
  take(s, &a);
  take(s, &b);
  CHECK(s.resource_used() == 2);  // two running toward rung 0 (1 each)
  s.on_result(1, a, row(a, TrialStatus::kPaused, 3), false);
  s.on_result(1, b, row(b, TrialStatus::kPaused, 8), false);
  take(s, &c);
  s.on_result(1, c, row(c, TrialStatus::kFailed, 0), false);  // failed before its rung: 0
  CHECK(s.resource_used() == 2);
  msg::Assign d;
  CHECK(take(s, &d) == "t3@1");  // two recorded at rung 0: its top floor(2/3) is none
  CHECK(s.resource_used() == 3);
  s.on_result(1, d, row(d, TrialStatus::kPaused, 5), false);
  CHECK(take(s, &p) == "t1@3");  // rung 0 {8, 5, 3}: t1 goes on
  CHECK(s.resource_used() == 1 + 1 + 3);
  s.on_result(1, p, row(p, TrialStatus::kPaused, 4), false);
  CHECK(s.resource_used() == 5);
  AshaScheduler r(trials(4), options());
  r.restore(journal, {"t2"});
  CHECK(r.resource_used() == s.resource_used());

  // Stopping variant: a running trial counts the next rung above its last report.
  AshaScheduler st(trials(2), options(/*promotion=*/false));
  msg::Assign x, y;
  take(st, &x);
  CHECK(st.resource_used() == 1);
  st.on_report(1, msg::Report{"t0", 1, {{"score", 5.0}}});
  CHECK(st.resource_used() == 3);
  st.on_report(1, msg::Report{"t0", 3, {{"score", 6.0}}});
  CHECK(st.resource_used() == 9);
  take(st, &y);
  CHECK(st.on_report(1, msg::Report{"t1", 1, {{"score", 1.0}}}) == Decision::kStop);
  st.on_result(1, y, row(y, TrialStatus::kStopped, 1), false);
  CHECK(st.resource_used() == 9 + 1);
  st.on_result(1, x, row(x, TrialStatus::kOk, 7), false);
  CHECK(st.resource_used() == 9 + 1);

  // Median: reports every 2 from 2 to 6.
  MedianOptions mo;
  mo.min = 2, mo.max = 6, mo.every = 2, mo.min_samples = 1, mo.metric = "score";
  MedianStoppingScheduler m(trials(2), mo);
  msg::Assign m0 = m.take(1);
  CHECK(m.resource_used() == 2);
  m.on_report(1, msg::Report{"t0", 2, {{"score", 1.0}}});
  CHECK(m.resource_used() == 4);
  m.on_report(1, msg::Report{"t0", 4, {{"score", 1.0}}});
  CHECK(m.resource_used() == 6);
  m.on_result(1, m0, row(m0, TrialStatus::kOk, 1), false);
  msg::Assign m1 = m.take(1);
  CHECK(m.on_report(1, msg::Report{"t1", 2, {{"score", 0.0}}}) == Decision::kStop);
  m.on_result(1, m1, row(m1, TrialStatus::kStopped, 0), false);
  CHECK(m.resource_used() == 6 + 2);
}

TEST_CASE("ASHA order: new configurations start in a seeded shuffle of the sweep order",
          "[asha][order]") {
  const std::vector<int> p = seeded_permutation(9, 7);
  std::vector<int> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(seeded_permutation(9, 7) == p);  // the same on every rank and rerun
  CHECK(seeded_permutation(9, 8) != p);
  CHECK(p != std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(seeded_permutation(1, 3) == std::vector<int>{0});
  CHECK(seeded_permutation(0, 3).empty());

  AshaOptions o = options();
  o.shuffle = true;
  o.order_seed = 7;
  AshaScheduler s(trials(9), o);
  for (int k = 0; k < 3; ++k) {
    msg::Assign a;
    take(s, &a);
    CHECK(a.trial.index == p[static_cast<std::size_t>(k)]);
    CHECK(a.resource_limit == 1);
  }
}
