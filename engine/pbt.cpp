#include "engine/pbt.hpp"
#include "engine/journal.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "engine/results.hpp"

namespace ns::engine {

using nlohmann::json;

PbtOptions pbt_options(const sweeps::SweepSpec& spec, const PbtSpec& s) {
  PbtOptions o;
  o.population = s.population;
  o.interval = s.interval;
  o.max = s.max;
  o.quantile = s.quantile;
  o.perturb = s.perturb;
  o.resample_probability = s.resample_probability;
  o.mutables = s.mutables;
  o.space = spec.random;
  o.metric = spec.metric;
  o.maximize = spec.mode == sweeps::Mode::kMax;
  o.seed = spec.seed;
  return o;
}

PbtQuantiles pbt_quantiles(const std::vector<int>& ranked, double quantile) {
  const auto n = static_cast<int>(ranked.size());
  int q = static_cast<int>(std::ceil(n * quantile - 1e-12));
  if (q > n / 2) q = n / 2;  // floor(n / 2): the two never overlap
  PbtQuantiles out;
  out.top.assign(ranked.begin(), ranked.begin() + q);
  out.bottom.assign(ranked.end() - q, ranked.end());
  return out;
}

namespace {

// A splitmix64 stream: the same draws on every platform.
class Stream {
 public:
  explicit Stream(std::uint64_t seed) : state_(seed) {}
  double uniform() { return core::unit_double(next()); }
  std::size_t below(std::size_t n) {
    return std::min(n - 1, static_cast<std::size_t>(uniform() * static_cast<double>(n)));
  }

 private:
  std::uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ULL;
    return core::splitmix64(state_);
  }
  std::uint64_t state_;
};

const sweeps::Distribution& dist_of(const PbtOptions& o, const std::string& name) {
  for (const auto& [k, d] : o.space)
    if (k == name) return d;
  throw Error(fmt::format("internal: mutable parameter '{}' has no distribution", name));
}

std::string step_text(double step) {
  if (std::abs(step - std::round(step)) < 1e-9) return fmt::format("{}", std::llround(step));
  return fmt::format("{:.9g}", step);
}

}  // namespace

std::string pbt_snapshot(const std::string& trial_id, int segment, double step) {
  return fmt::format("pbt/{}/{}-{}", trial_id, segment, step_text(step));
}

json pbt_explore(const json& params, const PbtOptions& o, std::uint64_t stream, json& changes) {
  Stream rng(stream);
  json out = params;
  changes = json::object();
  for (const std::string& name : o.mutables) {
    const sweeps::Distribution& d = dist_of(o, name);
    const json old = params.at(name);
    json now;
    const bool resample = rng.uniform() < o.resample_probability;
    if (d.kind == sweeps::DistKind::kChoice) {
      auto it = std::find(d.choices.begin(), d.choices.end(), old);
      const double u = rng.uniform();
      if (resample || it == d.choices.end()) {
        now = sweeps::draw(d, u);
      } else {
        // A neighbour on the list: one step down or up (Ray); at an end the step outward stays.
        auto i = static_cast<std::ptrdiff_t>(it - d.choices.begin());
        i += u < 0.5 ? -1 : 1;
        i = std::clamp<std::ptrdiff_t>(i, 0, static_cast<std::ptrdiff_t>(d.choices.size()) - 1);
        now = d.choices[static_cast<std::size_t>(i)];
      }
    } else {
      const double u = rng.uniform();
      if (resample) {
        now = sweeps::draw(d, u);
      } else {
        const double f = o.perturb[std::min(o.perturb.size() - 1,
                                            static_cast<std::size_t>(u * o.perturb.size()))];
        double v = std::clamp(old.get<double>() * f, d.low, d.high);
        if (d.kind == sweeps::DistKind::kInt) {
          auto iv = static_cast<std::int64_t>(std::llround(v));
          // A factor that rounds back to the same integer moves it by one (else ints never move).
          if (iv == old.get<std::int64_t>() && f != 1.0) iv += f > 1 ? 1 : -1;
          iv = std::clamp<std::int64_t>(iv, static_cast<std::int64_t>(d.low),
                                        static_cast<std::int64_t>(d.high));
          now = iv;
        } else {
          now = v;
        }
      }
    }
    out[name] = now;
    if (now != old) changes[name] = json::array({old, now});
  }
  return out;
}

std::vector<PbtSegment> pbt_inherit(const std::vector<PbtSegment>& donor, double from, int member,
                                    const json& params) {
  std::vector<PbtSegment> lineage;
  for (const auto& seg : donor)
    if (seg.from < from - 1e-9 || lineage.empty()) lineage.push_back(seg);
  lineage.push_back({from, member, params});
  return lineage;
}

PbtHistory pbt_history(const std::vector<json>& events) {
  PbtHistory h;
  auto member = [&](const json& e) -> PbtHistory::Member& {
    const int i = e.at("member").get<int>();
    NS_CHECK(i >= 0 && i < static_cast<int>(h.members.size()),
             "reports.jsonl: PBT member {} has no \"pbt_start\" event", i);
    return h.members[static_cast<std::size_t>(i)];
  };
  for (const json& e : events) {
    const journal::Kind kind = journal::kind_of(e);
    if (kind == journal::Kind::kPbtStart) {
      const int i = e.at("member").get<int>();
      if (i >= static_cast<int>(h.members.size())) h.members.resize(static_cast<std::size_t>(i) + 1);
      auto& m = h.members[static_cast<std::size_t>(i)];
      m.trial = e.at("trial").get<std::string>();
      m.initial = e.at("params");
      m.lineage = {{0, i, m.initial}};
    } else if (kind == journal::Kind::kPbtResult) {
      auto& m = member(e);
      m.status = e.at("status").get<TrialStatus>();
      if (m.status == TrialStatus::kPaused || m.status == TrialStatus::kOk)
        m.values.emplace_back(e.at("step").get<double>(), journal_value(e.at("value")));
    } else if (kind == journal::Kind::kPbtContinue) {
      auto& m = member(e);
      m.lineage.push_back({e.at("step").get<double>(), e.at("member").get<int>(),
                           m.lineage.back().params});
    } else if (kind == journal::Kind::kPbtExploit) {
      auto& m = member(e);
      const int d = e.at("donor").get<int>();
      PbtHistory::Exploit x;
      x.member = e.at("member").get<int>();
      x.donor = d;
      x.step = e.at("step").get<double>();
      x.from = e.at("from_step").get<double>();
      x.changes = e.at("changes");
      x.reason = e.value("reason", ExploitReason::kQuantile);
      h.exploits.push_back(x);
      NS_CHECK(d >= 0 && d < static_cast<int>(h.members.size()),
               "reports.jsonl: PBT donor {} has no \"pbt_start\" event", d);
      m.lineage = pbt_inherit(h.members[static_cast<std::size_t>(d)].lineage, x.from, x.member,
                              e.at("params"));
    }
  }
  NS_CHECK(!h.members.empty(), "reports.jsonl has no PBT events (\"pbt_start\")");
  return h;
}

json pbt_replay_spec(const json& spec, const PbtHistory& history, int member, double max) {
  const auto& lineage = history.members.at(static_cast<std::size_t>(member)).lineage;
  const int root = lineage.front().member;
  const json& initial = history.members.at(static_cast<std::size_t>(root)).initial;
  json out = spec;
  for (const char* k : {"random", "search", "out", "budget"}) out.erase(k);
  if (!out.contains("fixed")) out["fixed"] = json::object();
  if (spec.contains("random") && spec["random"].contains("params"))
    for (auto& [k, v] : spec["random"]["params"].items()) out["fixed"][k] = initial.at(k);
  out["name"] = fmt::format("{}_replay_{}", spec.value("name", std::string("pbt")),
                            history.members.at(static_cast<std::size_t>(member)).trial);
  json segments = json::array();
  for (std::size_t s = 0; s < lineage.size(); ++s) {
    json seg = json::object();
    const double until = s + 1 < lineage.size() ? lineage[s + 1].from : max;
    if (until > 0) seg["until"] = until;
    json changes = json::object();
    const json& before = s == 0 ? initial : lineage[s - 1].params;
    for (auto& [k, v] : lineage[s].params.items())
      if (!before.contains(k) || before.at(k) != v) changes[k] = v;
    if (!changes.empty()) seg["params"] = changes;
    segments.push_back(seg);
  }
  out["search"] = {{"kind", "schedule"}, {"segments", segments}};
  return out;
}

PbtScheduler::PbtScheduler(std::vector<sweeps::Trial> members, PbtOptions options,
                           std::function<void(const json&)> journal,
                           std::function<void(const std::string&)> remove_snapshot)
    : opt_(std::move(options)), journal_(std::move(journal)),
      remove_snapshot_(std::move(remove_snapshot)) {
  NS_CHECK(opt_.interval > 0, "PBT needs an interval > 0");
  for (auto& t : members) {
    Member m;
    m.trial = std::move(t);
    m.lineage.push_back({0, static_cast<int>(members_.size()), m.trial.params});
    make_ready(m);
    index_[m.trial.id] = static_cast<int>(members_.size());
    members_.push_back(std::move(m));
  }
}

double PbtScheduler::score(double v) const { return ranking_score(v, opt_.maximize); }

double PbtScheduler::target(const Member& m) const {
  const double next = (std::floor(m.step / opt_.interval + 1e-9) + 1) * opt_.interval;
  return opt_.max > 0 ? std::min(next, opt_.max) : next;
}

int PbtScheduler::index_of(const std::string& id) const {
  auto it = index_.find(id);
  NS_CHECK(it != index_.end(), "trial {} is not a member of this PBT population", id);
  return it->second;
}

void PbtScheduler::log(json event) {
  if (!replaying_ && journal_) journal_(event);
}

msg::Assign PbtScheduler::assign_for(int i) const {
  const Member& m = members_[i];
  msg::Assign a;
  a.trial = m.trial;
  a.attempt = m.failures + 1;
  a.resource_limit = target(m);
  a.final_rung = opt_.max > 0 && a.resource_limit >= opt_.max - 1e-9;
  a.adopt = m.adopt;
  a.snapshot = pbt_snapshot(m.trial.id, m.results, a.resource_limit);
  return a;
}

const msg::Assign* PbtScheduler::next(int) const {
  int best = -1;
  for (int i = 0; i < size(); ++i) {
    if (members_[i].state != State::kReady) continue;
    // The smallest step first (members take turns); at equal steps, the one that has waited
    // longest (the ready order), so a member that others keep copying is not starved by them.
    const Member& m = members_[i];
    if (best < 0 || m.step < members_[best].step - 1e-9 ||
        (m.step < members_[best].step + 1e-9 && m.queued < members_[best].queued))
      best = i;
  }
  if (best < 0) return nullptr;
  shown_ = assign_for(best);
  return &*shown_;
}

msg::Assign PbtScheduler::take(int worker) {
  if (!shown_) next(worker);
  NS_CHECK(shown_.has_value(), "internal: PBT take() with no member ready");
  msg::Assign a = std::move(*shown_);
  shown_.reset();
  members_[index_of(a.trial.id)].state = State::kRunning;
  return a;
}

std::vector<int> PbtScheduler::ranked() const {
  std::vector<int> r;
  for (int i = 0; i < size(); ++i)
    if (members_[i].value && members_[i].state != State::kDone) r.push_back(i);
  std::stable_sort(r.begin(), r.end(), [&](int a, int b) {
    return score(*members_[a].value) > score(*members_[b].value);
  });
  return r;
}

void PbtScheduler::release(const std::string& snapshot) {
  if (snapshot.empty() || finals_.count(snapshot)) return;
  auto it = pins_.find(snapshot);
  if (it != pins_.end() && !it->second.empty()) return;
  for (const auto& m : members_)
    if (m.latest == snapshot) return;
  if (it != pins_.end()) pins_.erase(it);
  if (!replaying_ && remove_snapshot_) remove_snapshot_(snapshot);
}

bool PbtScheduler::exploit(int i, double step, ExploitReason reason, bool quantile_only) {
  const std::vector<int> order = ranked();
  std::vector<int> donors;
  if (quantile_only) {
    donors = pbt_quantiles(order, opt_.quantile).top;
  } else {
    // A failed member: the top quantile of the others, or the best one when that is empty.
    std::vector<int> others;
    for (int k : order)
      if (k != i) others.push_back(k);
    donors = pbt_quantiles(others, opt_.quantile).top;
    if (donors.empty() && !others.empty()) donors.push_back(others.front());
  }
  donors.erase(std::remove_if(donors.begin(), donors.end(),
                              [&](int k) { return k == i || members_[k].latest.empty(); }),
               donors.end());
  if (donors.empty()) return false;
  Member& m = members_[i];
  Stream pick(core::mix_seed(opt_.seed, 0x9B7000ULL + static_cast<std::uint64_t>(i) * 1000003ULL +
                                            static_cast<std::uint64_t>(m.decisions)));
  const int d = donors[pick.below(donors.size())];
  const Member& donor = members_[d];
  json changes;
  json params = pbt_explore(donor.trial.params, opt_,
                            core::mix_seed(opt_.seed, 0xE7000ULL +
                                                          static_cast<std::uint64_t>(i) * 1000003ULL +
                                                          static_cast<std::uint64_t>(m.decisions)),
                            changes);
  ++m.decisions;
  const double from = donor.step;
  log({{"event", "pbt_exploit"},
       {"member", i},
       {"trial", m.trial.id},
       {"step", step},
       {"donor", d},
       {"donor_trial", donor.trial.id},
       {"from_step", from},
       {"snapshot", donor.latest},
       {"params", params},
       {"changes", changes},
       {"reason", reason}});
  const std::string own = m.latest;
  m.latest.clear();
  m.adopt = donor.latest;
  pins_[donor.latest].insert(i);
  m.trial.params = params;
  m.step = from;
  // The member keeps its own last value (not the donor's) until its next segment reports, as
  // Ray Tune's PopulationBasedTraining does (its _exploit hands over the donor's checkpoint,
  // config and perturbation time, never last_score), so every decision ranks the whole
  // population that has reported. Clearing it (before issue 27) left only the members that had
  // not just copied in the ranking, whose bottom then copied too: on a stationary population
  // 91-95 % of decisions were exploits at quantile 0.25 (tests/engine/test_pbt.cpp).
  m.lineage = pbt_inherit(donor.lineage, from, i, params);
  make_ready(m);
  ++exploits_;
  release(own);
  return true;
}

void PbtScheduler::make_ready(Member& m) {
  m.state = State::kReady;
  m.queued = ++queued_;
}

void PbtScheduler::decide(int i, double step) {
  Member& m = members_[i];
  const std::vector<int> order = ranked();
  const PbtQuantiles q = pbt_quantiles(order, opt_.quantile);
  const bool bottom = std::find(q.bottom.begin(), q.bottom.end(), i) != q.bottom.end();
  if (bottom && exploit(i, step, ExploitReason::kQuantile, true)) return;
  log({{"event", "pbt_continue"}, {"member", i}, {"trial", m.trial.id}, {"step", step}});
  // The same parameters from here on: a new segment, so a replay pauses where this one did.
  m.lineage.push_back({step, i, m.trial.params});
  make_ready(m);
}

void PbtScheduler::serve_waiting() {
  for (int i = 0; i < size(); ++i)
    if (members_[i].state == State::kWaiting) exploit(i, members_[i].step, ExploitReason::kFailed, false);
}

Verdict PbtScheduler::settle(int i, const msg::Assign& assign, const ResultRow& row) {
  Member& m = members_[i];
  // The snapshot it was given is loaded now (whatever came of the segment).
  if (!assign.adopt.empty()) {
    pins_[assign.adopt].erase(i);
    if (m.adopt == assign.adopt) m.adopt.clear();
    release(assign.adopt);
  }
  const double step = assign.resource_limit;
  auto it = row.metrics.find(opt_.metric);
  const double value = it == row.metrics.end() ? std::nan("") : it->second;
  log({{"event", "pbt_result"},
       {"member", i},
       {"trial", m.trial.id},
       {"step", step},
       {"status", to_string(row.status)},
       {"value", journal_json(value)},
       {"snapshot", assign.snapshot},
       {"adopted", assign.adopt}});
  ++m.results;
  if (row.status == TrialStatus::kPaused) {
    const std::string old = m.latest;
    m.latest = assign.snapshot;
    m.step = step;
    m.value = value;
    m.state = State::kRunning;  // deciding
    release(old);
    decide(i, step);
    serve_waiting();
    return Verdict::kHold;
  }
  if (row.status == TrialStatus::kOk || row.status == TrialStatus::kStopped) {
    m.state = State::kDone;
    m.step = step;
    m.value = value;
    const std::string old = m.latest;
    m.latest.clear();
    release(old);
    // A finished segment's snapshot holds its row only (result.json): kept, so a kill before
    // the row reaches results.csv loses nothing.
    finals_.insert(assign.snapshot);
    return Verdict::kRecord;
  }
  // Failed (or timed out): replaced by an exploit, not waited for.
  ++m.failures;
  m.last_failure = row;
  const std::string old = m.latest;
  m.latest.clear();
  m.value.reset();
  release(old);
  if (m.failures > opt_.max_failures) {
    m.state = State::kDone;
    return Verdict::kRecord;
  }
  if (!exploit(i, m.step, ExploitReason::kFailed, false)) m.state = State::kWaiting;
  return Verdict::kRetry;
}

Verdict PbtScheduler::on_result(int, const msg::Assign& assign, const ResultRow& row, bool) {
  const int i = index_of(assign.trial.id);
  shown_.reset();
  return settle(i, assign, row);
}

int PbtScheduler::pending() const {
  int n = 0;
  for (const auto& m : members_) n += m.state == State::kReady;
  return n;
}

bool PbtScheduler::may_have_more() const {
  bool running = false;
  for (const auto& m : members_) running |= m.state == State::kRunning;
  // A waiting member needs a snapshot: only a running member can still make one.
  return running;
}

std::vector<ResultRow> PbtScheduler::final_rows() {
  std::vector<ResultRow> rows = std::move(recovered_);
  recovered_.clear();
  for (auto& m : members_) {
    if (m.state != State::kWaiting) continue;
    // No member ever reached a snapshot to copy: its last failure is its row.
    m.state = State::kDone;
    if (m.last_failure) rows.push_back(*m.last_failure);
  }
  return rows;
}

double PbtScheduler::resource_used() const {
  double used = 0;
  for (const auto& m : members_) used += m.state == State::kRunning ? target(m) : m.step;
  return used;
}

std::map<std::string, std::set<int>> PbtScheduler::live_snapshots() const {
  std::map<std::string, std::set<int>> out;
  for (const auto& m : members_)
    if (!m.latest.empty()) out[m.latest];
  for (const auto& [s, who] : pins_)
    if (!who.empty()) out[s].insert(who.begin(), who.end());
  return out;
}

void PbtScheduler::restore(
    const std::vector<json>& events, const std::set<std::string>& finished,
    const std::function<std::optional<ResultRow>(const std::string&)>& segment_result) {
  replaying_ = true;
  std::set<std::string> seen;  // snapshots the journal named
  std::set<int> started;       // members with a pbt_start event
  std::map<int, std::string> final_of;  // members the journal says finished: their snapshot
  for (const json& e : events) {
    const journal::Kind kind = journal::kind_of(e);
    if (kind != journal::Kind::kPbtStart && kind != journal::Kind::kPbtResult &&
        kind != journal::Kind::kPbtContinue && kind != journal::Kind::kPbtExploit)
      continue;
    const int i = index_of(e.at("trial").get<std::string>());
    NS_CHECK(e.at("member").get<int>() == i,
             "reports.jsonl: PBT member {} is trial {} in this spec, not member {}; the journal "
             "is not this spec's",
             i, members_[i].trial.id, e.at("member").dump());
    if (kind == journal::Kind::kPbtStart) {
      started.insert(i);
      continue;
    }
    Member& m = members_[i];
    const double step = e.at("step").get<double>();
    if (kind == journal::Kind::kPbtResult) {
      msg::Assign a;
      a.resource_limit = step;
      a.snapshot = e.at("snapshot").get<std::string>();
      a.adopt = e.at("adopted").get<std::string>();
      ++m.results;
      ResultRow row;
      row.trial_id = m.trial.id;
      row.status = e.at("status").get<TrialStatus>();
      row.metrics[opt_.metric] = journal_value(e.at("value"));
      row.params = m.trial.params;
      seen.insert(a.snapshot);
      if (!a.adopt.empty()) seen.insert(a.adopt);
      // The decisions that follow are journaled events of their own: settle without deciding.
      const std::string adopt = a.adopt;
      if (!adopt.empty()) {
        pins_[adopt].erase(i);
        m.adopt.clear();
      }
      if (row.status == TrialStatus::kPaused) {
        m.latest = a.snapshot;
        m.step = step;
        m.value = row.metrics[opt_.metric];
        m.state = State::kRunning;  // until its decision's event
      } else if (row.status == TrialStatus::kOk || row.status == TrialStatus::kStopped) {
        finals_.insert(a.snapshot);
        final_of[i] = a.snapshot;
        m.state = State::kDone;
        m.step = step;
        m.value = row.metrics[opt_.metric];
        m.latest.clear();
      } else {
        ++m.failures;
        m.latest.clear();
        m.value.reset();
        m.last_failure = row;
        m.state = m.failures > opt_.max_failures ? State::kDone : State::kWaiting;
      }
    } else if (kind == journal::Kind::kPbtContinue) {
      m.lineage.push_back({step, i, m.trial.params});
      make_ready(m);
    } else if (kind == journal::Kind::kPbtExploit) {
      const int d = index_of(e.at("donor_trial").get<std::string>());
      const Member& donor = members_[d];
      const double from = e.at("from_step").get<double>();
      const std::string snap = e.at("snapshot").get<std::string>();
      seen.insert(snap);
      m.latest.clear();
      m.adopt = snap;
      pins_[snap].insert(i);
      m.trial.params = e.at("params");
      m.step = from;
      // Its own last value stays (as exploit() keeps it). A journal written when an exploit
      // cleared it resumes too: its decisions stand as recorded; the ones after follow this rule.
      ++m.decisions;
      m.lineage = pbt_inherit(donor.lineage, from, i, m.trial.params);
      make_ready(m);
      ++exploits_;
    }
  }
  replaying_ = false;
  // The first run: each member's initial parameters, for report's lineages.
  for (int i = 0; i < size(); ++i)
    if (!started.count(i))
      log({{"event", "pbt_start"},
           {"member", i},
           {"trial", members_[i].trial.id},
           {"seed", members_[i].trial.seed},
           {"params", members_[i].trial.params}});
  for (auto& m : members_)
    if (finished.count(m.trial.id)) m.state = State::kDone;
  // Finished, or out of failures, with no row (a kill between the journal and results.csv): the
  // row from the final snapshot's result.json, or the failure the journal recorded.
  for (int i = 0; i < size(); ++i) {
    Member& m = members_[i];
    if (m.state != State::kDone || finished.count(m.trial.id)) continue;
    std::optional<ResultRow> row;
    if (final_of.count(i) && segment_result) row = segment_result(final_of[i]);
    if (!row && m.last_failure) row = m.last_failure;
    if (row) recovered_.push_back(*row);
    else log::warn("PBT: member {} (trial {}) finished but its row is lost (no {}/result.json)",
                   i, m.trial.id, final_of.count(i) ? final_of[i] : std::string("snapshot"));
  }
  // A member paused with no decision journaled (a kill between the two): decide now.
  for (int i = 0; i < size(); ++i)
    if (members_[i].state == State::kRunning && members_[i].value && !members_[i].latest.empty() &&
        members_[i].latest == pbt_snapshot(members_[i].trial.id, members_[i].results - 1,
                                           members_[i].step))
      decide(i, members_[i].step);
  // A segment that came back on its worker after the journal's last word on it.
  if (segment_result) {
    for (int i = 0; i < size(); ++i) {
      if (members_[i].state != State::kReady) continue;
      const msg::Assign a = assign_for(i);
      std::optional<ResultRow> row = segment_result(a.snapshot);
      if (!row) continue;
      log::info("PBT: member {} (trial {}) had come back from its segment to {} before the run "
                "ended; taking its result",
                i, members_[i].trial.id, a.resource_limit);
      members_[i].state = State::kRunning;
      if (settle(i, a, *row) == Verdict::kRecord) recovered_.push_back(*row);
    }
  }
  serve_waiting();
  // Snapshots no member needs any more (a kill between a decision and the deletion).
  for (const auto& s : seen) release(s);
}

// ---------------------------------------------------------------------------------------------

FixedScheduleScheduler::FixedScheduleScheduler(sweeps::Trial trial,
                                               std::vector<ScheduleSegment> segments,
                                               std::function<void(const json&)> journal)
    : trial_(std::move(trial)), segments_(std::move(segments)), journal_(std::move(journal)) {
  NS_CHECK(!segments_.empty(), "a fixed schedule needs at least one segment");
}

json FixedScheduleScheduler::params_at(int k) const {
  json p = trial_.params;
  for (int s = 0; s <= k && s < static_cast<int>(segments_.size()); ++s)
    for (auto& [name, v] : segments_[s].params.items()) p[name] = v;
  return p;
}

void FixedScheduleScheduler::restore(const std::vector<json>& events,
                                     const std::set<std::string>& finished) {
  // The journal's events through the handler's own apply(), in order.
  for (const json& e : events)
    if (journal::kind_of(e) == journal::Kind::kScheduleSegment)
      apply(journal::ScheduleSegment::from(e));
  if (finished.count(trial_.id)) state_ = State::kDone;
}

void FixedScheduleScheduler::apply(const journal::ScheduleSegment& ev) {
  segment_ = std::max(segment_, ev.segment + 1);
  state_ = State::kReady;
}

const msg::Assign* FixedScheduleScheduler::next(int) const {
  if (state_ != State::kReady) return nullptr;
  msg::Assign a;
  a.trial = trial_;
  a.trial.params = params_at(segment_);
  const auto& seg = segments_.at(segment_);
  const bool last = segment_ + 1 == static_cast<int>(segments_.size());
  a.resource_limit = seg.until;
  a.final_rung = last;
  shown_ = std::move(a);
  return &*shown_;
}

msg::Assign FixedScheduleScheduler::take(int worker) {
  if (!shown_) next(worker);
  NS_CHECK(shown_.has_value(), "internal: fixed schedule take() with nothing ready");
  msg::Assign a = std::move(*shown_);
  shown_.reset();
  state_ = State::kRunning;
  return a;
}

Verdict FixedScheduleScheduler::on_result(int, const msg::Assign&, const ResultRow& row, bool) {
  shown_.reset();
  if (row.status == TrialStatus::kPaused &&
      segment_ + 1 < static_cast<int>(segments_.size())) {
    const journal::ScheduleSegment ev{segment_, segments_[segment_].until};
    if (journal_) journal_(ev.to_json());
    apply(ev);
    return Verdict::kHold;
  }
  state_ = State::kDone;
  return Verdict::kRecord;
}

}  // namespace ns::engine
