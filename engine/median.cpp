#include "engine/median.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/json.hpp"
#include "engine/asha.hpp"
#include "engine/scheduler_util.hpp"

namespace ns::engine {

using scheduler_util::find_index;
using scheduler_util::index_by_id;
using scheduler_util::metric_of;

MedianStoppingScheduler::MedianStoppingScheduler(std::vector<sweeps::Trial> trials,
                                                 MedianOptions options,
                                                 std::function<void(const nlohmann::json&)> journal)
    : opt_(std::move(options)), journal_(std::move(journal)) {
  NS_CHECK(opt_.min > 0 && opt_.max >= opt_.min && opt_.every > 0,
           "scheduler: median needs 0 < min <= max and every > 0 (got {}, {}, {})", opt_.min,
           opt_.max, opt_.every);
  NS_CHECK(opt_.min_samples >= 1, "scheduler: min_samples must be >= 1, got {}", opt_.min_samples);
  for (double r = opt_.min; r < opt_.max && checks_.size() < 100000; r += opt_.every)
    checks_.push_back(r);
  std::stable_sort(trials.begin(), trials.end(),
                   [](const sweeps::Trial& a, const sweeps::Trial& b) { return a.index < b.index; });
  for (auto& t : trials) entries_.push_back(Entry{std::move(t)});
  index_ = index_by_id(entries_);
}

double MedianStoppingScheduler::score(double v) const { return ranking_score(v, opt_.maximize); }

int MedianStoppingScheduler::index_of(const std::string& id) const {
  return find_index(index_, id);
}

void MedianStoppingScheduler::add_point(int i, double resource, double value) {
  auto& c = entries_[i].curve;
  if (!c.empty() && c.back().first >= resource) return;  // a point already heard (a rerun)
  c.emplace_back(resource, value);
  charge(i);
}

void MedianStoppingScheduler::charge(int i) {
  Entry& e = entries_[i];
  const double last = e.curve.empty() ? 0 : e.curve.back().first;
  double c = 0;
  if (e.ended) {
    c = e.complete ? opt_.max : last;
  } else if (e.started) {
    c = opt_.max;
    for (double r : checks_)
      if (r > last) {
        c = r;
        break;
      }
  }
  used_ += c - e.charged;
  e.charged = c;
}

const msg::Assign* MedianStoppingScheduler::choose(int) const {
  int i = -1;
  if (!again_.empty()) {
    i = again_.front();
  } else {
    for (std::size_t k = 0; k < entries_.size(); ++k)
      if (!entries_[k].started) {
        i = static_cast<int>(k);
        break;
      }
  }
  if (i < 0) return nullptr;
  msg::Assign a;
  a.trial = entries_[i].trial;
  a.attempt = entries_[i].attempt;
  a.resource_limit = opt_.max;
  a.final_rung = true;
  a.rungs = checks_;
  return show(std::move(a));
}

msg::Assign MedianStoppingScheduler::commit(int, std::optional<msg::Assign> shown) {
  NS_CHECK(shown.has_value(), "internal: MedianStoppingScheduler::commit without a job");
  msg::Assign out = std::move(*shown);
  const journal::Start ev{out.trial.id, std::nullopt, out.attempt};
  if (journal_) journal_(ev.to_json());
  apply(index_of(out.trial.id), ev);
  return out;
}

void MedianStoppingScheduler::apply(int i, const journal::Start& ev) {
  auto again = std::find(again_.begin(), again_.end(), i);
  if (again != again_.end()) again_.erase(again);
  entries_[i].started = true;
  entries_[i].attempt = ev.attempt;
  charge(i);
}

void MedianStoppingScheduler::apply(int i, const journal::Report& ev) {
  add_point(i, ev.resource, ev.value);
  if (ev.decision == Decision::kStop) {
    // Its stopped row comes from the worker; a restart before it writes the row from here.
    Entry& e = entries_[i];
    e.stopped = true;
    e.stop_metrics = ev.metrics;
    if (!e.stop_metrics.count(opt_.metric)) e.stop_metrics[opt_.metric] = ev.value;
  }
}

std::vector<ResultRow> MedianStoppingScheduler::restored_rows() {
  std::vector<ResultRow> rows;
  for (Entry& e : entries_) {
    if (!e.row_owed) continue;
    ResultRow stopped;
    stopped.metrics = e.stop_metrics;
    ResultRow r = scheduler_util::stopped_row(e.trial, e.attempt, std::move(stopped));
    msg::Assign a;
    a.trial = e.trial;
    annotate(a, r);
    r.error = fmt::format("stopped by the median rule at resource {}; row written from the "
                          "journal after a restart",
                          e.curve.empty() ? 0.0 : e.curve.back().first);
    e.row_owed = false;
    if (!e.end_journaled) {  // what on_result journals before a stopped row
      const journal::End ev{e.trial.id, false};
      if (journal_) journal_(ev.to_json());
      apply(index_of(e.trial.id), ev);
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

void MedianStoppingScheduler::apply(int i, const journal::End& ev) {
  entries_[i].complete = ev.complete;
  entries_[i].ended = true;
  entries_[i].end_journaled = true;
  charge(i);
}

Decision MedianStoppingScheduler::decide_report(int, const msg::Report& report) {
  const int i = index_of(report.trial_id);
  if (i < 0) return Decision::kContinue;
  const double v = metric_of(report.metrics, opt_.metric);
  // The trial's best so far, this report included (a point heard before is not heard again).
  const auto& curve = entries_[i].curve;
  double best = -std::numeric_limits<double>::infinity();
  for (const auto& [r, x] : curve) best = std::max(best, score(x));
  if (curve.empty() || curve.back().first < report.resource) best = std::max(best, score(v));
  // Running averages, up to this resource, of the trials that trained to the end.
  std::vector<double> averages;
  for (std::size_t j = 0; j < entries_.size(); ++j) {
    const Entry& e = entries_[j];
    if (static_cast<int>(j) == i || !e.complete) continue;
    double sum = 0;
    int n = 0;
    for (const auto& [r, x] : e.curve)
      if (r <= report.resource) sum += score(x), ++n;
    if (n > 0) averages.push_back(sum / n);
  }
  Decision d = Decision::kContinue;
  if (static_cast<int>(averages.size()) >= opt_.min_samples) {
    std::sort(averages.begin(), averages.end());
    const std::size_t m = averages.size();
    const double median = m % 2 ? averages[m / 2] : (averages[m / 2 - 1] + averages[m / 2]) / 2;
    if (best < median) d = Decision::kStop;
  }
  const journal::Report ev{report.trial_id, report.resource, v, d,
                           d == Decision::kStop ? report.metrics : std::map<std::string, double>{}};
  if (journal_) journal_(ev.to_json());
  apply(i, ev);
  return d;
}

Verdict MedianStoppingScheduler::decide_result(int, const msg::Assign& assign,
                                               const ResultRow& row, bool) {
  const int i = index_of(assign.trial.id);
  NS_CHECK(i >= 0, "internal: median stopping got a result for unknown trial {}", assign.trial.id);
  Entry& e = entries_[i];
  const journal::End ev{e.trial.id, row.status == TrialStatus::kOk};
  if (journal_) journal_(ev.to_json());
  apply(i, ev);
  return Verdict::kRecord;
}

void MedianStoppingScheduler::requeue(int, msg::Assign again) {
  const int i = index_of(again.trial.id);
  NS_CHECK(i >= 0, "internal: median stopping asked to retry unknown trial {}", again.trial.id);
  Entry& e = entries_[i];
  e.attempt = again.attempt;
  e.curve.clear();
  again_.insert(again_.begin(), i);
  charge(i);
}

int MedianStoppingScheduler::pending() const {
  int n = static_cast<int>(again_.size());
  for (const auto& e : entries_)
    if (!e.started) ++n;
  return n;
}

void MedianStoppingScheduler::annotate(const msg::Assign& assign, ResultRow& row) const {
  const int i = index_of(assign.trial.id);
  if (i < 0) return;
  const auto& c = entries_[i].curve;
  const double resource = row.status == TrialStatus::kOk ? opt_.max
                          : c.empty()                    ? std::nan("")
                                                         : c.back().first;
  row.rung = row.status == TrialStatus::kOk ? static_cast<int>(checks_.size())
                                            : static_cast<int>(c.size()) - 1;
  row.resource = resource;
}

void MedianStoppingScheduler::restore(const std::vector<nlohmann::json>& events,
                                      const std::set<std::string>& finished) {
  // The journal's events through the handlers' own apply(), in order.
  for (const auto& ev : events) {
    const journal::Kind kind = journal::kind_of(ev);
    if (kind != journal::Kind::kStart && kind != journal::Kind::kReport &&
        kind != journal::Kind::kEnd)
      continue;
    const int i = index_of(ev.value("trial", std::string()));
    if (i < 0) continue;  // not a trial of this spec
    if (kind == journal::Kind::kStart) apply(i, journal::Start::from(ev));
    else if (kind == journal::Kind::kReport) apply(i, journal::Report::from(ev));
    else apply(i, journal::End::from(ev));
  }
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (finished.count(e.trial.id)) {
      e.started = true;  // over, even if the journal lost its start
      e.ended = true;
    } else if (e.started && e.stopped) {
      // Told to stop, killed before its row: it trains no further; final_rows() writes the row.
      e.ended = true;
      e.row_owed = true;
    } else if (e.started) {
      // No row: it trains on from its checkpoint (an "end" without its row included); points
      // heard before stay.
      e.complete = false;
      e.ended = false;
      again_.push_back(static_cast<int>(i));
    }
    charge(static_cast<int>(i));
  }
}

MedianSpec MedianSpec::from_json(const sweeps::SpecBlocks& blocks) {
  const nlohmann::json& b = *blocks.scheduler;
  blocks.allow_keys(b, "$.scheduler", {"kind", "resource", "min", "max", "every", "min_samples"},
                    " for \"kind\": \"median\"");
  const core::JsonFields f(b, blocks.source() + ": $.scheduler");
  MedianSpec s;
  static_cast<SchedulerRange&>(s) = SchedulerRange::from_json(blocks);
  if (!f.has("every"))
    blocks.fail("$.scheduler.every", "required key is missing; the resource between two reports (> 0)");
  s.every = f.number("every", 0, core::Interval::above(0));
  s.min_samples = static_cast<int>(f.integer("min_samples", 3, core::Interval::closed(1, 1000000)));
  return s;
}

MedianOptions median_options(const sweeps::SweepSpec& spec, const MedianSpec& m) {
  MedianOptions o;
  o.min = m.min;
  o.max = m.max;
  o.every = m.every;
  o.min_samples = m.min_samples;
  o.metric = spec.metric;
  o.maximize = spec.mode == sweeps::Mode::kMax;
  return o;
}

}  // namespace ns::engine
