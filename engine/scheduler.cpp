#include "engine/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace ns::engine {

void order_longest_first(std::vector<sweeps::Trial>& trials) {
  std::stable_sort(trials.begin(), trials.end(),
                   [](const sweeps::Trial& a, const sweeps::Trial& b) { return a.cost > b.cost; });
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

const msg::Assign* TrialQueue::peek_preferring(
    int worker, const std::function<bool(const msg::Assign&)>& usable) const {
  const auto* q = find(worker);
  if (!q || q->empty()) return nullptr;
  for (const auto& a : *q)
    if (usable(a)) return &a;
  return &q->front();
}

msg::Assign TrialQueue::pop_preferring(int worker,
                                       const std::function<bool(const msg::Assign&)>& usable) {
  NS_CHECK(has_next(worker), "internal: no trial queued for rank {}", worker);
  auto& q = queue_for(worker);
  auto it = std::find_if(q.begin(), q.end(), usable);
  if (it == q.end()) it = q.begin();
  msg::Assign a = std::move(*it);
  q.erase(it);
  return a;
}

std::vector<msg::Assign> TrialQueue::pop_matching(
    int worker, const std::function<bool(const msg::Assign&)>& fits, int max) {
  std::vector<msg::Assign> out;
  if (!has_next(worker)) return out;
  auto& q = queue_for(worker);
  for (auto it = q.begin(); it != q.end() && static_cast<int>(out.size()) < max;) {
    if (fits(*it)) {
      out.push_back(std::move(*it));
      it = q.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

void TrialQueue::remove_worker(int worker) {
  auto w = std::find(workers_.begin(), workers_.end(), worker);
  if (w == workers_.end()) return;
  workers_.erase(w);
  NS_CHECK(!workers_.empty(), "internal: the last worker cannot leave its trial queue");
  if (schedule_ != Schedule::kStatic) return;
  auto it = queues_.find(worker);
  if (it == queues_.end()) return;
  std::deque<msg::Assign> orphans = std::move(it->second);
  queues_.erase(it);
  std::size_t i = 0;
  for (auto& a : orphans) queues_[workers_[i++ % workers_.size()]].push_back(std::move(a));
}

int TrialQueue::size() const {
  std::size_t n = 0;
  for (const auto& [w, q] : queues_) n += q.size();
  return static_cast<int>(n);
}

ListScheduler::ListScheduler(std::vector<sweeps::Trial> trials, std::vector<int> workers,
                             Schedule schedule, bool longest_first)
    : queue_(schedule, std::move(workers)) {
  if (schedule == Schedule::kDynamic && longest_first) order_longest_first(trials);
  for (auto& t : trials) {
    msg::Assign a;
    a.trial = std::move(t);
    queue_.push_back(std::move(a));
  }
}

bool ListScheduler::fresh_for(int worker, const msg::Assign& a) const {
  auto it = failed_on_.find(a.trial.id);
  return it == failed_on_.end() ||
         std::find(it->second.begin(), it->second.end(), worker) == it->second.end();
}

const msg::Assign* Scheduler::next(int worker) const {
  forget_shown();
  const msg::Assign* a = choose(worker);
  if (a) looked_ = worker;
  return a;
}

msg::Assign Scheduler::take(int worker) {
  if (looked_ != worker)
    NS_CHECK(next(worker) != nullptr, "internal: take() for rank {} with nothing to take", worker);
  std::optional<msg::Assign> shown = std::move(shown_);
  forget_shown();
  return commit(worker, std::move(shown));
}

const msg::Assign* Scheduler::show(msg::Assign a) const {
  shown_ = std::move(a);
  return &*shown_;
}

const msg::Assign* ListScheduler::choose(int worker) const {
  return queue_.peek_preferring(worker, [&](const msg::Assign& a) { return fresh_for(worker, a); });
}

msg::Assign ListScheduler::commit(int worker, std::optional<msg::Assign>) {
  return queue_.pop_preferring(worker, [&](const msg::Assign& a) { return fresh_for(worker, a); });
}

void ListScheduler::lose_worker(int worker) { queue_.remove_worker(worker); }

std::vector<msg::Assign> Scheduler::commit_more(int, const std::function<bool(const msg::Assign&)>&,
                                              int) {
  return {};
}

Decision Scheduler::decide_report(int, const msg::Report&) { return Decision::kContinue; }

std::vector<msg::Assign> ListScheduler::commit_more(
    int worker, const std::function<bool(const msg::Assign&)>& fits, int max) {
  return queue_.pop_matching(
      worker, [&](const msg::Assign& a) { return fresh_for(worker, a) && fits(a); }, max);
}

Verdict ListScheduler::decide_result(int, const msg::Assign& assign, const ResultRow&, bool) {
  failed_on_.erase(assign.trial.id);
  return Verdict::kRecord;
}

void ListScheduler::requeue(int worker, msg::Assign again) {
  failed_on_[again.trial.id].push_back(worker);
  queue_.push_front(worker, std::move(again));
}

void Scheduler::requeue(int, msg::Assign again) {
  NS_FAIL_CODE(kExitInternal, "internal: this scheduler does not retry (trial {})", again.trial.id);
}

double ranking_score(double value, bool maximize) {
  if (std::isnan(value)) return -std::numeric_limits<double>::infinity();
  return maximize ? value : -value;
}

bool should_retry(const Scheduler& scheduler, const ResultRow& row, int retries, bool draining) {
  return scheduler.retries_failed() && row.status == TrialStatus::kFailed &&
         row.attempt <= retries && !draining;
}

Verdict settle_result(Scheduler& scheduler, int worker, const msg::Assign& assign,
                      const ResultRow& row, int retries, bool draining) {
  if (!should_retry(scheduler, row, retries, draining))
    return scheduler.on_result(worker, assign, row, draining);
  msg::Assign again = assign;
  again.attempt = row.attempt + 1;
  scheduler.retry(worker, std::move(again));
  return Verdict::kRetry;
}

}  // namespace ns::engine
