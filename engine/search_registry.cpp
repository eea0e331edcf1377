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
#include "engine/pbt_spec.hpp"
#include "engine/protocol.hpp"
#include "engine/replicates.hpp"

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

// ---- each kind's options, parsed by its own from_json ------------------------------------------

/// TPE + ASHA: ASHA's "scheduler" block with TPE's "search" block (TPE proposes the new
/// configurations ASHA starts at rung 0). An AshaSpec, so ASHA's readers see its block.
struct TpeAshaSpec : AshaSpec {
  TpeSpec tpe;
  int listed_draws(int random_count) const override { return tpe.listed_draws(random_count); }
  bool takes_warm_start() const override { return tpe.takes_warm_start(); }
};

template <typename T>
std::shared_ptr<const sweeps::SearchOptions> shared(T&& options) {
  return std::make_shared<const std::decay_t<T>>(std::forward<T>(options));
}

std::shared_ptr<const sweeps::SearchOptions> parse_asha(const sweeps::SpecBlocks& b) {
  return shared(AshaSpec::from_json(b, /*hyperband=*/false));
}
std::shared_ptr<const sweeps::SearchOptions> parse_hyperband(const sweeps::SpecBlocks& b) {
  return shared(AshaSpec::from_json(b, /*hyperband=*/true));
}
std::shared_ptr<const sweeps::SearchOptions> parse_tpe(const sweeps::SpecBlocks& b) {
  return shared(TpeSpec::from_json(b, /*with_asha=*/false));
}
std::shared_ptr<const sweeps::SearchOptions> parse_tpe_asha(const sweeps::SpecBlocks& b) {
  TpeAshaSpec s;
  static_cast<AshaSpec&>(s) = AshaSpec::from_json(b, /*hyperband=*/false);
  s.tpe = TpeSpec::from_json(b, /*with_asha=*/true);
  return shared(std::move(s));
}

/// TPE's options, alone or in TPE + ASHA.
const TpeSpec& tpe_spec(const SweepSpec& spec) {
  if (const auto* both = dynamic_cast<const TpeAshaSpec*>(spec.search_options.get())) return both->tpe;
  return spec.options_as<TpeSpec>();
}

// ---- early stopping: ASHA, Hyperband, the median rule ----------------------------------------

std::string describe_asha_kind(const SweepSpec& spec, const SearchFacts& facts) {
  const auto& sc = spec.options_as<AshaSpec>();
  const AshaOptions ao = asha_options(spec, sc);
  const AshaPlan ap = asha_plan(ao, facts.total_trials);
  std::string out = fmt::format(
      "early stopping: {} ({}{}), eta {}; rungs at {} {}; trials reaching each: {} (successive "
      "halving's floor(n / eta^k)); {:.4g} {} in all against {:.4g} for every configuration "
      "to the end ({:.1f} %)\n",
      sc.hyperband
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
  const auto& sc = spec.options_as<MedianSpec>();
  return fmt::format("early stopping: median stopping rule, reports every {} {} from {} to "
                     "{}; stops begin once {} trials finished (how much it saves "
                     "depends on the results)\n",
                     sc.every, sc.resource, sc.min, sc.max, sc.min_samples);
}

std::optional<double> asha_max(const SweepSpec& spec) { return spec.options_as<AshaSpec>().max; }
std::optional<double> median_max(const SweepSpec& spec) { return spec.options_as<MedianSpec>().max; }

/// ASHA's warning when no configuration can reach the top rung.
void warn_unreachable_top(const SweepSpec& spec, int n, BuiltSearch& out) {
  const auto& sc = spec.options_as<AshaSpec>();
  const AshaPlan plan = asha_plan(asha_options(spec, sc), n);
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
  auto asha = std::make_unique<AshaScheduler>(
      std::move(in.trials), asha_options(spec, spec.options_as<AshaSpec>()), std::move(in.journal));
  asha->restore(in.events, in.finished);
  BuiltSearch out;
  warn_unreachable_top(spec, n, out);
  out.scheduler = std::move(asha);
  return out;
}

BuiltSearch build_hyperband(const SweepSpec& spec, SearchInputs in) {
  const AshaSpec& sc = spec.options_as<AshaSpec>();
  auto hb = std::make_unique<HyperbandScheduler>(std::move(in.trials), asha_options(spec, sc),
                                                 std::move(in.journal));
  hb->restore(in.events, in.finished);
  BuiltSearch out;
  for (int s = hb->brackets() - 1; s >= 0; --s)
    out.info.push_back(fmt::format("Hyperband bracket {}: {} configurations, rungs at {} {}", s,
                                   hb->bracket_trials(s).size(),
                                   fmt::join(hb->bracket(s).rungs(), ", "), sc.resource));
  out.scheduler = std::move(hb);
  return out;
}

BuiltSearch build_median(const SweepSpec& spec, SearchInputs in) {
  auto median = std::make_unique<MedianStoppingScheduler>(
      std::move(in.trials), median_options(spec, spec.options_as<MedianSpec>()), std::move(in.journal));
  median->restore(in.events, in.finished);
  BuiltSearch out;
  out.scheduler = std::move(median);
  return out;
}

// ---- TPE, alone and as ASHA's source of new configurations ------------------------------------

std::string describe_tpe(const SweepSpec& spec, const SearchFacts& facts) {
  const TpeSpec& sc = tpe_spec(spec);
  return fmt::format(
      "search: TPE (Bergstra et al. 2011, Optuna's defaults): the {} random draws listed, then "
      "{} proposals from the results as they come in ({} candidates, gamma {} up to {}, "
      "prior weight {}); the list and the estimate cover the draws only\n",
      facts.listed, facts.total_trials - facts.listed, sc.candidates, sc.gamma, sc.gamma_max,
      sc.prior_weight);
}

BuiltSearch build_tpe(const SweepSpec& spec, SearchInputs in) {
  NS_CHECK(in.make_trial, "internal: TPE needs make_trial");
  TpeSearchOptions to = tpe_search_options(spec, tpe_spec(spec));
  to.prior = std::move(in.prior);
  auto tpe = std::make_unique<TpeScheduler>(spec.random, std::move(to),
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
  const auto& both = spec.options_as<TpeAshaSpec>();
  AshaOptions ao = asha_options(spec, both);
  ao.shuffle = false;
  auto asha = std::make_unique<AshaScheduler>(std::move(in.trials), ao, std::move(in.journal));
  TpeSearchOptions to = tpe_search_options(spec, both.tpe);
  to.prior = std::move(in.prior);
  asha->set_search(std::make_shared<TpeProposer>(spec.random, to, std::move(in.make_trial)),
                   to.trials - std::min(to.trials, both.tpe.startup));
  asha->restore(in.events, in.finished);
  BuiltSearch out;
  out.scheduler = std::move(asha);
  return out;
}

std::optional<double> not_simulated(const SweepSpec&) { return std::nullopt; }

// ---- PBT and the fixed schedule (its replay) ---------------------------------------------------

std::string describe_pbt(const SweepSpec& spec, const SearchFacts& facts) {
  const auto& sc = spec.options_as<PbtSpec>();
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
  auto pbt = std::make_unique<PbtScheduler>(std::move(in.trials),
                                            pbt_options(spec, spec.options_as<PbtSpec>()),
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
  const double max = spec.options_as<PbtSpec>().max;
  if (max > 0) return max;
  return std::nullopt;  // members train to their own end: plan does not know where that is
}

std::string describe_schedule(const SweepSpec& spec, const SearchFacts& facts) {
  std::vector<std::string> parts;
  for (const auto& seg : spec.options_as<ScheduleSpec>().segments)
    parts.push_back(seg.until > 0 ? fmt::format("to {}", seg.until) : std::string("to its end"));
  return fmt::format("search: a fixed schedule: the trial trains {} ({}), pausing between "
                     "segments\n",
                     fmt::join(parts, ", then "), facts.resource);
}

BuiltSearch build_schedule(const SweepSpec& spec, SearchInputs in) {
  NS_CHECK(in.trials.size() == 1, "internal: a fixed schedule has one trial");
  auto fixed = std::make_unique<FixedScheduleScheduler>(std::move(in.trials.front()),
                                                        spec.options_as<ScheduleSpec>().segments,
                                                        std::move(in.journal));
  fixed->restore(in.events, in.finished);
  BuiltSearch out;
  out.scheduler = std::move(fixed);
  return out;
}

std::optional<double> schedule_end(const SweepSpec& spec) {
  const double last = spec.options_as<ScheduleSpec>().segments.back().until;
  if (last > 0) return last;
  return std::nullopt;
}

}  // namespace

const std::vector<SearchKindEntry>& search_kinds() {
  // method, name, {scheduler word, search word, parser}, build, describe, plan's full resource
  static const std::vector<SearchKindEntry> kinds = {
      {SearchMethod::kList, "list", {nullptr, nullptr, nullptr}, build_list, describe_list, not_simulated},
      {SearchMethod::kAsha, "asha", {"asha", nullptr, parse_asha}, build_asha, describe_asha_kind, asha_max},
      {SearchMethod::kHyperband, "hyperband", {"hyperband", nullptr, parse_hyperband}, build_hyperband, describe_asha_kind, asha_max},
      {SearchMethod::kMedian, "median", {"median", nullptr, sweeps::parse_options<MedianSpec>}, build_median, describe_median, median_max},
      {SearchMethod::kTpe, "tpe", {nullptr, "tpe", parse_tpe}, build_tpe, describe_tpe, not_simulated},
      {SearchMethod::kTpeAsha, "tpe+asha", {"asha", "tpe", parse_tpe_asha}, build_tpe_asha, describe_tpe_asha, asha_max},
      {SearchMethod::kPbt, "pbt", {nullptr, "pbt", sweeps::parse_options<PbtSpec>}, build_pbt, describe_pbt, pbt_end},
      {SearchMethod::kSchedule, "schedule", {nullptr, "schedule", sweeps::parse_options<ScheduleSpec>}, build_schedule, describe_schedule, schedule_end},
  };
  return kinds;
}

const std::vector<sweeps::SearchKindParser>& search_parsers() {
  static const std::vector<sweeps::SearchKindParser> parsers = [] {
    std::vector<sweeps::SearchKindParser> out;
    for (const auto& k : search_kinds())
      if (k.spec.parse != nullptr) out.push_back(k.spec);
    return out;
  }();
  return parsers;
}

SweepSpec parse_spec(const nlohmann::json& j, const std::string& source,
                     const sweeps::FamilySchema& schema) {
  return sweeps::parse_spec_with(j, source, schema, search_parsers());
}

SearchMethod search_method(const SweepSpec& spec) {
  for (const auto& k : search_kinds())
    if (k.spec.selects(spec.scheduler_word, spec.search_word)) return k.method;
  throw Error(fmt::format("internal: no search kind has \"scheduler\" \"{}\" and \"search\" \"{}\"",
                          spec.scheduler_word, spec.search_word));
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

BuiltSearch build_search(const SweepSpec& spec, SearchInputs in) {
  const SearchKindEntry& kind = search_kind(spec);
  const int n = spec.replicates();
  if (n <= 1 || kind.method == SearchMethod::kList) return kind.build(spec, std::move(in));
  NS_CHECK(kind.method != SearchMethod::kPbt && kind.method != SearchMethod::kSchedule,
           "internal: {} with replicates (the spec parser refuses it)", kind.name);
  // The kind's own scheduler sees configurations: one per `n` listed replicates, and the
  // configuration of each proposal.
  auto ids = std::make_shared<SweepSpec>();
  ids->family = spec.family;
  ids->data = spec.data;
  ids->seed = spec.seed;
  SearchInputs inner;
  for (std::size_t i = 0; i < in.trials.size(); i += static_cast<std::size_t>(n))
    inner.trials.push_back(config_trial(spec, in.trials[i], n));
  if (in.make_trial)
    inner.make_trial = [ids, make = std::move(in.make_trial)](int index, const nlohmann::json& p) {
      return config_trial(*ids, make(index, p), 1);
    };
  inner.out = in.out;
  inner.read_only = in.read_only;
  inner.prior = std::move(in.prior);
  BuiltSearch out;
  auto replicates = std::make_unique<ReplicateScheduler>(
      spec,
      [&](ReplicateScheduler::Journal journal) {
        inner.journal = std::move(journal);
        BuiltSearch built = kind.build(spec, std::move(inner));
        out.info = std::move(built.info);
        out.warnings = std::move(built.warnings);
        return std::move(built.scheduler);
      },
      std::move(in.journal));
  replicates->restore(in.events, in.finished);
  out.scheduler = std::move(replicates);
  return out;
}

std::string describe_search(const SweepSpec& spec, const SearchFacts& facts) {
  const SearchKindEntry& kind = search_kind(spec);
  std::string out = kind.describe(spec, facts);
  if (spec.replicates() > 1 && kind.method != SearchMethod::kList)
    out += fmt::format(
        "replicates: {} per configuration ({} repeat(s) x {} fold(s)), {} trials in all; the "
        "search decides on each configuration's mean over its replicates, once all are back "
        "(resources above are per replicate: x {} in all)\n",
        spec.replicates(), spec.repeats, spec.folds > 1 ? spec.folds : 1,
        facts.total_trials * spec.replicates(), spec.replicates());
  return out;
}

nlohmann::json search_record(const SweepSpec& spec, const SearchFacts& facts) {
  const SearchKindEntry& kind = search_kind(spec);
  nlohmann::json out = {{"kind", kind.name}, {"description", describe_search(spec, facts)}};
  if (spec.replicates() > 1) out["replicates"] = spec.replicates();
  if (kind.method == SearchMethod::kTpe || kind.method == SearchMethod::kTpeAsha)
    out["random_first"] = tpe_spec(spec).startup;
  return out;
}

}  // namespace ns::engine
