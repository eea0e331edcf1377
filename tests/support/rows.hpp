#pragma once
// The tests' result rows: what a worker would report, built in one place.
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "engine/protocol.hpp"
#include "engine/results.hpp"
#include "engine/status.hpp"
#include "sweeps/spec.hpp"

namespace ns::test {

/// An ok row named `id` with the one metric "score" and the given parameters.
inline engine::ResultRow row(const std::string& id, double score,
                             nlohmann::json params = nlohmann::json::object()) {
  engine::ResultRow r;
  r.trial_id = id;
  r.status = engine::TrialStatus::kOk;
  r.params = std::move(params);
  r.metrics["score"] = score;
  return r;
}

/// The row trial `t` ends with: its id and parameters, `status`, and "score".
inline engine::ResultRow row(const sweeps::Trial& t, engine::TrialStatus status, double score) {
  engine::ResultRow r = row(t.id, score, t.params);
  r.status = status;
  return r;
}

/// The row rank 0 builds when assignment `a` comes back with `status` and "score": the
/// worker's outcome joined with the Assign (msg::row_of), as the coordinator does.
inline engine::ResultRow row(const engine::msg::Assign& a, engine::TrialStatus status,
                             double score) {
  engine::Outcome o;
  o.trial_id = a.trial.id;
  o.status = status;
  o.metrics["score"] = score;
  return engine::msg::row_of(a, std::move(o));
}

}  // namespace ns::test
