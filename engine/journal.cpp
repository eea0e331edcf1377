#include "engine/journal.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"

namespace ns::engine::journal {

namespace {

using nlohmann::json;

constexpr std::pair<Kind, const char*> kWords[] = {
    {Kind::kFormat, "journal"},
    {Kind::kStart, "start"},
    {Kind::kRung, "rung"},
    {Kind::kFinal, "final"},
    {Kind::kReport, "report"},
    {Kind::kEnd, "end"},
    {Kind::kTpePropose, "tpe_propose"},
    {Kind::kTpeResult, "tpe_result"},
    {Kind::kRetry, "retry"},
    {Kind::kPbtStart, "pbt_start"},
    {Kind::kPbtResult, "pbt_result"},
    {Kind::kPbtExploit, "pbt_exploit"},
    {Kind::kPbtContinue, "pbt_continue"},
    {Kind::kScheduleSegment, "schedule_segment"},
    {Kind::kReplicates, "replicates"},
    {Kind::kReplicatesTake, "replicates_take"},
    {Kind::kReplicateResult, "replicate_result"},
    {Kind::kReplicateRetry, "replicate_retry"},
    {Kind::kReplicatesFinal, "replicates_final"},
};

json event(Kind kind) { return json{{"event", word(kind)}}; }

}  // namespace

NLOHMANN_JSON_SERIALIZE_ENUM(RungDecision, {{RungDecision::kContinue, "continue"},
                                            {RungDecision::kPause, "pause"},
                                            {RungDecision::kStop, "stop"},
                                            {RungDecision::kEnd, "end"}})

Kind kind_of(const json& e) {
  if (!e.is_object()) return Kind::kUnknown;
  auto it = e.find("event");
  if (it == e.end() || !it->is_string()) return Kind::kUnknown;
  const std::string& w = it->get_ref<const std::string&>();
  for (const auto& [kind, text] : kWords)
    if (w == text) return kind;
  return Kind::kUnknown;
}

const char* word(Kind kind) {
  for (const auto& [k, text] : kWords)
    if (k == kind) return text;
  return "unknown";
}

json format_line() {
  json j = event(Kind::kFormat);
  j["format"] = kFormat;
  return j;
}

bool has_format_line(const std::vector<json>& events) {
  return std::any_of(events.begin(), events.end(),
                     [](const json& e) { return kind_of(e) == Kind::kFormat; });
}

void check_format(const std::vector<json>& events, const std::string& dir) {
  for (const json& e : events) {
    if (kind_of(e) != Kind::kFormat) continue;
    const auto it = e.find("format");
    NS_CHECK(it != e.end() && it->is_number_integer() && it->get<int>() >= 1 &&
                 it->get<int>() <= kFormat,
             "{}/reports.jsonl: journal format {} is not one this neurosweep reads (1 to {}); "
                  "it was written by a later version: resume with that version",
             dir, it == e.end() ? std::string("(missing)") : it->dump(), kFormat);
  }
}

json Start::to_json() const {
  json j = event(Kind::kStart);
  j["trial"] = trial;
  if (rung) j["rung"] = *rung;
  j["attempt"] = attempt;
  return j;
}

Start Start::from(const json& j) {
  Start s;
  s.trial = j.at("trial").get<std::string>();
  if (j.contains("rung")) s.rung = j.at("rung").get<int>();
  s.attempt = j.value("attempt", 1);
  return s;
}

json Rung::to_json() const {
  json j = event(Kind::kRung);
  j["trial"] = trial;
  j["rung"] = rung;
  j["resource"] = resource;
  j["value"] = journal_json(value);
  j["decision"] = decision;
  if (row) j["metrics"] = msg::metrics_json(row->metrics);
  if (row && decision == RungDecision::kPause) {
    j["wall_s"] = row->wall_s;
    j["rank"] = row->rank;
    j["host"] = row->host;
    j["device"] = row->device;
    // When the paused visit was handed out and its result came (rank 0's clock): the report's
    // timeline draws the visits before a promotion from these (results.csv has the last).
    if (std::isfinite(row->started) && std::isfinite(row->ended)) {
      j["started"] = row->started;
      j["ended"] = row->ended;
    }
  }
  return j;
}

Rung Rung::from(const json& j) {
  Rung r;
  r.trial = j.at("trial").get<std::string>();
  r.rung = j.at("rung").get<int>();
  r.resource = j.value("resource", 0.0);
  r.value = journal_value(j.at("value"));
  r.decision = j.at("decision").get<RungDecision>();
  if (r.decision == RungDecision::kPause || j.contains("metrics")) {
    ResultRow row;
    row.metrics = msg::metrics_from_json(j.at("metrics"));
    row.wall_s = j.value("wall_s", 0.0);
    row.rank = j.value("rank", 0);
    row.host = j.value("host", std::string());
    row.device = j.value("device", std::string());
    if (j.contains("started") && j.contains("ended") && j.at("started").is_number() &&
        j.at("ended").is_number()) {
      row.started = j.at("started").get<double>();
      row.ended = j.at("ended").get<double>();
    }
    r.row = std::move(row);
  }
  return r;
}

json Final::to_json() const {
  json j = event(Kind::kFinal);
  j["trial"] = trial;
  j["rung"] = rung;
  return j;
}

Final Final::from(const json& j) { return {j.at("trial").get<std::string>(), j.at("rung").get<int>()}; }

json Report::to_json() const {
  json j = event(Kind::kReport);
  j["trial"] = trial;
  j["resource"] = resource;
  j["value"] = journal_json(value);
  j["decision"] = decision;
  if (decision == Decision::kStop) j["metrics"] = msg::metrics_json(metrics);
  return j;
}

Report Report::from(const json& j) {
  Report r;
  r.trial = j.at("trial").get<std::string>();
  r.resource = j.at("resource").get<double>();
  r.value = journal_value(j.at("value"));
  r.decision = j.value("decision", Decision::kContinue);
  if (j.contains("metrics")) r.metrics = msg::metrics_from_json(j.at("metrics"));
  return r;
}

json End::to_json() const {
  json j = event(Kind::kEnd);
  j["trial"] = trial;
  j["complete"] = complete;
  return j;
}

End End::from(const json& j) { return {j.at("trial").get<std::string>(), j.value("complete", false)}; }

json TpePropose::to_json() const {
  json j = event(Kind::kTpePropose);
  j["index"] = index;
  j["trial"] = trial;
  j["params"] = params;
  return j;
}

TpePropose TpePropose::from(const json& j) {
  TpePropose p;
  p.index = j.at("index").get<int>();
  p.trial = j.at("trial").get<std::string>();
  p.params = j.at("params");
  return p;
}

json TpeResult::to_json() const {
  json j = event(Kind::kTpeResult);
  j["trial"] = trial;
  j["status"] = to_string(status);
  j["value"] = journal_json(value);
  return j;
}

TpeResult TpeResult::from(const json& j) {
  TpeResult r;
  r.trial = j.at("trial").get<std::string>();
  r.status = j.at("status").get<TrialStatus>();  // an unknown word reads as kInvalid
  r.value = journal_value(j.at("value"));
  return r;
}

json Retry::to_json() const {
  json j = event(Kind::kRetry);
  j["trial"] = trial;
  j["attempt"] = attempt;
  return j;
}

Retry Retry::from(const json& j) { return {j.at("trial").get<std::string>(), j.at("attempt").get<int>()}; }

json PbtStart::to_json() const {
  json j = event(Kind::kPbtStart);
  j["member"] = member;
  j["trial"] = trial;
  j["seed"] = seed;
  j["params"] = params;
  return j;
}

PbtStart PbtStart::from(const json& j) {
  return {j.at("member").get<int>(), j.at("trial").get<std::string>(),
          j.value("seed", std::uint64_t{0}), j.at("params")};
}

json PbtResult::to_json() const {
  json j = event(Kind::kPbtResult);
  j["member"] = member;
  j["trial"] = trial;
  j["step"] = step;
  j["status"] = to_string(status);
  j["value"] = journal_json(value);
  j["snapshot"] = snapshot;
  j["adopted"] = adopted;
  return j;
}

PbtResult PbtResult::from(const json& j) {
  PbtResult r;
  r.member = j.at("member").get<int>();
  r.trial = j.at("trial").get<std::string>();
  r.step = j.at("step").get<double>();
  r.status = j.at("status").get<TrialStatus>();  // an unknown word reads as kInvalid
  r.value = journal_value(j.at("value"));
  r.snapshot = j.at("snapshot").get<std::string>();
  r.adopted = j.at("adopted").get<std::string>();
  return r;
}

json PbtExploit::to_json() const {
  json j = event(Kind::kPbtExploit);
  j["member"] = member;
  j["trial"] = trial;
  j["step"] = step;
  j["donor"] = donor;
  j["donor_trial"] = donor_trial;
  j["from_step"] = from_step;
  j["snapshot"] = snapshot;
  j["params"] = params;
  j["changes"] = changes;
  j["reason"] = reason;
  return j;
}

PbtExploit PbtExploit::from(const json& j) {
  PbtExploit x;
  x.member = j.at("member").get<int>();
  x.trial = j.at("trial").get<std::string>();
  x.step = j.at("step").get<double>();
  x.donor = j.at("donor").get<int>();
  x.donor_trial = j.at("donor_trial").get<std::string>();
  x.from_step = j.at("from_step").get<double>();
  x.snapshot = j.at("snapshot").get<std::string>();
  x.params = j.at("params");
  x.changes = j.at("changes");
  x.reason = j.value("reason", ExploitReason::kQuantile);
  return x;
}

json PbtContinue::to_json() const {
  json j = event(Kind::kPbtContinue);
  j["member"] = member;
  j["trial"] = trial;
  j["step"] = step;
  return j;
}

PbtContinue PbtContinue::from(const json& j) {
  return {j.at("member").get<int>(), j.at("trial").get<std::string>(), j.at("step").get<double>()};
}

json ScheduleSegment::to_json() const {
  json j = event(Kind::kScheduleSegment);
  j["segment"] = segment;
  j["step"] = step;
  return j;
}

ScheduleSegment ScheduleSegment::from(const json& j) {
  return {j.at("segment").get<int>(), j.value("step", 0.0)};
}

json Replicates::to_json() const {
  json j = event(Kind::kReplicates);
  j["replicates"] = replicates;
  return j;
}

Replicates Replicates::from(const json& j) { return {j.at("replicates").get<int>()}; }

json ReplicatesTake::to_json() const {
  json j = event(Kind::kReplicatesTake);
  j["config"] = config;
  j["worker"] = worker;
  return j;
}

ReplicatesTake ReplicatesTake::from(const json& j) {
  return {j.at("config").get<std::string>(), j.at("worker").get<int>()};
}

json ReplicateResult::to_json() const {
  json j = event(Kind::kReplicateResult);
  j["row"] = msg::row_json(row);
  j["draining"] = draining;
  return j;
}

ReplicateResult ReplicateResult::from(const json& j) {
  return {msg::row_from_json(j.at("row")), j.value("draining", false)};
}

json ReplicateRetry::to_json() const {
  json j = event(Kind::kReplicateRetry);
  j["trial"] = trial;
  j["attempt"] = attempt;
  return j;
}

ReplicateRetry ReplicateRetry::from(const json& j) {
  return {j.at("trial").get<std::string>(), j.at("attempt").get<int>()};
}

json ReplicatesFinal::to_json() const { return event(Kind::kReplicatesFinal); }

}  // namespace ns::engine::journal
