#include "engine/trial_runner.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "core/error.hpp"

namespace ns::engine {

void FamilyRegistry::add(ModelFamily family) {
  const std::string name = family.schema.name;
  families_[name] = std::move(family);
}

const ModelFamily& FamilyRegistry::get(const std::string& name) const {
  auto it = families_.find(name);
  if (it == families_.end()) {
    throw Error(fmt::format("unknown model family '{}'; known: {}", name, fmt::join(names(), ", ")));
  }
  return it->second;
}

double trial_cost(const ModelFamily& family, const nlohmann::json& params) {
  if (!family.relative_cost) return 1.0;
  const double c = family.relative_cost(params);
  return std::isfinite(c) && c > 0 ? c : 1.0;
}

std::vector<std::string> FamilyRegistry::names() const {
  std::vector<std::string> out;
  for (auto& [k, v] : families_) out.push_back(k);
  return out;
}

}  // namespace ns::engine
