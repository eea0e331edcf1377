// Coordinator logic in-process, through a fake transport: pull scheduling, retries, drain,
// deadline and the static split. Also the executor's failure isolation.
#include "catch.hpp"

#include <cerrno>
#include <deque>
#include <filesystem>
#include <stdexcept>
#include <map>
#include <set>
#include <thread>

#include "core/file.hpp"
#include "engine/asha.hpp"
#include "engine/coordinator.hpp"
#include "engine/executor.hpp"
#include "file_size_limit.hpp"
#include "models/quadratic.hpp"
#include "support/temp_dir.hpp"

using namespace ns::engine;
using nlohmann::json;
using ns::test::TempDir;

namespace {

/// Worker behaviour: given an Assign, the outcome it sends back (or nothing to hold the trial).
using Behaviour = std::function<std::optional<Outcome>(int rank, const msg::Assign&)>;

class FakeTransport final : public Transport {
 public:
  FakeTransport(int size, Behaviour b) : size_(size), behave_(std::move(b)) {
    for (int w = 1; w < size; ++w) inbox_.push_back({w, msg::wrap(MessageKind::kReady, msg::Ready{w, "h", "cpu"})});
  }
  int rank() const override { return 0; }
  int size() const override { return size_; }
  void send(int dest, const json& m) override {
    sent[dest].push_back(m);
    const std::string type = m.at("type");
    if (type == "assign") {
      auto a = m.at("body").get<msg::Assign>();
      assigned[dest].push_back(a.trial.index);
      packs[dest].push_back(1 + static_cast<int>(a.pack.size()));
      if (auto row = behave_(dest, a)) {
        msg::Result result{*row, {}};
        for (const auto& member : a.pack) {
          assigned[dest].push_back(member.trial.index);
          if (auto r = behave_(dest, member)) result.pack.push_back(*r);
        }
        inbox_.push_back({dest, msg::wrap(MessageKind::kResult, result)});
      } else {
        held[dest] = a;
      }
    } else if (on_send) {
      on_send(dest, m, inbox_);
    }
    if (type == "drain" && held.count(dest)) {
      Outcome r;
      r.trial_id = held[dest].trial.id;
      r.status = TrialStatus::kInterrupted;
      held.erase(dest);
      inbox_.push_back({dest, msg::wrap(MessageKind::kResult, msg::Result{r})});
    }
  }
  std::optional<Envelope> poll() override {
    ++polls;
    if (inbox_.empty() && idle) {
      if (auto e = idle()) return e;
    }
    if (inbox_.empty() && finish_held_when_idle && !held.empty()) {
      // A slow rank: its trial ends ok once nothing else is pending.
      const auto it = held.begin();
      Outcome r;
      r.trial_id = it->second.trial.id;
      r.status = TrialStatus::kOk;
      r.rank = it->first;
      r.wall_s = 1;
      r.metrics["score"] = it->second.trial.params.at("x").get<double>();
      inbox_.push_back({it->first, msg::wrap(MessageKind::kResult, msg::Result{r, {}})});
      held.erase(it);
    }
    if (inbox_.empty()) return std::nullopt;
    Envelope e = inbox_.front();
    inbox_.pop_front();
    return e;
  }
  std::map<int, std::vector<json>> sent;
  std::map<int, std::vector<int>> assigned;
  std::map<int, std::vector<int>> packs;  ///< per worker: trials in each Assign
  std::map<int, msg::Assign> held;
  bool finish_held_when_idle = false;  ///< held trials end ok, one per poll that finds nothing
  /// Asked for a message when nothing else is waiting (a rank's late or periodic message).
  std::function<std::optional<Envelope>()> idle;
  /// Called after each send, with the fake's inbox to answer into (a rank that wakes up).
  std::function<void(int dest, const json& m, std::deque<Envelope>& inbox)> on_send;
  int polls = 0;

 private:
  int size_;
  Behaviour behave_;
  std::deque<Envelope> inbox_;
};

struct FakeSink final : ResultSink {
  std::vector<ResultRow> rows;
  void record(const ResultRow& r) override { rows.push_back(r); }
};

std::vector<ns::sweeps::Trial> trials(int n) {
  std::vector<ns::sweeps::Trial> v;
  for (int i = 0; i < n; ++i) v.push_back(ns::sweeps::Trial{"t" + std::to_string(i), i, 0, 0, json{{"x", i}}});
  return v;
}

Outcome ok_row(const msg::Assign& a, int rank) {
  Outcome r;
  r.trial_id = a.trial.id;
  r.status = TrialStatus::kOk;
  r.rank = rank;
  r.wall_s = 1;
  r.metrics["score"] = a.trial.params.at("x").get<double>();
  return r;
}

int count_type(const std::vector<json>& msgs, const std::string& type) {
  int n = 0;
  for (auto& m : msgs) n += m.at("type") == type;
  return n;
}

auto no_drain = [] { return std::string(); };

}  // namespace

TEST_CASE("every trial is recorded once and every worker is shut down once", "[coordinator]") {
  FakeTransport t(4, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
  FakeSink sink;
  Coordinator c(t, sink, {}, no_drain);
  auto s = c.run(trials(25));
  CHECK(s.recorded == 25);
  CHECK(s.complete());
  std::set<std::string> ids;
  for (auto& r : sink.rows) ids.insert(r.trial_id);
  CHECK(ids.size() == 25);
  // Each row has when rank 0 handed its trial out and when the result came (Unix seconds).
  const double now = unix_now();
  for (auto& r : sink.rows) {
    CHECK(r.started <= r.ended);
    CHECK(r.ended <= now);
    CHECK(r.started > now - 600);
  }
  int assigned = 0;
  for (int w = 1; w < 4; ++w) {
    CHECK(count_type(t.sent[w], "shutdown") == 1);
    CHECK(t.sent[w].back().at("type") == "shutdown");
    assigned += static_cast<int>(t.assigned[w].size());
  }
  CHECK(assigned == 25);
}

TEST_CASE("pull scheduling: a worker that holds a trial gets no more", "[coordinator]") {
  // Rank 1 never finishes its first trial until drained; ranks 2 and 3 do all the rest.
  FakeTransport t(4, [](int rank, const msg::Assign& a) -> std::optional<Outcome> {
    if (rank == 1) return std::nullopt;
    return ok_row(a, rank);
  });
  FakeSink sink;
  Coordinator c(t, sink, {}, [&] { return std::string(sink.rows.size() >= 9 ? "test" : ""); });
  auto s = c.run(trials(10));
  CHECK(t.assigned[1].size() == 1);
  CHECK(t.assigned[2].size() + t.assigned[3].size() == 9);
  CHECK(s.recorded == 9);
  CHECK(s.interrupted == 1);
  CHECK_FALSE(s.complete());
  CHECK(count_type(t.sent[1], "drain") == 1);
}

TEST_CASE("a failed trial is retried up to `retries` times, then recorded", "[coordinator]") {
  FakeTransport t(3, [](int rank, const msg::Assign& a) {
    Outcome r = ok_row(a, rank);
    if (a.trial.index == 2 && a.attempt < 3) {
      r.status = TrialStatus::kFailed;
      r.error = "transient";
    }
    if (a.trial.index == 4) {
      r.status = TrialStatus::kFailed;
      r.error = "always";
    }
    return r;
  });
  FakeSink sink;
  CoordinatorOptions o;
  o.retries = 2;
  Coordinator c(t, sink, o, no_drain);
  auto s = c.run(trials(6));
  CHECK(s.recorded == 6);
  CHECK(s.ok == 5);
  CHECK(s.failed == 1);
  CHECK(s.retried == 4);
  for (auto& r : sink.rows) {
    if (r.trial_id == "t2") CHECK(r.attempt == 3);
    if (r.trial_id == "t4") {
      CHECK(r.attempt == 3);
      CHECK(r.error == "always");
    }
  }
}

TEST_CASE("drain: no new trials, running ones stop, nothing is recorded for them", "[coordinator]") {
  bool drain = false;
  FakeTransport t(3, [&](int rank, const msg::Assign& a) -> std::optional<Outcome> {
    if (a.trial.index >= 4) {
      drain = true;  // a signal arrives while trial 4 runs
      return std::nullopt;
    }
    return ok_row(a, rank);
  });
  FakeSink sink;
  Coordinator c(t, sink, {}, [&] { return drain ? std::string("received Terminated") : ""; });
  auto s = c.run(trials(20));
  CHECK(s.recorded == 4);
  CHECK(s.interrupted >= 1);
  CHECK(s.not_started == 20 - 4 - s.interrupted);
  CHECK(s.drain_reason == "received Terminated");
  for (auto& r : sink.rows) CHECK(r.status == TrialStatus::kOk);
}

TEST_CASE("a deadline inside the margin starts nothing", "[coordinator]") {
  FakeTransport t(3, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
  FakeSink sink;
  CoordinatorOptions o;
  o.deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
  o.deadline_margin_s = 60;
  Coordinator c(t, sink, o, no_drain);
  auto s = c.run(trials(5));
  CHECK(s.recorded == 0);
  CHECK(s.not_started == 5);
  CHECK_FALSE(s.complete());
}

TEST_CASE("static schedule splits by index modulo workers", "[coordinator]") {
  FakeTransport t(3, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
  FakeSink sink;
  CoordinatorOptions o;
  o.schedule = Schedule::kStatic;
  Coordinator c(t, sink, o, no_drain);
  c.run(trials(6));
  CHECK(t.assigned[1] == std::vector<int>{0, 2, 4});
  CHECK(t.assigned[2] == std::vector<int>{1, 3, 5});
}

TEST_CASE("dynamic schedule hands out the dearest trials first, ties in sweep order", "[coordinator]") {
  FakeTransport t(2, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
  FakeSink sink;
  auto v = trials(6);
  const double costs[] = {1, 5, 2, 5, 0.5, 3};
  for (size_t i = 0; i < v.size(); ++i) v[i].cost = costs[i];
  Coordinator c(t, sink, {}, no_drain);
  c.run(v);
  CHECK(t.assigned[1] == std::vector<int>{1, 3, 5, 2, 0, 4});
}

TEST_CASE("longest_first off, or the static schedule, keeps the sweep order", "[coordinator]") {
  auto v = trials(4);
  const double costs[] = {1, 4, 2, 3};
  for (size_t i = 0; i < v.size(); ++i) v[i].cost = costs[i];
  {
    FakeTransport t(2, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
    FakeSink sink;
    CoordinatorOptions o;
    o.longest_first = false;
    Coordinator(t, sink, o, no_drain).run(v);
    CHECK(t.assigned[1] == std::vector<int>{0, 1, 2, 3});
  }
  {
    FakeTransport t(3, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
    FakeSink sink;
    CoordinatorOptions o;
    o.schedule = Schedule::kStatic;
    Coordinator(t, sink, o, no_drain).run(v);
    CHECK(t.assigned[1] == std::vector<int>{0, 2});
    CHECK(t.assigned[2] == std::vector<int>{1, 3});
  }
}

TEST_CASE("the deadline check scales the expected duration by the next trial's cost", "[coordinator]") {
  // Every trial reports 1 s of wall time per unit of cost. With 45 s left and no margin, the
  // first trial starts (nothing is known yet); then 1 s/unit predicts 50 s for the next: stop.
  auto v = trials(3);
  v[0].cost = 100;  // handed out first, before any duration is known
  v[1].cost = 50;
  v[2].cost = 40;
  FakeTransport t(2, [&v](int rank, const msg::Assign& a) {
    Outcome r = ok_row(a, rank);
    r.wall_s = v[static_cast<size_t>(a.trial.index)].cost;  // 1 s per cost unit (cost is not sent)
    return r;
  });
  FakeSink sink;
  CoordinatorOptions o;
  o.deadline = std::chrono::system_clock::now() + std::chrono::seconds(45);
  o.deadline_margin_s = 0;
  auto s = Coordinator(t, sink, o, no_drain).run(v);
  CHECK(t.assigned[1] == std::vector<int>{0});
  CHECK(s.not_started == 2);
}

TEST_CASE("executor: exceptions and time limits become rows, the worker goes on", "[executor]") {
  FamilyRegistry reg;
  reg.add(ns::models::quadratic_family());
  const TempDir scratch("exec");
  const std::filesystem::path& dir = scratch.path;
  TrialExecutor ex(reg, "quadratic", json::object(), dir.string(), RankInfo{1, "h", "cpu", 1});
  auto params = ns::models::quadratic_family()->schema().model_defaults;
  params.update(ns::models::quadratic_family()->schema().training_defaults);
  msg::Assign a;
  a.trial = ns::sweeps::Trial{"f1", 0, 0, 1, params};
  a.trial.params["fail_first_n"] = 1;
  auto never = [] { return false; };
  auto r1 = ex.execute(a, never);
  CHECK(r1.status == TrialStatus::kFailed);
  CHECK(r1.error == "induced failure (attempt 1 of the first 1)");
  auto r2 = ex.execute(a, never);  // second attempt succeeds
  CHECK(r2.status == TrialStatus::kOk);
  CHECK(r2.metrics.at("score") == Approx(ns::models::quadratic_score(0, 0, 0)));
  msg::Assign slow;
  slow.trial = ns::sweeps::Trial{"s1", 1, 0, 1, params};
  slow.trial.params["sleep_s"] = 5.0;
  slow.time_limit_s = 0.05;
  auto r3 = ex.execute(slow, never);
  CHECK(r3.status == TrialStatus::kTimeout);
  CHECK(r3.error == "exceeded the trial time limit of 0.05 s");
}

TEST_CASE("packing: trials of one pack key go out together, up to `pack`; each gets its row",
          "[coordinator][pack]") {
  // 7 trials of shape "a", 3 of "b", 2 that cannot pack; pack 3 on two workers.
  std::vector<ns::sweeps::Trial> v = trials(12);
  for (int i = 0; i < 12; ++i) v[i].pack_key = i < 7 ? "a" : i < 10 ? "b" : "";
  FakeTransport t(3, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
  FakeSink sink;
  CoordinatorOptions o;
  o.pack = 3;
  o.longest_first = false;
  auto s = Coordinator(t, sink, o, no_drain).run(v);
  CHECK(s.recorded == 12);
  CHECK(s.ok == 12);
  std::set<std::string> ids;
  for (auto& r : sink.rows) ids.insert(r.trial_id);
  CHECK(ids.size() == 12);
  std::multiset<int> sizes;
  for (auto& [w, p] : t.packs) sizes.insert(p.begin(), p.end());
  // a: 3 + 3 + 1, b: 3, and the two alone.
  CHECK(sizes == std::multiset<int>{1, 1, 1, 3, 3, 3});
  // pack 1 (the default): one trial per Assign.
  FakeTransport one(3, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
  FakeSink sink1;
  Coordinator(one, sink1, {}, no_drain).run(v);
  for (auto& [w, p] : one.packs)
    for (int n : p) CHECK(n == 1);
  CHECK(sink1.rows.size() == 12);
}

TEST_CASE("packing: a failed member is retried alone; a pack that fails whole is one failure "
          "for the breaker", "[coordinator][pack]") {
  std::vector<ns::sweeps::Trial> v = trials(6);
  for (auto& x : v) x.pack_key = "a";
  SECTION("retry") {
    FakeTransport t(2, [](int rank, const msg::Assign& a) {
      Outcome r = ok_row(a, rank);
      if (a.trial.id == "t1" && a.attempt == 1) r.status = TrialStatus::kFailed;
      return r;
    });
    FakeSink sink;
    CoordinatorOptions o;
    o.pack = 3;
    o.retries = 1;
    o.longest_first = false;
    auto s = Coordinator(t, sink, o, no_drain).run(v);
    CHECK(s.recorded == 6);
    CHECK(s.ok == 6);
    CHECK(s.retried == 1);
  }
  SECTION("breaker") {
    // Every trial fails: with pack 3 and unhealthy_after 2, the rank goes after two packs
    // (6 failures), not after its first pack's 3 rows.
    FakeTransport t(3, [](int rank, const msg::Assign& a) {
      Outcome r = ok_row(a, rank);
      if (rank == 1) r.status = TrialStatus::kFailed;
      return r;
    });
    std::vector<ns::sweeps::Trial> w = trials(30);
    for (auto& x : w) x.pack_key = "a";
    FakeSink sink;
    CoordinatorOptions o;
    o.pack = 3;
    o.unhealthy_after = 2;
    o.longest_first = false;
    auto s = Coordinator(t, sink, o, no_drain).run(w);
    REQUIRE(s.unhealthy.size() == 1);
    CHECK(s.unhealthy[0].rank == 1);
    CHECK(t.packs[1].size() == 2);
    CHECK(s.failed == 6);
    CHECK(s.recorded == 30);
  }
}

TEST_CASE("executor: a pack runs through run_pack, one row per member in order",
          "[executor][pack]") {
  FamilyRegistry reg;
  reg.add(ns::models::quadratic_family());
  const TempDir scratch("pack");
  const std::filesystem::path& dir = scratch.path;
  TrialExecutor ex(reg, "quadratic", json::object(), dir.string(), RankInfo{1, "h", "cpu", 1});
  auto params = ns::models::quadratic_family()->schema().model_defaults;
  params.update(ns::models::quadratic_family()->schema().training_defaults);
  msg::Assign a;
  a.trial = ns::sweeps::Trial{"p0", 0, 0, 1, params};
  for (int i = 1; i < 3; ++i) {
    msg::Assign m;
    m.trial = ns::sweeps::Trial{"p" + std::to_string(i), i, 0, 1, params};
    m.attempt = i;
    if (i == 2) m.trial.params["fail_first_n"] = 5;  // fails; the others do not
    a.pack.push_back(m);
  }
  // The pack survives the wire.
  const auto back = json(msg::wrap(MessageKind::kAssign, a)).at("body").get<msg::Assign>();
  REQUIRE(back.pack.size() == 2);
  CHECK(back.pack[1].attempt == 2);
  const msg::Result r = ex.run(back, [] { return false; });
  CHECK(r.outcome.trial_id == "p0");
  CHECK(r.outcome.status == TrialStatus::kOk);
  REQUIRE(r.pack.size() == 2);
  CHECK(r.pack[0].trial_id == "p1");
  CHECK(r.pack[0].status == TrialStatus::kOk);
  CHECK(r.pack[1].trial_id == "p2");
  CHECK(r.pack[1].status == TrialStatus::kFailed);
  // Each member's row joins its outcome with its own Assign (its attempt and parameters).
  CHECK(msg::row_of(back.pack[0], r.pack[0]).attempt == 1);
  CHECK(msg::row_of(back.pack[1], r.pack[1]).attempt == 2);
  CHECK(msg::row_of(back.pack[1], r.pack[1]).params.at("fail_first_n") == 5);
  const auto wire = json(msg::wrap(MessageKind::kResult, r)).at("body").get<msg::Result>();
  REQUIRE(wire.pack.size() == 2);
  CHECK(wire.pack[1].error == r.pack[1].error);
}

TEST_CASE("run --schedule static on one rank runs every trial (run_serial)", "[coordinator]") {
  // Once the static schedule filled per-rank queues while run_serial took from the dynamic one.
  FamilyRegistry reg;
  reg.add(ns::models::quadratic_family());
  const TempDir scratch("serial");
  const std::filesystem::path& dir = scratch.path;
  TrialExecutor ex(reg, "quadratic", json::object(), dir.string(), RankInfo{0, "h", "cpu", 1});
  auto params = ns::models::quadratic_family()->schema().model_defaults;
  params.update(ns::models::quadratic_family()->schema().training_defaults);
  std::vector<ns::sweeps::Trial> v;
  for (int i = 0; i < 5; ++i) v.push_back(ns::sweeps::Trial{"s" + std::to_string(i), i, 0, 1, params});
  FakeTransport t(1, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
  for (Schedule schedule : {Schedule::kStatic, Schedule::kDynamic}) {
    INFO(to_string(schedule));
    FakeSink sink;
    CoordinatorOptions o;
    o.schedule = schedule;
    auto s = Coordinator(t, sink, o, no_drain).run_serial(v, ex);
    CHECK(s.recorded == 5);
    CHECK(s.ok == 5);
    CHECK(s.complete());
    REQUIRE(sink.rows.size() == 5);
    for (int i = 0; i < 5; ++i) CHECK(sink.rows[i].trial_id == "s" + std::to_string(i));
  }
}

TEST_CASE("trial queue: static by rank, dynamic shared, retries go first", "[coordinator]") {
  auto assign = [](int index) {
    msg::Assign a;
    a.trial.index = index;
    return a;
  };
  TrialQueue st(Schedule::kStatic, {1, 2});
  for (int i = 0; i < 5; ++i) st.push_back(assign(i));
  CHECK(st.size() == 5);
  CHECK(st.pop(2).trial.index == 1);
  CHECK(st.pop(2).trial.index == 3);
  CHECK_FALSE(st.has_next(2));
  CHECK_THROWS_WITH(st.pop(2), "internal: no trial queued for rank 2");
  st.push_front(1, assign(9));
  CHECK(st.peek(1).trial.index == 9);
  TrialQueue dyn(Schedule::kDynamic, {1, 2});
  for (int i = 0; i < 3; ++i) dyn.push_back(assign(i));
  CHECK(dyn.pop(2).trial.index == 0);
  CHECK(dyn.pop(1).trial.index == 1);
  dyn.push_front(2, assign(7));
  CHECK(dyn.pop(1).trial.index == 7);
}

namespace {
/// A scheduler that hands out trials from a script and retries every trial once, whatever its
/// status: the coordinator must follow it, not its own idea of the sweep.
class FakeScheduler final : public Scheduler {
 public:
  explicit FakeScheduler(int n) {
    for (int i = 0; i < n; ++i) {
      msg::Assign a;
      a.trial = ns::sweeps::Trial{"f" + std::to_string(i), i, 0, 0, json{{"x", i}}};
      queue.push_back(a);
    }
  }
  int pending() const override { return static_cast<int>(queue.size()); }

  std::deque<msg::Assign> queue;
  std::vector<int> lost;
  mutable std::vector<int> asked;
  std::vector<std::string> results;

 protected:
  const msg::Assign* choose(int worker) const override {
    asked.push_back(worker);
    return queue.empty() ? nullptr : &queue.front();
  }
  msg::Assign commit(int, std::optional<msg::Assign>) override {
    msg::Assign a = queue.front();
    queue.pop_front();
    return a;
  }
  Verdict decide_result(int, const msg::Assign& a, const ResultRow& row, bool) override {
    results.push_back(row.trial_id);
    if (a.attempt > 1) return Verdict::kRecord;
    msg::Assign again = a;
    again.attempt = 2;
    queue.push_back(again);
    return Verdict::kRetry;
  }
  void lose_worker(int worker) override { lost.push_back(worker); }
};
}  // namespace

TEST_CASE("the coordinator asks its scheduler what to run and what a result means", "[coordinator]") {
  FakeTransport t(3, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
  FakeSink sink;
  FakeScheduler s(3);
  auto summary = Coordinator(t, sink, {}, no_drain).run(s);
  // Every trial ran twice (the scheduler retried each once, even though each was ok).
  CHECK(s.results.size() == 6);
  CHECK(summary.retried == 3);
  CHECK(summary.recorded == 3);
  REQUIRE(sink.rows.size() == 3);
  for (const auto& r : sink.rows) CHECK(r.attempt == 2);
  CHECK(summary.not_started == 0);
  CHECK(std::set<int>(s.asked.begin(), s.asked.end()) == std::set<int>{1, 2});
}

TEST_CASE("a deadline stops the coordinator, not the scheduler: unstarted trials stay pending",
          "[coordinator]") {
  FakeTransport t(2, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
  FakeSink sink;
  FakeScheduler s(4);
  CoordinatorOptions o;
  o.deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
  o.deadline_margin_s = 60;
  auto summary = Coordinator(t, sink, o, no_drain).run(s);
  CHECK(summary.recorded == 0);
  CHECK(summary.not_started == 4);
  CHECK(s.pending() == 4);
}

namespace {
// A family whose runner returns whatever status it is told to, and whose cost model reads the
// data facts it is given (to show that facts arrive as a value).
class StatusFamily final : public ModelFamily {
 public:
  explicit StatusFamily(TrialStatus status) : ModelFamily(schema_of()), status_(status) {}
  std::string description() const override { return "test"; }
  DataFacts check_data(const json& data, const std::string&) const override {
    DataFacts f;
    f.checked = true;
    f.source = "test data";
    f.examples = data.value("examples", 0);
    return f;
  }
  double relative_cost(const json& p, const DataFacts& d) const override {
    return static_cast<double>(d.examples) * p.value("x", 1.0);
  }
  bool wants_trial_dir() const override { return false; }
  std::unique_ptr<TrialRunner> make_runner() const override {
    class Runner final : public TrialRunner {
     public:
      explicit Runner(TrialStatus s) : s_(s) {}
      TrialOutcome run(const TrialContext&) override { return {s_, {{"score", 1.0}}, ""}; }
      TrialStatus s_;
    };
    return std::make_unique<Runner>(status_);
  }

 private:
  static ns::sweeps::FamilySchema schema_of() {
    ns::sweeps::FamilySchema s;
    s.name = "status";
    s.model_defaults = {{"x", 1.0}};
    s.metrics = {"score"};
    return s;
  }
  TrialStatus status_;
};
}  // namespace

TEST_CASE("model families: data facts are a value; costs and statuses are checked at the seam",
          "[family]") {
  const StatusFamily fam(TrialStatus::kOk);
  const DataFacts none;
  CHECK_FALSE(none.checked);
  CHECK(none.describe() == "data not checked");
  const DataFacts facts = fam.check_data({{"examples", 10}}, "$.data");
  CHECK(facts.describe() == "test data: 10 examples");
  CHECK(trial_cost(fam, {{"x", 2.0}}, facts) == 20.0);
  // A cost that is not a finite positive number counts as 1.
  CHECK(trial_cost(fam, {{"x", 2.0}}, none) == 1.0);
  CHECK(trial_cost(fam, {{"x", -1.0}}, facts) == 1.0);
  DataFacts image = facts;
  image.channels = 3;
  image.height = image.width = 8;
  image.outputs = 5;
  image.output_name = "classes";
  image.train = 7;
  CHECK(image.describe() == "test data: 10 images of 3x8x8, 5 classes, 7 for training");

  // A runner that returns a status it may not (invalid, or the executor's own timeout) is a
  // failed row that says so.
  for (TrialStatus s : {TrialStatus::kInvalid, TrialStatus::kTimeout}) {
    FamilyRegistry reg;
    reg.add(std::make_unique<StatusFamily>(s));
    TrialExecutor ex(reg, "status", json::object(), "/nonexistent", RankInfo{1, "h", "cpu", 1});
    msg::Assign a;
    a.trial = ns::sweeps::Trial{"t", 0, 0, 1, json{{"x", 1.0}}};
    const Outcome row = ex.execute(a, [] { return false; });
    CHECK(row.status == TrialStatus::kFailed);
    CHECK_THAT(row.error, Catch::Contains("the status runner returned status \"" + to_string(s) + "\""));
  }
}

namespace {
// Rank `bad` fails every trial at once; the others run them.
Behaviour broken_rank(int bad) {
  return [bad](int rank, const msg::Assign& a) -> std::optional<Outcome> {
    Outcome r = ok_row(a, rank);
    r.host = "node" + std::to_string(rank);
    if (rank == bad) {
      r.status = TrialStatus::kFailed;
      r.error = "CUDA error: an illegal memory access was encountered";
    }
    return r;
  };
}
}  // namespace

TEST_CASE("a rank that fails trial after trial is taken out; its failures run elsewhere",
          "[coordinator][health]") {
  for (Schedule schedule : {Schedule::kDynamic, Schedule::kStatic}) {
    INFO(to_string(schedule));
    FakeTransport t(4, broken_rank(2));
    FakeSink sink;
    CoordinatorOptions o;
    o.retries = 1;
    o.unhealthy_after = 3;
    o.schedule = schedule;
    auto s = Coordinator(t, sink, o, no_drain).run(trials(12));
    // Every trial ends ok: each failure on rank 2 was retried on a healthy rank.
    CHECK(s.recorded == 12);
    CHECK(s.ok == 12);
    CHECK(s.complete());
    for (const auto& r : sink.rows) CHECK(r.rank != 2);
    // Rank 2 ran exactly 3 trials (the streak), then got Shutdown instead of a fourth.
    CHECK(t.assigned[2].size() == 3);
    CHECK(count_type(t.sent[2], "shutdown") == 1);
    REQUIRE(s.unhealthy.size() == 1);
    CHECK(s.unhealthy[0].rank == 2);
    CHECK(s.unhealthy[0].host == "node2");
    CHECK(s.unhealthy[0].failures == 3);
    CHECK_THAT(s.unhealthy[0].last_error, Catch::Contains("illegal memory access"));
  }
}

namespace {
// `n` trials on `t`, without retries, with the health options given.
CoordinatorSummary run_health(FakeTransport& t, int n, int unhealthy_after,
                              double unhealthy_window_s = 120) {
  FakeSink sink;
  CoordinatorOptions o;
  o.unhealthy_after = unhealthy_after;
  o.unhealthy_window_s = unhealthy_window_s;
  return Coordinator(t, sink, o, no_drain).run(trials(n));
}
}  // namespace

TEST_CASE("rank health: without retries the failures are rows; ok resets the streak; 0 = off",
          "[coordinator][health]") {
  {
    FakeTransport t(3, broken_rank(1));
    auto s = run_health(t, 8, 2);
    CHECK(s.recorded == 8);
    CHECK(s.failed == 2);  // the streak that took rank 1 out, recorded as its rows
    CHECK(t.assigned[1].size() == 2);
    CHECK(s.unhealthy.size() == 1);
  }
  {
    // Alternating failures never make a streak of 2.
    FakeTransport t(2, [](int rank, const msg::Assign& a) {
      Outcome r = ok_row(a, rank);
      if (a.trial.index % 2) r.status = TrialStatus::kFailed;
      return r;
    });
    FakeSink sink;
    CoordinatorOptions o;
    o.unhealthy_after = 2;
    o.longest_first = false;
    auto s = Coordinator(t, sink, o, no_drain).run(trials(8));
    CHECK(s.recorded == 8);
    CHECK(s.unhealthy.empty());
  }
  {
    FakeTransport t(3, broken_rank(1));
    auto s = run_health(t, 8, 0);
    CHECK(s.unhealthy.empty());
    CHECK(t.assigned[1].size() + t.assigned[2].size() == 8);
  }
  {
    // The window: failures further apart than it do not count as one streak.
    FakeTransport t(3, broken_rank(1));
    auto s = run_health(t, 8, 2, -1);  // no two failures are ever "within" a window of -1 s
    CHECK(s.unhealthy.empty());
  }
}

TEST_CASE("rank health: with one rank there is nothing to compare with: failures are rows",
          "[coordinator][health]") {
  FakeTransport t(2, broken_rank(1));
  auto s = run_health(t, 10, 3);
  CHECK(s.recorded == 10);
  CHECK(s.failed == 10);
  CHECK(s.unhealthy.empty());
  CHECK(s.complete());

  // One rank alone (run_serial, `-np 1`): five bad configurations are five failed rows and the
  // sweep completes (it used to take rank 0 out and exit 3).
  FamilyRegistry reg;
  reg.add(ns::models::quadratic_family());
  const TempDir scratch("health");
  const std::filesystem::path& dir = scratch.path;
  TrialExecutor ex(reg, "quadratic", json::object(), dir.string(), RankInfo{0, "h", "cpu", 1});
  auto params = ns::models::quadratic_family()->schema().model_defaults;
  params.update(ns::models::quadratic_family()->schema().training_defaults);
  params["fail_prob"] = 1.0;  // a bad configuration: fails at once, every time
  std::vector<ns::sweeps::Trial> v;
  for (int i = 0; i < 5; ++i) v.push_back(ns::sweeps::Trial{"h" + std::to_string(i), i, 0, 1, params});
  FakeTransport none(1, broken_rank(0));
  FakeSink serial_sink;
  CoordinatorOptions o;  // the defaults: 5 failures within 120 s
  auto s1 = Coordinator(none, serial_sink, o, no_drain).run_serial(v, ex);
  CHECK(s1.recorded == 5);
  CHECK(s1.failed == 5);
  CHECK(s1.not_started == 0);
  CHECK(s1.unhealthy.empty());
  CHECK(s1.complete());
  for (const auto& r : serial_sink.rows) {
    CHECK(r.status == TrialStatus::kFailed);
    CHECK(r.error == "induced failure (fail_prob)");
  }
}

TEST_CASE("rank health: ranks that all fail alike are not taken out", "[coordinator][health]") {
  FakeTransport t(4, [](int rank, const msg::Assign& a) {
    Outcome r = ok_row(a, rank);
    r.status = TrialStatus::kFailed;
    r.error = "non-finite loss (learning rate too large)";
    return r;
  });
  auto s = run_health(t, 12, 2);
  CHECK(s.recorded == 12);
  CHECK(s.failed == 12);
  CHECK(s.unhealthy.empty());
  CHECK(s.complete());
  for (int w = 1; w < 4; ++w) CHECK(count_type(t.sent[w], "shutdown") == 1);
}

TEST_CASE("rank health: a rank failing fast waits for a slower rank's result, which decides",
          "[coordinator][health]") {
  // Rank 1 fails every trial at once; ranks 2 and 3 are slow (their results come only when
  // nothing else is pending). Without the wait rank 1 would fail most of the sweep before any
  // other rank had a result to compare with.
  FakeTransport t(4, [](int rank, const msg::Assign& a) -> std::optional<Outcome> {
    if (rank != 1) return std::nullopt;
    Outcome r = ok_row(a, rank);
    r.status = TrialStatus::kFailed;
    r.error = "CUDA error: an illegal memory access was encountered";
    return r;
  });
  t.finish_held_when_idle = true;
  auto s = run_health(t, 12, 3);
  CHECK(t.assigned[1].size() == 3);
  REQUIRE(s.unhealthy.size() == 1);
  CHECK(s.unhealthy[0].rank == 1);
  CHECK(s.unhealthy[0].failures == 3);
  CHECK(s.failed == 3);
  CHECK(s.ok == 9);
  CHECK(s.complete());
}

TEST_CASE("a trial that could not write its files drains the sweep; it gets no row and no retry",
          "[coordinator][write_error]") {
  FakeTransport t(3, [](int rank, const msg::Assign& a) {
    Outcome r = ok_row(a, rank);
    if (a.trial.index == 3) {
      r.status = TrialStatus::kInterrupted;
      r.output_error = true;
      r.error = "out/trials/t3/model.pt: cannot write: No space left on device";
    }
    return r;
  });
  FakeSink sink;
  CoordinatorOptions o;
  o.retries = 2;
  o.longest_first = false;
  auto s = Coordinator(t, sink, o, no_drain).run(trials(10));
  CHECK_THAT(s.output_error, Catch::Contains("rank ") && Catch::Contains("trial t3") &&
                                 Catch::Contains("No space left on device"));
  CHECK(s.drain_reason == "cannot write the output directory");
  CHECK(s.interrupted == 1);
  CHECK(s.retried == 0);
  CHECK(s.failed == 0);
  CHECK(s.not_started > 0);  // nothing starts after it
  CHECK(s.recorded + s.interrupted + s.not_started == 10);
  CHECK_FALSE(s.complete());
  for (const auto& r : sink.rows) CHECK(r.trial_id != "t3");
  for (int w = 1; w < 3; ++w) CHECK(count_type(t.sent[w], "shutdown") == 1);
}

namespace {
// results.csv on a disk with room for `room` rows.
struct FullSink final : ResultSink {
  explicit FullSink(std::size_t room) : room(room) {}
  std::size_t room;
  std::vector<ResultRow> rows;
  void record(const ResultRow& r) override {
    if (rows.size() == room)
      throw ns::core::WriteError("out/results.csv", ENOSPC,
                                 "out/results.csv: cannot append 80 bytes: No space left on device");
    rows.push_back(r);
  }
};
// A journal line that could not be written once `after` rows are in (kept, not thrown).
struct LatchSink final : ResultSink {
  std::vector<ResultRow> rows;
  void record(const ResultRow& r) override { rows.push_back(r); }
  std::string write_error() const override {
    return rows.size() >= 2 ? "out/reports.jsonl: cannot append 40 bytes: Disk quota exceeded" : "";
  }
};
}  // namespace

TEST_CASE("a row rank 0 cannot write drains the sweep and is not counted", "[coordinator][write_error]") {
  FakeTransport t(3, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
  FullSink sink(3);
  auto s = Coordinator(t, sink, {}, no_drain).run(trials(10));
  CHECK(sink.rows.size() == 3);
  CHECK(s.recorded == 3);
  CHECK(s.ok == 3);
  CHECK(s.unwritten >= 1);
  CHECK(s.recorded + s.unwritten + s.not_started == 10);
  CHECK_THAT(s.output_error, Catch::Contains("results.csv") && Catch::Contains("No space left"));
  CHECK(s.drain_reason == "cannot write the output directory");
  CHECK_FALSE(s.complete());

  FakeTransport t2(3, [](int rank, const msg::Assign& a) { return ok_row(a, rank); });
  LatchSink latch;
  auto s2 = Coordinator(t2, latch, {}, no_drain).run(trials(10));
  CHECK(s2.output_error == "out/reports.jsonl: cannot append 40 bytes: Disk quota exceeded");
  CHECK(s2.not_started > 0);
  CHECK_FALSE(s2.complete());
}

namespace {
// A family whose runner fails as `fail` says (throws, or returns a failed outcome).
class FailingFamily final : public ModelFamily {
 public:
  explicit FailingFamily(std::function<TrialOutcome()> fail)
      : ModelFamily(schema_of()), fail_(std::move(fail)) {}
  std::string description() const override { return "test"; }
  DataFacts check_data(const json&, const std::string&) const override { return {}; }
  std::unique_ptr<TrialRunner> make_runner() const override {
    class Runner final : public TrialRunner {
     public:
      explicit Runner(std::function<TrialOutcome()> f) : f_(std::move(f)) {}
      TrialOutcome run(const TrialContext&) override { return f_(); }
      std::function<TrialOutcome()> f_;
    };
    return std::make_unique<Runner>(fail_);
  }

 private:
  static ns::sweeps::FamilySchema schema_of() {
    ns::sweeps::FamilySchema s;
    s.name = "failing";
    s.model_defaults = {{"x", 1.0}};
    s.metrics = {"score"};
    return s;
  }
  std::function<TrialOutcome()> fail_;
};

Outcome run_failing(const std::filesystem::path& dir, std::function<TrialOutcome()> fail) {
  FamilyRegistry reg;
  reg.add(std::make_unique<FailingFamily>(std::move(fail)));
  TrialExecutor ex(reg, "failing", json::object(), dir.string(), RankInfo{1, "h", "cpu", 1});
  msg::Assign a;
  a.trial = ns::sweeps::Trial{"w1", 0, 0, 1, json{{"x", 1.0}}};
  return ex.execute(a, [] { return false; });
}
}  // namespace

TEST_CASE("executor: a failure the output directory caused comes back interrupted, flagged",
          "[executor][write_error]") {
  const TempDir scratch("wfail");
  const std::filesystem::path& dir = scratch.path;
  auto torch_like = []() -> TrialOutcome {
    throw std::runtime_error("PytorchStreamWriter failed writing file data/0: file write failed");
  };
  {
    // Our writers say so themselves.
    const Outcome r = run_failing(dir, []() -> TrialOutcome {
      throw ns::core::WriteError("out/trials/w1/curve.csv", ENOSPC,
                                 "out/trials/w1/curve.csv: cannot write: No space left on device");
    });
    CHECK(r.status == TrialStatus::kInterrupted);
    CHECK(r.output_error);
    CHECK(r.error == "out/trials/w1/curve.csv: cannot write: No space left on device");
  }
  {
    // A filesystem_error with ENOSPC (creating a directory, copying a snapshot).
    const Outcome r = run_failing(dir, []() -> TrialOutcome {
      throw std::filesystem::filesystem_error("create_directories", "out/trials/w1/ckpt",
                                              std::error_code(ENOSPC, std::generic_category()));
    });
    CHECK(r.status == TrialStatus::kInterrupted);
    CHECK(r.output_error);
  }
  {
    // Anything else while the trial directory takes no write (RLIMIT_FSIZE 0: EFBIG): the
    // probe puts it down to the disk.
    FileSizeLimit full(0);
    const Outcome r = run_failing(dir, torch_like);
    const Outcome r2 = run_failing(dir, []() -> TrialOutcome {
      return {TrialStatus::kFailed, {}, "the program exited with code 1"};
    });
    CHECK(r.status == TrialStatus::kInterrupted);
    CHECK(r.output_error);
    CHECK_THAT(r.error, Catch::Contains("w1: a test write fails: File too large") &&
                            Catch::Contains("(the trial failed with: PytorchStreamWriter"));
    CHECK(r2.status == TrialStatus::kInterrupted);
    CHECK(r2.output_error);
  }
  {
    // The same failure on a disk with room is the trial's own: a failed row.
    const Outcome r = run_failing(dir, torch_like);
    CHECK(r.status == TrialStatus::kFailed);
    CHECK_FALSE(r.output_error);
    CHECK(r.error == "PytorchStreamWriter failed writing file data/0: file write failed");
  }
  // The flag travels in a Result and back; a row without it (an older worker) reads as unset.
  Outcome flagged;
  flagged.trial_id = "x";
  flagged.status = TrialStatus::kInterrupted;
  flagged.output_error = true;
  const json j = msg::Result{flagged, {}};
  CHECK(j.at("output_error") == true);
  CHECK(j.get<msg::Result>().outcome.output_error);
  Outcome plain = flagged;
  plain.output_error = false;
  const json k = msg::Result{plain, {}};
  CHECK_FALSE(k.contains("output_error"));
  CHECK_FALSE(k.get<msg::Result>().outcome.output_error);
}

TEST_CASE("a Result carries outcomes only; rank 0 builds each row from the Assign it holds",
          "[coordinator][protocol]") {
  // The wire: what a worker's executor sends for a pack has no parameters, seed, repeat or
  // attempt, for the first trial or any member.
  FamilyRegistry reg;
  reg.add(ns::models::quadratic_family());
  const TempDir scratch("outcome");
  TrialExecutor ex(reg, "quadratic", json::object(), scratch.path.string(),
                   RankInfo{1, "h", "cpu", 1});
  auto params = ns::models::quadratic_family()->schema().model_defaults;
  params.update(ns::models::quadratic_family()->schema().training_defaults);
  msg::Assign a;
  a.trial = ns::sweeps::Trial{"o0", 0, 1, 11, params};
  msg::Assign m;
  m.trial = ns::sweeps::Trial{"o1", 1, 2, 12, params};
  m.trial.params["x"] = 0.5;
  m.attempt = 3;
  a.pack.push_back(m);
  const json wire = json(msg::wrap(MessageKind::kResult, ex.run(a, [] { return false; }))).at("body");
  REQUIRE(wire.at("pack").size() == 1);
  for (const json& o : {wire, wire.at("pack")[0]}) {
    CHECK(o.contains("trial_id"));
    CHECK(o.contains("metrics"));
    for (const char* k : {"params", "seed", "repeat", "attempt", "rung", "resource"})
      CHECK_FALSE(o.contains(k));
  }

  // The coordinator: the rows it records carry the identity and parameters of its own Assigns
  // (the worker here sends outcomes in the reverse order of the pack: matched by trial id).
  std::vector<ns::sweeps::Trial> v;
  for (int i = 0; i < 4; ++i)
    v.push_back(ns::sweeps::Trial{"p" + std::to_string(i), i, i % 2, 100u + i,
                                  json{{"x", i}, {"tag", "v" + std::to_string(i)}}, 1.0, "k"});
  class Reversing final : public Transport {
   public:
    int rank() const override { return 0; }
    int size() const override { return 2; }
    void send(int dest, const json& msg) override {
      if (msg.at("type") != "assign") return;
      const auto got = msg.at("body").get<msg::Assign>();
      std::vector<msg::Assign> all = {got};
      all.insert(all.end(), got.pack.begin(), got.pack.end());
      std::vector<Outcome> outs;
      for (const msg::Assign& x : all) outs.insert(outs.begin(), ok_row(x, dest));
      msg::Result r{outs.front(), {outs.begin() + 1, outs.end()}};
      inbox.push_back({dest, msg::wrap(MessageKind::kResult, r)});
    }
    std::optional<Envelope> poll() override {
      if (inbox.empty()) return std::nullopt;
      Envelope e = inbox.front();
      inbox.pop_front();
      return e;
    }
    std::deque<Envelope> inbox{{1, msg::wrap(MessageKind::kReady, msg::Ready{1, "h", "cpu"})}};
  } t;
  FakeSink sink;
  CoordinatorOptions o;
  o.pack = 2;
  o.longest_first = false;
  auto s = Coordinator(t, sink, o, no_drain).run(v);
  CHECK(s.recorded == 4);
  REQUIRE(sink.rows.size() == 4);
  for (const ResultRow& r : sink.rows) {
    const auto& trial = v.at(static_cast<std::size_t>(std::stoi(r.trial_id.substr(1))));
    CHECK(r.params == trial.params);
    CHECK(r.seed == trial.seed);
    CHECK(r.repeat == trial.repeat);
    CHECK(r.attempt == 1);
    CHECK(r.metrics.at("score") == trial.params.at("x").get<double>());
    CHECK(r.rank == 1);
  }
}

TEST_CASE("run_serial builds rows the same way: the executor's outcome joined with the Assign",
          "[coordinator][protocol]") {
  FamilyRegistry reg;
  reg.add(ns::models::quadratic_family());
  const TempDir scratch("serial_rows");
  TrialExecutor ex(reg, "quadratic", json::object(), scratch.path.string(),
                   RankInfo{0, "h", "cpu", 1});
  auto params = ns::models::quadratic_family()->schema().model_defaults;
  params.update(ns::models::quadratic_family()->schema().training_defaults);
  std::vector<ns::sweeps::Trial> v;
  for (int i = 0; i < 3; ++i) {
    v.push_back(ns::sweeps::Trial{"s" + std::to_string(i), i, i, 7u + i, params});
    v.back().params["x"] = 0.25 * i;
  }
  FakeTransport one(1, [](int, const msg::Assign&) { return std::nullopt; });
  FakeSink sink;
  CoordinatorOptions o;
  o.longest_first = false;
  Coordinator(one, sink, o, no_drain).run_serial(v, ex);
  REQUIRE(sink.rows.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(sink.rows[i].trial_id == v[i].id);
    CHECK(sink.rows[i].params == v[i].params);
    CHECK(sink.rows[i].seed == v[i].seed);
    CHECK(sink.rows[i].repeat == v[i].repeat);
    CHECK(sink.rows[i].status == TrialStatus::kOk);
  }
}

namespace {
/// Every row written is done (ok, stopped) or failed (failed, timeout) in the coordinator's
/// lifecycle table, with the row's attempt; returns the ids that have rows.
std::set<std::string> check_rows_in_table(const Coordinator& c, const FakeSink& sink) {
  std::set<std::string> ids;
  for (const ResultRow& r : sink.rows) {
    const TrialLife* t = c.lifecycle().find(r.trial_id);
    REQUIRE(t != nullptr);
    const bool done = r.status == TrialStatus::kOk || r.status == TrialStatus::kStopped;
    CHECK(t->phase == (done ? Phase::kDone : Phase::kFailed));
    CHECK(t->attempt == r.attempt);
    ids.insert(r.trial_id);
  }
  return ids;
}

/// ASHA's worker: a trial pauses at every rung below the top (score = x), ends ok at the top;
/// trial 1 fails its first attempt.
Outcome asha_outcome(const msg::Assign& a, int rank) {
  Outcome r = ok_row(a, rank);
  if (a.trial.index == 1 && a.attempt == 1) {
    r.status = TrialStatus::kFailed;
    r.error = "once";
  } else if (!a.final_rung) {
    r.status = TrialStatus::kPaused;
  }
  return r;
}

AshaOptions asha_options() {
  AshaOptions o;
  o.min = 1;
  o.max = 9;
  o.eta = 3;
  o.metric = "score";
  return o;
}
}  // namespace

TEST_CASE("the lifecycle table agrees with the rows written", "[coordinator][lifecycle]") {
  SECTION("retries: attempts are the rows'") {
    FakeTransport t(3, [](int rank, const msg::Assign& a) {
      Outcome r = ok_row(a, rank);
      if ((a.trial.index == 2 && a.attempt < 3) || a.trial.index == 4) r.status = TrialStatus::kFailed;
      return r;
    });
    FakeSink sink;
    CoordinatorOptions o;
    o.retries = 2;
    Coordinator c(t, sink, o, no_drain);
    const auto s = c.run(trials(6));
    CHECK(check_rows_in_table(c, sink).size() == 6);
    CHECK(c.lifecycle().find("t2")->attempt == 3);
    CHECK(c.lifecycle().count(Phase::kDone) == s.ok);
    CHECK(c.lifecycle().count(Phase::kFailed) == s.failed);
    CHECK(c.lifecycle().count(Phase::kRunning) == 0);
  }
  SECTION("ASHA to the end: paused trials get their stopped rows, nothing stays paused") {
    FakeTransport t(3, [](int rank, const msg::Assign& a) { return asha_outcome(a, rank); });
    FakeSink sink;
    CoordinatorOptions o;
    o.retries = 1;
    Coordinator c(t, sink, o, no_drain);
    AshaScheduler asha(trials(9), asha_options());
    const auto s = c.run(asha);
    CHECK(s.paused > 0);
    CHECK(check_rows_in_table(c, sink).size() == 9);
    CHECK(c.lifecycle().find("t1")->attempt == 2);
    CHECK(c.lifecycle().count(Phase::kPaused) == 0);
    CHECK(c.lifecycle().count(Phase::kRunning) == 0);
    CHECK(c.lifecycle().trials().size() == 9);
  }
  SECTION("ASHA drained: what paused without a row is paused in the table") {
    int results = 0;
    FakeTransport t(2, [&](int rank, const msg::Assign& a) {
      ++results;
      return asha_outcome(a, rank);
    });
    FakeSink sink;
    CoordinatorOptions o;
    o.retries = 1;
    Coordinator c(t, sink, o, [&] { return results >= 6 ? std::string("stop") : ""; });
    AshaScheduler asha(trials(9), asha_options());
    const auto s = c.run(asha);
    CHECK(s.drain_reason == "stop");
    const auto with_rows = check_rows_in_table(c, sink);
    int paused = 0;
    for (const auto& [id, life] : c.lifecycle().trials()) {
      CHECK(life.phase != Phase::kRunning);
      if (!with_rows.count(id)) {
        CHECK((life.phase == Phase::kPaused || life.phase == Phase::kPending));
        paused += life.phase == Phase::kPaused;
      }
    }
    CHECK(paused > 0);
    CHECK(paused == c.lifecycle().count(Phase::kPaused));
  }
}

// Issue 30: ranks that stop answering (run --rank-timeout). The fake's rank 2 takes its first
// trial and then sends nothing, as a hung node or a stopped process would.
namespace {

Behaviour rank2_hangs_on_first() {
  auto first = std::make_shared<bool>(true);
  return [first](int rank, const msg::Assign& a) -> std::optional<Outcome> {
    if (rank == 2 && *first) {
      *first = false;
      return std::nullopt;  // held: no result, no heartbeat
    }
    return ok_row(a, rank);
  };
}

CoordinatorOptions with_rank_timeout(double s) {
  CoordinatorOptions o;
  o.rank_timeout_s = s;
  return o;
}

}  // namespace

TEST_CASE("a rank that stops answering mid-trial: its trial runs on another rank, one row each",
          "[coordinator][silent]") {
  FakeTransport t(3, rank2_hangs_on_first());
  FakeSink sink;
  Coordinator c(t, sink, with_rank_timeout(0.3), no_drain);
  const auto s = c.run(trials(6));
  REQUIRE(t.held.count(2) == 1);
  const std::string lost = t.held[2].trial.id;
  CHECK(s.recorded == 6);
  CHECK(s.complete());
  std::map<std::string, int> rows;
  for (const auto& r : sink.rows) ++rows[r.trial_id];
  CHECK(rows.size() == 6);
  for (const auto& [id, n] : rows) CHECK(n == 1);
  // The silent rank's trial was finished by rank 1, as the same attempt (nothing failed).
  for (const auto& r : sink.rows)
    if (r.trial_id == lost) {
      CHECK(r.rank == 1);
      CHECK(r.attempt == 1);
    }
  REQUIRE(s.silent.size() == 1);
  CHECK(s.silent[0].rank == 2);
  CHECK(s.silent[0].host == "h");
  CHECK(s.silent[0].silent_s > 0.3);
  CHECK(s.silent[0].trials == std::vector<std::string>{lost});
  CHECK_FALSE(s.silent[0].returned);
  CHECK(s.abandoned_rank());  // it never came back: the job must end with MPI_Abort
  CHECK(s.retried == 0);
  CHECK(t.assigned[2].size() == 1);
  CHECK(count_type(t.sent[2], "abandon") == 1);
  CHECK(count_type(t.sent[2], "shutdown") == 0);
  CHECK(count_type(t.sent[1], "shutdown") == 1);
  // Every Assign tells its worker how often to send a heartbeat.
  CHECK(t.held[2].heartbeat_s == Approx(0.075));
  CHECK(heartbeat_interval(600) == Approx(5));
  CHECK(heartbeat_interval(0) == 0);
}

TEST_CASE("a rank taken out as silent that answers again is shut down, and nothing it sent is "
          "written", "[coordinator][silent]") {
  FakeTransport t(3, rank2_hangs_on_first());
  // As rank 2 is told it is out, it wakes up and sends the result of its old trial (before
  // rank 1 has run that trial again).
  bool sent_late = false;
  t.on_send = [&](int dest, const json& m, std::deque<Envelope>& inbox) {
    if (dest != 2 || m.at("type") != "abandon") return;
    sent_late = true;
    Outcome o = ok_row(t.held[2], 2);
    o.metrics["score"] = 999;
    inbox.push_back({2, msg::wrap(MessageKind::kResult, msg::Result{o, {}})});
  };
  FakeSink sink;
  Coordinator c(t, sink, with_rank_timeout(0.3), no_drain);
  const auto s = c.run(trials(4));
  CHECK(sent_late);
  CHECK(s.recorded == 4);
  CHECK(s.complete());
  std::set<std::string> ids;
  for (const auto& r : sink.rows) {
    ids.insert(r.trial_id);
    CHECK(r.metrics.at("score") != 999);
  }
  CHECK(ids.size() == 4);
  REQUIRE(s.silent.size() == 1);
  CHECK(s.silent[0].returned);
  CHECK_FALSE(s.abandoned_rank());  // it was shut down: MPI_Finalize can end the job
  CHECK(count_type(t.sent[2], "shutdown") == 1);
}

TEST_CASE("heartbeats keep a slow rank in, and the free rank waits for its trial",
          "[coordinator][silent]") {
  FakeTransport t(3, rank2_hangs_on_first());
  // Rank 2 trains for 1 s (over three times the timeout) and sends a heartbeat every 50 ms,
  // nothing in between (the coordinator checks for silence then), then answers.
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto last_beat = start;
  bool answered = false, rank1_waited = false;
  t.idle = [&]() -> std::optional<Envelope> {
    if (answered || !t.held.count(2)) return std::nullopt;
    const auto now = Clock::now();
    if (now - start < std::chrono::seconds(1)) {
      if (now - last_beat < std::chrono::milliseconds(50)) return std::nullopt;
      last_beat = now;
      return Envelope{2, msg::heartbeat()};
    }
    answered = true;
    // Rank 1 ran out of trials long ago: it waited (parked) instead of leaving.
    rank1_waited = count_type(t.sent[1], "shutdown") == 0;
    return Envelope{2, msg::wrap(MessageKind::kResult, msg::Result{ok_row(t.held[2], 2), {}})};
  };
  FakeSink sink;
  Coordinator c(t, sink, with_rank_timeout(0.3), no_drain);
  const auto s = c.run(trials(3));
  CHECK(answered);
  CHECK(rank1_waited);
  CHECK(s.silent.empty());
  CHECK(s.recorded == 3);
  CHECK(s.complete());
  for (const auto& r : sink.rows)
    if (r.trial_id == t.held[2].trial.id) CHECK(r.rank == 2);
  CHECK(count_type(t.sent[2], "abandon") == 0);
  CHECK(count_type(t.sent[1], "shutdown") == 1);
  CHECK(count_type(t.sent[2], "shutdown") == 1);
}

TEST_CASE("with no rank left, a silent rank's trial waits for the next run", "[coordinator][silent]") {
  // One worker, and it falls silent: nobody can take its trial, so the run is not complete.
  FakeTransport t(2, [](int, const msg::Assign&) -> std::optional<Outcome> { return std::nullopt; });
  FakeSink sink;
  Coordinator c(t, sink, with_rank_timeout(0.2), no_drain);
  const auto s = c.run(trials(3));
  CHECK(s.recorded == 0);
  CHECK_FALSE(s.complete());
  // The lost trial started and has a checkpoint: interrupted; the two others never started.
  CHECK(s.interrupted == 1);
  CHECK(s.not_started == 2);
  REQUIRE(s.silent.size() == 1);
  CHECK(s.silent[0].rank == 1);
  CHECK_FALSE(s.drain_reason.empty());
}

TEST_CASE("a silent rank's trial that no rank finished is interrupted, even once a budget is spent",
          "[coordinator][silent]") {
  // Each result spends 1 trial-second; after two the budget stops new starts, and rank 1 leaves.
  // Rank 2's trial, started and taken back when it fell silent, must not pass for "not due".
  FakeTransport t(3, rank2_hangs_on_first());
  FakeSink sink;
  CoordinatorOptions o = with_rank_timeout(0.3);
  o.budget_trial_s = 2;
  Coordinator c(t, sink, o, no_drain);
  const auto s = c.run(trials(4));
  CHECK(s.budget_spent);
  CHECK(s.recorded == 2);
  REQUIRE(s.silent.size() == 1);
  CHECK(s.interrupted == 1);
  CHECK(s.not_started == 1);
  CHECK_FALSE(s.complete());
}
