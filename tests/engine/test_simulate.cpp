// simulate_schedule (engine/simulate.hpp): the real schedulers on a simulated clock, checked
// against successive halving worked by hand.
#include "catch.hpp"

#include "engine/asha.hpp"
#include "engine/simulate.hpp"

using namespace ns::engine;
using nlohmann::json;

namespace {

std::vector<ns::sweeps::Trial> nine() {
  std::vector<ns::sweeps::Trial> v;
  for (int i = 0; i < 9; ++i) v.push_back(ns::sweeps::Trial{"t" + std::to_string(i), i, 0, 0, json{{"i", i}}});
  return v;
}

AshaOptions sha(bool synchronous) {
  AshaOptions o;
  o.min = 1, o.max = 9, o.eta = 3, o.metric = "score", o.synchronous = synchronous;
  return o;
}

// One second per unit of resource, no fixed cost; trial i scores i (t8 is best).
double per_unit(const ns::sweeps::Trial&, double from, double to) { return to - from; }
double by_index(const ns::sweeps::Trial& t) { return t.index; }

}  // namespace

TEST_CASE("simulated successive halving: rung by rung, the trial-seconds and makespan worked by "
          "hand", "[simulate]") {
  // 9 configurations, rungs 1, 3, 9: 9 visits of 1 s, 3 of 2 s (3 - 1), 1 of 6 s (9 - 3).
  AshaScheduler one(nine(), sha(true));
  SimulatedRun r = simulate_schedule(one, {1, "score"}, per_unit, by_index);
  CHECK(r.trial_s == 9 + 3 * 2 + 6);
  CHECK(r.makespan_s == 21);
  CHECK(r.visits == 13);
  CHECK(r.finished == 1);
  CHECK(r.stopped == 8);  // paused and never promoted: rows "stopped" at the end
  CHECK(r.resource == 6 * 1 + 2 * 3 + 1 * 9);
  // Three workers: rung 0 in 3 rounds of 1 s, rung 1 in one round of 2 s, then 6 s alone.
  AshaScheduler three(nine(), sha(true));
  r = simulate_schedule(three, {3, "score"}, per_unit, by_index);
  CHECK(r.trial_s == 21);
  CHECK(r.makespan_s == 3 + 2 + 6);
  // A fixed start-up cost per visit is paid 13 times.
  AshaScheduler fixed(nine(), sha(true));
  r = simulate_schedule(fixed, {1, "score"},
                        [](const ns::sweeps::Trial&, double a, double b) { return 0.5 + b - a; },
                        by_index);
  CHECK(r.trial_s == 21 + 13 * 0.5);
}

TEST_CASE("simulated asynchronous ASHA: promotions without a barrier (and its mispromotions); "
          "the stopping variant ends trials at their reports", "[simulate]") {
  // Best first (t0 scores highest): on 3 workers t0, t1, t2 pause at rung 0 at 1 s; t0 goes on
  // (top 1 of 3), t3 and t4 start; ... the top rung gets t0 only, as in successive halving.
  AshaScheduler best_first(nine(), sha(false));
  SimulatedRun r = simulate_schedule(best_first, {3, "score"}, per_unit,
                                     [](const ns::sweeps::Trial& t) { return -static_cast<double>(t.index); });
  CHECK(r.finished == 1);
  CHECK(r.finished + r.stopped == 9);
  CHECK(r.trial_s == r.resource);  // one second per unit: the time is the resource given
  // Each newcomer better than all before it: asynchronous ASHA promotes on what it has seen, so
  // t4 .. t8 all reach the top (the paper's mispromotions): 9 x 1 + 7 x 2 + 5 x 6 = 53 s of
  // training against successive halving's 21, and 21 s of wall time on 3 workers.
  AshaScheduler worst_first(nine(), sha(false));
  r = simulate_schedule(worst_first, {3, "score"}, per_unit, by_index);
  CHECK(r.finished == 5);
  CHECK(r.trial_s == 53);
  CHECK(r.resource == 53);
  CHECK(r.makespan_s == 21);

  // Stopping: one worker, trials in index order, each better than all before it, so none is
  // ever below a rung's cutoff: every trial trains to 9.
  AshaOptions o = sha(false);
  o.promotion = false;
  AshaScheduler up(nine(), o);
  SimulatedRun s = simulate_schedule(up, {1, "score"}, per_unit, by_index);
  CHECK(s.finished == 9);
  CHECK(s.trial_s == 81);
  // Each one worse than all before it: t0 trains to 9; from t1 on each is below the cutoff at
  // rung 0 (1 s each).
  AshaScheduler down(nine(), o);
  s = simulate_schedule(down, {1, "score"}, per_unit,
                        [](const ns::sweeps::Trial& t) { return -static_cast<double>(t.index); });
  CHECK(s.finished == 1);
  CHECK(s.stopped == 8);
  CHECK(s.trial_s == 9 + 8 * 1);
  CHECK(s.makespan_s == 17);
}

TEST_CASE("simulated budgets stop starting visits as the coordinator does", "[simulate]") {
  // Successive halving on one worker gives 1 unit per rung-0 visit: with a resource budget of
  // 4 the fifth visit does not start; the four paused trials end as stopped.
  AshaScheduler s(nine(), sha(true));
  SimulationOptions o{1, "score"};
  o.budget_resource = 4;
  SimulatedRun r = simulate_schedule(s, o, per_unit, by_index);
  CHECK(r.visits == 4);
  CHECK(r.stopped == 4);
  CHECK(r.resource == 4);
  AshaScheduler t(nine(), sha(true));
  o.budget_resource = 0;
  o.budget_trial_s = 2.5;  // three visits of 1 s start (at 0, 1, 2 s)
  r = simulate_schedule(t, o, per_unit, by_index);
  CHECK(r.visits == 3);
  CHECK(r.trial_s == 3);
}
