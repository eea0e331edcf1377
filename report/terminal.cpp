#include "report/terminal.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace ns::report {
// Columns separated by two spaces; numbers right-aligned. Trailing blanks trimmed so the
// golden files have none.
std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right,
                  const std::string& indent) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (auto& r : rows) width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l = indent;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      if (c) l += "  ";
      const std::string pad(width[c] - cells[c].size(), ' ');
      l += right[c] ? pad + cells[c] : cells[c] + pad;
    }
    l.erase(l.find_last_not_of(' ') + 1);
    out += l + "\n";
  };
  line(header);
  for (auto& r : rows) line(r);
  return out;
}

namespace {

std::string plural(int n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

}  // namespace

std::string format_metric(double v) {
  if (std::isnan(v)) return "-";
  return fmt::format("{:.4g}", v);
}

namespace {

// What mattered: PED-ANOVA importance of each varied parameter (report/importance.hpp).
std::string render_importance(const Analysis& a) {
  const ImportanceResult& im = a.importance;
  if (im.params.empty()) return "";
  std::string out = fmt::format(
      "\nWhat mattered: PED-ANOVA importance (the top {} of {} trials against the search space; "
      "{})\n",
      im.top, im.trials, im.rows);
  if (!im.why_none.empty()) return out + "  not computed: " + im.why_none + "\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : im.params)
    rows.push_back({p.param, std::isnan(p.fraction) ? "n/a" : fmt::format("{:.3f}", p.fraction),
                    format_metric(p.raw), p.why_na.empty() ? p.domain.source : p.why_na});
  return out + table({"parameter", "importance", "divergence", "search space"}, rows,
                     {false, true, true, false}, "  ");
}

// The Pareto front of the selection metric against --metric2 (report/importance.hpp).
std::string render_pareto(const Analysis& a) {
  if (!a.has_pareto) return "";
  const ParetoView& p = a.pareto;
  const std::string& m = a.selection.metric;
  std::string out = fmt::format(
      "\nPareto front: {} ({}) against {} ({}, {}): {} of {} ok trials\n", m,
      a.selection.maximize ? "max" : "min", p.second.name, p.second.maximize ? "max" : "min",
      p.second.mode_source, p.front.size(), p.ids.size());
  if (p.front.empty()) return out;
  constexpr std::size_t kShown = 20;
  std::vector<std::vector<std::string>> rows;
  for (std::size_t k = 0; k < std::min(kShown, p.front.size()); ++k) {
    const std::size_t i = p.front[k];
    rows.push_back({p.ids[i], format_metric(p.metric[i]), format_metric(p.metric2[i])});
  }
  out += table({"trial", m, p.second.name}, rows, {false, true, true}, "  ");
  if (p.front.size() > kShown) out += fmt::format("  ... and {} more\n", p.front.size() - kShown);
  return out;
}

}  // namespace

std::string render_terminal(const Results& r, const Analysis& a, int top) {
  const std::string& metric = a.selection.metric;
  const char* direction = a.selection.maximize ? "higher is better" : "lower is better";
  std::string out = fmt::format("neurosweep report: {}\n", r.dir.string());
  if (r.sweep.present) {
    out += fmt::format("sweep {}, family {}; ranked by {} ({}, {})\n",
                       r.sweep.name.empty() ? "(unnamed)" : r.sweep.name,
                       r.sweep.family.empty() ? "(unknown)" : r.sweep.family, metric, direction,
                       a.selection.mode_source);
    out += r.sweep.search_description;  // the search registry's describe(), as run logged it
  } else {
    out += fmt::format(
        "no sweep.json: parameters and metrics told apart from results.csv; ranked "
        "by {} ({}, {})\n",
        metric, direction, a.selection.mode_source);
  }
  std::string counts = fmt::format("{}: {} ok", plural(a.trials, "trial", "trials"), a.ok);
  for (auto& g : a.problems) counts += fmt::format(", {} {}", g.count, g.status);
  if (a.ok_without_metric)
    counts += fmt::format(" ({} ok without {})", a.ok_without_metric, metric);
  out += counts + "\n";
  if (r.dropped_partial)
    out +=
        "note: ignored a partial last line of results.csv (the sweep is running, or was "
        "stopped mid-write)\n";
  if (r.superseded_rows)
    out += fmt::format("note: {} superseded by a later attempt of the same trial\n",
                       plural(r.superseded_rows, "row", "rows"));
  for (auto& w : r.warnings) out += "note: " + w + "\n";

  // Leaderboard.
  out += "\n";
  if (a.configs.empty()) {
    out += fmt::format("No ok trial with a finite {} yet.\n", metric);
  } else {
    const int shown = std::min<int>(top, static_cast<int>(a.configs.size()));
    out +=
        fmt::format("Top {} of {} by mean {} over seeds ({}):\n", shown,
                    plural(static_cast<int>(a.configs.size()), "configuration", "configurations"),
                    metric, direction);
    std::vector<std::string> header = {"rank"};
    std::vector<bool> right = {true};
    for (auto& p : r.varied) header.push_back(p), right.push_back(false);
    for (const char* h : {"mean", "+-sem", "n", "best", "best trial"}) header.push_back(h);
    for (bool b : {true, true, true, true, false}) right.push_back(b);
    std::vector<std::vector<std::string>> rows;
    for (int i = 0; i < shown; ++i) {
      const ConfigStats& c = a.configs[i];
      std::vector<std::string> row = {std::to_string(i + 1)};
      row.insert(row.end(), c.values.begin(), c.values.end());
      row.push_back(format_metric(c.mean));
      row.push_back(format_metric(c.sem));
      row.push_back(std::to_string(c.trials.size()));
      row.push_back(format_metric(c.best->metric(metric)));
      row.push_back(c.best->id + (c.best->earlier_definition.empty() ? "" : " *"));
      rows.push_back(std::move(row));
    }
    out += table(header, rows, right, "  ");
  }

  // Early stopping: where the trials ended (results.csv's rung and resource columns).
  if (r.rungs) {
    std::map<int, std::pair<int, double>> per_rung;  // rung -> (trials that ended there, resource)
    int best_ok = 0;
    for (const Trial& t : r.trials) {
      const double k = t.rung;
      if (std::isnan(k)) continue;
      auto& e = per_rung[static_cast<int>(k)];
      ++e.first;
      e.second = t.resource;
      if (t.ok()) ++best_ok;
    }
    if (!per_rung.empty()) {
      out += "\nEarly stopping: trials by the rung where they ended\n";
      std::vector<std::vector<std::string>> rows;
      int reached = 0;
      for (auto it = per_rung.rbegin(); it != per_rung.rend(); ++it) {
        reached += it->second.first;
        rows.push_back({std::to_string(it->first), format_metric(it->second.second),
                        std::to_string(it->second.first), std::to_string(reached)});
      }
      std::reverse(rows.begin(), rows.end());
      out += table({"rung", "resource", "ended there", "reached it"}, rows,
                   {true, true, true, true}, "  ");
      out += fmt::format("  {} trained to the full budget\n",
                         plural(best_ok, "trial", "trials"));
    }
  }

  // A search: the best so far against trials, with where TPE took over from the random draws.
  if (r.sweep.tpe() && !a.best_so_far.empty()) {
    const int n = static_cast<int>(a.best_so_far.size());
    std::vector<int> at = {r.sweep.random_first, n};
    for (int k = 5; k < n; k *= 2) at.push_back(k);
    std::sort(at.begin(), at.end());
    at.erase(std::unique(at.begin(), at.end()), at.end());
    std::vector<std::vector<std::string>> rows;
    for (int k : at)
      if (k >= 1 && k <= n)
        rows.push_back({std::to_string(k), format_metric(a.best_so_far[k - 1]),
                        k <= r.sweep.random_first ? "random draws" : "random, then tpe"});
    out += fmt::format("\nSearch: tpe after {} random draws; best {} among the first trials to "
                       "finish\n",
                       r.sweep.random_first, metric);
    out += table({"trials", "best", "chosen by"}, rows, {true, true, false}, "  ");
  }

  // Failures, grouped by status then by message.
  if (!a.problems.empty()) {
    int failed = 0;
    for (auto& g : a.problems) failed += g.count;
    out += fmt::format("\nTrials not ok: {} of {}\n", failed, a.trials);
    for (auto& g : a.problems) {
      out += fmt::format("  {}: {}\n", g.status, g.count);
      const std::size_t shown = std::min<std::size_t>(3, g.messages.size());
      for (std::size_t i = 0; i < shown; ++i)
        out += fmt::format("    {:>3}x  {}\n", g.messages[i].second, g.messages[i].first);
      if (g.messages.size() > shown)
        out += fmt::format("    ... and {} other messages\n", g.messages.size() - shown);
    }
  }

  out += render_importance(a);

  // Marginals.
  if (!a.marginals.empty() && !a.configs.empty()) {
    out += fmt::format(
        "\nEach hyperparameter's values over ok trials, most important first ({} by value):\n",
        metric);
    for (auto& m : a.marginals) {
      out += fmt::format("  {}  (importance {}, spread of the means {})\n", m.param,
                         format_metric(m.importance), format_metric(m.spread));
      std::vector<std::vector<std::string>> rows;
      for (auto& row : m.rows)
        rows.push_back(
            {row.value, std::to_string(row.n), format_metric(row.best), format_metric(row.mean)});
      out += table({"value", "n", "best", "mean"}, rows, {false, true, true, true}, "    ");
    }
  }

  out += render_pareto(a);

  if (a.best_config_index >= 0) {
    // best_config.json's rule: usually the leaderboard's first; an incomplete configuration
    // (not every replicate ended) ranks after the complete ones.
    const ConfigStats& c = a.configs[static_cast<std::size_t>(a.best_config_index)];
    std::string cfg;
    for (std::size_t i = 0; i < r.varied.size(); ++i)
      cfg += fmt::format("{}{}={}", i ? " " : "", r.varied[i], c.values[i]);
    if (cfg.empty()) cfg = "(no varied parameters)";
    const std::string spread = std::isnan(c.sem) ? std::string() : " +- " + format_metric(c.sem);
    out += fmt::format("\nBest configuration: {}: mean {}{} (n={}); best repeat {} = {}\n", cfg,
                       format_metric(c.mean), spread, c.trials.size(), c.best->id,
                       format_metric(c.best->metric(metric)));
    if (a.best_config_index > 0)
      out += fmt::format("  (rank {} by mean: configurations with all {} replicates ended rank "
                         "first, as in best_config.json)\n",
                         a.best_config_index + 1, a.best_config.at("replicates").get<int>());
    if (!a.best_config.at("complete").get<bool>())
      out += fmt::format("  (incomplete: {} of {} replicates ended)\n",
                         a.best_config.at("rows").size(), a.best_config.at("replicates").get<int>());
  }
  return out;
}

}  // namespace ns::report
