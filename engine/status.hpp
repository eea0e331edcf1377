#pragma once
// The engine's closed sets of words: a trial's status, a message's kind and the schedule.
// Each is an enum serialised through nlohmann's enum macro; the first value, kInvalid, is what
// an unknown word reads as, so a misspelt word is caught where it is read, never compared.
#include <nlohmann/json.hpp>

#include <string>

namespace ns::engine {

/// How a trial ended. The results.csv `status` column holds the words: "ok", "failed",
/// "timeout", "stopped" (an early-stopping scheduler ended it at a rung); "interrupted" trials
/// (drained, resumable) and "paused" ones (ASHA's promotion variant: checkpointed at a rung,
/// waiting for a promotion) get no row.
enum class TrialStatus { kInvalid, kOk, kFailed, kTimeout, kInterrupted, kStopped, kPaused };
NLOHMANN_JSON_SERIALIZE_ENUM(TrialStatus, {{TrialStatus::kInvalid, nullptr},
                                           {TrialStatus::kOk, "ok"},
                                           {TrialStatus::kFailed, "failed"},
                                           {TrialStatus::kTimeout, "timeout"},
                                           {TrialStatus::kInterrupted, "interrupted"},
                                           {TrialStatus::kStopped, "stopped"},
                                           {TrialStatus::kPaused, "paused"}})

/// What the scheduler answers a running trial's report at a rung (engine/protocol.hpp).
enum class Decision { kInvalid, kContinue, kStop, kPause };
NLOHMANN_JSON_SERIALIZE_ENUM(Decision, {{Decision::kInvalid, nullptr},
                                        {Decision::kContinue, "continue"},
                                        {Decision::kStop, "stop"},
                                        {Decision::kPause, "pause"}})

/// The kind of a protocol message (engine/protocol.hpp), its "type" on the wire.
enum class MessageKind {
  kInvalid, kReady, kAssign, kResult, kDrain, kShutdown, kReport, kDecision, kHeartbeat, kAbandon
};
NLOHMANN_JSON_SERIALIZE_ENUM(MessageKind, {{MessageKind::kInvalid, nullptr},
                                           {MessageKind::kReady, "ready"},
                                           {MessageKind::kAssign, "assign"},
                                           {MessageKind::kResult, "result"},
                                           {MessageKind::kDrain, "drain"},
                                           {MessageKind::kShutdown, "shutdown"},
                                           {MessageKind::kReport, "report"},
                                           {MessageKind::kDecision, "decision"},
                                           {MessageKind::kHeartbeat, "heartbeat"},
                                           {MessageKind::kAbandon, "abandon"}})

/// `run --schedule`: "dynamic" (workers pull the next trial) or "static" (trials split
/// round-robin by rank up front, for benchmarks).
enum class Schedule { kInvalid, kDynamic, kStatic };
NLOHMANN_JSON_SERIALIZE_ENUM(Schedule, {{Schedule::kInvalid, nullptr},
                                        {Schedule::kDynamic, "dynamic"},
                                        {Schedule::kStatic, "static"}})

/// The word for `value` ("ok", "assign", "static", ...); "invalid" for kInvalid.
template <typename E>
std::string to_string(E value) {
  const nlohmann::json j = value;
  return j.is_string() ? j.get<std::string>() : "invalid";
}

/// Reads a word as the enum E; throws ns::Error naming `what` and the word for an unknown one.
template <typename E>
E parse_enum(const std::string& word, const char* what);

TrialStatus parse_trial_status(const std::string& word);
MessageKind parse_message_kind(const std::string& word);
Schedule parse_schedule(const std::string& word);

}  // namespace ns::engine
