// The coordinator's lifecycle table (engine/lifecycle.hpp): its transitions and counters.
#include "catch.hpp"

#include "engine/lifecycle.hpp"

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
