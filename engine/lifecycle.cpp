#include "engine/lifecycle.hpp"

namespace ns::engine {

TrialLife& Lifecycle::enter(const std::string& id, Phase phase) {
  auto [it, added] = trials_.try_emplace(id);
  TrialLife& t = it->second;
  if (!added) --by_phase_[static_cast<std::size_t>(t.phase)];
  t.phase = phase;
  ++by_phase_[static_cast<std::size_t>(phase)];
  return t;
}

void Lifecycle::start(const std::string& id, int worker, int attempt) {
  TrialLife& t = enter(id, Phase::kRunning);
  t.worker = worker;
  t.attempt = attempt;
}

void Lifecycle::retry(const std::string& id, int next_attempt) {
  enter(id, Phase::kPending).attempt = next_attempt;
}

void Lifecycle::pause(const std::string& id) { enter(id, Phase::kPaused); }

void Lifecycle::record(const std::string& id, TrialStatus status, int attempt) {
  const bool done = status == TrialStatus::kOk || status == TrialStatus::kStopped;
  TrialLife& t = enter(id, done ? Phase::kDone : Phase::kFailed);
  t.status = status;
  t.attempt = attempt;
  ++by_status_[static_cast<std::size_t>(status)];
  ++recorded_;
}

void Lifecycle::unfinish(const std::string& id) { enter(id, Phase::kPending); }

const TrialLife* Lifecycle::find(const std::string& id) const {
  auto it = trials_.find(id);
  return it == trials_.end() ? nullptr : &it->second;
}

}  // namespace ns::engine
