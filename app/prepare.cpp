#include "app/prepare.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <unordered_set>

#include "core/error.hpp"
#include "models/folds.hpp"

namespace ns::app {
namespace {

// One line of an exception's message: the first (a c10::Error carries a C++ backtrace after
// it), or for an error raised in TorchScript, whose first line only says so, the last (the
// Python-style "RuntimeError: ..." after the script's traceback).
std::string first_line(const char* what) {
  std::string s = what ? what : "";
  if (s.rfind("The following operation failed in the TorchScript interpreter", 0) == 0) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s.substr(s.find_last_of('\n') + 1);
  }
  return s.substr(0, s.find('\n'));
}

}  // namespace

Prepared prepare(const std::string& path, const std::string& out_override,
                 const engine::FamilyRegistry& registry, bool deep_checks) {
  Prepared p;
  const nlohmann::json j = sweeps::read_json_file(path);
  const std::string fam = sweeps::spec_family(j, path);
  try {
    p.family = &registry.get(fam);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: $.family: {}", path, e.what()));
  }
  p.schema = p.family->schema_for(j.contains(fam) ? j.at(fam) : nlohmann::json(),
                                  fmt::format("{}: $.{}", path, fam));
  p.spec = engine::parse_spec(j, path, p.schema);
  if (!out_override.empty()) p.spec.out = out_override;
  p.metrics = p.schema.metrics;
  if (p.spec.folds > 1 && !p.family->supports_folds()) {  // ModelFamily::supports_folds
    std::string can;
    for (const auto& name : registry.names())
      if (registry.get(name).supports_folds()) can += (can.empty() ? "" : ", ") + name;
    throw Error(fmt::format("{}: $.folds: the {} family cannot cross-validate (it has no "
                            "training + validation data to partition); families that can: {}",
                            path, fam, can));
  }
  if (p.spec.has_scheduler()) {
    const std::string unit = p.schema.resource;
    if (unit.empty())
      throw Error(fmt::format("{}: $.scheduler: the {} family cannot stop trials early (it reports "
                              "no resource)", path, fam));
    const std::string named = p.spec.search_options->scheduler_resource();
    if (named != unit)
      throw Error(fmt::format("{}: $.scheduler.resource: expected \"{}\" (the {} family's "
                              "resource), got \"{}\"",
                              path, unit, fam, named));
  }
  p.trials = sweeps::enumerate(p.spec);
  // A search that proposes trials as results come in (TPE) lists fewer than the random count.
  const int proposed = p.spec.random.empty() || !p.spec.search_options
                           ? 0
                           : p.spec.random_count - p.spec.search_options->listed_draws(p.spec.random_count);
  p.total_trials = static_cast<int>(p.trials.size()) + proposed * p.spec.replicates();
  if (!deep_checks) return p;
  // Data first: a family may check parameters against the data's geometry (maskcnn: kernel
  // larger than the image).
  try {
    p.data = p.family->check_data_with(p.spec.data, "$.data", p.spec.options);
  } catch (const Error& e) {
    const std::string what = e.what();
    throw Error(what.rfind(path, 0) == 0 ? what : fmt::format("{}: {}", path, what));
  } catch (const std::exception& e) {  // a data set too large to read (std::bad_alloc), ...
    throw Error(fmt::format("{}: $.data: cannot be read: {}", path, first_line(e.what())));
  }
  if (p.spec.folds > 1 && p.data.fold_examples > 0 &&
      p.data.fold_examples < models::min_fold_examples(p.spec.folds))
    throw Error(fmt::format("{}: $.folds: {} folds need at least {} training + validation "
                            "examples (2 per fold); the data has {}: lower \"folds\" or use "
                            "more data",
                            path, p.spec.folds, models::min_fold_examples(p.spec.folds),
                            p.data.fold_examples));
  // Each distinct configuration once. Repeats follow their repeat 0 with the same parameters;
  // grid points differ (the parser refuses a value listed twice), so only random draws can
  // repeat a configuration, and then its repeat-0 id (a hash of the parameters) finds it.
  std::unordered_set<std::string> seen;
  int checked = 0;
  for (const auto& t : p.trials) {
    if (t.repeat > 0 || t.fold > 0 || (!p.spec.random.empty() && !seen.insert(t.id).second))
      continue;  // repeats and folds share their repeat-0, fold-0 replicate's parameters
    ++checked;
    try {
      p.family->check_params_with(t.params, p.data, p.spec.options);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: trial {} (#{}): {}", path, t.id, t.index, e.what()));
    } catch (const std::exception& e) {
      // Building the model failed in LibTorch (c10::Error) or the allocator (std::bad_alloc,
      // std::length_error): the parameters ask for something this machine cannot build.
      throw Error(fmt::format("{}: trial {} (#{}): its model cannot be built: {}", path, t.id,
                              t.index, first_line(e.what())));
    }
  }
  p.configurations_checked = checked;
  // The files the trials read: those of the configurations listed (repeats share theirs), and
  // of each value a "choice" of the random block can take (a search may propose any later).
  // Asked in chunks, so a grid of a million configurations is not copied whole.
  constexpr std::size_t kChunk = 4096;
  std::vector<nlohmann::json> configurations;
  std::set<std::string> listed;
  auto ask = [&] {
    if (configurations.empty()) return;
    std::vector<engine::InputPath> found;
    try {
      found = p.family->input_files(p.spec.data, p.spec.options, configurations);
    } catch (const Error& e) {
      const std::string what = e.what();
      throw Error(what.rfind(path, 0) == 0 ? what : fmt::format("{}: {}", path, what));
    }
    for (auto& f : found)
      if (listed.insert(f.path.string()).second) p.inputs.push_back(std::move(f));
    configurations.clear();
  };
  for (const auto& t : p.trials) {
    if (t.repeat != 0 || t.fold > 0) continue;
    configurations.push_back(t.params);
    if (configurations.size() == kChunk) ask();
  }
  for (const auto& [name, dist] : p.spec.random) {
    if (dist.kind != sweeps::DistKind::kChoice) continue;
    for (const auto& v : dist.choices) {
      nlohmann::json params = p.trials.empty() ? p.spec.base : p.trials.front().params;
      params[name] = v;
      configurations.push_back(std::move(params));
    }
  }
  ask();
  return p;
}

std::vector<engine::InputDigest> digest_inputs(const Prepared& p, engine::DigestCache& cache) {
  return engine::digest_inputs(p.inputs, cache);
}

engine::OutputPlan output_plan(const Prepared& p, bool force_new, bool accept_changed_inputs,
                               std::vector<engine::InputDigest> inputs) {
  engine::OutputPlan plan{p.spec, p.metrics, p.spec.out, force_new,
                          p.schema.metric_definitions, p.schema.legacy_metric_definitions};
  plan.inputs = std::move(inputs);
  const engine::ModelFamily* family = p.family;
  plan.identity_options = [family](const nlohmann::json& options) {
    return family ? family->identity_options(options) : options;
  };
  plan.accept_changed_inputs = accept_changed_inputs;
  if (p.spec.search_word.empty()) {  // no "search" block: the trials are known up front
    std::set<std::string> ids;
    for (const auto& t : p.trials) ids.insert(t.id);
    plan.trial_ids = std::move(ids);
  }
  return plan;
}

void check_out_path(const Prepared& p, const std::string& out_override) {
  namespace fs = std::filesystem;
  const std::string& dir = p.spec.out;
  const std::string where =
      !out_override.empty()                      ? fmt::format("--out {}", dir)
      : !p.spec.raw.value("out", "").empty()     ? fmt::format("{}: $.out ({})", p.spec.source, dir)
                                                 : fmt::format("{}: the output directory {} (the "
                                                               "default runs/<name>; set --out)",
                                                               p.spec.source, dir);
  // Up from the path itself to the first component that exists; stat follows symlinks, so a
  // link to a directory counts as one.
  fs::path cur = dir;
  struct stat st {};
  while (::stat(cur.c_str(), &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR)
      throw Error(fmt::format("{}: cannot look at {}: {}", where, cur.string(), std::strerror(errno)));
    // ENOTDIR: a component above is a file; going up finds it.
    fs::path up = cur.parent_path();
    if (up.empty() || up == cur) up = cur.is_absolute() ? cur.root_path() : fs::path(".");
    if (up == cur) break;
    cur = up;
  }
  if (cur == fs::path(dir) && !S_ISDIR(st.st_mode)) return;  // check_output_dir's message
  const std::string shown = cur == "." ? "the current directory" : cur.string();
  if (!S_ISDIR(st.st_mode)) throw Error(fmt::format("{}: {} is not a directory", where, shown));
  if (::access(cur.c_str(), W_OK | X_OK) != 0)
    throw Error(fmt::format("{}: {} is not writable ({})", where, shown, std::strerror(errno)));
}

void price_trials(const Prepared& p, std::vector<sweeps::Trial>& trials) {
  for (auto& t : trials) {
    t.cost = cost_of(p, t.params);
    t.pack_key = p.data.checked ? p.family->pack_key(t.params, p.data) : "";
  }
}

std::vector<sweeps::Trial> pending_trials(const Prepared& p, const std::set<std::string>& skip) {
  std::vector<sweeps::Trial> out;
  out.reserve(p.trials.size());
  for (const auto& t : p.trials)
    if (skip.empty() || !skip.count(t.id)) out.push_back(t);
  price_trials(p, out);
  return out;
}

std::vector<sweeps::Trial> take_pending_trials(Prepared& p, const std::set<std::string>& skip) {
  std::vector<sweeps::Trial> out = std::move(p.trials);
  p.trials = {};
  if (!skip.empty())
    out.erase(std::remove_if(out.begin(), out.end(),
                             [&](const sweeps::Trial& t) { return skip.count(t.id) > 0; }),
              out.end());
  price_trials(p, out);
  return out;
}

PackGroups pack_groups(const std::vector<sweeps::Trial>& trials) {
  std::map<std::string, int> size;
  for (const auto& t : trials)
    if (!t.pack_key.empty()) ++size[t.pack_key];
  PackGroups g;
  g.groups = static_cast<int>(size.size());
  for (const auto& [key, n] : size) g.packable += n;
  return g;
}

int pack_count(const std::vector<sweeps::Trial>& trials, int pack) {
  std::map<std::string, int> size;
  int alone = 0;
  for (const auto& t : trials) {
    if (t.pack_key.empty() || pack <= 1) {
      ++alone;
    } else {
      ++size[t.pack_key];
    }
  }
  int packs = alone;
  for (const auto& [key, n] : size) packs += (n + pack - 1) / pack;
  return packs;
}

double cost_of(const Prepared& p, const nlohmann::json& params) {
  return engine::trial_cost(*p.family, params, p.data);
}

sweeps::Trial proposed_trial(const Prepared& p, int index, const nlohmann::json& proposal) {
  sweeps::Trial t;
  t.index = index;
  t.params = p.spec.base;
  for (const auto& [k, v] : proposal.items()) t.params[k] = v;
  t.id = sweeps::trial_id(p.spec.family, p.spec.data, t.params, 0);
  t.seed = sweeps::trial_seed(p.spec.seed, t.id);
  t.cost = cost_of(p, t.params);
  return t;
}

}  // namespace ns::app
