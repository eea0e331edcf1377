#include "engine/scheduler.hpp"

#include <algorithm>

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

int TrialQueue::size() const {
  std::size_t n = 0;
  for (const auto& [w, q] : queues_) n += q.size();
  return static_cast<int>(n);
}

ListScheduler::ListScheduler(std::vector<sweeps::Trial> trials, std::vector<int> workers,
                             Schedule schedule, bool longest_first, int retries)
    : queue_(schedule, std::move(workers)), retries_(retries) {
  if (schedule == Schedule::kDynamic && longest_first) order_longest_first(trials);
  for (auto& t : trials) {
    msg::Assign a;
    a.trial = std::move(t);
    queue_.push_back(std::move(a));
  }
}

const msg::Assign* ListScheduler::next(int worker) const {
  return queue_.has_next(worker) ? &queue_.peek(worker) : nullptr;
}

msg::Assign ListScheduler::take(int worker) { return queue_.pop(worker); }

Verdict ListScheduler::on_result(int worker, const msg::Assign& assign, const ResultRow& row,
                                 bool draining) {
  if (row.status == TrialStatus::kFailed && row.attempt <= retries_ && !draining) {
    msg::Assign again = assign;
    again.attempt = row.attempt + 1;
    queue_.push_front(worker, std::move(again));
    return Verdict::kRetry;
  }
  return Verdict::kRecord;
}

}  // namespace ns::engine
