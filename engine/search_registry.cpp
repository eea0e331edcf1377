#include "engine/search_registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/log.hpp"
#include "engine/asha.hpp"
#include "engine/hyperband.hpp"
#include "engine/median.hpp"
#include "engine/pbt.hpp"
#include "engine/protocol.hpp"

namespace ns::engine {

namespace {

using sweeps::SweepSpec;

// ---- the list: the spec's trials as enumerated, nothing adaptive ----------------------------

BuiltSearch build_list(const SweepSpec&, SearchInputs in) {
  if (!in.finished.empty())
    in.trials.erase(std::remove_if(in.trials.begin(), in.trials.end(),
                                   [&](const sweeps::Trial& t) { return in.finished.count(t.id) > 0; }),
                    in.trials.end());
  BuiltSearch out;
  out.scheduler = std::make_unique<ListScheduler>(std::move(in.trials), std::move(in.workers),
                                                  in.schedule, in.longest_first);
  return out;
}

std::string describe_list(const SweepSpec&, const SearchFacts&) { return ""; }

// ---- early stopping: ASHA, Hyperband, the median rule ----------------------------------------

std::string describe_asha_kind(const SweepSpec& spec, const SearchFacts& facts) {
  const auto& sc = *spec.scheduler;
  const AshaOptions ao = asha_options(spec);
  const AshaPlan ap = asha_plan(ao, facts.total_trials);
  std::string out = fmt::format(
      "early stopping: {} ({}{}), eta {}; rungs at {} {}; trials reaching each: {} (successive "
      "halving's floor(n / eta^k)); {:.4g} {} in all against {:.4g} for every configuration "
      "to the end ({:.1f} %)\n",
      sc.kind == sweeps::SchedulerKind::kHyperband
          ? "Hyperband, each bracket an ASHA; the most aggressive bracket"
          : "ASHA",
      sc.promotion ? "promotion" : "stopping", sc.synchronous ? ", synchronous" : "", sc.eta,
      fmt::join(ap.rungs, ", "), sc.resource, fmt::join(ap.trials, ", "), ap.resource,
      sc.resource, ap.full, 100.0 * ap.resource / ap.full);
  if (!sc.promotion)
    out += "  (the stopping variant's share depends on the order results arrive in; the "
           "figure is successive halving's)\n";
  return out;
}

std::string describe_median(const SweepSpec& spec, const SearchFacts&) {
  const auto& sc = *spec.scheduler;
  return fmt::format("early stopping: median stopping rule, reports every {} {} from {} to "
                     "{}; stops begin once {} trials finished (how much it saves "
                     "depends on the results)\n",
                     sc.every, sc.resource, sc.min, sc.max, sc.min_samples);
}

std::optional<double> scheduler_max(const SweepSpec& spec) { return spec.scheduler->max; }

/// ASHA's warning when no configuration can reach the top rung.
void warn_unreachable_top(const SweepSpec& spec, int n, BuiltSearch& out) {
  const auto& sc = *spec.scheduler;
  const AshaPlan plan = asha_plan(asha_options(spec), n);
  if (plan.trials.back() != 0) return;
  out.warnings.push_back(fmt::format(
      "with {} configurations and eta {}, none reaches the top rung ({} {}): successive "
      "halving keeps floor(n / eta^k) at rung k ({}); use at least {} configurations, or a "
      "larger min",
      n, sc.eta, sc.max, sc.resource, fmt::join(plan.trials, ", "),
      std::pow(sc.eta, static_cast<double>(plan.rungs.size() - 1))));
}

BuiltSearch build_asha(const SweepSpec& spec, SearchInputs in) {
  const int n = static_cast<int>(in.trials.size());
  auto asha = std::make_unique<AshaScheduler>(std::move(in.trials), asha_options(spec),
                                              std::move(in.journal));
  asha->restore(in.events, in.finished);
  BuiltSearch out;
  warn_unreachable_top(spec, n, out);
  out.scheduler = std::move(asha);
  return out;
}

BuiltSearch build_hyperband(const SweepSpec& spec, SearchInputs in) {
  auto hb = std::make_unique<HyperbandScheduler>(std::move(in.trials), asha_options(spec),
                                                 std::move(in.journal));
  hb->restore(in.events, in.finished);
  BuiltSearch out;
  for (int s = hb->brackets() - 1; s >= 0; --s)
    out.info.push_back(fmt::format("Hyperband bracket {}: {} configurations, rungs at {} {}", s,
                                   hb->bracket_trials(s).size(),
                                   fmt::join(hb->bracket(s).rungs(), ", "),
                                   spec.scheduler->resource));
  out.scheduler = std::move(hb);
  return out;
}

BuiltSearch build_median(const SweepSpec& spec, SearchInputs in) {
  auto median = std::make_unique<MedianStoppingScheduler>(
      std::move(in.trials), median_options(spec), std::move(in.journal));
  median->restore(in.events, in.finished);
  BuiltSearch out;
  out.scheduler = std::move(median);
  return out;
}

// ---- TPE, alone and as ASHA's source of new configurations ------------------------------------

std::string describe_tpe(const SweepSpec& spec, const SearchFacts& facts) {
  const auto& sc = *spec.search;
  return fmt::format(
      "search: TPE (Bergstra et al. 2011, Optuna's defaults): the {} random draws listed, then "
      "{} proposals from the results as they come in ({} candidates, gamma {} up to {}, "
      "prior weight {}); the list and the estimate cover the draws only\n",
      facts.listed, facts.total_trials - facts.listed, sc.candidates, sc.gamma, sc.gamma_max,
      sc.prior_weight);
}

BuiltSearch build_tpe(const SweepSpec& spec, SearchInputs in) {
  NS_CHECK(in.make_trial, "internal: TPE needs make_trial");
  auto tpe = std::make_unique<TpeScheduler>(spec.random, tpe_search_options(spec),
                                            std::move(in.trials), std::move(in.make_trial),
                                            std::move(in.journal));
  tpe->restore(in.events, in.finished);
  BuiltSearch out;
  if (tpe->proposed() > 0)
    out.info.push_back(fmt::format("TPE: {} trial(s) proposed by earlier runs", tpe->proposed()));
  out.scheduler = std::move(tpe);
  return out;
}

std::string describe_tpe_asha(const SweepSpec& spec, const SearchFacts& facts) {
  return describe_asha_kind(spec, facts) + describe_tpe(spec, facts);
}

BuiltSearch build_tpe_asha(const SweepSpec& spec, SearchInputs in) {
  // The startup draws in their own (random) order, then proposals.
  NS_CHECK(in.make_trial, "internal: TPE + ASHA needs make_trial");
  AshaOptions ao = asha_options(spec);
  ao.shuffle = false;
  auto asha = std::make_unique<AshaScheduler>(std::move(in.trials), ao, std::move(in.journal));
  const TpeSearchOptions to = tpe_search_options(spec);
  asha->set_search(std::make_shared<TpeProposer>(spec.random, to, std::move(in.make_trial)),
                   to.trials - std::min(to.trials, spec.search->startup));
  asha->restore(in.events, in.finished);
  BuiltSearch out;
  out.scheduler = std::move(asha);
  return out;
}

std::optional<double> not_simulated(const SweepSpec&) { return std::nullopt; }

// ---- PBT and the fixed schedule (its replay) ---------------------------------------------------

std::string describe_pbt(const SweepSpec& spec, const SearchFacts& facts) {
  const auto& sc = *spec.search;
  return fmt::format(
      "search: PBT (Jaderberg et al. 2017, asynchronous as Ray Tune's): the {} members listed "
      "train in segments of {} {}{}; at each pause a member in the bottom {} copies the "
      "checkpoint of one in the top {} and explores {} (resample probability {}, perturb by "
      "{}); snapshots in <out>/pbt/\n",
      sc.population, sc.interval, facts.resource,
      sc.max > 0 ? fmt::format(" up to {}", sc.max) : std::string(" to each member's own end"),
      sc.quantile, sc.quantile, fmt::join(sc.mutables, ", "), sc.resample_probability,
      fmt::join(sc.perturb, " or "));
}

BuiltSearch build_pbt(const SweepSpec& spec, SearchInputs in) {
  const std::filesystem::path out_dir = in.out;
  std::function<void(const std::string&)> remove;
  if (!in.read_only && !out_dir.empty())
    remove = [out_dir](const std::string& snapshot) {
      std::error_code ec;
      std::filesystem::remove_all(out_dir / snapshot, ec);
      if (ec) log::warn("PBT: cannot delete the snapshot {}: {}", snapshot, ec.message());
    };
  else
    remove = [](const std::string&) {};
  auto pbt = std::make_unique<PbtScheduler>(std::move(in.trials), pbt_options(spec),
                                            std::move(in.journal), std::move(remove));
  if (!in.snapshot_row)
    in.snapshot_row = [out_dir](const std::string& snapshot) -> std::optional<ResultRow> {
      if (out_dir.empty()) return std::nullopt;
      const auto file = out_dir / snapshot / "result.json";
      if (!std::filesystem::exists(file)) return std::nullopt;
      return msg::row_from_json(sweeps::read_json_file(file.string()));
    };
  pbt->restore(in.events, in.finished, in.snapshot_row);
  BuiltSearch out;
  if (pbt->exploits() > 0)
    out.info.push_back(fmt::format("PBT: {} exploit(s) by earlier runs", pbt->exploits()));
  out.scheduler = std::move(pbt);
  return out;
}

std::optional<double> pbt_end(const SweepSpec& spec) {
  if (spec.search->max > 0) return spec.search->max;
  return std::nullopt;  // members train to their own end: plan does not know where that is
}

std::string describe_schedule(const SweepSpec& spec, const SearchFacts& facts) {
  std::vector<std::string> parts;
  for (const auto& seg : spec.search->segments)
    parts.push_back(seg.until > 0 ? fmt::format("to {}", seg.until) : std::string("to its end"));
  return fmt::format("search: a fixed schedule: the trial trains {} ({}), pausing between "
                     "segments\n",
                     fmt::join(parts, ", then "), facts.resource);
}

BuiltSearch build_schedule(const SweepSpec& spec, SearchInputs in) {
  NS_CHECK(in.trials.size() == 1, "internal: a fixed schedule has one trial");
  auto fixed = std::make_unique<FixedScheduleScheduler>(std::move(in.trials.front()),
                                                        spec.search->segments,
                                                        std::move(in.journal));
  fixed->restore(in.events, in.finished);
  BuiltSearch out;
  out.scheduler = std::move(fixed);
  return out;
}

std::optional<double> schedule_end(const SweepSpec& spec) {
  const double last = spec.search->segments.back().until;
  if (last > 0) return last;
  return std::nullopt;
}

// ---- which spec each kind runs (the spec parser allows only these combinations) ------------

bool scheduler_is(const SweepSpec& s, sweeps::SchedulerKind k) {
  return s.scheduler && s.scheduler->kind == k;
}
bool search_is(const SweepSpec& s, sweeps::SearchKind k) { return s.search && s.search->kind == k; }

bool selects_list(const SweepSpec& s) { return !s.scheduler && !s.search; }
bool selects_asha(const SweepSpec& s) {
  return !s.search && scheduler_is(s, sweeps::SchedulerKind::kAsha);
}
bool selects_hyperband(const SweepSpec& s) {
  return !s.search && scheduler_is(s, sweeps::SchedulerKind::kHyperband);
}
bool selects_median(const SweepSpec& s) {
  return !s.search && scheduler_is(s, sweeps::SchedulerKind::kMedian);
}
bool selects_tpe(const SweepSpec& s) { return !s.scheduler && search_is(s, sweeps::SearchKind::kTpe); }
bool selects_tpe_asha(const SweepSpec& s) {
  return search_is(s, sweeps::SearchKind::kTpe) && scheduler_is(s, sweeps::SchedulerKind::kAsha);
}
bool selects_pbt(const SweepSpec& s) { return search_is(s, sweeps::SearchKind::kPbt); }
bool selects_schedule(const SweepSpec& s) { return search_is(s, sweeps::SearchKind::kSchedule); }

}  // namespace

const std::vector<SearchKindEntry>& search_kinds() {
  static const std::vector<SearchKindEntry> kinds = {
      {SearchMethod::kList, "list", selects_list, build_list, describe_list, not_simulated},
      {SearchMethod::kAsha, "asha", selects_asha, build_asha, describe_asha_kind, scheduler_max},
      {SearchMethod::kHyperband, "hyperband", selects_hyperband, build_hyperband,
       describe_asha_kind, scheduler_max},
      {SearchMethod::kMedian, "median", selects_median, build_median, describe_median,
       scheduler_max},
      {SearchMethod::kTpe, "tpe", selects_tpe, build_tpe, describe_tpe, not_simulated},
      {SearchMethod::kTpeAsha, "tpe+asha", selects_tpe_asha, build_tpe_asha, describe_tpe_asha,
       scheduler_max},
      {SearchMethod::kPbt, "pbt", selects_pbt, build_pbt, describe_pbt, pbt_end},
      {SearchMethod::kSchedule, "schedule", selects_schedule, build_schedule, describe_schedule,
       schedule_end},
  };
  return kinds;
}

SearchMethod search_method(const SweepSpec& spec) {
  const SearchKindEntry* found = nullptr;
  for (const auto& k : search_kinds()) {
    if (!k.selects(spec)) continue;
    NS_CHECK(found == nullptr, "internal: search kinds '{}' and '{}' both select the spec",
             found ? found->name : "", k.name);
    found = &k;
  }
  NS_CHECK(found != nullptr, "internal: no search kind selects the spec");
  return found->method;
}

const SearchKindEntry& search_kind(SearchMethod method) {
  for (const auto& k : search_kinds())
    if (k.method == method) return k;
  throw Error("internal: search kind missing from the registry");
}

const SearchKindEntry& search_kind(const SweepSpec& spec) {
  return search_kind(search_method(spec));
}

std::optional<SearchMethod> search_method_named(const std::string& name) {
  for (const auto& k : search_kinds())
    if (name == k.name) return k.method;
  return std::nullopt;
}

nlohmann::json search_record(const SweepSpec& spec, const SearchFacts& facts) {
  const SearchKindEntry& kind = search_kind(spec);
  nlohmann::json out = {{"kind", kind.name}, {"description", kind.describe(spec, facts)}};
  if (kind.method == SearchMethod::kTpe || kind.method == SearchMethod::kTpeAsha)
    out["random_first"] = spec.search->startup;
  return out;
}

}  // namespace ns::engine
