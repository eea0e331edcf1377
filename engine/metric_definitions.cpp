#include "engine/metric_definitions.hpp"

#include <fmt/format.h>

#include <set>

namespace ns::engine {

MetricDefinitionRecord reconcile_metric_definitions(const nlohmann::json& previous,
                                                    const nlohmann::json& current,
                                                    const nlohmann::json& legacy,
                                                    const std::vector<std::string>& row_ids) {
  using nlohmann::json;
  MetricDefinitionRecord out;
  json earlier = json::array();
  json old_defs = current;
  if (previous.is_object()) {
    old_defs = previous.contains("metric_definitions") ? previous.at("metric_definitions")
                                                       : legacy;
    if (previous.contains("rows_by_earlier_metric_definitions") &&
        previous.at("rows_by_earlier_metric_definitions").is_array())
      earlier = previous.at("rows_by_earlier_metric_definitions");
  }
  std::set<std::string> listed;
  for (const json& e : earlier)
    for (const json& id : e.value("trial_ids", json::array())) listed.insert(id.get<std::string>());
  // Rows not listed yet were written under the previous run's definitions.
  if (old_defs != current) {
    json ids = json::array();
    for (const std::string& id : row_ids)
      if (listed.insert(id).second) ids.push_back(id);
    if (!ids.empty()) earlier.push_back({{"metric_definitions", old_defs}, {"trial_ids", ids}});
  }
  // Keep only entries whose rows still exist, and only when they differ from today's.
  const std::set<std::string> present(row_ids.begin(), row_ids.end());
  json kept = json::array();
  std::vector<std::string> affected;
  std::set<std::string> keys;
  for (const json& e : earlier) {
    if (e.value("metric_definitions", json::object()) == current) continue;
    json ids = json::array();
    for (const json& id : e.value("trial_ids", json::array()))
      if (present.count(id.get<std::string>())) {
        ids.push_back(id);
        affected.push_back(id.get<std::string>());
      }
    if (ids.empty()) continue;
    for (auto& [k, v] : e.at("metric_definitions").items())
      if (!current.contains(k) || current.at(k) != v) keys.insert(k);
    kept.push_back({{"metric_definitions", e.at("metric_definitions")}, {"trial_ids", ids}});
  }
  out.fields["metric_definitions"] = current;
  if (!kept.empty()) out.fields["rows_by_earlier_metric_definitions"] = kept;
  if (!affected.empty()) {
    std::string names, changed;
    for (std::size_t i = 0; i < affected.size() && i < 5; ++i)
      names += (i ? ", " : "") + affected[i];
    if (affected.size() > 5) names += fmt::format(" and {} more", affected.size() - 5);
    for (const std::string& k : keys) {
      changed += fmt::format("{}{} is now \"{}\"", changed.empty() ? "" : "; ", k,
                             current.contains(k) ? current.at(k).get<std::string>() : "(none)");
    }
    out.warning = fmt::format(
        "{} row(s) of results.csv were scored with an earlier definition ({}): {}; their "
        "metrics are not comparable with new rows (sweep.json lists them, `report` marks them); "
        "run with --force-new (or another --out) to score every trial anew",
        affected.size(), changed, names);
  }
  return out;
}

}  // namespace ns::engine
