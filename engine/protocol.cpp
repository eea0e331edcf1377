#include "engine/protocol.hpp"

namespace ns::engine::msg {

void to_json(nlohmann::json& j, const Ready& m) {
  j = {{"rank", m.rank}, {"host", m.host}, {"device", m.device}};
}
void from_json(const nlohmann::json& j, Ready& m) {
  j.at("rank").get_to(m.rank);
  j.at("host").get_to(m.host);
  j.at("device").get_to(m.device);
}

void to_json(nlohmann::json& j, const Assign& m) {
  j = {{"id", m.trial.id},         {"index", m.trial.index},   {"repeat", m.trial.repeat},
       {"seed", m.trial.seed},     {"params", m.trial.params}, {"attempt", m.attempt},
       {"time_limit_s", m.time_limit_s}};
  if (m.trial.folds > 1) {
    j["fold"] = m.trial.fold;
    j["folds"] = m.trial.folds;
    j["fold_seed"] = m.trial.fold_seed;
  }
  if (!m.pack.empty()) j["pack"] = m.pack;
  if (m.resource_limit > 0) {
    j["resource_limit"] = m.resource_limit;
    j["final_rung"] = m.final_rung;
  }
  if (!m.rungs.empty()) j["rungs"] = m.rungs;
  if (!m.adopt.empty()) j["adopt"] = m.adopt;
  if (!m.snapshot.empty()) j["snapshot"] = m.snapshot;
  if (m.heartbeat_s > 0) j["heartbeat_s"] = m.heartbeat_s;
}
void from_json(const nlohmann::json& j, Assign& m) {
  j.at("id").get_to(m.trial.id);
  j.at("index").get_to(m.trial.index);
  j.at("repeat").get_to(m.trial.repeat);
  j.at("seed").get_to(m.trial.seed);
  m.trial.params = j.at("params");
  j.at("attempt").get_to(m.attempt);
  j.at("time_limit_s").get_to(m.time_limit_s);
  m.trial.fold = j.value("fold", -1);
  m.trial.folds = j.value("folds", 0);
  m.trial.fold_seed = j.value("fold_seed", std::uint64_t{0});
  m.pack.clear();
  if (j.contains("pack")) j.at("pack").get_to(m.pack);
  m.resource_limit = j.value("resource_limit", 0.0);
  m.final_rung = j.value("final_rung", false);
  m.rungs = j.value("rungs", std::vector<double>{});
  m.adopt = j.value("adopt", std::string());
  m.snapshot = j.value("snapshot", std::string());
  m.heartbeat_s = j.value("heartbeat_s", 0.0);
}

// JSON has no NaN: non-finite metrics travel as strings.
nlohmann::json metrics_json(const std::map<std::string, double>& m) {
  nlohmann::json metrics = nlohmann::json::object();
  for (auto& [k, v] : m) metrics[k] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(format_number(v));
  return metrics;
}

std::map<std::string, double> metrics_from_json(const nlohmann::json& j) {
  std::map<std::string, double> m;
  for (auto& [k, v] : j.items()) m[k] = v.is_string() ? std::stod(v.get<std::string>()) : v.get<double>();
  return m;
}

nlohmann::json outcome_json(const Outcome& o) {
  nlohmann::json j = {{"trial_id", o.trial_id}, {"status", o.status},
                      {"metrics", metrics_json(o.metrics)}, {"wall_s", o.wall_s},
                      {"rank", o.rank}, {"host", o.host}, {"device", o.device},
                      {"error", o.error}};
  // Only when set, with status "interrupted": a reader that does not know the flag still
  // leaves the trial pending and drains.
  if (o.output_error) j["output_error"] = true;
  return j;
}

Outcome outcome_from_json(const nlohmann::json& j) {
  Outcome o;
  j.at("trial_id").get_to(o.trial_id);
  j.at("status").get_to(o.status);
  o.metrics = metrics_from_json(j.at("metrics"));
  j.at("wall_s").get_to(o.wall_s);
  j.at("rank").get_to(o.rank);
  j.at("host").get_to(o.host);
  j.at("device").get_to(o.device);
  j.at("error").get_to(o.error);
  o.output_error = j.value("output_error", false);
  return o;
}

ResultRow row_of(const Assign& assign, Outcome outcome) {
  ResultRow r;
  static_cast<Outcome&>(r) = std::move(outcome);
  r.trial_id = assign.trial.id;
  r.params = assign.trial.params;
  r.seed = assign.trial.seed;
  r.repeat = assign.trial.repeat;
  if (assign.trial.folds > 1) r.fold = assign.trial.fold;
  r.attempt = assign.attempt;
  return r;
}

nlohmann::json row_json(const ResultRow& r) {
  nlohmann::json j = outcome_json(r);
  j["params"] = r.params;
  j["seed"] = r.seed;
  j["repeat"] = r.repeat;
  if (r.fold) j["fold"] = *r.fold;
  j["attempt"] = r.attempt;
  if (r.rung) j["rung"] = *r.rung;
  if (r.resource) j["resource"] = journal_json(*r.resource);
  // Rank 0's times (results.csv's started/ended): a replicate's row held in the journal keeps
  // them for the row a restart writes. Absent where not known (a worker's result.json).
  if (std::isfinite(r.started) && std::isfinite(r.ended)) {
    j["started"] = r.started;
    j["ended"] = r.ended;
  }
  return j;
}

ResultRow row_from_json(const nlohmann::json& j) {
  ResultRow r;
  static_cast<Outcome&>(r) = outcome_from_json(j);
  r.params = j.at("params");
  j.at("seed").get_to(r.seed);
  j.at("repeat").get_to(r.repeat);
  if (j.contains("fold")) r.fold = j.at("fold").get<int>();
  j.at("attempt").get_to(r.attempt);
  if (j.contains("rung")) r.rung = j.at("rung").get<int>();
  if (j.contains("resource")) r.resource = journal_value(j.at("resource"));
  if (j.contains("started") && j.contains("ended") && j.at("started").is_number() &&
      j.at("ended").is_number()) {
    r.started = j.at("started").get<double>();
    r.ended = j.at("ended").get<double>();
  }
  return r;
}

void to_json(nlohmann::json& j, const Result& m) {
  j = outcome_json(m.outcome);
  if (!m.pack.empty()) {
    j["pack"] = nlohmann::json::array();
    for (const Outcome& o : m.pack) j["pack"].push_back(outcome_json(o));
  }
}

void from_json(const nlohmann::json& j, Result& m) {
  m.outcome = outcome_from_json(j);
  m.pack.clear();
  if (j.contains("pack"))
    for (const auto& o : j.at("pack")) m.pack.push_back(outcome_from_json(o));
}

void to_json(nlohmann::json& j, const Report& m) {
  j = {{"trial_id", m.trial_id}, {"resource", m.resource}, {"metrics", metrics_json(m.metrics)}};
}
void from_json(const nlohmann::json& j, Report& m) {
  j.at("trial_id").get_to(m.trial_id);
  j.at("resource").get_to(m.resource);
  m.metrics = metrics_from_json(j.at("metrics"));
}
void to_json(nlohmann::json& j, const DecisionMsg& m) { j = {{"decision", m.decision}}; }
void from_json(const nlohmann::json& j, DecisionMsg& m) { j.at("decision").get_to(m.decision); }

}  // namespace ns::engine::msg
