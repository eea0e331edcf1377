// engine/status.hpp: every enum value survives a round trip through its word, and an unknown
// word reads as kInvalid (or throws where it is parsed).
#include "catch.hpp"

#include "core/error.hpp"
#include "engine/status.hpp"

using namespace ns::engine;
using nlohmann::json;

namespace {
template <typename E>
void round_trip(E value, const char* word) {
  INFO(word);
  CHECK(to_string(value) == word);
  CHECK(json(value) == json(word));
  CHECK(json(word).get<E>() == value);
}
}  // namespace

TEST_CASE("trial status round trip", "[status]") {
  round_trip(TrialStatus::kOk, "ok");
  round_trip(TrialStatus::kFailed, "failed");
  round_trip(TrialStatus::kTimeout, "timeout");
  round_trip(TrialStatus::kInterrupted, "interrupted");
  CHECK(json("OK").get<TrialStatus>() == TrialStatus::kInvalid);
  CHECK(to_string(TrialStatus::kInvalid) == "invalid");
  CHECK(parse_trial_status("failed") == TrialStatus::kFailed);
  CHECK_THROWS_WITH(parse_trial_status("fialed"), "unknown trial status 'fialed'");
}

TEST_CASE("message kind round trip", "[status]") {
  round_trip(MessageKind::kReady, "ready");
  round_trip(MessageKind::kAssign, "assign");
  round_trip(MessageKind::kResult, "result");
  round_trip(MessageKind::kDrain, "drain");
  round_trip(MessageKind::kShutdown, "shutdown");
  CHECK(json("hello").get<MessageKind>() == MessageKind::kInvalid);
  CHECK_THROWS_WITH(parse_message_kind("hello"), "unknown message type 'hello'");
}

TEST_CASE("schedule round trip", "[status]") {
  round_trip(Schedule::kDynamic, "dynamic");
  round_trip(Schedule::kStatic, "static");
  CHECK(json("random").get<Schedule>() == Schedule::kInvalid);
  CHECK_THROWS_WITH(parse_schedule("random"),
                    "unknown schedule (expected dynamic or static) 'random'");
}
