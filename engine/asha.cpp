#include "engine/asha.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/json.hpp"
#include "engine/journal.hpp"
#include "engine/scheduler_util.hpp"

namespace ns::engine {

using scheduler_util::find_index;
using scheduler_util::index_by_id;
using scheduler_util::metric_of;
using scheduler_util::stopped_row;

std::vector<int> seeded_permutation(int n, std::uint64_t seed) {
  std::vector<int> p(static_cast<std::size_t>(std::max(n, 0)));
  for (int i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  const std::uint64_t stream = seed ^ 0x6a09e667f3bcc909ULL;
  std::uint64_t draw = 0;
  for (int i = n - 1; i > 0; --i) {
    const auto j =
        static_cast<int>(core::mix_seed(stream, draw++) % static_cast<std::uint64_t>(i + 1));
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(j)]);
  }
  return p;
}

std::vector<double> asha_rungs(const AshaOptions& o) {
  NS_CHECK(o.min > 0 && std::isfinite(o.min), "scheduler: min must be > 0, got {}", o.min);
  NS_CHECK(o.max >= o.min && std::isfinite(o.max),
           "scheduler: max must be >= min ({}), got {}", o.min, o.max);
  NS_CHECK(o.eta > 1 && std::isfinite(o.eta), "scheduler: eta must be > 1, got {}", o.eta);
  // K = floor(log_eta(max / min)), with a little slack so that exact powers are not lost to
  // rounding (min 1, max 27, eta 3: K = 3).
  const int K = static_cast<int>(std::floor(std::log(o.max / o.min) / std::log(o.eta) + 1e-9));
  std::vector<double> r;
  for (int k = 0; k < K; ++k) r.push_back(o.min * std::pow(o.eta, k));
  r.push_back(o.max);
  return r;
}

std::optional<double> asha_cutoff(std::vector<double> values, double eta) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
               values.end());
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const double q = 1.0 - 1.0 / eta;
  const double pos = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = static_cast<std::size_t>(std::ceil(pos));
  return values[lo] + (values[hi] - values[lo]) * (pos - static_cast<double>(lo));
}

AshaPlan asha_plan(const AshaOptions& o, int n) {
  AshaPlan p;
  p.rungs = asha_rungs(o);
  double before = 0, scale = 1;
  for (std::size_t k = 0; k < p.rungs.size(); ++k) {
    const int nk = static_cast<int>(std::floor(static_cast<double>(n) / scale + 1e-9));
    p.trials.push_back(nk);
    p.resource += nk * (p.rungs[k] - before);
    before = p.rungs[k];
    scale *= o.eta;
  }
  p.full = static_cast<double>(n) * o.max;
  return p;
}

AshaScheduler::AshaScheduler(std::vector<sweeps::Trial> trials, AshaOptions options,
                             std::function<void(const nlohmann::json&)> journal)
    : opt_(std::move(options)), rungs_(asha_rungs(opt_)), journal_(std::move(journal)) {
  NS_CHECK(opt_.promotion || !opt_.synchronous,
           "scheduler: synchronous successive halving needs the promotion variant");
  std::stable_sort(trials.begin(), trials.end(),
                   [](const sweeps::Trial& a, const sweeps::Trial& b) { return a.index < b.index; });
  for (auto& t : trials) entries_.push_back(Entry{std::move(t)});
  index_ = index_by_id(entries_);
  ranked_.resize(rungs_.size());
  const int n = static_cast<int>(entries_.size());
  if (opt_.shuffle) {
    start_order_ = seeded_permutation(n, opt_.order_seed);
  } else {
    for (int i = 0; i < n; ++i) start_order_.push_back(i);
  }
  promoted_.resize(rungs_.size());
  candidates_.resize(rungs_.size());
  bound_.resize(rungs_.size());
}

double AshaScheduler::score(double v) const { return ranking_score(v, opt_.maximize); }

AshaScheduler::Rank AshaScheduler::rank_key(int i, int rung) const {
  return {-score(entries_[i].values.at(rung)), entries_[i].trial.index, i};
}

std::vector<std::pair<std::string, double>> AshaScheduler::rung_table(int k) const {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& key : ranked_.at(k)) {
    const int i = std::get<2>(key);
    out.emplace_back(entries_[i].trial.id, entries_[i].values.at(k));
  }
  return out;
}

std::set<std::string> AshaScheduler::paused() const {
  std::set<std::string> out;
  for (const auto& e : entries_)
    if (e.state == State::kPaused) out.insert(e.trial.id);
  return out;
}

bool AshaScheduler::rung_complete(int k) const {
  if (k == 0 && more_left() > 0) return false;  // configurations still to be proposed
  for (const auto& e : entries_) {
    if (k == 0 && e.state == State::kNew) return false;
    if (e.state == State::kRunning && e.target <= k) return false;
  }
  for (int j : again_)
    if (entries_[j].target <= k) return false;
  return k == 0 || (rung_complete(k - 1) && promotable(k - 1) < 0);
}

std::size_t AshaScheduler::top_of(std::size_t n) const {
  return static_cast<std::size_t>(std::floor(static_cast<double>(n) / opt_.eta));
}

int AshaScheduler::promotable(int k) const {
  // The first paused, unpromoted trial in rung order, if it lies within the top: when the best
  // candidate does not, none does.
  const auto& candidates = candidates_[k];
  if (candidates.empty() || top_of(ranked_[k].size()) == 0) return -1;
  const Rank& best = *candidates.begin();
  return best <= *bound_[k] ? std::get<2>(best) : -1;
}

void AshaScheduler::sync(int i) {
  const Entry& e = entries_[i];
  for (const auto& [k, v] : e.values) {
    if (static_cast<std::size_t>(k) >= candidates_.size()) continue;
    const Rank key = rank_key(i, k);
    if (e.state == State::kPaused && !promoted_[k].count(i))
      candidates_[k].insert(key);
    else
      candidates_[k].erase(key);
  }
}

std::optional<std::pair<int, int>> AshaScheduler::job() const {
  if (!again_.empty()) return std::make_pair(again_.front(), entries_[again_.front()].target);
  const int top = static_cast<int>(rungs_.size()) - 1;
  if (opt_.promotion) {
    for (int k = top - 1; k >= 0; --k) {
      if (opt_.synchronous && !rung_complete(k)) continue;
      const int i = promotable(k);
      if (i >= 0) return std::make_pair(i, k + 1);
    }
  }
  // Entries leave kNew once and never return, so the scan resumes where it stopped.
  while (first_new_ < start_order_.size() &&
         entries_[static_cast<std::size_t>(start_order_[first_new_])].state != State::kNew)
    ++first_new_;
  if (first_new_ < start_order_.size())
    return std::make_pair(start_order_[first_new_], opt_.promotion ? 0 : top);
  // A search's next configuration: the entry it will become.
  if (proposal()) return std::make_pair(static_cast<int>(entries_.size()), opt_.promotion ? 0 : top);
  return std::nullopt;
}

int AshaScheduler::more_left() const {
  if (!search_ || exhausted_) return 0;
  return std::max(0, more_ - static_cast<int>(entries_.size() - listed_));
}

const sweeps::Trial* AshaScheduler::proposal() const {
  if (!proposal_valid_) {
    proposal_valid_ = true;
    proposal_.reset();
    if (more_left() > 0) {
      proposal_ = search_->propose(static_cast<int>(entries_.size()), observations(),
                                   [&](const std::string& id) { return index_.count(id) > 0; });
      if (!proposal_) exhausted_ = true;
    }
  }
  return proposal_ ? &*proposal_ : nullptr;
}

void AshaScheduler::set_search(std::shared_ptr<const TpeProposer> search, int more) {
  search_ = std::move(search);
  more_ = more;
  listed_ = entries_.size();
  proposal_valid_ = false;
}

std::vector<TpeObservation> AshaScheduler::observations() const {
  std::vector<TpeObservation> out;
  for (const Entry& e : entries_) {
    TpeObservation o;
    o.params = e.trial.params;
    if (e.state == State::kRunning || e.state == State::kQueued) {  // a queued one runs again
      o.state = TpeState::kRunning;
    } else if (e.completed && e.rung() >= 0) {
      o.state = TpeState::kComplete;
      o.value = e.values.rbegin()->second;
    } else if ((e.state == State::kPaused || e.state == State::kDone) && e.rung() >= 0) {
      o.state = TpeState::kStopped;
      o.value = e.values.rbegin()->second;
      o.resource = rungs_[static_cast<std::size_t>(e.rung())];
    } else {
      continue;  // not started, or failed before any rung
    }
    out.push_back(std::move(o));
  }
  return out;
}

msg::Assign AshaScheduler::assign_for(int i, int target) const {
  msg::Assign a;
  const bool proposed = i == static_cast<int>(entries_.size());
  a.trial = proposed ? *proposal_ : entries_[i].trial;
  a.attempt = proposed ? 1 : entries_[i].attempt;
  const int top = static_cast<int>(rungs_.size()) - 1;
  a.resource_limit = rungs_[target];
  a.final_rung = target == top;
  if (!opt_.promotion) a.rungs.assign(rungs_.begin(), rungs_.end() - 1);
  return a;
}

const msg::Assign* AshaScheduler::choose(int) const {
  const auto j = job();
  if (!j) return nullptr;
  return show(assign_for(j->first, j->second));
}

msg::Assign AshaScheduler::commit(int, std::optional<msg::Assign>) {
  const auto j = job();
  NS_CHECK(j.has_value(), "internal: AshaScheduler::take without a job");
  const auto [i, target] = *j;
  if (i == static_cast<int>(entries_.size())) {  // the search's proposal becomes an entry
    log(journal::TpePropose{proposal_->index, proposal_->id,
                            search_->searched(proposal_->params)}
            .to_json());
    add_proposed(*proposal_);
  }
  proposal_valid_ = false;
  const journal::Start start{entries_[i].trial.id, target, entries_[i].attempt};
  log(start.to_json());
  apply(i, start);
  return assign_for(i, target);
}

void AshaScheduler::add_proposed(sweeps::Trial t) {
  const int i = static_cast<int>(entries_.size());
  index_[t.id] = i;
  start_order_.push_back(i);
  entries_.push_back(Entry{std::move(t)});
}

void AshaScheduler::apply(int i, const journal::Start& ev) {
  auto again = std::find(again_.begin(), again_.end(), i);
  if (again != again_.end()) again_.erase(again);
  Entry& e = entries_[i];
  const int target = ev.rung.value_or(0);
  if (target > 0 && e.state == State::kPaused) promoted_[target - 1].insert(i);
  e.state = State::kRunning;
  e.target = target;
  e.attempt = ev.attempt;
  sync(i);
  charge(i);
}

void AshaScheduler::apply(int i, const journal::Rung& ev) {
  Entry& e = entries_[i];
  record(i, ev.rung, ev.value);
  if (ev.decision == journal::RungDecision::kEnd) e.completed = true;
  if (ev.decision == journal::RungDecision::kPause) {
    e.state = State::kPaused;
    e.last = ev.row.value_or(ResultRow{});
    sync(i);
  }
  if (ev.decision == journal::RungDecision::kStop) {
    // Its stopped row comes from the worker; a restart before it writes the row from here.
    e.stopped_at = ev.rung;
    e.last = ev.row.value_or(ResultRow{});
    if (!e.last.metrics.count(opt_.metric)) e.last.metrics[opt_.metric] = ev.value;
  }
  charge(i);
}

void AshaScheduler::finish(int i) {
  Entry& e = entries_[i];
  e.state = State::kDone;
  for (const auto& [k, v] : e.values) promoted_[k].insert(i);  // it goes no further
  charge(i);
  sync(i);
}

void AshaScheduler::charge(int i) {
  Entry& e = entries_[i];
  const int r = e.rung();
  double c = 0;
  if (e.state == State::kRunning || e.state == State::kQueued)  // it trains toward its target
    c = rungs_[static_cast<std::size_t>(std::min(r + 1, e.target))];
  else if (r >= 0)
    c = rungs_[static_cast<std::size_t>(r)];
  used_ += c - e.charged;
  e.charged = c;
}

void AshaScheduler::log(nlohmann::json event) {
  if (journal_) journal_(event);
}

int AshaScheduler::index_of(const std::string& id) const { return find_index(index_, id); }

void AshaScheduler::record(int i, int rung, double value) {
  Entry& e = entries_[i];
  auto& ranked = ranked_[rung];
  auto& bound = bound_[rung];
  if (e.values.count(rung)) {  // a value recorded again (rare): place the bound anew
    const Rank old = rank_key(i, rung);
    ranked.erase(old);
    candidates_[rung].erase(old);
    e.values[rung] = value;
    ranked.insert(rank_key(i, rung));
    const std::size_t top = top_of(ranked.size());
    if (top > 0) bound = std::next(ranked.begin(), static_cast<std::ptrdiff_t>(top - 1));
  } else {
    const std::size_t before = top_of(ranked.size());
    e.values[rung] = value;
    const Rank key = rank_key(i, rung);
    ranked.insert(key);
    // The element at position before - 1 moves one down when the new one ranks above it.
    if (before > 0 && key < *bound) bound = std::prev(bound);
    if (top_of(ranked.size()) > before) bound = before == 0 ? ranked.begin() : std::next(bound);
  }
  sync(i);
}

void AshaScheduler::restore(const std::vector<nlohmann::json>& events,
                            const std::set<std::string>& finished) {
  // The journal's events through the handlers' own apply(), in order.
  proposal_valid_ = false;
  for (const auto& ev : events) {
    const journal::Kind kind = journal::kind_of(ev);
    if (kind == journal::Kind::kTpePropose && search_) {
      // The startup draws are entries already: the replay checks it is the next proposal.
      add_proposed(search_->replay(ev, static_cast<int>(entries_.size()), {}));
      continue;
    }
    if (kind != journal::Kind::kStart && kind != journal::Kind::kRung) continue;  // "final": rows decide
    const int i = index_of(ev.value("trial", std::string()));
    if (i < 0) continue;  // not a trial of this spec
    if (kind == journal::Kind::kStart) apply(i, journal::Start::from(ev));
    else apply(i, journal::Rung::from(ev));
  }
  // A trial with a row is over, whatever the journal says after its last rung (a kill between
  // the journal line and the row loses neither); one that was training is handed out first.
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (finished.count(e.trial.id)) {
      finish(static_cast<int>(i));
    } else if (e.state == State::kRunning && e.stopped_at >= 0) {
      // Told to stop, killed before its row: it trains no further; final_rows() writes the row.
      finish(static_cast<int>(i));
      e.row_owed = true;
    } else if (e.state == State::kRunning) {
      e.state = State::kQueued;
      again_.push_back(static_cast<int>(i));
    }
    charge(static_cast<int>(i));
    sync(static_cast<int>(i));
  }
}

Decision AshaScheduler::decide_report(int, const msg::Report& report) {
  proposal_valid_ = false;
  const int i = index_of(report.trial_id);
  if (i < 0 || opt_.promotion) return Decision::kContinue;
  Entry& e = entries_[i];
  // The highest rung below the top whose resource the trial reached and where it has no value.
  int k = -1;
  for (int r = static_cast<int>(rungs_.size()) - 2; r >= 0; --r) {
    if (report.resource >= rungs_[r] && !e.values.count(r)) {
      k = r;
      break;
    }
  }
  if (k < 0) return Decision::kContinue;
  const double v = metric_of(report.metrics, opt_.metric);
  std::vector<double> before;
  for (const auto& key : ranked_[k]) before.push_back(-std::get<0>(key));
  const auto cutoff = asha_cutoff(before, opt_.eta);
  const bool stop = cutoff && score(v) < *cutoff;
  std::optional<ResultRow> stopped;
  if (stop) {
    stopped.emplace();
    stopped->metrics = report.metrics;
  }
  const journal::Rung ev{e.trial.id, k, report.resource, v,
                         stop ? journal::RungDecision::kStop : journal::RungDecision::kContinue,
                         std::move(stopped)};
  log(ev.to_json());
  apply(i, ev);
  return stop ? Decision::kStop : Decision::kContinue;
}

Verdict AshaScheduler::decide_result(int, const msg::Assign& assign, const ResultRow& row,
                                 bool) {
  const int i = index_of(assign.trial.id);
  NS_CHECK(i >= 0, "internal: AshaScheduler got a result for unknown trial {}", assign.trial.id);
  proposal_valid_ = false;
  Entry& e = entries_[i];
  const double v = metric_of(row.metrics, opt_.metric);
  if (row.status == TrialStatus::kPaused) {
    const journal::Rung ev{e.trial.id, e.target, rungs_[e.target], v,
                           journal::RungDecision::kPause, row};
    log(ev.to_json());
    apply(i, ev);
    return Verdict::kHold;
  }
  // Ended: finished (at the top rung, or its own training ended sooner), stopped, failed.
  if (row.status == TrialStatus::kOk) {
    const journal::Rung ev{e.trial.id, e.target, rungs_[e.target], v,
                           journal::RungDecision::kEnd, std::nullopt};
    log(ev.to_json());
    apply(i, ev);
  }
  finish(i);
  return Verdict::kRecord;
}

void AshaScheduler::requeue(int, msg::Assign again) {
  const int i = index_of(again.trial.id);
  NS_CHECK(i >= 0, "internal: AshaScheduler asked to retry unknown trial {}", again.trial.id);
  proposal_valid_ = false;
  Entry& e = entries_[i];
  e.attempt = again.attempt;
  e.state = State::kQueued;
  sync(i);
  again_.insert(again_.begin(), i);
}

int AshaScheduler::pending() const {
  int n = static_cast<int>(again_.size()) + more_left();
  for (const auto& e : entries_)
    if (e.state == State::kNew || (e.state == State::kPaused && !opt_.promotion)) ++n;
  return n;
}

bool AshaScheduler::may_have_more() const {
  for (const auto& e : entries_)
    if (e.state == State::kRunning) return true;
  return false;
}

void AshaScheduler::annotate(const msg::Assign& assign, ResultRow& row) const {
  const int i = index_of(assign.trial.id);
  if (i < 0) return;
  const Entry& e = entries_[i];
  const int rung = e.rung() >= 0 ? e.rung() : e.target;
  row.rung = rung;
  row.resource = rungs_[rung];
}

std::vector<ResultRow> AshaScheduler::restored_rows() {
  std::vector<ResultRow> rows;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (!e.row_owed) continue;
    ResultRow r = stopped_row(e.trial, e.attempt, e.last);
    r.rung = e.stopped_at;
    r.resource = rungs_[e.stopped_at];
    r.error = fmt::format("stopped by the scheduler at rung {} (resource {}); row written from "
                          "the journal after a restart",
                          e.stopped_at, rungs_[e.stopped_at]);
    e.row_owed = false;
    rows.push_back(std::move(r));
  }
  return rows;
}

std::vector<ResultRow> AshaScheduler::final_rows() {
  proposal_valid_ = false;
  std::vector<ResultRow> rows;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (e.state != State::kPaused) continue;
    ResultRow r = stopped_row(e.trial, e.attempt, e.last);
    const int rung = e.rung();
    r.rung = rung;
    r.resource = rungs_[rung];
    r.error = fmt::format("stopped at rung {} of {} (resource {}): not among the top 1/{} there",
                          rung, rungs_.size() - 1, rungs_[rung], opt_.eta);
    log(journal::Final{e.trial.id, rung}.to_json());
    finish(static_cast<int>(i));
    rows.push_back(std::move(r));
  }
  return rows;
}

SchedulerRange SchedulerRange::from_json(const sweeps::SpecBlocks& blocks) {
  const core::JsonFields f(*blocks.scheduler, blocks.source() + ": $.scheduler");
  SchedulerRange r;
  if (!f.has("resource"))
    blocks.fail("$.scheduler.resource",
                "required key is missing; the family's resource (maskcnn: \"iterations\", "
                "convnet: \"epochs\", quadratic: \"steps\")");
  r.resource = f.string("resource", "", /*non_empty=*/true);
  for (const char* k : {"min", "max"})
    if (!f.has(k)) blocks.fail(std::string("$.scheduler.") + k, "required key is missing; a resource amount > 0");
  r.min = f.number("min", 0, core::Interval::above(0));
  r.max = f.number("max", 0, core::Interval::above(0));
  if (r.max < r.min) f.fail_with("max", fmt::format("must be >= min ({})", r.min));
  return r;
}

AshaSpec AshaSpec::from_json(const sweeps::SpecBlocks& blocks, bool hyperband) {
  const nlohmann::json& b = *blocks.scheduler;
  const std::string word = hyperband ? "hyperband" : "asha";
  blocks.allow_keys(b, "$.scheduler",
                    {"kind", "resource", "min", "max", "eta", "variant", "synchronous", "order"},
                    fmt::format(" for \"kind\": \"{}\"", word));
  const core::JsonFields f(b, blocks.source() + ": $.scheduler");
  AshaSpec s;
  static_cast<SchedulerRange&>(s) = SchedulerRange::from_json(blocks);
  s.hyperband = hyperband;
  s.eta = f.number("eta", 3, core::Interval::above(1));
  s.promotion = f.choice("variant", "promotion", {"promotion", "stopping"}) == "promotion";
  s.synchronous = f.boolean("synchronous", false);
  s.shuffle = f.choice("order", "shuffled", {"shuffled", "sweep"}) == "shuffled";
  if (s.synchronous && !s.promotion)
    f.fail_with("synchronous", "synchronous successive halving needs \"variant\": \"promotion\"");
  if (hyperband && !s.promotion)
    f.fail_with("variant", "hyperband runs each bracket as ASHA's promotion variant; remove "
                           "\"variant\" or use \"kind\": \"asha\"");
  return s;
}

AshaOptions asha_options(const sweeps::SweepSpec& spec, const AshaSpec& a) {
  AshaOptions o;
  o.min = a.min;
  o.max = a.max;
  o.eta = a.eta;
  o.promotion = a.promotion;
  o.synchronous = a.synchronous;
  o.shuffle = a.shuffle;
  o.order_seed = spec.seed;
  o.metric = spec.metric;
  o.maximize = spec.mode == sweeps::Mode::kMax;
  return o;
}

}  // namespace ns::engine
