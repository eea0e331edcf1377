// Every scheduler kind, killed after each journal event and restored from the journal cut there
// and the rows written before the kill, runs the same jobs to the same rows with the same
// decisions as the uninterrupted run (issue 27). One harness for all kinds: a seeded spec of the
// quadratic family, one deterministic simulated worker (rank 1), and, for every cut k = 0 .. N
// (N: the events of the uninterrupted run), a run killed as soon as reports.jsonl holds k events,
// then a fresh scheduler restored from those k events and the finished ids, driven to the end.
#include "catch.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "engine/search_registry.hpp"
#include "engine/asha.hpp"
#include "engine/journal.hpp"
#include "engine/pbt.hpp"
#include "engine/tpe_search.hpp"
#include "models/quadratic.hpp"
#include "support/search.hpp"
#include "sweeps/spec.hpp"

using namespace ns::engine;
using nlohmann::json;

namespace {

using Sink = std::function<void(const json&)>;
/// What workers left on disk that a restore may read: the rows in PBT's snapshots (result.json).
using SnapshotRows = std::map<std::string, ResultRow>;

// ---- The one place that builds a scheduler from a spec ----

/// A fresh scheduler of the spec's kind, its state rebuilt from `events` (reports.jsonl of the
/// earlier runs), `finished` (the ids with a row in results.csv) and `snapshots`.
std::unique_ptr<Scheduler> build_for(const ns::sweeps::SweepSpec& spec, const Sink& journal,
                                     const std::vector<json>& events,
                                     const std::set<std::string>& finished,
                                     const SnapshotRows& snapshots) {
  // Through the search registry, as `run` builds it (engine/search_registry.hpp).
  ns::engine::SearchInputs in;
  in.trials = ns::sweeps::enumerate(spec);
  in.make_trial = [&spec](int index, const json& proposal) {
    return ns::test::proposed_trial(spec, index, proposal);
  };
  in.journal = journal;
  in.events = events;
  in.finished = finished;
  in.read_only = true;
  in.snapshot_row = [&snapshots](const std::string& s) -> std::optional<ResultRow> {
    auto it = snapshots.find(s);
    if (it == snapshots.end()) return std::nullopt;
    return it->second;
  };
  return ns::engine::build_search(spec, std::move(in)).scheduler;
}

// ---- The cases ----

/// The quadratic family, with x and y allowed to change while a trial trains.
const ns::sweeps::FamilySchema& schema() { return ns::test::quadratic_schema(); }

/// A random search of `count` configurations over x and y, seeded, plus `extra`.
json spec_json(int count, const json& extra) {
  json j = {{"name", "cut"},
            {"family", "quadratic"},
            {"metric", "score"},
            {"mode", "max"},
            {"seed", 7},
            {"random",
             {{"count", count},
              {"params",
               {{"x", {{"dist", "uniform"}, {"low", -3}, {"high", 3}}},
                {"y", {{"dist", "uniform"}, {"low", -3}, {"high", 3}}}}}}}};
  j.update(extra);
  return j;
}

json asha_block(const json& more = json::object()) {
  json b = {{"kind", "asha"}, {"resource", "steps"}, {"min", 1}, {"max", 9}, {"eta", 3}};
  b.update(more);
  return b;
}

/// Why a case does not restore exactly ("" when it does): a reason leaves the case out of the
/// strict test below, named in its INFO. None is left.
/// Found by this test and fixed with the typed journal (engine/journal.hpp): ASHA's stopping
/// variant forgot a stop decision whose row the kill lost (now restore() keeps it and
/// final_rows() writes the row from the event), and TPE forgot a retry's attempt (now journaled
/// as "retry"). None is left.

struct Case {
  std::string name;
  json spec;
  bool can_fail;                 ///< false: the kind has no retries (a failure ends the run)
  std::string diverges;          ///< see above: without failures
  std::string diverges_failing;  ///< with some trials failing their first attempt
};

std::vector<Case> cases() {
  return {
      {"ASHA promotion, asynchronous", spec_json(18, {{"scheduler", asha_block()}}), true, "", ""},
      {"ASHA promotion, synchronous",
       spec_json(18, {{"scheduler", asha_block({{"synchronous", true}})}}), true, "", ""},
      {"ASHA stopping", spec_json(18, {{"scheduler", asha_block({{"variant", "stopping"}})}}), true,
       "", ""},
      {"Hyperband", spec_json(18, {{"scheduler", asha_block({{"kind", "hyperband"}})}}), true, "",
       ""},
      {"median rule",
       spec_json(12, {{"scheduler",
                       {{"kind", "median"},
                        {"resource", "steps"},
                        {"min", 1},
                        {"max", 9},
                        {"every", 2},
                        {"min_samples", 3}}}}),
       true, "", ""},
      {"TPE", spec_json(12, {{"search", {{"kind", "tpe"}, {"startup", 4}}}}), true, "",
       ""},
      {"TPE + ASHA",
       spec_json(15, {{"scheduler", asha_block()}, {"search", {{"kind", "tpe"}, {"startup", 5}}}}),
       true, "", ""},
      // Replicates (engine/replicates.hpp): the search decides on configurations' means.
      {"ASHA promotion, 2 repeats x 2 folds",
       spec_json(9, {{"scheduler", asha_block()}, {"repeats", 2}, {"folds", 2}}), true, "", ""},
      {"ASHA stopping, 2 repeats (lockstep)",
       spec_json(9, {{"scheduler", asha_block({{"variant", "stopping"}})}, {"repeats", 2}}), true,
       "", ""},
      {"Hyperband, 2 repeats",
       spec_json(9, {{"scheduler", asha_block({{"kind", "hyperband"}})}, {"repeats", 2}}), true,
       "", ""},
      {"median rule, 2 repeats (lockstep)",
       spec_json(8, {{"scheduler",
                      {{"kind", "median"},
                       {"resource", "steps"},
                       {"min", 1},
                       {"max", 9},
                       {"every", 2},
                       {"min_samples", 3}}},
                     {"repeats", 2}}),
       true, "", ""},
      {"TPE, 3 repeats", spec_json(8, {{"search", {{"kind", "tpe"}, {"startup", 3}}}, {"repeats", 3}}),
       true, "", ""},
      {"TPE + ASHA, 3 repeats",
       spec_json(12, {{"scheduler", asha_block()},
                      {"search", {{"kind", "tpe"}, {"startup", 4}}},
                      {"repeats", 3}}),
       true, "", ""},
      {"PBT",
       spec_json(6, {{"search",
                      {{"kind", "pbt"},
                       {"interval", 3},
                       {"max", 12},
                       {"mutable", {"x", "y"}},
                       {"quantile", 0.5}}}}),
       true, "", ""},
      {"fixed schedule",
       {{"name", "cut"},
        {"family", "quadratic"},
        {"metric", "score"},
        {"mode", "max"},
        {"seed", 7},
        {"fixed", {{"x", -1.5}, {"y", 0.5}}},
        {"search",
         {{"kind", "schedule"},
          {"segments",
           {{{"until", 3}},
            {{"until", 6}, {"params", {{"x", 0.5}}}},
            {{"until", 9}, {"params", {{"y", -1}}}},
            {{"until", 12}, {"params", {{"x", 1}}}}}}}}},
       false,
       "",
       ""},
  };
}

// ---- The simulated worker ----

/// The metric of a trial with parameters `p` after `r` units of training: the quadratic's value,
/// approached at a rate set by y (slow learners look worse early, so rankings change by rung).
double value_at(const json& p, double r) {
  const double x = p.at("x").get<double>(), y = p.at("y").get<double>();
  return ns::models::quadratic_score(x, y, p.at("k").get<long>()) -
         5 * std::exp(-r / (1 + 2 * std::abs(y)));
}

/// The same for one trial: plus its seed's noise (replicates of a configuration differ, so a
/// mean over them is not any one of them).
double value_at(const msg::Assign& a, double r) {
  return value_at(a.trial.params, r) + 0.8 * (static_cast<double>(a.trial.seed % 1000) / 1000 - 0.5);
}

/// About a third of the trials fail their first attempt (after their first report, if any).
bool fails(const msg::Assign& a, bool failures) {
  return failures && a.attempt == 1 && std::stoull(a.trial.id.substr(0, 4), nullptr, 16) % 3 == 0;
}

/// A job as the worker got it, and what came of it.
struct Job {
  json assign;                                       ///< trial, attempt, limit, rungs, params, ...
  std::vector<std::pair<double, Decision>> reports;  ///< (resource, decision) at each report
  std::optional<Verdict> verdict;                    ///< none: the kill came first
  bool operator==(const Job& o) const {
    return assign == o.assign && reports == o.reports && verdict == o.verdict;
  }
};

std::string show(const Job& j) {
  std::ostringstream s;
  s << j.assign.dump() << " reports [";
  for (const auto& [r, d] : j.reports) s << r << ":" << json(d).dump() << " ";
  s << "] verdict ";
  if (!j.verdict)
    s << "none (killed)";
  else
    s << (*j.verdict == Verdict::kRecord  ? "record"
          : *j.verdict == Verdict::kRetry ? "retry"
          : *j.verdict == Verdict::kDefer ? "defer"
                                          : "hold");
  return s.str();
}

/// What outlives a kill: reports.jsonl, results.csv (rows by trial id; their ids are
/// `finished`) and the snapshots' rows.
struct Disk {
  std::vector<json> journal;
  std::map<std::string, json> rows;
  std::set<std::string> finished;
  SnapshotRows snapshots;
};

/// One run of a scheduler: appends to `disk` until the journal holds `cut` events.
struct Run {
  Disk& disk;
  std::size_t cut = SIZE_MAX;
  std::size_t first = 0;            ///< disk.journal's events from earlier runs
  std::vector<std::string> unit;    ///< per event of this run: who wrote it
  std::string current = "restore";  ///< "restore", "final" or "job <trial id> #<job number>"
  std::vector<Job> jobs;
  int lost = -1;            ///< the job whose work the kill lost (its trial runs again), or -1
  bool lost_final = false;  ///< the kill came while final_rows() wrote its events

  Run(Disk& d, std::size_t c) : disk(d), cut(c), first(d.journal.size()) {}
  bool killed() const { return disk.journal.size() >= cut; }
  /// The coordinator's sink: events go to reports.jsonl (as text, read back as reports.jsonl
  /// would be) until the kill; a call that journals past it loses the rest.
  Sink sink() {
    return [this](const json& e) {
      if (killed()) return;
      disk.journal.push_back(json::parse(e.dump()));
      unit.push_back(current);
    };
  }
  std::vector<json> events() const {
    return {disk.journal.begin() + static_cast<std::ptrdiff_t>(first), disk.journal.end()};
  }
  /// Writes a row as results.csv would keep it.
  void write(const ResultRow& r) {
    CHECK(disk.rows.count(r.trial_id) == 0);  // never two rows for one trial
    disk.rows[r.trial_id] = {
        {"status", r.status}, {"attempt", r.attempt}, {"metrics", msg::metrics_json(r.metrics)}};
    disk.finished.insert(r.trial_id);
  }
};

/// The coordinator's serial loop (Coordinator::run_serial) with one simulated worker.
void drive(Scheduler& s, Run& run, bool failures) {
  // As the coordinator: rows a restore found owed (a stop whose row the kill lost) come first.
  for (const ResultRow& row : s.restored_rows()) run.write(row);
  while (!run.killed()) {
    const msg::Assign* shown = s.next(1);
    if (!shown) break;
    REQUIRE(run.jobs.size() < 5000);  // a scheduler that never ends
    const std::string id = shown->trial.id;
    run.current = "job " + id + " #" + std::to_string(run.jobs.size());
    const msg::Assign a = s.take(1);
    REQUIRE(a.trial.id == id);  // take() takes what next() showed
    run.jobs.push_back({{{"trial", a.trial.id},
                         {"attempt", a.attempt},
                         {"limit", a.resource_limit},
                         {"final", a.final_rung},
                         {"rungs", a.rungs},
                         {"params", a.trial.params},
                         {"adopt", a.adopt},
                         {"snapshot", a.snapshot}},
                        {},
                        std::nullopt});
    Job& job = run.jobs.back();
    if (run.killed()) {
      run.lost = static_cast<int>(run.jobs.size()) - 1;
      return;
    }
    ResultRow row;
    row.trial_id = a.trial.id;
    row.params = a.trial.params;
    row.seed = a.trial.seed;
    row.attempt = a.attempt;
    // No resource limit (TPE): the trial trains to its own end, here 100 units.
    const bool to_end = a.final_rung || a.resource_limit == 0;
    row.status = to_end ? TrialStatus::kOk : TrialStatus::kPaused;
    double reached = a.resource_limit > 0 ? a.resource_limit : 100;
    for (double r : a.rungs) {
      if (r >= a.resource_limit) break;
      const Decision d =
          s.on_report(1, msg::Report{a.trial.id, r, {{"score", value_at(a, r)}}});
      job.reports.emplace_back(r, d);
      if (run.killed()) {
        run.lost = static_cast<int>(run.jobs.size()) - 1;
        return;
      }
      reached = r;
      if (d == Decision::kStop) {  // the runner returns at once: nothing fails after a stop
        row.status = TrialStatus::kStopped;
        break;
      }
      if (fails(a, failures)) break;
    }
    if (row.status != TrialStatus::kStopped && fails(a, failures)) {
      row.status = TrialStatus::kFailed;
      row.error = "induced failure";
    } else {
      row.metrics["score"] = value_at(a, reached);
    }
    // A PBT worker leaves the row in the snapshot (result.json) before it answers.
    if (!a.snapshot.empty()) run.disk.snapshots[a.snapshot] = row;
    // As the coordinator: the retry rule (the spec allows one retry with failures), then on_result.
    const Verdict v = settle_result(s, 1, a, row, failures ? 1 : 0, false);
    job.verdict = v;
    if (run.killed()) {
      // The coordinator journals before it writes the row: a row to write is lost with the
      // kill, and the trial runs again, unless its worker left the row in a snapshot. A
      // replicate's result (kDefer) is kept when its own event made the journal (the rows it
      // released are then written by the restored run, restored_rows()), else it runs again.
      const bool kept = v == Verdict::kDefer && !run.disk.journal.empty() &&
                        ns::engine::journal::kind_of(run.disk.journal.back()) ==
                            ns::engine::journal::Kind::kReplicateResult &&
                        run.disk.journal.back().at("row").at("trial_id") == a.trial.id;
      if ((v == Verdict::kRecord && a.snapshot.empty()) || (v == Verdict::kDefer && !kept))
        run.lost = static_cast<int>(run.jobs.size()) - 1;
      return;
    }
    if (v == Verdict::kRecord) {
      s.annotate(a, row);
      run.write(row);
    }
    for (const ResultRow& r : s.ready_rows()) run.write(r);  // replicates, decided together
  }
  if (run.killed() || s.pending() > 0) return;
  run.current = "final";
  const std::vector<ResultRow> rows = s.final_rows();
  if (run.killed()) {  // its events first, then the rows: none written
    run.lost_final = true;
    return;
  }
  for (const auto& r : rows) run.write(r);
}

/// The first difference between two sequences, or "".
template <typename T, typename Show>
std::string difference(const std::vector<T>& want, const std::vector<T>& got, Show show) {
  for (std::size_t i = 0; i < std::max(want.size(), got.size()); ++i) {
    if (i < want.size() && i < got.size() && want[i] == got[i]) continue;
    std::ostringstream s;
    s << "at " << i << " (of " << want.size() << " expected, " << got.size() << " got): expected "
      << (i < want.size() ? show(want[i]) : "nothing") << ", got "
      << (i < got.size() ? show(got[i]) : "nothing");
    return s.str();
  }
  return "";
}

/// Runs `c` uninterrupted and cut after every event; with `failures`, some trials fail their
/// first attempt and the spec allows one retry; with `attempts`, rows must have the same attempt
/// numbers too. Returns what diverged ("" when nothing), and the number of events of the
/// uninterrupted run in `events`.
std::string check_every_cut(const Case& c, bool failures, bool attempts, std::size_t& events) {
  json j = c.spec;
  j["retries"] = failures ? 1 : 0;
  const ns::sweeps::SweepSpec spec = ns::engine::parse_spec(j, "spec.json", schema());
  Disk ref_disk;
  Run ref(ref_disk, SIZE_MAX);
  {
    auto s = build_for(spec, ref.sink(), {}, {}, {});
    drive(*s, ref, failures);
    CHECK(s->pending() == 0);
    CHECK_FALSE(s->may_have_more());
  }
  events = ref_disk.journal.size();
  REQUIRE(events > 0);
  REQUIRE(ref_disk.rows.size() ==
          static_cast<std::size_t>(std::max(spec.random_count, 1) * spec.replicates()));
  if (failures)  // the retries are exercised (PBT: a failed segment waits for its exploit)
    CHECK(std::count_if(ref.jobs.begin(), ref.jobs.end(),
                        [](const Job& j) { return j.verdict == Verdict::kRetry; }) > 0);
  auto show_event = [](const json& e) { return e.dump(); };
  auto show_job = [](const Job& j) { return show(j); };

  std::vector<std::string> problems;
  for (std::size_t k = 0; k <= events; ++k) {
    Disk disk;
    Run first(disk, k);
    {
      auto s = build_for(spec, first.sink(), {}, {}, {});
      drive(*s, first, failures);
    }
    REQUIRE(disk.journal.size() == k);  // the same decisions up to the kill
    const std::map<std::string, json> rows_before = disk.rows;
    Run second(disk, SIZE_MAX);
    {
      const std::vector<json> cut(disk.journal.begin(), disk.journal.end());
      auto s = build_for(spec, second.sink(), cut, disk.finished, disk.snapshots);
      drive(*s, second, failures);
    }
    std::ostringstream why;
    // Jobs: those that came back before the kill, then the restored run's; the job the kill
    // lost runs again.
    // A job told to stop before the kill is the exception: the decision is journaled, so the
    // restored scheduler writes its "stopped" row (final_rows()) instead of training it again.
    std::vector<Job> jobs = first.jobs;
    const bool lost_stopped =
        first.lost >= 0 &&
        std::any_of(jobs[first.lost].reports.begin(), jobs[first.lost].reports.end(),
                    [](const auto& r) { return r.second == Decision::kStop; });
    if (lost_stopped) jobs[first.lost].verdict = Verdict::kRecord;
    if (first.lost >= 0 && !lost_stopped) jobs.erase(jobs.begin() + first.lost);
    jobs.insert(jobs.end(), second.jobs.begin(), second.jobs.end());
    if (auto d = difference(ref.jobs, jobs, show_job); !d.empty())
      why << "jobs differ " << d << "; ";
    // Rows: those written before the kill and after the restore, each trial once, as the
    // uninterrupted run wrote them (status, metrics with the rung and resource; attempt).
    if (disk.rows != ref_disk.rows) {
      for (const auto& [id, r] : ref_disk.rows) {
        auto it = disk.rows.find(id);
        auto without_attempt = [&](json row) {
          if (!attempts) row.erase("attempt");
          return row;
        };
        if (it == disk.rows.end())
          why << "row " << id << " missing; ";
        else if (without_attempt(it->second) != without_attempt(r))
          why << "row " << id << (rows_before.count(id) ? " (before the cut)" : "") << " expected "
              << r.dump() << ", got " << it->second.dump() << "; ";
      }
      if (disk.rows.size() != ref_disk.rows.size()) why << disk.rows.size() << " rows; ";
    }
    // Decisions: the restored run's events are the uninterrupted run's from k on, field by
    // field. One thing differs legitimately: what the kill lost is done again, and it journals
    // again some of what it had journaled before the kill (a lost job's "start" and reports, a
    // result journaled before its row; final_rows()' "final" events for rows not written; not
    // what restore() rebuilt, such as a "tpe_propose"). Those repeats, each equal to an event
    // the lost unit wrote before the kill and in the same order, open the restored run's first
    // unit of the same work (the first job of the same trial, or final_rows()); they are taken
    // out before the comparison, and nothing else is.
    std::vector<json> after = second.events();
    if (first.lost >= 0 || first.lost_final) {
      // The lost unit's events: the trailing block of the first run's (which started on an
      // empty journal, so its units are indexed as disk.journal).
      std::vector<json> lost;
      for (std::size_t i = first.unit.size(); i-- > 0 && first.unit[i] == first.current;)
        lost.insert(lost.begin(), disk.journal[i]);
      auto work = [](const std::string& u) { return u.substr(0, u.find(" #")); };
      auto at = std::find_if(second.unit.begin(), second.unit.end(),
                             [&](const std::string& u) { return work(u) == work(first.current); });
      std::vector<json> kept;
      auto next = lost.begin();  // repeats come in the order they were first journaled
      bool leading = true;
      for (std::size_t i = 0; i < after.size(); ++i) {
        if (at != second.unit.end() && second.unit[i] == *at && leading) {
          auto same = std::find(next, lost.end(), after[i]);
          if (same != lost.end()) {
            next = same + 1;
            continue;
          }
          leading = false;
        }
        kept.push_back(after[i]);
      }
      after = std::move(kept);
    }
    const std::vector<json> want(ref_disk.journal.begin() + static_cast<std::ptrdiff_t>(k),
                                 ref_disk.journal.end());
    if (auto d = difference(want, after, show_event); !d.empty())
      why << "events after the restore differ " << d << "; ";
    if (!why.str().empty()) {
      std::ostringstream line;
      line << "cut after " << k << " events"
           << (k > 0 ? " (last: " + disk.journal[k - 1].dump() + ")" : "") << ": " << why.str();
      problems.push_back(line.str());
    }
  }
  if (problems.empty()) return "";
  std::ostringstream out;
  out << problems.size() << " of " << events + 1 << " cuts diverge; the first ones:\n";
  for (std::size_t i = 0; i < problems.size() && i < 3; ++i) out << "  " << problems[i] << "\n";
  return out.str();
}

}  // namespace

TEST_CASE(
    "journal cut: every scheduler kind restored after any event decides as the "
    "uninterrupted run",
    "[journal_cut]") {
  for (const Case& c : cases()) {
    for (bool failures : {false, true}) {
      if ((failures && !c.can_fail) || !(failures ? c.diverges_failing : c.diverges).empty())
        continue;
      INFO(c.name << (failures ? ", some trials failing once" : ""));
      std::size_t events = 0;
      CHECK(check_every_cut(c, failures, false, events) == "");
      CHECK(events >= 3);
    }
  }
}

TEST_CASE("journal cut: rows keep their attempt numbers across a restore", "[journal_cut]") {
  // Failed at 7ae1217 for ASHA (promotion, both variants), Hyperband and TPE + ASHA: a trial paused
  // at a rung and never promoted got its "stopped" row from final_rows(), built from the row
  // it paused with, rebuilt by restore() from the "rung" event, which has no attempt (now the
  // entry's attempt, known from its "start").
  for (const Case& c : cases()) {
    if (!c.can_fail || !c.diverges_failing.empty()) continue;
    INFO(c.name << ", some trials failing once");
    std::size_t events = 0;
    CHECK(check_every_cut(c, true, true, events) == "");
  }
}

TEST_CASE("search registry: exactly one kind selects each spec, by name both ways",
          "[journal_cut][registry]") {
  std::set<std::string> names;
  for (const Case& c : cases()) {
    INFO(c.name);
    const ns::sweeps::SweepSpec spec = ns::engine::parse_spec(c.spec, "spec.json", schema());
    const ns::engine::SearchMethod m = ns::engine::search_method(spec);  // throws unless one
    const ns::engine::SearchKindEntry& kind = ns::engine::search_kind(m);
    CHECK(ns::engine::search_method_named(kind.name) == m);
    CHECK_FALSE(kind.describe(spec, {"steps", 18, 18}).empty());
    // plan simulates every kind here but TPE alone, whose trials run whole (allocated as a list)
    CHECK(kind.full_resource(spec).has_value() == (m != ns::engine::SearchMethod::kTpe));
    names.insert(kind.name);
  }
  // Every kind of the registry but the list is in the journal-cut table: a new kind fails here
  // until it has a case there.
  for (const auto& k : ns::engine::search_kinds()) {
    INFO(k.name);
    CHECK((k.method == ns::engine::SearchMethod::kList || names.count(k.name) == 1));
  }
  CHECK(names.size() == ns::engine::search_kinds().size() - 1);
  const ns::sweeps::SweepSpec list = ns::engine::parse_spec(
      spec_json(4, json::object()), "spec.json", schema());
  CHECK(ns::engine::search_method(list) == ns::engine::SearchMethod::kList);
  CHECK(ns::engine::search_kind(list).describe(list, {"steps", 4, 4}).empty());
  CHECK_FALSE(ns::engine::search_method_named("no such kind").has_value());
}
