#include "engine/tpe_search.hpp"
#include "engine/journal.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "engine/results.hpp"

namespace ns::engine {

namespace {
constexpr int kRedraws = 100;
constexpr int kTpeRedraws = 10;
}  // namespace

TpeSpec TpeSpec::from_json(const sweeps::SpecBlocks& blocks, bool with_asha) {
  const nlohmann::json& b = *blocks.search;
  blocks.allow_keys(b, "$.search", {"kind", "startup", "candidates", "gamma", "gamma_max", "prior_weight"},
                    " for \"kind\": \"tpe\"");
  const core::JsonFields f(b, blocks.source() + ": $.search");
  TpeSpec s;
  // With a warm start the prior observations may take the place of the random draws (0).
  s.startup = static_cast<int>(f.integer(
      "startup", 10,
      core::Interval::closed(blocks.spec.warm_start.empty() ? 1 : 0, sweeps::kMaxSpecTrials)));
  s.candidates = static_cast<int>(f.integer("candidates", 24, core::Interval::closed(1, 100000)));
  s.gamma = f.number("gamma", 0.1, {0.0, 1.0, true, false});
  s.gamma_max = static_cast<int>(f.integer("gamma_max", 25, core::Interval::closed(1, sweeps::kMaxSpecTrials)));
  s.prior_weight = f.number("prior_weight", 1.0, core::Interval::above(0));
  const sweeps::SweepSpec& spec = blocks.spec;
  if (spec.random.empty())
    blocks.fail("$.search", "needs a \"random\" block: its \"params\" are the space TPE searches "
                            "and its \"count\" the number of trials");
  if (!spec.grid.empty())
    blocks.fail("$.grid", "cannot be combined with \"search\"; give every searched parameter a "
                          "distribution in $.random.params (a list of values: {\"dist\": \"choice\", ...})");
  if (blocks.scheduler && !with_asha)
    blocks.fail("$.scheduler.kind", "\"search\" combines with \"asha\" only (TPE + ASHA)");
  return s;
}

TpeSearchOptions tpe_search_options(const sweeps::SweepSpec& spec, const TpeSpec& t) {
  TpeSearchOptions o;
  o.tpe.startup = t.startup;
  o.tpe.candidates = t.candidates;
  o.tpe.gamma_fraction = t.gamma;
  o.tpe.gamma_max = t.gamma_max;
  o.tpe.prior_weight = t.prior_weight;
  o.tpe.maximize = spec.mode == sweeps::Mode::kMax;
  o.trials = spec.random_count;
  o.seed = spec.seed;
  o.metric = spec.metric;
  return o;
}

TpeProposer::TpeProposer(TpeSpace space, TpeSearchOptions options, MakeTrial make_trial)
    : sampler_(std::move(space), options.tpe),
      options_(std::move(options)),
      make_trial_(std::move(make_trial)) {}

nlohmann::json TpeProposer::searched(const nlohmann::json& params) const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, d] : sampler_.space()) out[name] = params.at(name);
  return out;
}

std::optional<sweeps::Trial> TpeProposer::propose(
    int k, const std::vector<TpeObservation>& obs,
    const std::function<bool(const std::string&)>& tried) const {
  const std::vector<TpeObservation> none;
  // A warm start's observations come first, then this sweep's (engine/warm_start.hpp).
  std::vector<TpeObservation> all;
  const std::vector<TpeObservation>* seen = &obs;
  if (!options_.prior.empty()) {
    all = options_.prior;
    all.insert(all.end(), obs.begin(), obs.end());
    seen = &all;
  }
  for (int redraw = 0; redraw < kRedraws; ++redraw) {
    const std::uint64_t seed =
        core::mix_seed(options_.seed, static_cast<std::uint64_t>(k) * kRedraws + redraw);
    // After kTpeRedraws repeats of tried configurations, draws from the prior (a small discrete
    // space where l(x)/g(x) keeps pointing at a configuration already tried).
    sweeps::Trial t =
        make_trial_(k, sampler_.propose(redraw < kTpeRedraws ? *seen : none, seed));
    if (tried(t.id)) continue;
    t.index = k;
    return t;
  }
  log::warn("tpe: proposal {} found only configurations already tried in {} draws ({} from "
            "TPE, then from the prior): the space looks exhausted; the search ends with {} of {} "
            "trials",
            k, kRedraws, kTpeRedraws, k, options_.trials);
  return std::nullopt;
}

sweeps::Trial TpeProposer::replay(const nlohmann::json& ev, int expected,
                                  const std::vector<sweeps::Trial>& startup) const {
  const int k = ev.at("index").get<int>();
  const std::string id = ev.at("trial").get<std::string>();
  NS_CHECK(k == expected,
           "reports.jsonl: TPE proposal {} ({}) out of order: expected proposal {}; the journal "
           "does not belong to this sweep",
           k, id, expected);
  sweeps::Trial t = k < static_cast<int>(startup.size()) ? startup[static_cast<std::size_t>(k)]
                                                         : make_trial_(k, ev.at("params"));
  t.index = k;
  NS_CHECK(t.id == id,
           "reports.jsonl: TPE proposal {} was trial {}, but this spec gives {} for it; the "
           "spec's search space, fixed parameters or data changed since (start a new output "
           "directory)",
           k, id, t.id);
  return t;
}

TpeScheduler::TpeScheduler(TpeSpace space, TpeSearchOptions options,
                           std::vector<sweeps::Trial> startup, MakeTrial make_trial,
                           std::function<void(const nlohmann::json&)> journal)
    : proposer_(std::move(space), std::move(options), std::move(make_trial)),
      startup_(std::move(startup)),
      journal_(std::move(journal)) {
  if (static_cast<int>(startup_.size()) > proposer_.options().trials) startup_.resize(proposer_.options().trials);
}

std::vector<TpeObservation> TpeScheduler::observations() const {
  std::vector<TpeObservation> out;
  out.reserve(entries_.size());
  for (const Entry& e : entries_) {
    if (e.state == State::kFailed) continue;
    TpeObservation o;
    o.params = e.proposal;
    o.state = e.state == State::kDone ? TpeState::kComplete : TpeState::kRunning;  // or queued
    o.value = e.value;
    out.push_back(std::move(o));
  }
  return out;
}

const std::optional<msg::Assign>& TpeScheduler::upcoming() const {
  if (upcoming_valid_) return upcoming_;
  upcoming_valid_ = true;
  upcoming_.reset();
  const int k = static_cast<int>(entries_.size());
  if (k >= proposer_.options().trials || exhausted_) return upcoming_;
  msg::Assign a;
  if (k < static_cast<int>(startup_.size())) {
    a.trial = startup_[static_cast<std::size_t>(k)];
    a.trial.index = k;
    upcoming_ = std::move(a);
    return upcoming_;
  }
  auto t = proposer_.propose(k, observations(),
                             [&](const std::string& id) { return by_id_.count(id) > 0; });
  if (!t) {
    exhausted_ = true;
    return upcoming_;
  }
  a.trial = std::move(*t);
  upcoming_ = std::move(a);
  return upcoming_;
}

const msg::Assign* TpeScheduler::choose(int) const {
  if (!again_.empty()) return &again_.front();
  const auto& u = upcoming();
  return u ? &*u : nullptr;
}

msg::Assign TpeScheduler::commit(int worker, std::optional<msg::Assign>) {
  if (!again_.empty()) {
    msg::Assign a = std::move(again_.front());
    again_.pop_front();
    auto it = by_id_.find(a.trial.id);
    if (it != by_id_.end()) entries_[static_cast<std::size_t>(it->second)].state = State::kRunning;
    return a;
  }
  const msg::Assign* n = choose(worker);
  NS_CHECK(n != nullptr, "tpe: take() without a trial to take");
  msg::Assign a = *n;
  const journal::TpePropose ev{a.trial.index, a.trial.id, proposer_.searched(a.trial.params)};
  if (journal_) journal_(ev.to_json());
  apply(ev, a.trial);
  return a;
}

void TpeScheduler::apply(const journal::TpePropose& ev, sweeps::Trial trial) {
  Entry e;
  e.trial = std::move(trial);
  e.proposal = ev.params;
  by_id_[e.trial.id] = static_cast<int>(entries_.size());
  entries_.push_back(std::move(e));
  upcoming_valid_ = false;
}

void TpeScheduler::apply(const journal::Retry& ev) {
  auto it = by_id_.find(ev.trial);
  if (it == by_id_.end()) return;
  Entry& e = entries_[static_cast<std::size_t>(it->second)];
  e.attempt = ev.attempt;
  if (e.state == State::kRunning) e.state = State::kQueued;
}

void TpeScheduler::apply(const journal::TpeResult& ev) {
  auto it = by_id_.find(ev.trial);
  if (it == by_id_.end()) return;
  Entry& e = entries_[static_cast<std::size_t>(it->second)];
  // Any status but ok (an unknown word reads as kInvalid) is a failure to TPE.
  e.state = ev.status == TrialStatus::kOk ? State::kDone : State::kFailed;
  e.value = ev.value;
  upcoming_valid_ = false;
}

void TpeScheduler::requeue(int, msg::Assign again) {
  const journal::Retry ev{again.trial.id, again.attempt};
  if (journal_) journal_(ev.to_json());
  apply(ev);
  again_.push_front(std::move(again));
}

Verdict TpeScheduler::decide_result(int, const msg::Assign&, const ResultRow& row, bool) {
  auto m = row.metrics.find(proposer_.options().metric);
  const journal::TpeResult ev{row.trial_id, row.status,
                              m != row.metrics.end() ? m->second : std::nan("")};
  if (journal_) journal_(ev.to_json());
  apply(ev);
  return Verdict::kRecord;
}

int TpeScheduler::pending() const {
  int left = proposer_.options().trials - static_cast<int>(entries_.size());
  if (exhausted_) left = 0;
  return static_cast<int>(again_.size()) + std::max(0, left);
}

void TpeScheduler::restore(const std::vector<nlohmann::json>& events,
                           const std::set<std::string>& finished) {
  // The journal's events through the handlers' own apply(), in order.
  for (const auto& ev : events) {
    const journal::Kind kind = journal::kind_of(ev);
    if (kind == journal::Kind::kTpePropose) {
      const int k = static_cast<int>(entries_.size());
      apply(journal::TpePropose::from(ev), proposer_.replay(ev, k, startup_));
    } else if (kind == journal::Kind::kTpeResult) {
      apply(journal::TpeResult::from(ev));
    } else if (kind == journal::Kind::kRetry) {
      apply(journal::Retry::from(ev));
    }
  }
  // Proposed and not finished (no row, whatever the journal says: a kill between its result
  // line and its row): run again, first, in proposal order.
  for (Entry& e : entries_) {
    if (finished.count(e.trial.id)) continue;
    e.state = State::kQueued;
    msg::Assign a;
    a.trial = e.trial;
    a.attempt = e.attempt;
    again_.push_back(std::move(a));
  }
  upcoming_valid_ = false;
}

}  // namespace ns::engine
