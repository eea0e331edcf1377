#include "models/neural/schedule.hpp"

#include "catch.hpp"

#include <cmath>
#include <vector>

using namespace ns::models::neural;

namespace {

// A fake model whose "weights" are a version number bumped by every training step; evaluations
// return scripted losses in order. Restoring the best sets the version back.
struct FakeTraining {
  std::vector<double> losses;  // one per evaluation, in order
  std::size_t next = 0;
  int version = 0, best_version = -1, restores = 0;
  std::vector<double> lrs;     // every set_lr call
  std::vector<int> saved_versions;
  int stop_after = -1;         // stop_requested() true once this many steps were taken
  int steps = 0;
  double train_loss = 0.5;
  int read_every = 1;
  std::vector<double> unread;  // losses of steps not read yet
  int reads = 0;

  ProtocolHooks hooks() {
    ProtocolHooks h;
    h.stop_requested = [this] { return stop_after >= 0 && steps >= stop_after; };
    h.train_step = [this] {
      ++version;
      ++steps;
      unread.push_back(train_loss);
    };
    h.read_losses = [this] {
      ++reads;
      std::vector<double> out;
      out.swap(unread);
      return out;
    };
    h.read_every = read_every;
    h.evaluate = [this] {
      REQUIRE(next < losses.size());
      return losses[next++];
    };
    h.save_best = [this] {
      best_version = version;
      saved_versions.push_back(version);
    };
    h.restore_best = [this] {
      version = best_version;
      ++restores;
    };
    h.set_lr = [this](double lr) { lrs.push_back(lr); };
    return h;
  }
};

ScheduleOptions small_options() {
  ScheduleOptions o;
  o.phases = 3;
  o.lr = 1.0;
  o.lr_decay = 2.0;
  o.eval_every = 2;
  o.patience = 2;
  o.max_iters_per_phase = 100;
  return o;
}

}  // namespace

TEST_CASE("phases end after `patience` evaluations without strict improvement and restore the "
          "best across phases", "[schedule]") {
  FakeTraining t;
  // it 0: 10 (best, v0) | phase 1: it 2: 8 (best, v2), it 4: 9, it 6: 9 -> end, restore v2
  // phase 2 (lr/2): it 8: 7 (best, v4), it 10: 7 (not strict), it 12: 8 -> end, restore v4
  // phase 3 (lr/4): it 14: 7.5, it 16: 7.2 -> end, finished; restore v4 (best of phase 2).
  t.losses = {10, 8, 9, 9, 7, 7, 8, 7.5, 7.2};
  PhaseSchedule s(small_options());
  const ProtocolResult r = run_protocol(s, t.hooks());
  REQUIRE(r.status == ProtocolResult::Status::kFinished);
  REQUIRE(t.next == t.losses.size());
  REQUIRE(t.saved_versions == std::vector<int>{0, 2, 4});
  REQUIRE(t.restores == 3);
  REQUIRE(t.version == 4);  // the final model is the best across phases
  REQUIRE(s.best_iteration() == 8);
  REQUIRE(s.best_phase() == 2);
  REQUIRE(s.best_loss() == 7.0);
  REQUIRE(s.iteration() == 16);
  REQUIRE(t.lrs == std::vector<double>{1.0, 0.5, 0.25});
  const auto& c = s.curve();
  REQUIRE(c.size() == 9);
  REQUIRE(c[0].iteration == 0);
  REQUIRE(std::isnan(c[0].train_loss));
  REQUIRE(c[1].iteration == 2);
  REQUIRE(c[1].train_loss == 0.5);
  REQUIRE(c[4].iteration == 8);
  REQUIRE(c[4].phase == 2);
  REQUIRE(c[4].lr == 0.5);
  REQUIRE(c[8].phase == 3);
  REQUIRE(c[8].lr == 0.25);
}

TEST_CASE("a phase also ends at max_iters_per_phase, with a final evaluation", "[schedule]") {
  ScheduleOptions o = small_options();
  o.phases = 2;
  o.eval_every = 3;
  o.patience = 10;
  o.max_iters_per_phase = 5;
  FakeTraining t;
  // it 0: 5 | phase 1: it 3: 4 (v3), it 5 (max): 3 (v5) -> end | phase 2: it 8: 3.5, it 10: 4
  t.losses = {5, 4, 3, 3.5, 4};
  PhaseSchedule s(o);
  REQUIRE(run_protocol(s, t.hooks()).status == ProtocolResult::Status::kFinished);
  REQUIRE(s.iteration() == 10);
  REQUIRE(t.version == 5);
  std::vector<std::int64_t> iters;
  for (const auto& row : s.curve()) iters.push_back(row.iteration);
  REQUIRE(iters == std::vector<std::int64_t>{0, 3, 5, 8, 10});
}

TEST_CASE("a NaN validation loss never counts as an improvement", "[schedule]") {
  ScheduleOptions o = small_options();
  o.phases = 1;
  o.patience = 3;
  FakeTraining t;
  t.losses = {std::nan(""), std::nan(""), 2, 3, 3, 3};
  PhaseSchedule s(o);
  REQUIRE(run_protocol(s, t.hooks()).status == ProtocolResult::Status::kFinished);
  REQUIRE(s.best_iteration() == 4);
  REQUIRE(t.version == 4);
}

TEST_CASE("a validation loss that is never finite fails the run", "[schedule]") {
  ScheduleOptions o = small_options();
  o.phases = 2;
  FakeTraining t;
  t.losses.assign(4, std::nan(""));
  PhaseSchedule s(o);
  const ProtocolResult r = run_protocol(s, t.hooks());
  REQUIRE(r.status == ProtocolResult::Status::kFailed);
  REQUIRE_THAT(r.error, Catch::Contains("validation loss was never finite (4 evaluations)"));
  REQUIRE(t.restores == 0);
}

TEST_CASE("a non-finite training loss fails the run with a message", "[schedule]") {
  FakeTraining t;
  t.losses = {1, 1, 1};
  t.train_loss = std::numeric_limits<double>::infinity();
  PhaseSchedule s(small_options());
  const ProtocolResult r = run_protocol(s, t.hooks());
  REQUIRE(r.status == ProtocolResult::Status::kFailed);
  REQUIRE_THAT(r.error, Catch::Contains("training loss is not finite (inf) at iteration 1"));
  REQUIRE_THAT(r.error, Catch::Contains("lower lr"));
}

TEST_CASE("an interrupted schedule continues from its saved state exactly", "[schedule]") {
  const std::vector<double> losses = {10, 8, 9, 9, 7, 7, 8, 7.5, 7.2};
  FakeTraining whole;
  whole.losses = losses;
  PhaseSchedule ref(small_options());
  run_protocol(ref, whole.hooks());

  FakeTraining part;
  part.losses = losses;
  part.stop_after = 7;  // mid phase 2 (phase 1 ended at iteration 6)
  PhaseSchedule first(small_options());
  REQUIRE(run_protocol(first, part.hooks()).status == ProtocolResult::Status::kInterrupted);
  REQUIRE(first.iteration() == 7);
  REQUIRE(first.phase() == 1);

  PhaseSchedule second(small_options());
  second.set_state(nlohmann::json::parse(first.state().dump()));  // through text, as on disk
  part.stop_after = -1;
  REQUIRE(run_protocol(second, part.hooks()).status == ProtocolResult::Status::kFinished);
  REQUIRE(second.iteration() == ref.iteration());
  REQUIRE(second.best_iteration() == ref.best_iteration());
  REQUIRE(second.best_loss() == ref.best_loss());
  REQUIRE(part.version == whole.version);
  REQUIRE(second.curve().size() == ref.curve().size());
  for (std::size_t i = 0; i < ref.curve().size(); ++i) {
    REQUIRE(second.curve()[i].iteration == ref.curve()[i].iteration);
    REQUIRE(second.curve()[i].val_loss == ref.curve()[i].val_loss);
    REQUIRE(second.curve()[i].lr == ref.curve()[i].lr);
  }
}

TEST_CASE("losses read every k steps give the same run as losses read every step",
          "[schedule]") {
  const std::vector<double> losses = {10, 8, 9, 9, 7, 7, 8, 7.5, 7.2};
  ScheduleOptions o = small_options();
  o.eval_every = 5;  // reads at k = 3 fall between evaluations
  FakeTraining every;
  every.losses = losses;
  PhaseSchedule a(o);
  REQUIRE(run_protocol(a, every.hooks()).status == ProtocolResult::Status::kFinished);
  FakeTraining batched;
  batched.losses = losses;
  batched.read_every = 3;
  PhaseSchedule b(o);
  REQUIRE(run_protocol(b, batched.hooks()).status == ProtocolResult::Status::kFinished);
  REQUIRE(a.state() == b.state());  // curve, train-loss sums, best: all equal
  REQUIRE(every.reads == a.iteration());
  // One read per 3 steps, plus one before each evaluation that ends a partial group.
  REQUIRE(batched.reads < every.reads / 2);
  REQUIRE(batched.unread.empty());
}

TEST_CASE("a non-finite loss read late fails the run within read_every steps, naming its "
          "iteration", "[schedule]") {
  ScheduleOptions o = small_options();
  o.eval_every = 100;
  FakeTraining t;
  t.losses = {1, 1};
  t.read_every = 4;
  PhaseSchedule s(o);
  ProtocolHooks h = t.hooks();
  h.train_step = [&] {
    ++t.steps;
    t.unread.push_back(t.steps == 6 ? std::nan("") : 0.5);
  };
  const ProtocolResult r = run_protocol(s, h);
  REQUIRE(r.status == ProtocolResult::Status::kFailed);
  REQUIRE_THAT(r.error, Catch::Contains("not finite (nan) at iteration 6"));
  REQUIRE(t.steps == 8);  // read at steps 4 and 8: found 2 steps after it happened
}

TEST_CASE("an interrupt reads the pending losses before it returns, so the saved state holds "
          "them", "[schedule]") {
  ScheduleOptions o = small_options();
  o.eval_every = 10;
  FakeTraining t;
  t.losses = {1, 1, 1};
  t.read_every = 4;
  t.stop_after = 6;
  PhaseSchedule s(o);
  REQUIRE(run_protocol(s, t.hooks()).status == ProtocolResult::Status::kInterrupted);
  REQUIRE(t.unread.empty());
  REQUIRE(s.state().at("train_count") == 6);
}

TEST_CASE("the driver refuses a step before the due evaluation ran", "[schedule]") {
  ScheduleOptions o = small_options();
  FakeTraining t;
  t.losses = {1, 1};
  t.read_every = 100;
  PhaseSchedule s(o);
  ProtocolHooks h = t.hooks();
  ProtocolDriver d(s, h);
  d.start();
  d.stepped();
  d.stepped();  // eval_every 2: an evaluation is due
  REQUIRE(d.wants_losses());
  REQUIRE_THROWS_WITH(d.stepped(), Catch::Contains("before the due evaluation"));
  d.supply({0.5, 0.5});
  REQUIRE(t.next == 2);
  REQUIRE(s.curve().back().train_loss == 0.5);
}

TEST_CASE("invalid schedule options are rejected", "[schedule]") {
  ScheduleOptions o = small_options();
  o.patience = 0;
  REQUIRE_THROWS_WITH(PhaseSchedule(o), Catch::Contains("patience 0"));
}
