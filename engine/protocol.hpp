#pragma once
// The wire protocol between the coordinator (rank 0) and the workers. Every message is a typed
// struct serialised with nlohmann_json as {"type": ..., "body": ...}; engine/mpi_transport.cpp
// moves the bytes. The exchange, step by step:
//
//   1. A worker that is free sends Ready {rank, host, device}.
//   2. The coordinator asks its Scheduler (engine/scheduler.hpp) which trial that worker runs
//      next and answers Assign {trial, attempt, time_limit_s}, or Shutdown when the scheduler
//      has none for it, the deadline leaves no time for it, or the sweep is draining.
//      With `pack: K` an Assign may carry up to K-1 more trials of the same shapes, which the
//      worker trains together with the first (TrialRunner::run_pack); its Result then carries
//      one row for each.
//   3. The worker runs the trial and sends Result {row}. The scheduler says what it means:
//      record the row, or retry (the trial is pending again). A Result also means "ready for
//      more", so the coordinator answers it as in step 2, except to a rank whose last trials
//      all failed within a short time (CoordinatorOptions::unhealthy_after): that rank gets
//      Shutdown, and the scheduler hands what it would have run to the others.
//   4. While a trial runs, the coordinator may send Drain: the worker asks the runner to stop at
//      its next safe point (the runner checkpoints), and reports Result with status
//      "interrupted". Interrupted trials get no row; a later run resumes them.
//   5. The coordinator ends when every worker has received Shutdown.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "engine/results.hpp"
#include "engine/status.hpp"
#include "engine/trial_runner.hpp"

namespace ns::engine::msg {

struct Ready {
  int rank = 0;
  std::string host;
  std::string device;
};

struct Assign {
  sweeps::Trial trial;
  int attempt = 1;
  double time_limit_s = 0;  ///< 0 = none (a pack's limit is its first trial's)
  /// More trials trained together with `trial` on the same worker as one pack (`pack: K`,
  /// ModelFamily::pack_key), each with its own attempt; empty for a trial alone.
  std::vector<Assign> pack;
};

struct Result {
  ResultRow row;  ///< row.status may be "interrupted" (no row is written for it)
  std::vector<ResultRow> pack;  ///< the rows of Assign::pack's trials, in their order
};

struct Drain {};
struct Shutdown {};

void to_json(nlohmann::json& j, const Ready& m);
void from_json(const nlohmann::json& j, Ready& m);
void to_json(nlohmann::json& j, const Assign& m);
void from_json(const nlohmann::json& j, Assign& m);
void to_json(nlohmann::json& j, const Result& m);
void from_json(const nlohmann::json& j, Result& m);

/// Wraps a message as {"type": kind, "body": ...}.
template <typename T>
nlohmann::json wrap(MessageKind kind, const T& body) {
  return nlohmann::json{{"type", kind}, {"body", body}};
}
inline nlohmann::json drain() { return {{"type", MessageKind::kDrain}}; }
inline nlohmann::json shutdown() { return {{"type", MessageKind::kShutdown}}; }
/// The kind of a wrapped message; kInvalid for an unknown "type".
inline MessageKind kind_of(const nlohmann::json& message) {
  return message.at("type").get<MessageKind>();
}

}  // namespace ns::engine::msg
