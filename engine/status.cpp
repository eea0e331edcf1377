#include "engine/status.hpp"

#include "core/error.hpp"

namespace ns::engine {

template <typename E>
E parse_enum(const std::string& word, const char* what) {
  const E value = nlohmann::json(word).get<E>();
  NS_CHECK(value != E::kInvalid, "unknown {} '{}'", what, word);
  return value;
}

TrialStatus parse_trial_status(const std::string& word) {
  return parse_enum<TrialStatus>(word, "trial status");
}
MessageKind parse_message_kind(const std::string& word) {
  return parse_enum<MessageKind>(word, "message type");
}
Schedule parse_schedule(const std::string& word) {
  return parse_enum<Schedule>(word, "schedule (expected dynamic or static)");
}

}  // namespace ns::engine
