#pragma once
// What the engine's search tests share: the quadratic family's schema with x and y allowed to
// change while a trial trains (PBT's mutable parameters and a fixed schedule's segments need
// that; the family itself declares none), and a TPE proposal's trial as app/prepare.cpp's
// proposed_trial builds it.
#include <nlohmann/json.hpp>

#include "models/quadratic.hpp"
#include "sweeps/spec.hpp"

namespace ns::test {

inline const sweeps::FamilySchema& quadratic_schema() {
  static const sweeps::FamilySchema s = [] {
    sweeps::FamilySchema f = models::quadratic_family()->schema();
    f.mutable_params = {"x", "y"};
    return f;
  }();
  return s;
}

/// The trial of proposal `index` (TPE): the spec's base parameters with the proposal's.
inline sweeps::Trial proposed_trial(const sweeps::SweepSpec& spec, int index,
                                    const nlohmann::json& proposal) {
  sweeps::Trial t;
  t.index = index;
  t.params = spec.base;
  for (const auto& [k, v] : proposal.items()) t.params[k] = v;
  t.id = sweeps::trial_id(spec.family, spec.data, t.params, 0);
  t.seed = sweeps::trial_seed(spec.seed, t.id);
  return t;
}

}  // namespace ns::test
