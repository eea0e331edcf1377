#pragma once
// The journal: reports.jsonl in the output directory, one JSON event per line, appended by the
// coordinator before the row a decision leads to. Schedulers decide; each decision is one typed
// event below; a scheduler's handler builds the event, journals it and then applies it, and
// restore() applies the journal's events in order through the same apply functions, so a
// resumed sweep has the state of the interrupted one. docs/formats.md, "The journal", lists
// every event and its fields.
//
// Format: the first line a run writes to a journal without one is {"event": "journal",
// "format": kJournalFormat}. Lines before any such line are format 1 (neurosweep up to
// 9da2899), whose events and fields are those of format 2; a reader takes both.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/protocol.hpp"
#include "engine/results.hpp"

namespace ns::engine::journal {

constexpr int kFormat = 2;

/// Every event word the journal holds; kUnknown for a word no scheduler writes (skipped).
enum class Kind {
  kFormat,           ///< "journal": the format line
  kStart,            ///< "start": ASHA / median, a trial handed out
  kRung,             ///< "rung": ASHA, a value recorded at a rung and what it meant
  kFinal,            ///< "final": ASHA, a paused trial never promoted, ended at the run's end
  kReport,           ///< "report": the median rule, a report and its decision
  kEnd,              ///< "end": the median rule, a trial ended
  kTpePropose,       ///< "tpe_propose": TPE, a proposal became a trial
  kTpeResult,        ///< "tpe_result": TPE, a trial's outcome as TPE sees it
  kRetry,            ///< "retry": TPE, a failed attempt queued again (format 2)
  kPbtStart,         ///< "pbt_start": PBT, a member's initial parameters
  kPbtResult,        ///< "pbt_result": PBT, a segment's outcome
  kPbtExploit,       ///< "pbt_exploit": PBT, a member copies a donor and explores
  kPbtContinue,      ///< "pbt_continue": PBT, a member goes on unchanged
  kScheduleSegment,  ///< "schedule_segment": a fixed schedule finished a segment
  kReplicates,       ///< "replicates": a search over configurations' replicates begins
  kReplicatesTake,   ///< "replicates_take": the search handed out a configuration's visit
  kReplicateResult,  ///< "replicate_result": one replicate came back
  kReplicateRetry,   ///< "replicate_retry": a failed replicate runs again
  kReplicatesFinal,  ///< "replicates_final": the run ended; paused configurations stopped
  kUnknown,
};

/// The kind of `event` (its "event" word); the one place the word is read.
Kind kind_of(const nlohmann::json& event);
/// The word written for `kind`.
const char* word(Kind kind);

/// The format line.
nlohmann::json format_line();
/// True if `events` already hold a format line.
bool has_format_line(const std::vector<nlohmann::json>& events);
/// Throws ns::Error (exit 2, naming `dir`/reports.jsonl) when a format line says a format newer
/// than kFormat: a later neurosweep wrote decisions this one cannot replay.
void check_format(const std::vector<nlohmann::json>& events, const std::string& dir);

/// What a rung value meant (ASHA): keep training, pause for a promotion, stop, or the trial's
/// end (it trained to its last rung, or to its own end).
enum class RungDecision { kContinue, kPause, kStop, kEnd };

/// "start": ASHA (`rung` the target rung) or the median rule (no rung).
struct Start {
  std::string trial;
  std::optional<int> rung;
  int attempt = 1;
  nlohmann::json to_json() const;
  static Start from(const nlohmann::json& j);
};

/// "rung" (ASHA). A pause keeps the row the trial paused with (its metrics, wall time and
/// where it ran), for the "stopped" row written if it is never promoted; a stop keeps the
/// report's metrics (format 2), for the row a restart writes when the kill came before it.
struct Rung {
  std::string trial;
  int rung = 0;
  double resource = 0;
  double value = 0;
  RungDecision decision = RungDecision::kContinue;
  /// kPause: metrics, wall_s, rank, host, device; kStop: metrics (none in format 1).
  std::optional<ResultRow> row;
  nlohmann::json to_json() const;
  static Rung from(const nlohmann::json& j);
};

/// "final" (ASHA).
struct Final {
  std::string trial;
  int rung = 0;
  nlohmann::json to_json() const;
  static Final from(const nlohmann::json& j);
};

/// "report" (the median rule). A stop keeps the report's metrics (format 2), for the row a
/// restart writes when the kill came before it.
struct Report {
  std::string trial;
  double resource = 0;
  double value = 0;
  Decision decision = Decision::kContinue;
  std::map<std::string, double> metrics;  ///< kStop only
  nlohmann::json to_json() const;
  static Report from(const nlohmann::json& j);
};

/// "end" (the median rule): `complete` when it trained to the end.
struct End {
  std::string trial;
  bool complete = false;
  nlohmann::json to_json() const;
  static End from(const nlohmann::json& j);
};

/// "tpe_propose": proposal number `index` (the trial's sweep index) with its searched
/// parameters.
struct TpePropose {
  int index = 0;
  std::string trial;
  nlohmann::json params;
  nlohmann::json to_json() const;
  static TpePropose from(const nlohmann::json& j);
};

/// "tpe_result": any status but ok is a failure to TPE.
struct TpeResult {
  std::string trial;
  TrialStatus status = TrialStatus::kOk;
  double value = 0;
  nlohmann::json to_json() const;
  static TpeResult from(const nlohmann::json& j);
};

/// "retry" (TPE): a failed trial runs again as attempt `attempt`.
struct Retry {
  std::string trial;
  int attempt = 2;
  nlohmann::json to_json() const;
  static Retry from(const nlohmann::json& j);
};

/// "pbt_start": PBT, member `member` (trial `trial`, its seed) with its initial parameters.
struct PbtStart {
  int member = 0;
  std::string trial;
  std::uint64_t seed = 0;
  nlohmann::json params;
  nlohmann::json to_json() const;
  static PbtStart from(const nlohmann::json& j);
};

/// "pbt_result": PBT, a segment to `step` came back with `status` and `value` (the metric, NaN
/// none); `snapshot` is where the worker copied it, `adopted` the snapshot it loaded ("" none).
struct PbtResult {
  int member = 0;
  std::string trial;
  double step = 0;
  TrialStatus status = TrialStatus::kOk;
  double value = 0;
  std::string snapshot, adopted;
  nlohmann::json to_json() const;
  static PbtResult from(const nlohmann::json& j);
};

/// Why a PBT member exploited: it ranked in the bottom quantile, or its segment failed. Its
/// word is "reason" ("quantile", "failed"; missing reads as "quantile").
enum class ExploitReason { kInvalid, kQuantile, kFailed };
NLOHMANN_JSON_SERIALIZE_ENUM(ExploitReason, {{ExploitReason::kInvalid, nullptr},
                                             {ExploitReason::kQuantile, "quantile"},
                                             {ExploitReason::kFailed, "failed"}})

/// "pbt_exploit": PBT, member `member` at `step` copies donor `donor`'s snapshot `snapshot`
/// (taken at `from_step`) and goes on with `params` (explored: `changes` {name: [old, new]}).
struct PbtExploit {
  int member = 0;
  std::string trial;
  double step = 0;
  int donor = 0;
  std::string donor_trial;
  double from_step = 0;
  std::string snapshot;
  nlohmann::json params, changes;
  ExploitReason reason = ExploitReason::kQuantile;
  nlohmann::json to_json() const;
  static PbtExploit from(const nlohmann::json& j);
};

/// "pbt_continue": PBT, member `member` goes on from `step` with its own parameters.
struct PbtContinue {
  int member = 0;
  std::string trial;
  double step = 0;
  nlohmann::json to_json() const;
  static PbtContinue from(const nlohmann::json& j);
};

/// "schedule_segment": the fixed schedule's trial finished segment `segment` at `step`.
struct ScheduleSegment {
  int segment = 0;
  double step = 0;
  nlohmann::json to_json() const;
  static ScheduleSegment from(const nlohmann::json& j);
};

// ---- Replicates (engine/replicates.hpp): a search over configurations whose value is the
// mean of their replicates. Its events are the calls its search received, in order; restore()
// makes the same calls again (the search's own events are not replayed under replicates).

/// "replicates": the first event of a journal of a search over replicates: `replicates` per
/// configuration (repeats x folds).
struct Replicates {
  int replicates = 1;
  nlohmann::json to_json() const;
  static Replicates from(const nlohmann::json& j);
};
/// "replicates_take": worker `worker` took configuration `config`'s next visit from the search.
struct ReplicatesTake {
  std::string config;
  int worker = 0;
  nlohmann::json to_json() const;
  static ReplicatesTake from(const nlohmann::json& j);
};
/// "replicate_result": a replicate's row as it came back (paused, ok, failed, ...), with the
/// run's draining flag.
struct ReplicateResult {
  ResultRow row;
  bool draining = false;
  nlohmann::json to_json() const;
  static ReplicateResult from(const nlohmann::json& j);
};
/// "replicate_retry": replicate `trial` runs again as attempt `attempt`.
struct ReplicateRetry {
  std::string trial;
  int attempt = 2;
  nlohmann::json to_json() const;
  static ReplicateRetry from(const nlohmann::json& j);
};
/// "replicates_final": the run ended with nothing pending (final_rows()).
struct ReplicatesFinal {
  nlohmann::json to_json() const;
};

}  // namespace ns::engine::journal
