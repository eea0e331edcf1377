#include "report/timeline.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>
#include <tuple>

#include "engine/journal.hpp"
#include "engine/results.hpp"
#include "engine/sweep_output.hpp"
#include "report/csv.hpp"

namespace ns::report {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The union of [start, end) intervals, merged, in order.
std::vector<std::pair<double, double>> merged(std::vector<std::pair<double, double>> v) {
  std::sort(v.begin(), v.end());
  std::vector<std::pair<double, double>> out;
  for (const auto& iv : v) {
    if (!out.empty() && iv.first <= out.back().second)
      out.back().second = std::max(out.back().second, iv.second);
    else
      out.push_back(iv);
  }
  return out;
}

// Busy seconds, per rank, and idle gaps of one run over its stretches (`segs`, clipped to the
// span).
void measure(RunUse& run, const std::vector<const Segment*>& segs) {
  std::map<int, std::vector<std::pair<double, double>>> by_rank;
  std::map<int, int> count;
  for (const Segment* s : segs) {
    const double a = std::max(s->start, run.started), b = std::min(s->end, run.ended);
    ++count[s->rank];
    if (b > a)
      by_rank[s->rank].emplace_back(a, b);
    else
      by_rank[s->rank];
  }
  run.segments = static_cast<int>(segs.size());
  if (run.workers <= 0) {
    run.workers = static_cast<int>(by_rank.size());
    run.workers_from_rows = true;
  }
  run.busy_s = 0;
  for (auto& [rank, ivs] : by_rank) {
    RankUse use{rank, 0, count[rank]};
    double at = run.started;
    for (const auto& [a, b] : merged(std::move(ivs))) {
      use.busy_s += b - a;
      if (a > at) run.gaps.push_back({rank, at, a});
      at = b;
    }
    if (run.ended > at) run.gaps.push_back({rank, at, run.ended});
    run.busy_s += use.busy_s;
    run.ranks.push_back(use);
  }
  const double capacity = run.workers * run.span_s();
  run.utilization = capacity > 0 ? run.busy_s / capacity : std::nan("");
}

std::string seconds(double s) {
  if (s < 120) return fmt::format("{:.1f} s", s);
  if (s < 7200) return fmt::format("{:.1f} min", s / 60);
  return fmt::format("{:.2f} h", s / 3600);
}

std::string percent(double v) { return std::isfinite(v) ? fmt::format("{:.1f}%", 100 * v) : "-"; }

std::string utc(double unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace

Timeline build_timeline(std::vector<Segment> segments, std::vector<RunSpan> runs,
                        std::optional<double> now) {
  Timeline t;
  t.has_times = true;
  segments.erase(std::remove_if(segments.begin(), segments.end(),
                                [](const Segment& s) {
                                  return !std::isfinite(s.start) || !std::isfinite(s.end) ||
                                         s.end < s.start;
                                }),
                 segments.end());
  // The same stretch twice (a paused visit in reports.jsonl that also became the trial's
  // "stopped" row): the row is kept.
  std::stable_sort(segments.begin(), segments.end(), [](const Segment& a, const Segment& b) {
    return std::tie(a.trial, a.start, a.end, a.rank) < std::tie(b.trial, b.start, b.end, b.rank);
  });
  std::vector<Segment> unique;
  for (auto& s : segments) {
    if (!unique.empty() && unique.back().trial == s.trial && unique.back().start == s.start &&
        unique.back().end == s.end && unique.back().rank == s.rank) {
      if (unique.back().status == engine::TrialStatus::kPaused) unique.back() = std::move(s);
      continue;
    }
    unique.push_back(std::move(s));
  }
  // Pauses: a paused visit, then the same trial's next stretch.
  for (std::size_t i = 0; i + 1 < unique.size(); ++i) {
    const Segment& a = unique[i];
    const Segment& b = unique[i + 1];
    if (a.trial == b.trial && a.status == engine::TrialStatus::kPaused && b.start >= a.end)
      t.pauses.push_back({a.trial, a.rank, b.rank, a.end, b.start});
  }
  std::stable_sort(unique.begin(), unique.end(), [](const Segment& a, const Segment& b) {
    return std::tie(a.start, a.rank) < std::tie(b.start, b.rank);
  });
  t.segments = std::move(unique);
  if (t.segments.empty()) {
    t.why_none = "no row has times yet";
    return t;
  }

  std::sort(runs.begin(), runs.end(),
            [](const RunSpan& a, const RunSpan& b) { return a.started < b.started; });
  // Each stretch to the last run started at or before it; -1: before every run.
  std::vector<std::vector<const Segment*>> of(runs.size());
  std::vector<const Segment*> before;
  for (const Segment& s : t.segments) {
    auto it = std::upper_bound(runs.begin(), runs.end(), s.start,
                               [](double v, const RunSpan& r) { return v < r.started; });
    if (it == runs.begin())
      before.push_back(&s);
    else
      of[static_cast<std::size_t>(it - runs.begin() - 1)].push_back(&s);
  }
  if (!before.empty()) {
    RunUse u;
    u.recorded = false;
    u.started = before.front()->start;
    u.ended = u.started;
    for (const Segment* s : before) u.ended = std::max(u.ended, s->end);
    measure(u, before);
    t.runs.push_back(std::move(u));
  }
  for (std::size_t k = 0; k < runs.size(); ++k) {
    RunUse u;
    u.started = runs[k].started;
    u.workers = runs[k].workers;
    if (runs[k].ended) {
      u.ended = *runs[k].ended;
    } else {
      u.open = true;
      u.ended = u.started;
      for (const Segment* s : of[k]) u.ended = std::max(u.ended, s->end);
      if (now && k + 1 == runs.size()) u.ended = std::max(u.ended, *now);
    }
    // A run with no stretch: its idle capacity counts when it lasted and says its workers.
    if (of[k].empty() && (u.span_s() <= 0 || u.workers <= 0)) continue;
    measure(u, of[k]);
    t.runs.push_back(std::move(u));
  }
  for (const RunUse& u : t.runs) {
    t.busy_s += u.busy_s;
    t.capacity_s += u.workers * u.span_s();
  }
  t.utilization = t.capacity_s > 0 ? t.busy_s / t.capacity_s : std::nan("");
  t.origin = t.runs.empty() ? t.segments.front().start : t.runs.front().started;
  for (const Segment& s : t.segments) t.origin = std::min(t.origin, s.start);
  return t;
}

Timeline load_timeline(const Results& r) {
  Timeline none;
  const auto col = [&](const char* c) {
    return static_cast<std::size_t>(std::find(r.columns.begin(), r.columns.end(), c) -
                                    r.columns.begin());
  };
  const std::size_t started = col("started"), ended = col("ended");
  if (started >= r.columns.size() || ended >= r.columns.size()) {
    none.why_none =
        "results.csv has no started/ended columns (written before this version): no times";
    return none;
  }
  // Every row, not only each trial's last (a retried trial's earlier attempts took time too).
  const CsvTable table = read_csv(r.dir / "results.csv");
  const std::size_t id = col("trial_id"), status = col("status"), rank = col("rank"),
                    attempt = col("attempt");
  std::vector<std::size_t> shown;  // the hover's columns: the varied parameters, the metrics
  for (const auto& p : r.varied) shown.push_back(col(p.c_str()));
  for (const auto& m : r.metric_columns) shown.push_back(col(m.c_str()));
  std::vector<Segment> segs;
  for (const auto& rec : table.records) {
    if (rec.fields.size() != r.columns.size()) continue;
    const auto& f = rec.fields;
    Segment s;
    if (!parse_number(f[started], s.start) || !parse_number(f[ended], s.end)) continue;
    s.trial = f[id];
    s.status = json(f[status]).get<engine::TrialStatus>();  // unknown: kInvalid, as report/results
    double rk = 0;
    if (rank < f.size() && parse_number(f[rank], rk)) s.rank = static_cast<int>(rk);
    s.hover = fmt::format("trial {} ({}{})", s.trial, f[status],
                          attempt < f.size() && f[attempt] != "1" && !f[attempt].empty()
                              ? ", attempt " + f[attempt]
                              : "");
    for (std::size_t c : shown)
      if (c < f.size()) s.hover += fmt::format("<br>{} = {}", r.columns[c], f[c]);
    s.hover += fmt::format("<br>rank {}, {:.1f} s", s.rank, s.end - s.start);
    segs.push_back(std::move(s));
  }
  // The visits before a promotion: reports.jsonl's pause events (results.csv has the last).
  for (const json& e : engine::read_journal(r.dir.string())) {
    if (engine::journal::kind_of(e) != engine::journal::Kind::kRung) continue;
    const auto ev = engine::journal::Rung::from(e);
    if (ev.decision != engine::journal::RungDecision::kPause || !ev.row) continue;
    Segment s{ev.trial, engine::TrialStatus::kPaused, ev.row->rank, ev.row->started, ev.row->ended, ""};
    s.hover = fmt::format(
        "trial {} (paused at rung {}, resource {})<br>{} = {}<br>rank {}, "
        "{:.1f} s",
        ev.trial, ev.rung, ev.resource, r.sweep.metric.empty() ? "value" : r.sweep.metric,
        engine::format_number(ev.value), s.rank, s.end - s.start);
    segs.push_back(std::move(s));
  }
  std::vector<RunSpan> runs;
  std::optional<double> now;
  const json state = engine::read_state(r.dir.string());
  if (state.is_object()) {
    if (state.contains("runs") && state["runs"].is_array()) {
      for (const json& run : state["runs"]) {
        if (!run.is_object() || !run.contains("started") || !run["started"].is_number()) continue;
        RunSpan s;
        s.started = run["started"].get<double>();
        if (run.contains("ended") && run["ended"].is_number()) s.ended = run["ended"].get<double>();
        if (run.contains("workers") && run["workers"].is_number_integer())
          s.workers = std::max(0, run["workers"].get<int>());
        runs.push_back(s);
      }
    }
    if (engine::state_of(state) == engine::SweepState::kRunning) now = engine::unix_now();
  }
  return build_timeline(std::move(segs), std::move(runs), now);
}

std::string render_timeline_text(const Timeline& t) {
  std::string out =
      "\nTimeline: when each rank trained (utilization = busy rank-seconds / (workers x span))\n";
  if (!t.has_times || !t.why_none.empty() || t.runs.empty())
    return out + "  " + (t.why_none.empty() ? std::string("no times") : t.why_none) + "\n";
  for (std::size_t k = 0; k < t.runs.size(); ++k) {
    const RunUse& u = t.runs[k];
    const double capacity = u.workers * u.span_s();
    out += fmt::format(
        "  run {}{}: from {} UTC, span {}{}, {} worker rank(s){}: busy {} rank-s, idle {} "
        "rank-s, utilization {}\n",
        k + 1, u.recorded ? "" : " (rows outside state.json's runs)", utc(u.started),
        seconds(u.span_s()), u.open ? " (no end recorded: running, or killed)" : "", u.workers,
        u.workers_from_rows ? " (as seen in the rows)" : "", fmt::format("{:.1f}", u.busy_s),
        fmt::format("{:.1f}", std::max(0.0, capacity - u.busy_s)), percent(u.utilization));
    std::string ranks;
    for (const RankUse& r : u.ranks)
      ranks += fmt::format("{}rank {} {} ({} row{})", ranks.empty() ? "" : ", ", r.rank,
                           percent(u.span_s() > 0 ? r.busy_s / u.span_s() : std::nan("")),
                           r.segments, r.segments == 1 ? "" : "s");
    if (!ranks.empty()) out += "    busy: " + ranks + "\n";
  }
  if (!t.pauses.empty()) {
    double paused = 0;
    for (const Pause& p : t.pauses) paused += p.end - p.start;
    out +=
        fmt::format("  {} pause(s) between rungs, {} in all\n", t.pauses.size(), seconds(paused));
  }
  out += fmt::format("  utilization: {} ({:.1f} of {:.1f} rank-seconds busy, {} run{})\n",
                     percent(t.utilization), t.busy_s, t.capacity_s, t.runs.size(),
                     t.runs.size() == 1 ? "" : "s");
  return out;
}

json timeline_json(const Timeline& t) {
  if (!t.has_times || !t.why_none.empty() || t.runs.empty())
    return {{"why_none", t.why_none.empty() ? "no times" : t.why_none}};
  const double o = t.origin;
  auto fin = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  json segs = json::array();
  for (const Segment& s : t.segments)
    segs.push_back({{"trial", s.trial},
                    {"status", engine::to_string(s.status)},
                    {"rank", s.rank},
                    {"start", s.start - o},
                    {"end", s.end - o},
                    {"hover", s.hover}});
  json pauses = json::array();
  for (const Pause& p : t.pauses)
    pauses.push_back({{"trial", p.trial},
                      {"from_rank", p.from_rank},
                      {"to_rank", p.to_rank},
                      {"start", p.start - o},
                      {"end", p.end - o}});
  json runs = json::array();
  for (const RunUse& u : t.runs)
    runs.push_back({{"started", u.started - o},
                    {"ended", u.ended - o},
                    {"workers", u.workers},
                    {"busy_s", u.busy_s},
                    {"utilization", fin(u.utilization)},
                    {"open", u.open}});
  return {{"origin", o},
          {"origin_utc", utc(o)},
          {"segments", segs},
          {"pauses", pauses},
          {"runs", runs},
          {"busy_s", t.busy_s},
          {"capacity_s", t.capacity_s},
          {"utilization", fin(t.utilization)}};
}

}  // namespace ns::report
