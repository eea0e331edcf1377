#pragma once
// Rows scored under another definition of a metric (e.g. CCnorm before its missing-repeat
// estimator changed) stay in results.csv when a sweep resumes; sweep.json says which they are
// so that `report` can mark them. A family names its definitions in
// FamilySchema::metric_definitions ({"ccnorm": "<estimator>"}).
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace ns::engine {

/// What sweep.json records about metric definitions, and what to tell the user.
struct MetricDefinitionRecord {
  nlohmann::json fields = nlohmann::json::object();  ///< merged into sweep.json
  std::string warning;                                ///< one line; empty when all rows agree
};

/// `previous`: the sweep.json found in the output directory (null when none). `current`: this
/// program's definitions. `legacy`: what a sweep.json without "metric_definitions" (written
/// before they were recorded) used. `row_ids`: trial ids already in results.csv. Rows written
/// under other definitions are listed under "rows_by_earlier_metric_definitions" as
/// [{"metric_definitions": {...}, "trial_ids": [...]}], accumulated across resumes.
MetricDefinitionRecord reconcile_metric_definitions(const nlohmann::json& previous,
                                                    const nlohmann::json& current,
                                                    const nlohmann::json& legacy,
                                                    const std::vector<std::string>& row_ids);

}  // namespace ns::engine
