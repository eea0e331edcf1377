#pragma once
// What a model family lets a sweep file name: its parameters (with defaults, which also fix each
// parameter's JSON type) and its metrics. Filled in by each family in models/.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace ns::sweeps {

struct FamilySchema {
  std::string name;                  ///< family name as written in a spec ("maskcnn")
  nlohmann::json model_defaults;     ///< object: every model hyperparameter -> default value
  nlohmann::json training_defaults;  ///< object: every training setting -> default value
  std::vector<std::string> metrics;  ///< metric columns of results.csv, fixed for a sweep
  /// The unit of early stopping's resource ("iterations", "epochs", "steps"); "" = none.
  std::string resource;
  /// Parameters that may change while a trial trains (PBT's "mutable": learning rate,
  /// regularizer weights, ...): the runner applies a new value when it resumes. "*" = any
  /// (families whose program reads its configuration at every start: command). Empty: none.
  std::vector<std::string> mutable_params;
  /// Parameters whose value may be JSON null (e.g. an optional limit); others must match the
  /// type of their default (number/integer/string/bool).
  std::vector<std::string> nullable;
  /// Definitions of metrics that changed between versions ({"ccnorm": "<estimator>"}), written
  /// to sweep.json so that rows scored under another definition can be told apart on resume.
  nlohmann::json metric_definitions = nlohmann::json::object();
  /// What a sweep.json without "metric_definitions" (from before they were recorded) used.
  nlohmann::json legacy_metric_definitions = nlohmann::json::object();
};

}  // namespace ns::sweeps
