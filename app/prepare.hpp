#pragma once
// What `run` and `plan` share: a spec parsed, enumerated and checked.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/inputs.hpp"
#include "engine/search_registry.hpp"
#include "engine/sweep_output.hpp"
#include "engine/trial_runner.hpp"
#include "sweeps/spec.hpp"

namespace ns::app {

/// A spec parsed, enumerated and checked: everything `plan` shows and `run` needs.
struct Prepared {
  sweeps::SweepSpec spec;
  /// The trials known before the run (sweeps::enumerate); with a "search" block only the
  /// startup draws, the others being proposed as results come in.
  std::vector<sweeps::Trial> trials;
  int total_trials = 0;  ///< the sweep's size: trials.size(), or the search's trial count
  const engine::ModelFamily* family = nullptr;
  sweeps::FamilySchema schema;     ///< the family's schema for this spec (schema_for)
  engine::DataFacts data;          ///< what the family's check_data returned (deep checks only)
  int configurations_checked = 0;  ///< distinct parameter sets passed to check_params
  /// The family's metrics: results.csv's columns after the parameters (with a "scheduler"
  /// block, ResultsTable adds `rung` and `resource` after them: scheduler bookkeeping).
  std::vector<std::string> metrics;
  /// The files the trials read (ModelFamily::input_files of the data block, the family block
  /// and the known configurations; deep checks only).
  std::vector<engine::InputPath> inputs;
};

/// What the search registry's describe() needs to know of a prepared spec: its counts in
/// configurations (a search decides on configurations; each has spec.replicates() trials).
inline engine::SearchFacts search_facts(const Prepared& p) {
  const int n = p.spec.replicates();
  return {p.schema.resource, p.total_trials / n, static_cast<int>(p.trials.size()) / n};
}

/// Parses and enumerates `path`. With `deep_checks` also checks the data block and every
/// distinct configuration (families build their model once on CPU with a tiny batch); errors
/// name the file, the JSON path or the trial. Any exception of a family's check (a c10::Error,
/// std::bad_alloc from a model too large to build) becomes ns::Error exit 2 naming the trial
/// and the first line of its message.
Prepared prepare(const std::string& path, const std::string& out_override,
                 const engine::FamilyRegistry& registry, bool deep_checks);

/// Checks, writing nothing, that the output directory `p.spec.out` can be created: its first
/// existing ancestor must be a writable directory (access W_OK|X_OK) and no existing component
/// above it a non-directory. Throws ns::Error (exit 2) naming where the path came from
/// (`--out` when `out_override` is set, else the spec's "out" or the default runs/<name>):
/// "--out X: P is not a directory" / "is not writable". An existing non-directory at the path
/// itself is left to engine::check_output_dir.
void check_out_path(const Prepared& p, const std::string& out_override);

/// The digests of `p.inputs`, with the digest cache of `p.spec.out` (engine::DigestCache: read
/// here, saved by `run` once the directory is its own).
std::vector<engine::InputDigest> digest_inputs(const Prepared& p, engine::DigestCache& cache);

/// What the output directory is checked against and records (engine::OutputPlan): the spec,
/// its metrics, `inputs`, the family's identity_options and, when the spec lists every trial
/// before the run (no "search" block), its trial ids. `p` must outlive the plan.
engine::OutputPlan output_plan(const Prepared& p, bool force_new, bool accept_changed_inputs,
                               std::vector<engine::InputDigest> inputs);

/// The trials not in `skip`, as the coordinator takes them, each with its relative cost.
std::vector<sweeps::Trial> pending_trials(const Prepared& p, const std::set<std::string>& skip);
/// The same, moved out of `p.trials` (left empty) instead of copied: for a caller that needs
/// the trials once, so a large grid is held once.
std::vector<sweeps::Trial> take_pending_trials(Prepared& p, const std::set<std::string>& skip);
/// Sets each trial's relative cost and pack key (what pending_trials adds).
void price_trials(const Prepared& p, std::vector<sweeps::Trial>& trials);

/// How many of `trials` the family can pack (a non-empty pack_key), in how many groups of
/// equal shapes.
struct PackGroups {
  int packable = 0;
  int groups = 0;
};
PackGroups pack_groups(const std::vector<sweeps::Trial>& trials);
/// The assignments `trials` need with up to `pack` trials in each (one per trial without a key).
int pack_count(const std::vector<sweeps::Trial>& trials, int pack);

/// `engine::trial_cost` of `params` with the prepared family and data facts.
double cost_of(const Prepared& p, const nlohmann::json& params);

/// A trial a search proposed: the spec's base parameters with `proposal` on top, its id, seed
/// and cost as sweeps::enumerate and pending_trials would give them (repeat 0).
sweeps::Trial proposed_trial(const Prepared& p, int index, const nlohmann::json& proposal);

}  // namespace ns::app
