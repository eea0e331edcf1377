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
  auto member = [&](int i) -> PbtHistory::Member& {
    NS_CHECK(i >= 0 && i < static_cast<int>(h.members.size()),
             "reports.jsonl: PBT member {} has no \"pbt_start\" event", i);
    return h.members[static_cast<std::size_t>(i)];
  };
  for (const json& e : events) {
    const journal::Kind kind = journal::kind_of(e);
    if (kind == journal::Kind::kPbtStart) {
      const auto ev = journal::PbtStart::from(e);
      NS_CHECK(ev.member >= 0, "reports.jsonl: PBT member {} is not a member index", ev.member);
      if (ev.member >= static_cast<int>(h.members.size()))
        h.members.resize(static_cast<std::size_t>(ev.member) + 1);
      auto& m = h.members[static_cast<std::size_t>(ev.member)];
      m.trial = ev.trial;
      m.initial = ev.params;
      m.lineage = {{0, ev.member, m.initial}};
    } else if (kind == journal::Kind::kPbtResult) {
      const auto ev = journal::PbtResult::from(e);
      auto& m = member(ev.member);
      m.status = ev.status;
      if (m.status == TrialStatus::kPaused || m.status == TrialStatus::kOk)
        m.values.emplace_back(ev.step, ev.value);
    } else if (kind == journal::Kind::kPbtContinue) {
      const auto ev = journal::PbtContinue::from(e);
      auto& m = member(ev.member);
      m.lineage.push_back({ev.step, ev.member, m.lineage.back().params});
    } else if (kind == journal::Kind::kPbtExploit) {
      const auto ev = journal::PbtExploit::from(e);
      auto& m = member(ev.member);
      h.exploits.push_back({ev.member, ev.donor, ev.step, ev.from_step, ev.changes, ev.reason});
      NS_CHECK(ev.donor >= 0 && ev.donor < static_cast<int>(h.members.size()),
               "reports.jsonl: PBT donor {} has no \"pbt_start\" event", ev.donor);
      m.lineage = pbt_inherit(h.members[static_cast<std::size_t>(ev.donor)].lineage, ev.from_step,
                              ev.member, ev.params);
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

int PbtScheduler::member_of(int member, const std::string& trial) const {
  const int i = index_of(trial);
  NS_CHECK(member == i,
           "reports.jsonl: PBT member {} is trial {} in this spec, not member {}; the journal "
           "is not this spec's",
           i, members_[i].trial.id, member);
  return i;
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

const msg::Assign* PbtScheduler::choose(int) const {
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
  return show(assign_for(best));
}

msg::Assign PbtScheduler::commit(int, std::optional<msg::Assign> shown) {
  NS_CHECK(shown.has_value(), "internal: PBT commit() with no member ready");
  msg::Assign a = std::move(*shown);
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
  const Member& m = members_[i];
  const auto draw = static_cast<std::uint64_t>(i) * 1000003ULL +
                    static_cast<std::uint64_t>(m.decisions);
  Stream pick(core::mix_seed(opt_.seed, 0x9B7000ULL + draw));
  const int d = donors[pick.below(donors.size())];
  const Member& donor = members_[d];
  journal::PbtExploit ev;
  ev.member = i;
  ev.trial = m.trial.id;
  ev.step = step;
  ev.donor = d;
  ev.donor_trial = donor.trial.id;
  ev.from_step = donor.step;
  ev.snapshot = donor.latest;
  ev.params = pbt_explore(donor.trial.params, opt_, core::mix_seed(opt_.seed, 0xE7000ULL + draw),
                          ev.changes);
  ev.reason = reason;
  if (journal_) journal_(ev.to_json());
  apply(ev);
  return true;
}

void PbtScheduler::apply(const journal::PbtExploit& ev) {
  Member& m = members_[ev.member];
  const Member& donor = members_[index_of(ev.donor_trial)];
  const std::string own = m.latest;
  m.latest.clear();
  m.adopt = ev.snapshot;
  pins_[ev.snapshot].insert(ev.member);
  m.trial.params = ev.params;
  m.step = ev.from_step;
  // The member keeps its own last value (not the donor's) until its next segment reports, as
  // Ray Tune's PopulationBasedTraining does (its _exploit hands over the donor's checkpoint,
  // config and perturbation time, never last_score), so every decision ranks the whole
  // population that has reported. Clearing it (before issue 27) left only the members that had
  // not just copied in the ranking, whose bottom then copied too: on a stationary population
  // 91-95 % of decisions were exploits at quantile 0.25 (tests/engine/test_pbt.cpp). A journal
  // written under that rule resumes too: its decisions stand as recorded; later ones follow this.
  ++m.decisions;
  m.lineage = pbt_inherit(donor.lineage, ev.from_step, ev.member, ev.params);
  make_ready(m);
  ++exploits_;
  release(own);
}

void PbtScheduler::make_ready(Member& m) {
  m.state = State::kReady;
  m.queued = ++queued_;
}

void PbtScheduler::decide(int i, double step) {
  const PbtQuantiles q = pbt_quantiles(ranked(), opt_.quantile);
  const bool bottom = std::find(q.bottom.begin(), q.bottom.end(), i) != q.bottom.end();
  if (bottom && exploit(i, step, ExploitReason::kQuantile, true)) return;
  const journal::PbtContinue ev{i, members_[i].trial.id, step};
  if (journal_) journal_(ev.to_json());
  apply(ev);
}

void PbtScheduler::apply(const journal::PbtContinue& ev) {
  Member& m = members_[ev.member];
  // The same parameters from here on: a new segment, so a replay pauses where this one did.
  m.lineage.push_back({ev.step, ev.member, m.trial.params});
  make_ready(m);
}

void PbtScheduler::apply(const journal::PbtStart& ev) { members_[ev.member].started = true; }

void PbtScheduler::serve_waiting() {
  for (int i = 0; i < size(); ++i)
    if (members_[i].state == State::kWaiting) exploit(i, members_[i].step, ExploitReason::kFailed, false);
}

Verdict PbtScheduler::settle(int i, const msg::Assign& assign, const ResultRow& row) {
  auto it = row.metrics.find(opt_.metric);
  journal::PbtResult ev;
  ev.member = i;
  ev.trial = members_[i].trial.id;
  ev.step = assign.resource_limit;
  ev.status = row.status;
  ev.value = it == row.metrics.end() ? std::nan("") : it->second;
  ev.snapshot = assign.snapshot;
  ev.adopted = assign.adopt;
  if (journal_) journal_(ev.to_json());
  apply(ev, &row);
  switch (members_[i].state) {
    case State::kDeciding:
      decide(i, ev.step);
      serve_waiting();
      return Verdict::kHold;
    case State::kWaiting:  // failed: replaced by an exploit at once when there is a donor
      exploit(i, members_[i].step, ExploitReason::kFailed, false);
      return Verdict::kRetry;
    default:  // finished, or out of failures: its row
      return Verdict::kRecord;
  }
}

void PbtScheduler::apply(const journal::PbtResult& ev, const ResultRow* row) {
  Member& m = members_[ev.member];
  // The snapshot it was given is loaded now (whatever came of the segment).
  if (!ev.adopted.empty()) {
    pins_[ev.adopted].erase(ev.member);
    if (m.adopt == ev.adopted) m.adopt.clear();
    release(ev.adopted);
  }
  ++m.results;
  const std::string old = m.latest;
  m.latest.clear();
  if (ev.status == TrialStatus::kPaused) {
    m.latest = ev.snapshot;
    m.step = ev.step;
    m.value = ev.value;
    m.state = State::kDeciding;  // until its decision (decide(), or the journal's next event)
  } else if (ev.status == TrialStatus::kOk || ev.status == TrialStatus::kStopped) {
    m.state = State::kDone;
    m.step = ev.step;
    m.value = ev.value;
    // A finished segment's snapshot holds its row only (result.json): kept, so a kill before
    // the row reaches results.csv loses nothing.
    finals_.insert(ev.snapshot);
    m.final_snapshot = ev.snapshot;
  } else {
    // Failed (or timed out): it waits to be replaced by an exploit, or is out of failures.
    ++m.failures;
    m.value.reset();
    if (row) {
      m.last_failure = *row;
    } else {  // restore(): the journal's facts
      ResultRow r;
      r.trial_id = m.trial.id;
      r.status = ev.status;
      r.metrics[opt_.metric] = ev.value;
      r.params = m.trial.params;
      m.last_failure = std::move(r);
    }
    m.state = m.failures > opt_.max_failures ? State::kDone : State::kWaiting;
  }
  release(old);
}

Verdict PbtScheduler::decide_result(int, const msg::Assign& assign, const ResultRow& row, bool) {
  const int i = index_of(assign.trial.id);
  return settle(i, assign, row);
}

int PbtScheduler::pending() const {
  int n = 0;
  for (const auto& m : members_) n += m.state == State::kReady;
  return n;
}

bool PbtScheduler::may_have_more() const {
  bool running = false;
  for (const auto& m : members_)
    running |= m.state == State::kRunning || m.state == State::kDeciding;
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
  // The journal's events through the handlers' own apply(), in order.
  std::set<std::string> seen;  // snapshots the journal named
  auto replay = [&](const auto& ev) {
    member_of(ev.member, ev.trial);
    apply(ev);
  };
  replaying_ = true;
  for (const json& e : events) {
    switch (journal::kind_of(e)) {
      case journal::Kind::kPbtStart: replay(journal::PbtStart::from(e)); break;
      case journal::Kind::kPbtResult: {
        const auto ev = journal::PbtResult::from(e);
        seen.insert({ev.snapshot, ev.adopted});
        replay(ev);
        break;
      }
      case journal::Kind::kPbtExploit: {
        const auto ev = journal::PbtExploit::from(e);
        seen.insert(ev.snapshot);
        replay(ev);
        break;
      }
      case journal::Kind::kPbtContinue: replay(journal::PbtContinue::from(e)); break;
      default: break;
    }
  }
  replaying_ = false;
  // The first run: each member's initial parameters, for report's lineages.
  for (int i = 0; i < size(); ++i) {
    const Member& m = members_[i];
    if (m.started) continue;
    const journal::PbtStart ev{i, m.trial.id, m.trial.seed, m.trial.params};
    if (journal_) journal_(ev.to_json());
    apply(ev);
  }
  for (auto& m : members_)
    if (finished.count(m.trial.id)) m.state = State::kDone;
  // Finished, or out of failures, with no row (a kill between the journal and results.csv): the
  // row from the final snapshot's result.json, or the failure the journal recorded.
  for (int i = 0; i < size(); ++i) {
    const Member& m = members_[i];
    if (m.state != State::kDone || finished.count(m.trial.id)) continue;
    std::optional<ResultRow> row;
    if (!m.final_snapshot.empty() && segment_result) row = segment_result(m.final_snapshot);
    if (!row && m.last_failure) row = m.last_failure;
    if (row) recovered_.push_back(*row);
    else log::warn("PBT: member {} (trial {}) finished but its row is lost (no {}/result.json)",
                   i, m.trial.id, m.final_snapshot.empty() ? "snapshot" : m.final_snapshot);
  }
  // A member paused with no decision journaled (a kill between the two): decide now.
  for (int i = 0; i < size(); ++i)
    if (members_[i].state == State::kDeciding) decide(i, members_[i].step);
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

const msg::Assign* FixedScheduleScheduler::choose(int) const {
  if (state_ != State::kReady) return nullptr;
  msg::Assign a;
  a.trial = trial_;
  a.trial.params = params_at(segment_);
  const auto& seg = segments_.at(segment_);
  const bool last = segment_ + 1 == static_cast<int>(segments_.size());
  a.resource_limit = seg.until;
  a.final_rung = last;
  return show(std::move(a));
}

msg::Assign FixedScheduleScheduler::commit(int, std::optional<msg::Assign> shown) {
  NS_CHECK(shown.has_value(), "internal: fixed schedule commit() with nothing ready");
  msg::Assign a = std::move(*shown);
  state_ = State::kRunning;
  return a;
}

Verdict FixedScheduleScheduler::decide_result(int, const msg::Assign&, const ResultRow& row,
                                              bool) {
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
