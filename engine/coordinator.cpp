#include "engine/coordinator.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/ranges.h>

#include "core/file.hpp"
#include "core/log.hpp"

namespace ns::engine {

using SysClock = std::chrono::system_clock;
using Steady = std::chrono::steady_clock;

bool fits_before_deadline(SysClock::time_point now, SysClock::time_point deadline,
                          double margin_s, double expected_s) {
  const double left = std::chrono::duration<double>(deadline - now).count() - margin_s;
  return expected_s < left;
}

double expected_duration(const std::vector<double>& seen) {
  if (seen.empty()) return 0;
  const double n = static_cast<double>(seen.size());
  const double mean = std::accumulate(seen.begin(), seen.end(), 0.0) / n;
  double var = 0;
  for (double d : seen) var += (d - mean) * (d - mean);
  return mean + std::sqrt(var / n);
}

void DurationStats::add(double d) {
  ++n_;
  const double delta = d - mean_;
  mean_ += delta / static_cast<double>(n_);
  m2_ += delta * (d - mean_);
}

double DurationStats::expected() const {
  if (n_ == 0) return 0;
  return mean_ + std::sqrt(std::max(0.0, m2_) / static_cast<double>(n_));
}

double heartbeat_interval(double timeout_s) {
  return timeout_s > 0 ? std::min(5.0, timeout_s / 4) : 0.0;
}

Coordinator::Coordinator(Transport& transport, ResultSink& sink, CoordinatorOptions options,
                         std::function<std::string()> drain_requested)
    : transport_(transport), sink_(sink), opt_(std::move(options)),
      drain_requested_(std::move(drain_requested)) {}

void Coordinator::begin_drain(const std::string& reason) {
  if (draining_) return;
  draining_ = true;
  summary_.drain_reason = reason;
  log::info("draining ({}): no new trials; {} running trial(s) asked to checkpoint and stop",
            reason, busy_.size());
  for (auto& [worker, a] : busy_) transport_.send(worker, msg::drain());
  wake_parked();  // they get Shutdown now
}

void Coordinator::output_failed(const std::string& why) {
  if (summary_.output_error.empty()) {
    summary_.output_error = why;
    log::error("cannot write the output directory: {}; free space (or fix the filesystem) and "
               "rerun the same command: what has no row runs then", why);
  }
  begin_drain("cannot write the output directory");
}

void Coordinator::wake_parked() {
  if (scheduler_ == nullptr) return;
  std::set<int> parked;
  parked.swap(parked_);
  for (int w : parked) reply(w);
}

void Coordinator::record_final_rows() {
  if (draining_ || (stopped_starting_ && !summary_.budget_spent)) return;
  if (scheduler_->pending() > 0 && !summary_.budget_spent) return;
  record_rows(scheduler_->final_rows());
}

void Coordinator::record_rows(std::vector<ResultRow> rows) {
  for (ResultRow& row : rows) {
    try {
      sink_.record(row);
    } catch (const core::WriteError& e) {
      ++summary_.unwritten;
      output_failed(e.what());
      continue;
    }
    life_.record(row.trial_id, row.status, row.attempt);
  }
}

void Coordinator::count_rows() {
  summary_.ok = life_.recorded(TrialStatus::kOk);
  summary_.timeout = life_.recorded(TrialStatus::kTimeout);
  summary_.stopped = life_.recorded(TrialStatus::kStopped);
  summary_.recorded = life_.recorded();
  summary_.failed = summary_.recorded - summary_.ok - summary_.timeout - summary_.stopped;
}

void Coordinator::check_drain() {
  if (const std::string why = sink_.write_error(); !why.empty() && summary_.output_error.empty())
    output_failed(why);
  if (draining_) return;
  std::string reason = drain_requested_();
  if (reason.empty() && opt_.deadline &&
      !fits_before_deadline(SysClock::now(), *opt_.deadline, opt_.deadline_margin_s, 0)) {
    reason = "the deadline is near";
  }
  if (!reason.empty()) begin_drain(reason);
}

bool Coordinator::may_start(double cost) {
  if (draining_ || stopped_starting_) return false;
  // Either budget, once reached, ends the sweep as complete: what was not started is not due.
  auto spent = [this](const std::string& reason, const std::string& detail) {
    stopped_starting_ = true;
    summary_.budget_spent = true;
    if (summary_.drain_reason.empty()) summary_.drain_reason = reason;
    log::info("not starting more trials: {}", detail);
    return false;
  };
  if (opt_.budget_trial_s > 0 && opt_.budget_used_s >= opt_.budget_trial_s)
    return spent(fmt::format("the budget of {} trial-seconds is spent", opt_.budget_trial_s),
                 fmt::format("{:.1f} of the budget's {} trial-seconds are spent",
                             opt_.budget_used_s, opt_.budget_trial_s));
  if (opt_.budget_resource > 0 && scheduler_->resource_used() >= opt_.budget_resource)
    return spent(fmt::format("the budget of {} resource units is spent", opt_.budget_resource),
                 fmt::format("the scheduler gave {:.6g} of the budget's {:.6g} resource units",
                             scheduler_->resource_used(), opt_.budget_resource));
  if (!opt_.deadline) return true;
  const double expected = durations_.expected() * cost;
  if (!fits_before_deadline(SysClock::now(), *opt_.deadline, opt_.deadline_margin_s, expected)) {
    stopped_starting_ = true;
    if (summary_.drain_reason.empty()) summary_.drain_reason = "the deadline leaves no time for another trial";
    log::info("not starting more trials: by the durations seen so far ({:.1f} s expected) they "
              "would not finish before the deadline", expected);
    return false;
  }
  return true;
}

void Coordinator::update_health(int worker, const ResultRow& row) {
  if (opt_.unhealthy_after <= 0 || unhealthy_.count(worker)) return;
  const long seq = ++results_seen_;
  auto& streak = streaks_[worker];
  if (row.status == TrialStatus::kOk) {
    streak.clear();
    last_ok_[worker] = seq;
    // What the suspects waited for: this rank succeeds where they fail.
    const std::set<int> suspects = suspects_;
    for (int s : suspects)
      if (s != worker) take_out(s);
    return;
  }
  if (row.status != TrialStatus::kFailed) return;  // a timeout or a stop says nothing of the device
  // Another rank fails too: the configurations fail, not (as far as this shows) the device.
  for (int s : suspects_)
    if (s != worker) streaks_[s].clear();
  suspects_.clear();
  streak.push_back({std::chrono::duration<double>(Steady::now().time_since_epoch()).count(), seq,
                    row.host, row.error});
  while (static_cast<int>(streak.size()) > opt_.unhealthy_after) streak.pop_front();
  if (static_cast<int>(streak.size()) < opt_.unhealthy_after ||
      streak.back().at_s - streak.front().at_s > opt_.unhealthy_window_s)
    return;
  for (const auto& [other, ok_at] : last_ok_) {
    if (other != worker && !unhealthy_.count(other) && ok_at > streak.front().result) {
      take_out(worker);
      return;
    }
  }
  // No other rank has succeeded since the streak began: wait for one that runs a trial now.
  // With no other rank (one rank, run_serial) a streak is only failures: rows, never a reason.
  if (workers_ > 1) suspects_.insert(worker);
}

void Coordinator::take_out(int worker) {
  suspects_.erase(worker);
  const auto& streak = streaks_[worker];
  if (streak.empty() || !unhealthy_.insert(worker).second) return;
  const double within = streak.back().at_s - streak.front().at_s;
  const std::string& host = streak.back().host;
  const std::string& error = streak.back().error;
  const bool last = static_cast<int>(unhealthy_.size()) == workers_;
  summary_.unhealthy.push_back(
      UnhealthyRank{worker, host, static_cast<int>(streak.size()), within, error});
  log::warn("rank {} ({}) failed its last {} trials within {:.1f} s (last: {}) while other ranks "
            "succeeded; it takes no more trials{}",
            worker, host.empty() ? "?" : host, streak.size(), within, error,
            last ? "; no rank is left, so the rest waits for the next run"
                 : ", and what it would have run goes to the other ranks");
  // The last rank alive keeps its queue: the coordinator stops it instead (reply / run_serial).
  if (!last) {
    scheduler_->on_worker_lost(worker);
  } else if (summary_.drain_reason.empty()) {
    summary_.drain_reason = transport_.size() == 1  // run_serial: rank 0 trains itself
                                ? "rank 0 was taken out as unhealthy"
                                : "every worker rank was taken out as unhealthy";
  }
}

bool Coordinator::other_busy(int worker) const {
  for (const auto& [w, f] : busy_)
    if (w != worker && !unhealthy_.count(w)) return true;
  return false;
}

void Coordinator::fill_pack(int worker, msg::Assign& a) {
  if (opt_.pack <= 1 || a.trial.pack_key.empty()) return;
  if (a.resource_limit > 0 || !a.rungs.empty()) return;  // early stopping: one trial at a time
  const std::string key = a.trial.pack_key;
  a.pack = scheduler_->take_more(
      worker, [&](const msg::Assign& b) { return b.trial.pack_key == key; }, opt_.pack - 1);
  for (auto& m : a.pack) m.time_limit_s = opt_.trial_timeout_s;
}

int Coordinator::running() const { return life_.count(Phase::kRunning); }

msg::Assign Coordinator::hand_out(int worker) {
  msg::Assign a = scheduler_->take(worker);
  a.time_limit_s = opt_.trial_timeout_s;
  fill_pack(worker, a);
  life_.start(a.trial.id, worker, a.attempt);
  for (const auto& m : a.pack) life_.start(m.trial.id, worker, m.attempt);
  a.heartbeat_s = heartbeat_interval(opt_.rank_timeout_s);
  for (auto& m : a.pack) m.heartbeat_s = a.heartbeat_s;
  busy_[worker] = a;
  handed_at_[worker] = unix_now();
  heard_[worker] = Steady::now();  // its silence counts from here
  if (!first_assign_) first_assign_ = Steady::now();
  return a;
}

void Coordinator::reply(int worker) {
  if (suspects_.count(worker)) {
    if (!draining_ && !stopped_starting_ && other_busy(worker)) {
      parked_.insert(worker);  // woken by the next result, which decides
      sink_.tick(running(), false);
      return;
    }
    suspects_.erase(worker);  // no other rank can tell: its failures count as the trials'
  }
  const msg::Assign* next = unhealthy_.count(worker) ? nullptr : scheduler_->next(worker);
  // Work already started (a configuration's other replicates) is handed out even once a budget
  // or the deadline stops new starts; a drain stops it too.
  const bool continues = next && !draining_ && scheduler_->next_continues(worker);
  if (next && (continues || may_start(next->trial.cost))) {
    transport_.send(worker, msg::wrap(MessageKind::kAssign, hand_out(worker)));
  } else if (!next && !draining_ && !stopped_starting_ && !unhealthy_.count(worker) &&
             (scheduler_->may_have_more() || (opt_.rank_timeout_s > 0 && other_busy(worker)))) {
    // A result still to come may give it work (a promotion), or, with a rank timeout, a rank
    // that falls silent gives its trial back.
    parked_.insert(worker);
  } else {
    transport_.send(worker, msg::shutdown());
    ++shut_down_;
  }
  sink_.tick(running(), false);
}

bool Coordinator::settle(int worker, const msg::Assign& assign, ResultRow& row) {
  opt_.budget_used_s += row.wall_s;  // every attempt and every rung visit spends the budget
  if (row.status == TrialStatus::kInterrupted) {
    ++summary_.interrupted;
    life_.unfinish(row.trial_id);
    if (row.output_error) {
      output_failed(fmt::format("rank {}, trial {}: {}", worker, row.trial_id, row.error));
    } else {
      // A worker stops a trial on its own only when it got a signal itself: the job is ending.
      begin_drain(fmt::format("rank {} was interrupted", worker));
    }
    return false;
  }
  const Verdict verdict = settle_result(*scheduler_, worker, assign, row, opt_.retries, draining_);
  if (verdict == Verdict::kHold || verdict == Verdict::kDefer) {
    if (verdict == Verdict::kHold) ++summary_.paused;
    life_.pause(row.trial_id);
    // Rows the result released (a configuration's replicates, decided together): they are
    // replicates of this trial's configuration, so its cost prices them.
    std::vector<ResultRow> ready = scheduler_->ready_rows();
    for (const ResultRow& r : ready)
      if (r.status == TrialStatus::kOk)
        durations_.add(r.wall_s / (assign.trial.cost > 0 ? assign.trial.cost : 1.0));
    record_rows(std::move(ready));
    return true;
  }
  if (verdict == Verdict::kRetry) {
    ++summary_.retried;
    life_.retry(row.trial_id, row.attempt + 1);
    log::info("trial {} {} (attempt {}): {}; retrying", row.trial_id, to_string(row.status),
              row.attempt, row.error);
    return true;
  }
  scheduler_->annotate(assign, row);
  try {
    sink_.record(row);
  } catch (const core::WriteError& e) {
    // Nothing of the row remains: the trial has no row, so the next run does it again.
    ++summary_.unwritten;
    life_.unfinish(row.trial_id);
    output_failed(e.what());
    return false;
  }
  life_.record(row.trial_id, row.status, row.attempt);
  if (row.status == TrialStatus::kOk)
    durations_.add(row.wall_s / (assign.trial.cost > 0 ? assign.trial.cost : 1.0));
  if (first_assign_) summary_.makespan_s = std::chrono::duration<double>(Steady::now() - *first_assign_).count();
  return true;
}

std::vector<msg::Assign> Coordinator::take_busy(std::map<int, msg::Assign>::iterator it) {
  std::vector<msg::Assign> given;
  given.reserve(1 + it->second.pack.size());  // no reallocation while the pack is moved out
  given.push_back(std::move(it->second));
  busy_.erase(it);
  for (auto& m : given.front().pack) given.push_back(std::move(m));
  given.front().pack.clear();
  return given;
}

void Coordinator::on_result(int worker, msg::Result result) {
  auto it = busy_.find(worker);
  if (it == busy_.end()) {
    log::warn("coordinator: rank {} sent a result for trial {}, but was given no trial",
              worker, result.outcome.trial_id);
    return;
  }
  // The Assigns handed out (a pack's first trial, then its members): each outcome is joined
  // with its own into the row. Rank 0 holds the parameters, seed, repeat and attempt; the
  // worker sent only what it learned.
  std::vector<msg::Assign> given = take_busy(it);
  std::vector<Outcome> outcomes;
  outcomes.reserve(1 + result.pack.size());
  outcomes.push_back(std::move(result.outcome));
  for (auto& o : result.pack) outcomes.push_back(std::move(o));
  std::vector<std::pair<const msg::Assign*, ResultRow>> rows;
  rows.reserve(outcomes.size());
  // When rank 0 handed the Assign out and when its Result came, on rank 0's clock: a pack's
  // trials trained together, so they share both.
  const double started = handed_at_.count(worker) ? handed_at_[worker] : std::nan("");
  const double ended = unix_now();
  for (Outcome& o : outcomes) {
    auto a = std::find_if(given.begin(), given.end(),
                          [&](const msg::Assign& x) { return x.trial.id == o.trial_id; });
    if (a == given.end()) {
      log::warn("coordinator: rank {} sent an outcome for trial {}, which it was not given",
                worker, o.trial_id);
      continue;
    }
    rows.emplace_back(&*a, msg::row_of(*a, std::move(o)));
    rows.back().second.started = started;
    rows.back().second.ended = ended;
  }
  // A trial handed out whose outcome did not come back is not running: the next run's.
  for (const msg::Assign& a : given)
    if (std::none_of(rows.begin(), rows.end(), [&](const auto& r) { return r.first == &a; }))
      life_.unfinish(a.trial.id);
  // For the breaker a Result is one event: healthy when one of its trials succeeded, else a
  // failure when one failed (a pack that ran out of memory is one failure, not K).
  const ResultRow* health = nullptr;
  auto rank_of = [](const ResultRow& r) {
    return r.status == TrialStatus::kOk ? 2 : r.status == TrialStatus::kFailed ? 1 : 0;
  };
  for (auto& [a, row] : rows)
    if (settle(worker, *a, row) && (!health || rank_of(row) > rank_of(*health))) health = &row;
  if (health) update_health(worker, *health);
}

void Coordinator::check_silent(std::chrono::steady_clock::time_point now) {
  if (opt_.rank_timeout_s <= 0 || busy_.empty()) return;
  // A few times per timeout is enough; the map is small, but the loop polls every millisecond.
  if (now - last_silence_check_ < std::chrono::duration<double>(std::min(1.0, opt_.rank_timeout_s / 8)))
    return;
  last_silence_check_ = now;
  std::vector<std::pair<int, double>> silent;
  for (const auto& [worker, a] : busy_) {
    const auto heard = heard_.find(worker);
    if (heard == heard_.end()) continue;
    const double quiet = std::chrono::duration<double>(now - heard->second).count();
    if (quiet > opt_.rank_timeout_s) silent.emplace_back(worker, quiet);
  }
  for (const auto& [worker, quiet] : silent) lose(worker, quiet);
}

void Coordinator::lose(int worker, double silent_s) {
  auto it = busy_.find(worker);
  if (it == busy_.end() || !lost_.insert(worker).second) return;
  std::vector<msg::Assign> given = take_busy(it);
  ++shut_down_;  // gone: the run ends without it
  parked_.erase(worker);
  suspects_.erase(worker);
  // If it wakes up, it drops its trial without writing to its directory (the trial goes on
  // elsewhere) and asks for work; what it sends is not written (from_lost).
  send_quietly(worker, msg::abandon());
  SilentRank lost{worker, hosts_.count(worker) ? hosts_[worker] : "", silent_s, {}, false};
  for (const auto& a : given) lost.trials.push_back(a.trial.id);
  const int alive = workers_ - static_cast<int>(unhealthy_.size()) - 1;
  // Its trials are pending again, as the same attempt (nothing failed): another rank takes them,
  // or, when none is left or the run drains, the next run. A scheduler that cannot hand a trial
  // to another rank (PBT's members: retries_failed() false) leaves them interrupted and the run
  // drains: the next run resumes them.
  const bool requeue = scheduler_->retries_failed();
  for (const auto& a : given) {
    if (requeue) {
      life_.retry(a.trial.id, a.attempt);
      scheduler_->retry(worker, a);
      requeued_.emplace_back(a.trial.id, worker);
    } else {
      life_.unfinish(a.trial.id);
      ++summary_.interrupted;
    }
  }
  log::warn("rank {} ({}) sent nothing for {:.0f} s while it ran trial {} (--rank-timeout {} s); "
            "it is taken out of the sweep, and {}",
            worker, lost.host.empty() ? "?" : lost.host, silent_s, fmt::join(lost.trials, ", "),
            opt_.rank_timeout_s,
            alive <= 0 ? "no rank is left, so its trial waits for the next run"
            : draining_ ? "its trial waits for the next run"
            : requeue   ? "its trial goes back to pending, to resume from its checkpoint on another rank"
                        : "this search cannot move its trial to another rank: the run drains, and "
                          "the next run resumes it");
  summary_.silent.push_back(std::move(lost));
  if (alive > 0) {
    --workers_;
    scheduler_->on_worker_lost(worker);
  } else if (summary_.drain_reason.empty()) {
    summary_.drain_reason = "every worker rank stopped answering or was taken out";
  }
  if (!requeue) begin_drain(fmt::format("rank {} stopped answering", worker));
  wake_parked();  // a waiting worker may take its trial
}

void Coordinator::from_lost(const Envelope& env) {
  const int worker = env.source;
  const MessageKind kind = msg::kind_of(env.message);
  // A Report or heartbeat sent before it saw Abandon: no answer (Abandon ends its wait).
  if (kind != MessageKind::kResult && kind != MessageKind::kReady) return;
  for (auto& r : summary_.silent) {
    if (r.rank != worker || r.returned) continue;
    r.returned = true;
    log::warn("rank {} ({}), taken out as silent, answered again; what it sent is not written "
              "(its trial went back to pending), and it is shut down",
              worker, r.host.empty() ? "?" : r.host);
    send_quietly(worker, msg::shutdown());
  }
}

void Coordinator::send_quietly(int worker, const nlohmann::json& message) {
  try {
    transport_.send(worker, message);
  } catch (const std::exception& e) {  // it may be gone for good: the sweep goes on
    log::warn("rank {} taken out as silent: {}", worker, e.what());
  }
}

void Coordinator::count_lost_unfinished() {
  // A trial a silent rank was running, put back as pending, that no rank finished in this run
  // (a budget or the deadline stopped new starts, or no rank was left): it started and has a
  // checkpoint, so it is interrupted, not "not started" (which a spent budget would call due to
  // no one): the run is not complete, and the next one resumes it.
  // (One handed out again and drained there was counted by settle().)
  for (const auto& [id, lost_rank] : requeued_) {
    const TrialLife* t = life_.find(id);
    if (t == nullptr || t->phase != Phase::kPending || t->worker != lost_rank) continue;
    ++summary_.interrupted;
    if (summary_.not_started > 0) --summary_.not_started;
  }
}

void Coordinator::handle(const Envelope& env) {
  heard_[env.source] = Steady::now();
  if (lost_.count(env.source)) return from_lost(env);
  const MessageKind kind = msg::kind_of(env.message);
  if (kind == MessageKind::kHeartbeat) return;
  if (kind == MessageKind::kReady) {
    hosts_[env.source] = env.message.at("body").value("host", std::string());
    reply(env.source);
  } else if (kind == MessageKind::kResult) {
    on_result(env.source, env.message.at("body").get<msg::Result>());
    reply(env.source);
    wake_parked();
  } else if (kind == MessageKind::kReport) {
    const auto report = env.message.at("body").get<msg::Report>();
    const Decision d = scheduler_->on_report(env.source, report);
    transport_.send(env.source, msg::wrap(MessageKind::kDecision, msg::DecisionMsg{d}));
  } else {
    log::warn("coordinator: unexpected message '{}' from rank {}", env.message.at("type").dump(),
              env.source);
  }
}

CoordinatorSummary Coordinator::run(std::vector<sweeps::Trial> trials) {
  std::vector<int> ranks;
  for (int w = 1; w < transport_.size(); ++w) ranks.push_back(w);
  ListScheduler s(std::move(trials), std::move(ranks), opt_.schedule, opt_.longest_first);
  return run(s);
}

CoordinatorSummary Coordinator::run_serial(std::vector<sweeps::Trial> trials,
                                           TrialExecutor& executor) {
  ListScheduler s(std::move(trials), {0}, opt_.schedule, opt_.longest_first);
  return run_serial(s, executor);
}

CoordinatorSummary Coordinator::run(Scheduler& scheduler) {
  scheduler_ = &scheduler;
  const int workers = transport_.size() - 1;
  workers_ = workers;
  life_.reserve(static_cast<std::size_t>(std::max(0, scheduler.pending())));
  record_rows(scheduler.restored_rows());
  Backoff backoff;
  auto last_tick = Steady::now();
  while (shut_down_ < workers) {
    check_drain();
    if (auto env = transport_.poll()) {
      handle(*env);
      backoff.reset();
      continue;
    }
    const auto now = Steady::now();  // one clock read per idle turn, for both checks
    check_silent(now);
    if (now - last_tick > std::chrono::seconds(1)) {
      sink_.tick(running(), false);
      last_tick = now;
    }
    backoff.pause();
  }
  record_final_rows();
  summary_.not_started = scheduler.pending();
  count_lost_unfinished();
  count_rows();
  scheduler_ = nullptr;
  sink_.tick(0, true);
  return summary_;
}

CoordinatorSummary Coordinator::run_serial(Scheduler& scheduler, TrialExecutor& executor) {
  scheduler_ = &scheduler;
  workers_ = 1;
  life_.reserve(static_cast<std::size_t>(std::max(0, scheduler.pending())));
  record_rows(scheduler.restored_rows());
  executor.set_reporter([&](const msg::Report& r) { return scheduler.on_report(0, r); });
  while (const msg::Assign* next = scheduler.next(0)) {
    if (unhealthy_.count(0)) break;
    check_drain();
    // As reply(): a visit's other replicates run even once a budget or the deadline stops new
    // starts; a drain stops them too.
    const bool continues = !draining_ && scheduler.next_continues(0);
    if (!continues && !may_start(next->trial.cost)) break;
    msg::Assign a = hand_out(0);
    sink_.tick(running(), false);
    auto stop = [this]() {
      check_drain();
      return draining_;
    };
    msg::Result r = executor.run(a, stop);
    on_result(0, std::move(r));
  }
  executor.set_reporter({});
  record_final_rows();
  summary_.not_started = scheduler.pending();
  count_rows();
  scheduler_ = nullptr;
  sink_.tick(0, true);
  return summary_;
}

}  // namespace ns::engine
