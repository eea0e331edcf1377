// `neurosweep plan`: validate a spec, list its trials, and estimate what it will cost.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include <fmt/ranges.h>

#include "app/commands.hpp"
#include "app/prepare.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/json_text.hpp"
#include "engine/csv.hpp"
#include "engine/deadline.hpp"
#include "engine/estimate.hpp"
#include "engine/executor.hpp"
#include "core/log.hpp"
#include "engine/results.hpp"
#include "engine/journal.hpp"
#include "engine/simulate.hpp"
#include "engine/sweep_output.hpp"
#include "models/registry.hpp"

namespace ns::app {
namespace {

namespace fs = std::filesystem;
using engine::Timing;

/// Wall times of the finished ("ok") rows of a results file, each with its trial's relative cost:
/// from this sweep's trial when the id matches, else from the row's parameter columns laid over
/// a trial of this sweep (so a results file of an earlier, similar sweep also serves).
std::vector<Timing> timings_from_results(const std::string& path, const Prepared& p) {
  NS_CHECK(fs::exists(path), "--timings {}: no such file", path);
  const engine::CsvTable t = engine::read_csv_file(path);
  auto col = [&](const std::string& name) {
    auto it = std::find(t.header.begin(), t.header.end(), name);
    NS_CHECK(it != t.header.end(),
                  "{}: no column '{}' (expected a neurosweep results.csv)", path, name);
    return static_cast<size_t>(it - t.header.begin());
  };
  const size_t id_col = col("trial_id"), status_col = col("status"), wall_col = col("wall_s");
  // A file written by `plan --save-timings` carries each trial's cost as it was measured.
  const auto cost_it = std::find(t.header.begin(), t.header.end(), "cost");
  const bool has_cost = cost_it != t.header.end();
  const size_t cost_col = static_cast<size_t>(cost_it - t.header.begin());
  std::map<std::string, const sweeps::Trial*> by_id;
  for (const auto& tr : p.trials) by_id[tr.id] = &tr;
  std::vector<Timing> out;
  for (const auto& row : t.rows) {
    if (engine::parse_trial_status(row[status_col]) != engine::TrialStatus::kOk) continue;
    double wall = 0;
    try {
      wall = std::stod(row[wall_col]);
    } catch (const std::exception&) {
      continue;
    }
    double cost = 1.0;
    if (has_cost) {
      try {
        cost = std::stod(row[cost_col]);
      } catch (const std::exception&) {
        continue;
      }
    } else if (auto it = by_id.find(row[id_col]); it != by_id.end()) {
      cost = cost_of(p, it->second->params);
    } else if (!p.trials.empty()) {
      nlohmann::json params = p.trials.front().params;
      for (size_t c = 0; c < t.header.size(); ++c) {
        if (!params.contains(t.header[c])) continue;
        auto v = core::try_parse_json(row[c], core::JsonLimits::trial_line());
        params[t.header[c]] = v ? std::move(*v) : nlohmann::json(row[c]);
      }
      try {
        cost = cost_of(p, params);
      } catch (const std::exception&) {
        cost = 1.0;
      }
    }
    out.push_back({cost, wall});
  }
  return out;
}

/// KEY=VALUE overrides for the calibration trials (VALUE as JSON, else as a string); every key
/// must be a parameter of the sweep.
nlohmann::json parse_overrides(const std::vector<std::string>& sets, const nlohmann::json& params) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& kv : sets) {
    const auto eq = kv.find('=');
    NS_CHECK(eq != std::string::npos && eq > 0,
             "--calibrate-set '{}': expected KEY=VALUE, e.g. max_epochs=1", kv);
    const std::string key = kv.substr(0, eq), text = kv.substr(eq + 1);
    NS_CHECK(params.contains(key), "--calibrate-set '{}': '{}' is not a parameter of this sweep",
             kv, key);
    auto v = core::try_parse_json(text, core::JsonLimits::spec());
    out[key] = v ? std::move(*v) : nlohmann::json(text);
  }
  return out;
}

/// Runs `opt.calibrate` pending trials spread over the cost range here, in a scratch directory that is
/// removed afterwards; their rows never reach the sweep's results.
std::vector<Timing> calibrate(const Prepared& p, const std::vector<sweeps::Trial>& pending,
                              const PlanOptions& opt, const engine::FamilyRegistry& registry,
                              std::string* where, std::string* csv) {
  const int n = opt.calibrate, threads = opt.threads;
  const nlohmann::json overrides = parse_overrides(opt.calibrate_set, p.trials.front().params);
  models::init_process();
  std::vector<double> costs;
  for (const auto& t : pending) costs.push_back(t.cost);
  const auto pick = engine::calibration_sample(costs, n);
  const fs::path dir = fs::temp_directory_path() / fmt::format("neurosweep-calibrate-{}", ::getpid());
  fs::create_directories(dir);
  struct Cleanup {
    fs::path d;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
  } cleanup{dir};
  engine::RankInfo info;
  info.device = models::cuda_device_count() > 0 ? "cuda:0" : "cpu";
  info.threads = threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  *where = fmt::format("{} with {} thread(s)", info.device, info.threads);
  engine::TrialExecutor exec(registry, p.spec.family, p.spec.data, dir.string(), info);
  exec.set_options(p.spec.options);
  std::vector<Timing> out;
  std::string first_error;
  for (size_t i = 0; i < pick.size(); ++i) {
    engine::msg::Assign a;
    a.trial = pending[pick[i]];
    if (!overrides.empty()) {
      a.trial.params.update(overrides);
      try {
        p.family->check_params(a.trial.params, p.data);
      } catch (const Error& e) {
        throw Error(fmt::format("--calibrate-set: trial {} with the overrides: {}", a.trial.id, e.what()));
      }
      a.trial.cost = cost_of(p, a.trial.params);
    }
    const engine::Outcome row = exec.execute(a, [] { return false; });
    log::info("calibration {}/{}: trial {} (#{}, relative cost {:.3g}): {} in {}", i + 1,
              pick.size(), a.trial.id, a.trial.index, a.trial.cost, engine::to_string(row.status),
              core::human_duration(row.wall_s));
    if (csv->empty()) {
      std::vector<std::string> h = {"trial_id", "status", "wall_s", "cost", "device", "threads"};
      for (auto& [k, v] : a.trial.params.items()) h.push_back(k);
      *csv = engine::csv_record(h);
    }
    std::vector<std::string> f = {a.trial.id, engine::to_string(row.status), fmt::format("{}", row.wall_s),
                                  fmt::format("{}", a.trial.cost), info.device,
                                  std::to_string(info.threads)};
    for (auto& [k, v] : a.trial.params.items()) f.push_back(engine::format_value(v));
    *csv += engine::csv_record(f);
    if (row.status == engine::TrialStatus::kOk) {
      out.push_back({a.trial.cost, row.wall_s});
    } else if (first_error.empty()) {
      first_error = row.error;
    }
  }
  NS_CHECK(!out.empty(), "calibration: none of the {} trials finished; first error: {}",
           pick.size(), first_error);
  return out;
}


// A sweep whose search pauses or stops trials (early stopping, PBT, a fixed schedule) run on a
// simulated clock (engine/simulate.hpp), built through the search registry as `run` builds it,
// with the cost model: a visit from resource a to b takes the trial's fixed seconds plus its
// per-cost share scaled by (b - a) / the kind's full resource; each trial's quality is a seeded
// uniform draw, since which configurations go on is what the sweep finds out. The mean over
// kDraws draws.
struct EarlyStoppingEstimate {
  int workers = 1;
  double trial_s = 0, makespan_s = 0, visits = 0;
  double makespan_lo_s = 0, makespan_hi_s = 0;  ///< over the draws
};
constexpr int kDraws = 5;
constexpr std::size_t kMaxSimulated = 5000;

std::vector<EarlyStoppingEstimate> simulate_search(
    const Prepared& p, const std::set<std::string>& done, const std::vector<sweeps::Trial>& pending,
    const engine::CostEstimate& est, const std::vector<int>& worker_counts, double full) {
  std::map<std::string, double> predicted;
  for (std::size_t i = 0; i < pending.size(); ++i) predicted[pending[i].id] = est.predicted_s[i];
  auto duration = [&](const sweeps::Trial& t, double from, double to) {
    auto it = predicted.find(t.id);
    const double whole = it == predicted.end() ? est.mean_s : it->second;
    if (full <= 0) return whole;
    return est.s_fixed + (whole - est.s_fixed) * ((to > 0 ? to : full) - from) / full;
  };
  // Read once: every draw and worker count starts from the same state.
  const auto events = engine::read_journal(p.spec.out);
  engine::journal::check_format(events, p.spec.out);
  engine::SimulationOptions o;
  o.metric = p.spec.metric;
  o.budget_trial_s = p.spec.budget_trial_s;
  o.budget_resource = p.spec.budget_resource;
  std::vector<EarlyStoppingEstimate> out;
  for (int workers : worker_counts) {
    EarlyStoppingEstimate e;
    e.workers = o.workers = workers;
    for (int d = 0; d < kDraws; ++d) {
      auto quality = [d](const sweeps::Trial& t) {
        return core::unit_double(core::splitmix64((static_cast<std::uint64_t>(d) << 40) ^
                                                  static_cast<std::uint64_t>(t.index)));
      };
      engine::SearchInputs in;
      in.trials = p.trials;  // priced by plan_command
      in.make_trial = [&](int index, const nlohmann::json& proposal) {
        return proposed_trial(p, index, proposal);
      };
      in.events = events;
      in.finished = done;
      in.out = p.spec.out;
      in.read_only = true;
      auto built = engine::build_search(p.spec, std::move(in));
      const engine::SimulatedRun r = engine::simulate_schedule(*built.scheduler, o, duration, quality);
      e.trial_s += r.trial_s / kDraws;
      e.makespan_s += r.makespan_s / kDraws;
      e.visits += static_cast<double>(r.visits) / kDraws;
      e.makespan_lo_s = d == 0 ? r.makespan_s : std::min(e.makespan_lo_s, r.makespan_s);
      e.makespan_hi_s = std::max(e.makespan_hi_s, r.makespan_s);
    }
    out.push_back(e);
  }
  return out;
}

/// Everything `plan` shows, computed once; `plan_text` and `plan_json` only render it.
struct Plan {
  Prepared p;
  std::set<std::string> done{}; ///< trial ids with a row in <out>/results.csv
  std::size_t done_here = 0;    ///< rows of this spec's trials
  std::vector<sweeps::Trial> unfinished{};  ///< filled only when some trial is done
  double job_s = 0, queue_max_s = 0, margin_s = 0;
  int max_jobs = 0;
  std::string source{};         ///< where the timings came from
  std::optional<engine::CostEstimate> est{};
  std::vector<std::pair<int, engine::AllocationPlan>> plans{};  ///< per worker count
  std::vector<EarlyStoppingEstimate> early{};                 ///< per worker count, or none
  int pack = 1;
  PackGroups groups{};
  int assignments = 0;
  std::vector<std::string> varied{};
  std::string description{};    ///< the scheduler's and the search's lines, each ending in \n

  /// The trials still to run: all of them when none is done (no copy).
  const std::vector<sweeps::Trial>& pending() const { return done.empty() ? p.trials : unfinished; }
};

/// The timings to estimate from: a calibration run here, a results file, or this sweep's own
/// finished trials (`results`, its results.csv); `*source_out` says which.
std::vector<Timing> gather_timings(const Prepared& p, const std::vector<sweeps::Trial>& pending,
                                   const std::set<std::string>& done, const std::string& results,
                                   const PlanOptions& opt, const engine::FamilyRegistry& registry,
                                   std::string* source_out) {
  std::vector<Timing> timings;
  std::string& source = *source_out;
  if (opt.calibrate > 0 && !pending.empty()) {
    std::string where, csv;
    timings = calibrate(p, pending, opt, registry, &where, &csv);
    if (!opt.save_timings.empty()) core::write_file_atomic(opt.save_timings, csv);
    source = fmt::format("{} calibration trial(s) run here on {}{}", timings.size(), where,
                         opt.calibrate_set.empty()
                             ? ""
                             : fmt::format(" with {}", fmt::join(opt.calibrate_set, ", ")));
  }
  if (!opt.timings.empty()) {
    auto more = timings_from_results(opt.timings, p);
    NS_CHECK(!more.empty(), "--timings {}: no finished (status ok) rows", opt.timings);
    source += fmt::format("{}{} finished trial(s) in {}", source.empty() ? "" : " and ", more.size(), opt.timings);
    timings.insert(timings.end(), more.begin(), more.end());
  }
  if (timings.empty() && !done.empty()) {
    // The sweep's own rows, when any has a measurable wall time (results.csv keeps milliseconds:
    // trials that all took less than 0.5 ms give no estimate, not an error).
    auto own = timings_from_results(results, p);
    if (std::any_of(own.begin(), own.end(), [](const Timing& t) { return t.wall_s > 0; })) {
      timings = std::move(own);
      source = fmt::format("{} finished trial(s) in {}", timings.size(), results);
    }
  }
  return timings;
}

/// Validates the spec and the options, counts what is done, gathers timings (calibrating when
/// asked), and estimates the cost, the allocation and early stopping.
Plan compute_plan(const PlanOptions& opt, const engine::FamilyRegistry& registry) {
  Plan plan{prepare(opt.spec_path, opt.out, registry, true)};
  Prepared& p = plan.p;
  std::set<std::string>& done = plan.done;
  const auto results = fs::path(p.spec.out) / "results.csv";
  if (fs::exists(results) || fs::exists(fs::path(p.spec.out) / "sweep.json")) {
    // The checks `run` makes, the input digests included (the directory's digest cache is
    // read, never written: plan writes nothing there).
    engine::DigestCache cache(engine::input_cache_path(p.spec.out));
    engine::check_output_dir(output_plan(p, false, false, digest_inputs(p, cache)));
  }
  if (fs::exists(results)) {
    engine::ResultsTable t(results.string(), p.spec.param_names(), p.metrics,
                           p.spec.has_scheduler(), p.spec.folds > 1);
    for (auto& row : t.open(true)) done.insert(row.at("trial_id"));
  }
  // Rows of this spec's trials (rows of trials a narrower spec no longer lists do not count);
  // with a search, whose later ids are not known yet, every row.
  plan.done_here = done.size();
  if (p.spec.search_word.empty()) {
    plan.done_here = 0;
    for (const auto& t : p.trials) plan.done_here += done.count(t.id);
  }
  // The trials priced in place; pending ones are all of them when none is done (no copy).
  price_trials(p, p.trials);
  if (!done.empty())
    for (const auto& t : p.trials)
      if (!done.count(t.id)) plan.unfinished.push_back(t);
  const std::vector<sweeps::Trial>& pending = plan.pending();

  // Options of the estimate, checked before anything slow runs.
  plan.job_s = opt.time.empty() ? 0 : core::parse_duration_s(opt.time, "--time");
  plan.queue_max_s =
      opt.queue_max_time.empty() ? 0 : core::parse_duration_s(opt.queue_max_time, "--queue-max-time");
  plan.margin_s =
      opt.margin_s >= 0 ? opt.margin_s : core::job_loss_s(static_cast<long>(std::ceil(plan.job_s)));
  plan.max_jobs = opt.max_jobs;
  std::vector<int> workers = opt.workers;
  if (opt.nodes > 0) {
    const int per_node = opt.ranks_per_node > 0 ? opt.ranks_per_node : opt.gpus_per_node;
    NS_CHECK(per_node > 0, "--nodes {}: give --gpus-per-node or --ranks-per-node as well", opt.nodes);
    NS_CHECK(workers.empty(), "--nodes and --workers: give one of them");
    workers.push_back(opt.nodes * per_node);
  }
  for (int w : workers) NS_CHECK(w >= 1, "--workers: expected >= 1, got {}", w);
  if (!p.trials.empty()) parse_overrides(opt.calibrate_set, p.trials.front().params);
  if (!opt.save_timings.empty()) {
    NS_CHECK(opt.calibrate > 0, "--save-timings {}: only with --calibrate N", opt.save_timings);
    const fs::path parent = fs::absolute(opt.save_timings).parent_path();
    NS_CHECK(fs::is_directory(parent), "--save-timings {}: no directory {}", opt.save_timings,
             parent.string());
  }

  const std::vector<Timing> timings =
      gather_timings(p, pending, done, results.string(), opt, registry, &plan.source);
  std::vector<double> pending_costs;
  for (const auto& t : pending) pending_costs.push_back(t.cost);
  if (!timings.empty()) plan.est = engine::estimate_cost(timings, pending_costs);

  if (workers.empty()) {
    for (int w : {1, 2, 4, 8, 16, 32, 64, 128}) {
      if (w == 1 || static_cast<size_t>(w / 2) < pending.size()) workers.push_back(w);
    }
  }
  if (plan.est && !pending.empty()) {
    for (int w : workers) {
      plan.plans.emplace_back(
          w, engine::plan_allocation(plan.est->predicted_s,
                                     {w, plan.job_s, plan.margin_s, opt.max_jobs, plan.queue_max_s}));
    }
  }

  // A search that pauses or stops trials: simulated with the cost model, per worker count.
  const std::optional<double> full = engine::search_kind(p.spec).full_resource(p.spec);
  const bool simulate = plan.est && !pending.empty() && full &&
                        (pending.size() <= kMaxSimulated || p.spec.budget_trial_s > 0 ||
                         p.spec.budget_resource > 0);
  if (simulate) plan.early = simulate_search(p, done, pending, *plan.est, workers, *full);

  plan.pack = opt.pack > 0 ? opt.pack : p.spec.pack;
  plan.groups = pack_groups(pending);
  plan.assignments = pack_count(pending, plan.pack);
  plan.varied = p.spec.varied();
  plan.description = engine::describe_search(p.spec, search_facts(p));
  return plan;
}

nlohmann::json plan_json(const Plan& plan) {
  const Prepared& p = plan.p;
  const auto& est = plan.est;
  nlohmann::json j = {{"name", p.spec.name}, {"family", p.spec.family},
                      {"trials", p.total_trials}, {"done", plan.done_here},
                      {"pending", plan.pending().size()},
                      {"configurations_checked", p.configurations_checked},
                      {"data", p.data.describe()},
                      {"metric", p.spec.metric}, {"out", p.spec.out}, {"list", nlohmann::json::array()},
                      {"packing", {{"pack", plan.pack}, {"packable", plan.groups.packable},
                                   {"groups", plan.groups.groups}, {"assignments", plan.assignments}}}};
  for (auto& t : p.trials) {
    nlohmann::json v;
    for (auto& k : plan.varied) v[k] = t.params.at(k);
    j["list"].push_back({{"id", t.id}, {"repeat", t.repeat}, {"seed", t.seed}, {"params", v},
                         {"cost", t.cost},
                         {"done", plan.done.count(t.id) > 0}});
  }
  if (est) {
    j["estimate"] = {{"source", plan.source},  {"samples", est->samples},
                     {"s_fixed", est->s_fixed}, {"s_per_cost", est->s_per_cost},
                     {"total_s", est->total_s},
                     {"min_s", est->min_s},    {"mean_s", est->mean_s},
                     {"max_s", est->max_s}};
    j["allocation"] = {{"job_s", plan.job_s}, {"margin_s", plan.margin_s}, {"max_jobs", plan.max_jobs},
                       {"queue_max_s", plan.queue_max_s}, {"options", nlohmann::json::array()}};
    const auto& early = plan.early;
    for (std::size_t k = 0; k < plan.plans.size(); ++k) {
      const auto& [w, a] = plan.plans[k];
      nlohmann::json o = {{"workers", w}, {"makespan_s", a.makespan_s}, {"bound_s", a.bound_s},
                          {"jobs", a.jobs}, {"warnings", a.warnings}};
      if (k < early.size())
        o[p.spec.has_scheduler() ? "early_stopping" : "simulated"] = {{"trial_s", early[k].trial_s},
                               {"makespan_s", early[k].makespan_s},
                               {"makespan_range_s", {early[k].makespan_lo_s, early[k].makespan_hi_s}},
                               {"visits", early[k].visits}};
      j["allocation"]["options"].push_back(o);
    }
  }
  return j;
}

/// The plan as text, listing up to `list` trials (-1 = all).
std::string plan_text(const Plan& plan, int list) {
  const Prepared& p = plan.p;
  const auto& pending = plan.pending();
  const auto& est = plan.est;
  const auto& early = plan.early;
  const auto& plans = plan.plans;
  std::string out = fmt::format("sweep '{}' (family {}): {} trials", p.spec.name, p.spec.family, p.total_trials);
  if (p.spec.replicates() > 1)
    out += fmt::format(" ({} configurations x {} replicates: {} repeat(s) x {} fold(s))",
                       p.total_trials / p.spec.replicates(), p.spec.replicates(), p.spec.repeats,
                       p.spec.folds > 1 ? p.spec.folds : 1);
  if (plan.done_here > 0) out += fmt::format(", {} already done in {}", plan.done_here, p.spec.out);
  out += fmt::format("\nselect by {} ({}); output {}\n", p.spec.metric,
                     p.spec.mode == sweeps::Mode::kMax ? "max" : "min", p.spec.out);
  out += fmt::format("checked the data ({}) and {} distinct configuration(s) with the "
                     "family's checks ({})\n",
                     p.data.describe(), p.configurations_checked, p.family->validation());
  if (p.spec.folds > 1 && p.data.fold_examples > 0) {
    const std::int64_t n = p.data.fold_examples, k = p.spec.folds;
    // Parts differ in size by at most one (docs/formats.md, "Cross-validation folds").
    auto sizes = [](std::int64_t a, std::int64_t b) {
      return a == b ? fmt::format("{}", a) : fmt::format("{} or {}", a, b);
    };
    out += fmt::format("cross-validation: {} folds of the {} training + validation examples: "
                       "each replicate validates on {} and trains on the rest ({}); the test "
                       "split is the same for all\n",
                       k, n, sizes(n / k, (n + k - 1) / k), sizes(n - (n + k - 1) / k, n - n / k));
  }
  out += plan.description;
  if (plan.pack > 1) {
    out += fmt::format("packing up to {} trials per worker: {} of the {} trial(s) to run "
                       "share shapes in {} group(s); {} assignment(s) instead of {}\n",
                       plan.pack, plan.groups.packable, pending.size(), plan.groups.groups,
                       plan.assignments, pending.size());
  } else if (plan.groups.packable > 1) {
    out += fmt::format("packing off (\"pack\": 1): {} trial(s) to run share shapes in {} "
                       "group(s) and could train together on a GPU (\"pack\": K)\n",
                       plan.groups.packable, plan.groups.groups);
  }
  const size_t n = list < 0 ? p.trials.size() : std::min<size_t>(list, p.trials.size());
  for (size_t i = 0; i < n; ++i) {
    const auto& t = p.trials[i];
    std::string params;
    for (auto& k : plan.varied) params += fmt::format(" {}={}", k, engine::format_value(t.params.at(k)));
    const std::string fold = t.folds > 1 ? fmt::format(" f{}/{}", t.fold, t.folds) : "";
    out += fmt::format("  {:>5} {} r{}{}{}{}\n", t.index, t.id, t.repeat, fold, params,
                       plan.done.count(t.id) ? "  (done)" : "");
  }
  if (n < p.trials.size()) out += fmt::format("  ... {} more (--list -1 for all)\n", p.trials.size() - n);

  if (pending.empty()) return out + "nothing left to run\n";
  if (!est)
    return out + "estimate: no timings (--calibrate N runs N trials here first; --timings "
                 "RESULTS.csv uses an earlier run)\n";
  out += fmt::format(
      "estimate from {}:\n  per trial {} .. {} (mean {}; {} fixed + {:.3g} s per unit of the "
      "family's relative cost); {} trial(s) to run: {} of training on one worker\n",
      plan.source, core::human_duration(est->min_s), core::human_duration(est->max_s),
      core::human_duration(est->mean_s), core::human_duration(est->s_fixed), est->s_per_cost,
      pending.size(), core::human_duration(est->total_s));
  // What the simulated search is called: early stopping, or the search (PBT, a schedule).
  const std::string label = p.spec.has_scheduler() ? "early stopping" : "the search";
  if (!early.empty()) {
    out += fmt::format(
        "  with {}: about {} of training ({:.1f} % of the full grid's {}; {:.3g} "
        "{}visits) on {} worker(s): the scheduler run on the cost model with {} random "
        "orders of the trials' quality (mean; which trials go on is what the sweep finds out)\n",
        label, core::human_duration(early[0].trial_s), 100.0 * early[0].trial_s / est->total_s,
        core::human_duration(est->total_s), early[0].visits, p.spec.has_scheduler() ? "rung " : "",
        early[0].workers, kDraws);
  } else if (p.spec.has_scheduler()) {
    out += fmt::format("  with early stopping: not simulated ({} trials to run, at most {} "
                       "without a budget)\n", pending.size(), kMaxSimulated);
  }
  if (plan.job_s > 0) {
    out += fmt::format("allocation: jobs of {}, of which {} go to the drain at the end "
                       "(--margin), at most {} jobs (--max-jobs)\n",
                       core::human_duration(plan.job_s), core::human_duration(plan.margin_s),
                       plan.max_jobs);
  } else {
    out += "allocation: one job without a time limit (--time for walltime chunks)\n";
  }
  out += fmt::format("  {:>7}  {:>12}  {:>12}  {:>5}{}\n", "workers", "sweep time", "lower bound", "jobs",
                     early.empty() ? "" : fmt::format("  {:>14}  {:>12}", label, "its training"));
  for (std::size_t k = 0; k < plans.size(); ++k) {
    const auto& [w, a] = plans[k];
    std::string es;
    if (k < early.size())
      es = fmt::format("  {:>14}  {:>12}", core::human_duration(early[k].makespan_s),
                       core::human_duration(early[k].trial_s));
    out += fmt::format("  {:>7}  {:>12}  {:>12}  {:>5}{}{}\n", w, core::human_duration(a.makespan_s),
                       core::human_duration(a.bound_s), a.jobs, a.over_max_jobs && plans.size() > 1 ? " *" : "", es);
  }
  std::set<std::string> warned;
  for (auto& [w, a] : plans) {
    for (auto& msg : a.warnings) {
      if (a.over_max_jobs && msg == a.warnings.back() && plans.size() > 1) continue;  // footnote
      if (warned.insert(msg).second) out += fmt::format("  warning ({} workers): {}\n", w, msg);
    }
  }
  if (plans.size() > 1 && std::any_of(plans.begin(), plans.end(), [](auto& x) { return x.second.over_max_jobs; })) {
    out += fmt::format("  warning: * needs more jobs than --max-jobs {} (the launch script's "
                       "--max-resubmits + 1, or the site's limit on queued jobs or array "
                       "size): ask for more workers or a longer --time\n",
                       plan.max_jobs);
  }
  out += "  (sweep time: the coordinator's schedule simulated with these predictions, "
         "trials longest first; ranks = workers + 1 coordinator)\n";
  if (!early.empty())
    out += fmt::format("  ({}: the scheduler's own decisions simulated on the same "
                       "predictions, in one job without a time limit: its sweep time and the "
                       "trial-seconds it trains, the means over the random orders of quality)\n",
                       label);
  return out;
}

}  // namespace

int plan_command(const PlanOptions& opt, const engine::FamilyRegistry& registry) {
  const Plan plan = compute_plan(opt, registry);
  if (opt.json)
    std::cout << plan_json(plan).dump(2) << "\n";
  else
    std::cout << plan_text(plan, opt.list);
  return 0;
}

}  // namespace ns::app
