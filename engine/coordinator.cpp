#include "engine/coordinator.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
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

void order_longest_first(std::vector<TrialSpec>& trials) {
  std::stable_sort(trials.begin(), trials.end(),
                   [](const TrialSpec& a, const TrialSpec& b) { return a.cost > b.cost; });
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
  for (auto& [worker, f] : busy_) transport_.send(worker, msg::drain());
}

void Coordinator::check_drain() {
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
  const double expected = expected_duration(durations_) * cost;
  if (opt_.deadline &&
      !fits_before_deadline(SysClock::now(), *opt_.deadline, opt_.deadline_margin_s, expected)) {
    stopped_starting_ = true;
    if (summary_.drain_reason.empty()) summary_.drain_reason = "the deadline leaves no time for another trial";
    log::info("not starting more trials: by the durations seen so far ({:.1f} s expected) they "
              "would not finish before the deadline", expected);
    return false;
  }
  return true;
}

TrialQueue::TrialQueue(Schedule schedule, std::vector<int> workers)
    : schedule_(schedule), workers_(std::move(workers)) {
  NS_CHECK(schedule_ != Schedule::kInvalid, "internal: no schedule");
  NS_CHECK(!workers_.empty(), "internal: a trial queue needs at least one worker");
}

std::deque<msg::Assign>& TrialQueue::queue_for(int worker) {
  return queues_[schedule_ == Schedule::kStatic ? worker : -1];
}

const std::deque<msg::Assign>* TrialQueue::find(int worker) const {
  auto it = queues_.find(schedule_ == Schedule::kStatic ? worker : -1);
  return it == queues_.end() ? nullptr : &it->second;
}

void TrialQueue::push_back(msg::Assign a) {
  const auto n = static_cast<std::int64_t>(workers_.size());
  const int worker = workers_[static_cast<std::size_t>(((a.trial.index % n) + n) % n)];
  queue_for(worker).push_back(std::move(a));
}

void TrialQueue::push_front(int worker, msg::Assign a) { queue_for(worker).push_front(std::move(a)); }

bool TrialQueue::has_next(int worker) const {
  const auto* q = find(worker);
  return q && !q->empty();
}

const msg::Assign& TrialQueue::peek(int worker) const {
  NS_CHECK(has_next(worker), "internal: no trial queued for rank {}", worker);
  return find(worker)->front();
}

msg::Assign TrialQueue::pop(int worker) {
  NS_CHECK(has_next(worker), "internal: no trial queued for rank {}", worker);
  auto& q = queue_for(worker);
  msg::Assign a = std::move(q.front());
  q.pop_front();
  return a;
}

int TrialQueue::size() const {
  std::size_t n = 0;
  for (const auto& [w, q] : queues_) n += q.size();
  return static_cast<int>(n);
}

void Coordinator::fill(std::vector<TrialSpec> trials, std::vector<int> workers) {
  if (opt_.schedule == Schedule::kDynamic && opt_.longest_first) order_longest_first(trials);
  pending_.emplace(opt_.schedule, std::move(workers));
  for (auto& t : trials) {
    msg::Assign a;
    a.trial = std::move(t);
    pending_->push_back(std::move(a));
  }
}

void Coordinator::reply(int worker) {
  if (pending_->has_next(worker) && may_start(pending_->peek(worker).trial.cost)) {
    msg::Assign a = pending_->pop(worker);
    a.time_limit_s = opt_.trial_timeout_s;
    busy_[worker] = InFlight{a, Steady::now()};
    if (!first_assign_) first_assign_ = Steady::now();
    transport_.send(worker, msg::wrap(MessageKind::kAssign, a));
  } else {
    transport_.send(worker, msg::shutdown());
    ++shut_down_;
  }
  sink_.tick(static_cast<int>(busy_.size()), false);
}

void Coordinator::on_result(int worker, msg::Result result) {
  auto it = busy_.find(worker);
  msg::Assign assign;
  if (it != busy_.end()) {
    assign = it->second.assign;
    busy_.erase(it);
  }
  ResultRow& row = result.row;
  if (row.status == TrialStatus::kInterrupted) {
    ++summary_.interrupted;
    // A worker stops a trial on its own only when it got a signal itself: the job is ending.
    begin_drain(fmt::format("rank {} was interrupted", worker));
    return;
  }
  if (row.status == TrialStatus::kFailed && row.attempt <= opt_.retries && !draining_) {
    ++summary_.retried;
    log::info("trial {} failed (attempt {}): {}; retrying", row.trial_id, row.attempt, row.error);
    assign.attempt = row.attempt + 1;
    pending_->push_front(worker, assign);
    return;
  }
  if (row.status == TrialStatus::kOk) {
    ++summary_.ok;
    durations_.push_back(row.wall_s / (assign.trial.cost > 0 ? assign.trial.cost : 1.0));
  } else if (row.status == TrialStatus::kTimeout) {
    ++summary_.timeout;
  } else {
    ++summary_.failed;
  }
  ++summary_.recorded;
  if (first_assign_) summary_.makespan_s = std::chrono::duration<double>(Steady::now() - *first_assign_).count();
  sink_.record(row);
}

void Coordinator::handle(const Envelope& env) {
  const MessageKind kind = msg::kind_of(env.message);
  if (kind == MessageKind::kReady) {
    reply(env.source);
  } else if (kind == MessageKind::kResult) {
    on_result(env.source, env.message.at("body").get<msg::Result>());
    reply(env.source);
  } else {
    log::warn("coordinator: unexpected message '{}' from rank {}", env.message.at("type").dump(),
              env.source);
  }
}

CoordinatorSummary Coordinator::run(std::vector<TrialSpec> trials) {
  const int workers = transport_.size() - 1;
  std::vector<int> ranks;
  for (int w = 1; w <= workers; ++w) ranks.push_back(w);
  fill(std::move(trials), std::move(ranks));
  Backoff backoff;
  auto last_tick = Steady::now();
  while (shut_down_ < workers) {
    check_drain();
    if (auto env = transport_.poll()) {
      handle(*env);
      backoff.reset();
      continue;
    }
    if (Steady::now() - last_tick > std::chrono::seconds(1)) {
      sink_.tick(static_cast<int>(busy_.size()), false);
      last_tick = Steady::now();
    }
    backoff.pause();
  }
  summary_.not_started = pending_->size();
  sink_.tick(0, true);
  return summary_;
}

CoordinatorSummary Coordinator::run_serial(std::vector<TrialSpec> trials,
                                           TrialExecutor& executor) {
  fill(std::move(trials), {0});
  while (pending_->has_next(0)) {
    check_drain();
    if (!may_start(pending_->peek(0).trial.cost)) break;
    msg::Assign a = pending_->pop(0);
    a.time_limit_s = opt_.trial_timeout_s;
    busy_[0] = InFlight{a, Steady::now()};
    if (!first_assign_) first_assign_ = Steady::now();
    sink_.tick(1, false);
    auto stop = [this]() {
      check_drain();
      return draining_;
    };
    msg::Result r{executor.execute(a, stop)};
    on_result(0, std::move(r));
  }
  summary_.not_started = pending_->size();
  sink_.tick(0, true);
  return summary_;
}

}  // namespace ns::engine
