// The coordinator's lifecycle table (engine/lifecycle.hpp): its transitions and counters. And
// the Scheduler base's look-before-take cache (engine/scheduler.hpp).
#include <string>

#include "catch.hpp"

#include "engine/lifecycle.hpp"
#include "engine/scheduler.hpp"

using namespace ns::engine;

TEST_CASE("lifecycle: start, retry, pause, record and unfinish move a trial between phases",
          "[lifecycle]") {
  Lifecycle life;
  CHECK(life.find("a") == nullptr);
  life.start("a", 2, 1);
  REQUIRE(life.find("a") != nullptr);
  CHECK(life.find("a")->phase == Phase::kRunning);
  CHECK(life.find("a")->worker == 2);
  CHECK(life.count(Phase::kRunning) == 1);

  life.retry("a", 2);  // the retry rule: pending again as attempt 2
  CHECK(life.find("a")->phase == Phase::kPending);
  CHECK(life.find("a")->attempt == 2);
  CHECK(life.count(Phase::kRunning) == 0);
  CHECK(life.count(Phase::kPending) == 1);

  life.start("a", 1, 2);
  life.pause("a");  // paused at a rung
  CHECK(life.find("a")->phase == Phase::kPaused);
  CHECK(life.count(Phase::kPaused) == 1);
  CHECK(life.count(Phase::kPending) == 0);

  life.start("a", 1, 2);
  life.record("a", TrialStatus::kOk, 2);
  CHECK(life.find("a")->phase == Phase::kDone);
  CHECK(life.find("a")->attempt == 2);
  CHECK(life.recorded(TrialStatus::kOk) == 1);

  life.start("b", 1, 1);
  life.record("b", TrialStatus::kTimeout, 1);
  CHECK(life.find("b")->phase == Phase::kFailed);
  life.start("c", 2, 1);
  life.record("c", TrialStatus::kStopped, 1);
  CHECK(life.find("c")->phase == Phase::kDone);
  life.start("d", 2, 1);
  life.unfinish("d");  // drained: the next run's
  CHECK(life.find("d")->phase == Phase::kPending);
  life.record("e", TrialStatus::kFailed, 3);  // a row the scheduler owed (restored_rows)
  CHECK(life.find("e")->phase == Phase::kFailed);
  CHECK(life.find("e")->attempt == 3);

  CHECK(life.count(Phase::kDone) == 2);
  CHECK(life.count(Phase::kFailed) == 2);
  CHECK(life.count(Phase::kPending) == 1);
  CHECK(life.count(Phase::kRunning) == 0);
  CHECK(life.recorded(TrialStatus::kTimeout) == 1);
  CHECK(life.recorded(TrialStatus::kFailed) == 1);
  CHECK(life.trials().size() == 5);
}

namespace {
/// Builds a new Assign at each choose(): its id names the look ("c<n>@<worker>").
class Counting final : public Scheduler {
 public:
  int pending() const override { return 1; }
  mutable int chosen = 0;

 protected:
  const msg::Assign* choose(int worker) const override {
    msg::Assign a;
    a.trial.id = "c" + std::to_string(++chosen) + "@" + std::to_string(worker);
    return show(std::move(a));
  }
  msg::Assign commit(int, std::optional<msg::Assign> shown) override {
    REQUIRE(shown.has_value());
    return std::move(*shown);
  }
  Verdict decide_result(int, const msg::Assign&, const ResultRow&, bool) override {
    return Verdict::kRecord;
  }
};
}  // namespace

TEST_CASE("scheduler base: take() takes what next() showed that worker; a change forgets it",
          "[lifecycle][scheduler]") {
  Counting s;
  CHECK(s.next(1)->trial.id == "c1@1");
  CHECK(s.take(1).trial.id == "c1@1");  // no second choose
  CHECK(s.chosen == 1);
  CHECK(s.take(1).trial.id == "c2@1");  // taken without a look: chosen then
  s.next(1);
  s.next(2);
  CHECK(s.take(1).trial.id == "c5@1");  // the last look was for rank 2
  s.next(1);
  s.on_result(1, msg::Assign{}, ResultRow{}, false);  // any entry point that changes state
  CHECK(s.take(1).trial.id == "c7@1");
  CHECK(s.chosen == 7);
}
