#include "engine/trial_runner.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "core/error.hpp"

namespace ns::engine {

std::string DataFacts::describe() const {
  if (!checked) return "data not checked";
  std::string s = source.empty() ? "data" : source;
  std::vector<std::string> parts;
  if (examples > 0) {
    parts.push_back(height > 0 ? fmt::format("{} images of {}x{}x{}", examples, channels, height,
                                             width)
                               : fmt::format("{} examples", examples));
  }
  if (outputs > 0) parts.push_back(fmt::format("{} {}", outputs, output_name));
  if (repeats > 0) parts.push_back(fmt::format("{} repeats", repeats));
  if (train > 0) parts.push_back(fmt::format("{} for training", train));
  return parts.empty() ? s : fmt::format("{}: {}", s, fmt::join(parts, ", "));
}

void ModelFamily::check_params(const nlohmann::json&, const DataFacts&) const {}

void ModelFamily::check_params_with(const nlohmann::json& params, const DataFacts& data,
                                    const nlohmann::json& options) const {
  if (data.options == options) return check_params(params, data);
  DataFacts with = data;
  with.options = options;
  check_params(params, with);
}

sweeps::FamilySchema ModelFamily::schema_for(const nlohmann::json& options,
                                             const std::string& where) const {
  if (!options.is_null())
    throw Error(fmt::format("{}: the {} family takes no options block (remove it)", where,
                            schema_.name));
  return schema_;
}

double ModelFamily::relative_cost(const nlohmann::json&, const DataFacts&) const { return 1.0; }

std::string without_backtrace(std::string message) {
  const auto cut = message.find("\nException raised from");
  if (cut != std::string::npos) message.resize(cut);
  return message;
}

std::string ModelFamily::pack_key(const nlohmann::json&, const DataFacts&) const { return ""; }

std::vector<TrialOutcome> TrialRunner::run_pack(const std::vector<TrialContext>& members) {
  std::vector<TrialOutcome> out;
  for (const TrialContext& ctx : members) {
    try {
      out.push_back(run(ctx));
    } catch (const std::exception& e) {
      TrialOutcome failed;
      failed.status = TrialStatus::kFailed;
      failed.error = without_backtrace(e.what());
      out.push_back(std::move(failed));
    }
  }
  return out;
}

double trial_cost(const ModelFamily& family, const nlohmann::json& params, const DataFacts& data) {
  const double c = family.relative_cost(params, data);
  return std::isfinite(c) && c > 0 ? c : 1.0;
}

void FamilyRegistry::add(std::unique_ptr<ModelFamily> family) {
  NS_CHECK(family != nullptr, "FamilyRegistry::add: no family");
  const std::string name = family->schema().name;
  families_[name] = std::move(family);
}

const ModelFamily& FamilyRegistry::get(const std::string& name) const {
  auto it = families_.find(name);
  if (it == families_.end()) {
    throw Error(fmt::format("unknown model family '{}'; known: {}", name, fmt::join(names(), ", ")));
  }
  return *it->second;
}

std::vector<std::string> FamilyRegistry::names() const {
  std::vector<std::string> out;
  for (auto& [k, v] : families_) out.push_back(k);
  return out;
}

}  // namespace ns::engine
