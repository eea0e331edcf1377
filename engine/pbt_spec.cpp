#include "engine/pbt_spec.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "core/json.hpp"

namespace ns::engine {

namespace {

using nlohmann::json;

/// What PBT and a fixed schedule refuse: they pause and resume their trials themselves.
void refuse_beside(const sweeps::SpecBlocks& blocks, const std::string& what) {
  const sweeps::SweepSpec& s = blocks.spec;
  if (blocks.schema.resource.empty())
    blocks.fail("$.search.kind", fmt::format("family '{}' reports no resource (iterations, "
                                             "epochs), so {} cannot pause its trials",
                                             blocks.schema.name, what));
  if (!s.grid.empty()) blocks.fail("$.grid", fmt::format("cannot be combined with {}", what));
  // A member's checkpoint passes to others (exploit): a member has no replicates of its own
  // whose mean would mean something; replicate the configuration PBT ends with in a grid.
  for (const auto& [key, n] : {std::pair<const char*, int>{"repeats", s.repeats}, {"folds", s.folds}})
    if (n > 1)
      blocks.fail(std::string("$.") + key,
                  fmt::format("cannot be combined with {}: its members copy each other's "
                              "checkpoints, so a member has no replicates whose mean means "
                              "something; rerun the configuration it ends with in a grid with "
                              "\"{}\"",
                              what, key));
  if (blocks.scheduler)
    blocks.fail("$.scheduler", fmt::format("cannot be combined with {}: it pauses and resumes "
                                           "trials itself",
                                           what));
  if (s.pack > 1) blocks.fail("$.pack", fmt::format("cannot be combined with {}", what));
}

bool may_change(const sweeps::FamilySchema& schema, const std::string& name) {
  const auto& ok = schema.mutable_params;
  return std::find(ok.begin(), ok.end(), "*") != ok.end() ||
         std::find(ok.begin(), ok.end(), name) != ok.end();
}

}  // namespace

PbtSpec PbtSpec::from_json(const sweeps::SpecBlocks& blocks) {
  const json& b = *blocks.search;
  blocks.allow_keys(b, "$.search",
                    {"kind", "population", "interval", "max", "quantile", "perturb",
                     "resample_probability", "mutable"},
                    " for \"kind\": \"pbt\"");
  const core::JsonFields f(b, blocks.source() + ": $.search");
  const sweeps::FamilySchema& schema = blocks.schema;
  PbtSpec s;
  s.population = static_cast<int>(f.integer("population", 0, core::Interval::closed(2, 100000)));
  if (!f.has("interval"))
    blocks.fail("$.search.interval",
                fmt::format("required key is missing; the {} between two exploit and explore "
                            "decisions (> 0)",
                            schema.resource.empty() ? "resource" : schema.resource));
  s.interval = f.number("interval", 0, core::Interval::above(0));
  s.max = f.number("max", 0, core::Interval::at_least(0));
  if (s.max > 0 && s.max <= s.interval)
    f.fail_with("max", fmt::format("must be larger than interval ({}): a member that ends "
                                   "before the first interval is never exploited",
                                   s.interval));
  s.quantile = f.number("quantile", 0.25, {0.0, 0.5, true, false});
  s.resample_probability = f.number("resample_probability", 0.25, {0.0, 1.0, false, false});
  if (f.has("perturb")) {
    const json& p = b.at("perturb");
    if (!p.is_array() || p.empty())
      blocks.fail("$.search.perturb", fmt::format("expected a non-empty array of factors > 0, got {}",
                                                  core::shown(p)));
    s.perturb.clear();
    for (size_t i = 0; i < p.size(); ++i) {
      if (!p[i].is_number() || !(p[i].get<double>() > 0))
        blocks.fail(fmt::format("$.search.perturb[{}]", i),
                    fmt::format("expected a factor > 0, got {}", core::shown(p[i])));
      s.perturb.push_back(p[i].get<double>());
    }
  }
  if (!f.has("mutable"))
    blocks.fail("$.search.mutable", "required key is missing; the parameters PBT may change "
                                    "while members train (names in $.random.params)");
  const json& m = b.at("mutable");
  if (!m.is_array() || m.empty())
    blocks.fail("$.search.mutable", fmt::format("expected a non-empty array of parameter names, got {}",
                                                core::shown(m)));
  for (size_t i = 0; i < m.size(); ++i) {
    const std::string path = fmt::format("$.search.mutable[{}]", i);
    if (!m[i].is_string())
      blocks.fail(path, fmt::format("expected a parameter name, got {}", core::shown(m[i])));
    const std::string name = m[i].get<std::string>();
    blocks.require_param(path, name);
    if (!may_change(schema, name))
      blocks.fail(path, schema.mutable_params.empty()
                            ? fmt::format("family '{}' cannot change parameters while a trial "
                                          "trains",
                                          schema.name)
                            : fmt::format("'{}' cannot change while a trial trains (structural); "
                                          "family '{}' can change: {}",
                                          name, schema.name, fmt::join(schema.mutable_params, ", ")));
    if (std::find(s.mutables.begin(), s.mutables.end(), name) != s.mutables.end())
      blocks.fail(path, fmt::format("'{}' is listed twice", name));
    s.mutables.push_back(name);
  }

  refuse_beside(blocks, "PBT");
  const sweeps::SweepSpec& spec = blocks.spec;
  if (spec.random.empty())
    blocks.fail("$.search", "PBT needs a \"random\" block: its draws are the initial population "
                            "and its distributions what explore resamples from");
  if (s.population == 0)
    s.population = spec.random_count;
  else if (s.population != spec.random_count)
    blocks.fail("$.search.population",
                fmt::format("{} differs from $.random.count ({}); give one of them", s.population,
                            spec.random_count));
  if (s.population < 2) blocks.fail("$.random.count", "PBT needs a population of at least 2");
  for (const auto& name : s.mutables)
    if (std::none_of(spec.random.begin(), spec.random.end(),
                     [&](const auto& r) { return r.first == name; }))
      blocks.fail("$.search.mutable", fmt::format("'{}' is not in $.random.params: PBT resamples "
                                                  "a mutable parameter from its distribution",
                                                  name));
  return s;
}

ScheduleSpec ScheduleSpec::from_json(const sweeps::SpecBlocks& blocks) {
  const json& b = *blocks.search;
  blocks.allow_keys(b, "$.search", {"kind", "segments"}, " for \"kind\": \"schedule\"");
  ScheduleSpec s;
  if (!b.contains("segments") || !b.at("segments").is_array() || b.at("segments").empty())
    blocks.fail("$.search.segments",
                "expected a non-empty array of {\"until\": resource, \"params\": {...}}");
  const json& segs = b.at("segments");
  for (size_t i = 0; i < segs.size(); ++i) {
    const std::string path = fmt::format("$.search.segments[{}]", i);
    if (!segs[i].is_object())
      blocks.fail(path, fmt::format("expected an object, got {}", core::shown(segs[i])));
    blocks.allow_keys(segs[i], path, {"until", "params"});
    const core::JsonFields sf(segs[i], blocks.source() + ": " + path);
    ScheduleSegment seg;
    const bool last = i + 1 == segs.size();
    if (!last && !sf.has("until"))
      blocks.fail(path + ".until", "required key is missing; the resource this segment trains to");
    seg.until = sf.number("until", 0, last ? core::Interval::at_least(0) : core::Interval::above(0));
    if (i > 0 && seg.until > 0 && seg.until <= s.segments.back().until)
      blocks.fail(path + ".until", fmt::format("must be larger than the previous segment's ({})",
                                               s.segments.back().until));
    if (segs[i].contains("params")) {
      const json& p = segs[i].at("params");
      if (!p.is_object())
        blocks.fail(path + ".params", fmt::format("expected an object, got {}", core::shown(p)));
      for (auto& [k, v] : p.items()) {
        blocks.require_param(path + ".params." + k, k);
        seg.params[k] = blocks.check_value(path + ".params." + k, k, v);
      }
    }
    s.segments.push_back(std::move(seg));
  }

  refuse_beside(blocks, "a fixed schedule");
  const sweeps::FamilySchema& schema = blocks.schema;
  if (!blocks.spec.random.empty())
    blocks.fail("$.random", "cannot be combined with a fixed schedule: it trains one trial (set "
                            "its parameters in $.fixed)");
  for (size_t i = 0; i < s.segments.size(); ++i)
    for (auto& [k, v] : s.segments[i].params.items())
      if (!may_change(schema, k))
        blocks.fail(fmt::format("$.search.segments[{}].params.{}", i, k),
                    fmt::format("'{}' cannot change while a trial trains; family '{}' can change: {}",
                                k, schema.name,
                                schema.mutable_params.empty()
                                    ? std::string("nothing")
                                    : fmt::format("{}", fmt::join(schema.mutable_params, ", "))));
  return s;
}

}  // namespace ns::engine
