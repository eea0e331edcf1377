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
//      one outcome for each.
//   3. The worker runs the trial and sends Result {outcome}: what only it knows (status,
//      metrics, error, wall_s, where it ran), never the trial's parameters, seed, repeat or
//      attempt. The coordinator holds the Assign it handed out and builds the row from the two
//      (row_of; a pack's outcomes each with its own member's Assign, matched by trial id; a run
//      on one rank takes the same path). The scheduler says what it means: record the row, or
//      retry (the trial is pending again). A Result also means "ready for
//      more", so the coordinator answers it as in step 2, except to a rank whose last trials
//      all failed within a short time (CoordinatorOptions::unhealthy_after): that rank gets
//      Shutdown, and the scheduler hands what it would have run to the others.
//      With an early-stopping scheduler (engine/asha.hpp) the Assign may carry rungs: when the
//      trial reaches one it sends Report {trial_id, resource, metrics} and waits for Decision
//      {continue | stop}; or a resource_limit, at which it pauses (checkpoints, Result with
//      status "paused", no row) until the scheduler promotes it.
//   4. While a trial runs, the coordinator may send Drain: the worker asks the runner to stop at
//      its next safe point (the runner checkpoints), and reports Result with status
//      "interrupted". Interrupted trials get no row; a later run resumes them.
//      A trial that failed because the output directory cannot take writes (disk full, quota,
//      I/O error, read-only) comes back "interrupted" too, with "output_error": true and the
//      file and errno in its error: no row, and the coordinator drains (exit 5).
//   5. With `run --rank-timeout S` each Assign carries heartbeat_s: while the trial trains, the
//      worker sends Heartbeat (no body) at least that often, from the runner's stop polls (every
//      batch or iteration, and while a command family's program runs). Any message counts as a
//      sign of life. A rank with a trial that sent nothing for S seconds (a hung node, a process
//      stopped, a network cut that MPI has not noticed) is taken out: it gets Abandon, and its
//      trials go back to the scheduler as pending (same attempt), to resume from their
//      checkpoints on another rank. If it wakes up, Abandon makes it drop the trial at once
//      (TrialAbandoned: no checkpoint, curve or row written, since the trial directory is
//      another rank's now) and send Ready; it then gets Shutdown. Nothing it sends is written. Rank 0 ends the job with MPI_Abort after writing its state when such a
//      rank never came back (it could not finish MPI_Finalize).
//   6. The coordinator ends when every worker has received Shutdown (or was taken out as silent).
#include <nlohmann/json.hpp>

#include <map>
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
  /// Early stopping (engine/asha.hpp), in the family's resource units (0 = none): train until
  /// this much resource is used, then pause (checkpoint; status "paused") or, with
  /// `final_rung`, end as finished.
  double resource_limit = 0;
  bool final_rung = false;
  /// Resources at which the trial reports and waits for the scheduler's Decision (the stopping
  /// variant); empty = it reports nothing on the way.
  std::vector<double> rungs;
  /// PBT (engine/pbt.hpp), paths relative to the output directory: a snapshot whose files
  /// replace the trial directory's before the trial runs (an exploit: TrialContext::adopted),
  /// and where the worker copies the trial directory and the row (result.json) when it comes
  /// back (paused: with its checkpoint).
  std::string adopt;
  std::string snapshot;
  /// `run --rank-timeout`: send Heartbeat at least this often while the trial trains (0 = none).
  double heartbeat_s = 0;
};

/// A running trial reached one of Assign::rungs: its resource used so far and its metrics.
struct Report {
  std::string trial_id;
  double resource = 0;
  std::map<std::string, double> metrics;
};

/// The scheduler's answer to a Report.
struct DecisionMsg {
  Decision decision = Decision::kContinue;
};

/// What a worker sends back for an Assign: outcomes only (Outcome in engine/results.hpp).
struct Result {
  Outcome outcome;  ///< status may be "interrupted" (no row is written for it; see output_error)
  std::vector<Outcome> pack{};  ///< the outcomes of Assign::pack's trials, in their order
};

/// The row of a trial: the Assign rank 0 handed out (trial id, parameters, seed, repeat,
/// attempt) joined with the outcome that came back. The one way a row is built from a run: the
/// coordinator for every Result, the executor for PBT's result.json.
ResultRow row_of(const Assign& assign, Outcome outcome);

struct Drain {};
struct Shutdown {};

void to_json(nlohmann::json& j, const Ready& m);
void from_json(const nlohmann::json& j, Ready& m);
void to_json(nlohmann::json& j, const Assign& m);
void from_json(const nlohmann::json& j, Assign& m);
void to_json(nlohmann::json& j, const Result& m);
void from_json(const nlohmann::json& j, Result& m);
void to_json(nlohmann::json& j, const Report& m);
void from_json(const nlohmann::json& j, Report& m);
void to_json(nlohmann::json& j, const DecisionMsg& m);
void from_json(const nlohmann::json& j, DecisionMsg& m);

/// An outcome as JSON and back (the wire: Result and its pack).
nlohmann::json outcome_json(const Outcome& o);
Outcome outcome_from_json(const nlohmann::json& j);
/// A whole row as JSON and back: a file, not the wire (PBT's result.json, read on restore; the
/// outcome's fields plus params, seed, repeat, attempt, and rung / resource when set).
nlohmann::json row_json(const ResultRow& r);
ResultRow row_from_json(const nlohmann::json& j);

/// Metrics as JSON (non-finite values as strings: JSON has no NaN) and back.
nlohmann::json metrics_json(const std::map<std::string, double>& m);
std::map<std::string, double> metrics_from_json(const nlohmann::json& j);

/// Wraps a message as {"type": kind, "body": ...}.
template <typename T>
nlohmann::json wrap(MessageKind kind, const T& body) {
  return nlohmann::json{{"type", kind}, {"body", body}};
}
inline nlohmann::json drain() { return {{"type", MessageKind::kDrain}}; }
inline nlohmann::json shutdown() { return {{"type", MessageKind::kShutdown}}; }
inline nlohmann::json heartbeat() { return {{"type", MessageKind::kHeartbeat}}; }
inline nlohmann::json abandon() { return {{"type", MessageKind::kAbandon}}; }
/// The kind of a wrapped message; kInvalid for an unknown "type".
inline MessageKind kind_of(const nlohmann::json& message) {
  return message.at("type").get<MessageKind>();
}

}  // namespace ns::engine::msg
