#include "engine/simulate.hpp"

#include <algorithm>
#include <map>
#include <queue>
#include <set>
#include <tuple>
#include <vector>

#include "core/error.hpp"

namespace ns::engine {

namespace {

// One worker's visit in progress.
struct Visit {
  msg::Assign assign;
  double start = 0;             ///< simulated time it started
  double from = 0;              ///< resource it started from
  std::vector<double> reports;  ///< report resources still ahead, ascending
};

}  // namespace

SimulatedRun simulate_schedule(
    Scheduler& scheduler, const SimulationOptions& options,
    const std::function<double(const sweeps::Trial&, double, double)>& duration,
    const std::function<double(const sweeps::Trial&)>& value) {
  const int workers = options.workers;
  const std::string& metric = options.metric;
  NS_CHECK(workers >= 1, "simulate_schedule: workers must be >= 1, got {}", workers);
  SimulatedRun out;
  std::map<std::string, double> reached;  // trial id -> resource trained so far
  std::map<int, Visit> running;
  std::set<int> parked;
  // (time, sequence, worker): the next thing that happens to a running visit.
  using Event = std::tuple<double, long, int>;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events;
  long seq = 0;

  auto schedule_next = [&](int w) {
    const Visit& v = running.at(w);
    const double to = v.reports.empty() ? v.assign.resource_limit : v.reports.front();
    events.emplace(v.start + duration(v.assign.trial, v.from, to), seq++, w);
  };
  bool spent = false;  // the budget is reached: nothing starts any more
  auto request = [&](int w, double now) {
    spent = spent ||
            (options.budget_trial_s > 0 && out.trial_s >= options.budget_trial_s) ||
            (options.budget_resource > 0 && scheduler.resource_used() >= options.budget_resource);
    // Work already started (a visit's other replicates) goes on, as in the coordinator.
    if (spent && !(scheduler.next(w) != nullptr && scheduler.next_continues(w))) return;
    if (scheduler.next(w) != nullptr) {
      Visit v;
      v.assign = scheduler.take(w);
      v.start = now;
      v.from = reached[v.assign.trial.id];
      for (double r : v.assign.rungs)
        if (r > v.from && r < v.assign.resource_limit) v.reports.push_back(r);
      std::sort(v.reports.begin(), v.reports.end());
      running[w] = std::move(v);
      ++out.visits;
      schedule_next(w);
    } else if (scheduler.may_have_more()) {
      parked.insert(w);
    }
  };
  auto finish = [&](int w, double now, double resource, bool stopped) {
    Visit v = std::move(running.at(w));
    running.erase(w);
    reached[v.assign.trial.id] = resource;
    Outcome outcome;  // what a worker would send back, joined with the Assign as rank 0 does
    outcome.trial_id = v.assign.trial.id;
    outcome.status = stopped ? TrialStatus::kStopped
                     : v.assign.final_rung ? TrialStatus::kOk
                                           : TrialStatus::kPaused;
    outcome.metrics[metric] = value(v.assign.trial);
    outcome.wall_s = now - v.start;
    const ResultRow row = msg::row_of(v.assign, std::move(outcome));
    out.trial_s += row.wall_s;
    out.makespan_s = std::max(out.makespan_s, now);
    if (scheduler.on_result(w, v.assign, row, false) == Verdict::kRecord) {
      if (row.status == TrialStatus::kOk) ++out.finished;
      if (row.status == TrialStatus::kStopped) ++out.stopped;
    }
    for (const ResultRow& r : scheduler.ready_rows()) {  // replicates, decided together
      if (r.status == TrialStatus::kOk) ++out.finished;
      if (r.status == TrialStatus::kStopped) ++out.stopped;
    }
    request(w, now);
    std::set<int> waiting;
    waiting.swap(parked);
    for (int p : waiting) request(p, now);
  };

  for (int w = 1; w <= workers; ++w) request(w, 0);
  while (!events.empty()) {
    const auto [now, s, w] = events.top();
    events.pop();
    (void)s;
    Visit& v = running.at(w);
    if (v.reports.empty()) {
      finish(w, now, v.assign.resource_limit, false);
      continue;
    }
    const double r = v.reports.front();
    v.reports.erase(v.reports.begin());
    const msg::Report report{v.assign.trial.id, r, {{metric, value(v.assign.trial)}}};
    if (scheduler.on_report(w, report) == Decision::kStop) {
      finish(w, now, r, true);
    } else {
      schedule_next(w);
    }
  }
  out.stopped += static_cast<int>(scheduler.final_rows().size());
  out.resource = scheduler.resource_used();
  return out;
}

}  // namespace ns::engine
