#include "report/analysis.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <set>
#include <cctype>
#include <cmath>
#include <map>
#include <stdexcept>

#include "core/error.hpp"
#include "engine/best_config.hpp"
#include "report/csv.hpp"

namespace ns::report {
using nlohmann::json;

namespace {

bool has_any(const std::string& name, std::initializer_list<const char*> words) {
  std::string low = name;
  for (auto& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return std::any_of(words.begin(), words.end(),
                     [&](const char* w) { return low.find(w) != std::string::npos; });
}

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// A results.csv cell as the JSON value the engine wrote (engine/results.cpp format_value:
// strings bare, numbers shortest round-trip, bools true/false, null empty).
json cell_json(const std::string& s) {
  if (s.empty()) return nullptr;
  if (s == "true") return true;
  if (s == "false") return false;
  const std::size_t digits_from = s[0] == '-' ? 1 : 0;
  if (s.size() > digits_from &&
      s.find_first_not_of("0123456789", digits_from) == std::string::npos) {
    try {  // integers exactly, seeds up to 2^64 - 1 included
      return digits_from ? json(std::stoll(s)) : json(std::stoull(s));
    } catch (const std::out_of_range&) {
    }
  }
  double v;
  if (!parse_number(s, v)) return s;
  return finite_or_null(v);
}

// best_config.json's answer for the trials (engine::BestConfigTracker).
json best_config(const Results& results, const Selection& selection);

}  // namespace

bool value_less(const std::string& a, const std::string& b) {
  double x, y;
  const bool nx = parse_number(a, x), ny = parse_number(b, y);
  if (nx && ny && x != y) return x < y;
  if (nx != ny) return nx;  // numbers before text
  return a < b;
}

std::string summarize_message(const std::string& message) {
  std::string line;
  std::size_t start = 0;
  while (start <= message.size()) {
    std::size_t end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    line = message.substr(start, end - start);
    const auto b = line.find_first_not_of(" \t\r");
    const auto e = line.find_last_not_of(" \t\r");
    line = b == std::string::npos ? "" : line.substr(b, e - b + 1);
    if (!line.empty()) break;
    start = end + 1;
  }
  if (line.empty()) return "(no message)";
  if (line.size() > 120) line = line.substr(0, 117) + "...";
  return line;
}

Selection choose_selection(const Results& results, const std::string& metric,
                           const std::string& mode) {
  Selection sel;
  const auto& metrics = results.metric_columns;
  sel.metric = metric.empty() ? results.sweep.metric : metric;
  if (sel.metric.empty()) {
    NS_CHECK(metrics.size() == 1,
             "{}: no selection metric (sweep.json is missing or names none); pass --metric with "
             "one of: {}",
             results.dir.string(), fmt::join(metrics, ", "));
    sel.metric = metrics.front();
  }
  NS_CHECK(std::find(metrics.begin(), metrics.end(), sel.metric) != metrics.end(),
           "unknown metric \"{}\": results.csv in {} has the metric columns: {}", sel.metric,
           results.dir.string(),
           metrics.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(metrics, ", ")));
  if (!mode.empty()) {
    NS_CHECK(mode == "max" || mode == "min", "--mode: expected max or min, found \"{}\"", mode);
    sel.maximize = mode == "max";
    sel.mode_source = "as --mode says";
  } else if (sel.metric == results.sweep.metric && results.sweep.maximize) {
    sel.maximize = *results.sweep.maximize;
    sel.mode_source = "as sweep.json says";
  } else if (has_any(sel.metric, {"loss", "mse", "mae", "nll", "error"})) {
    sel.maximize = false;
    sel.mode_source = "inferred from the name";
  } else if (has_any(sel.metric, {"accuracy", "acc", "pearson", "ccnorm", "cc2", "ccmax", "fev",
                                  "r2", "corr", "auc", "f1"})) {
    sel.maximize = true;
    sel.mode_source = "inferred from the name";
  } else {
    throw Error(
        fmt::format("cannot tell whether a higher or a lower \"{}\" is better; pass "
                    "--mode max or --mode min",
                    sel.metric));
  }
  return sel;
}

Analysis analyze(const Results& results, const Selection& selection, const SecondMetric* second) {
  Analysis a;
  a.selection = selection;
  const bool mx = selection.maximize;
  auto better = [mx](double x, double y) { return mx ? x > y : x < y; };

  std::map<std::vector<std::string>, ConfigStats> configs;
  std::map<std::string, ProblemGroup> problems;
  std::map<std::string, std::map<std::string, int>> messages;
  double best = std::nan("");
  for (const auto& t : results.trials) {
    ++a.trials;
    const double m = t.ok() ? t.metric(selection.metric) : std::nan("");
    if (std::isfinite(m) && (std::isnan(best) || better(m, best))) best = m;
    a.best_so_far.push_back(best);
    if (!t.ok()) {
      auto& g = problems[t.status];
      g.status = t.status;
      ++g.count;
      ++messages[t.status][summarize_message(t.error)];
      continue;
    }
    ++a.ok;
    const double v = t.metric(selection.metric);
    if (!std::isfinite(v)) {
      ++a.ok_without_metric;
      continue;
    }
    std::vector<std::string> key;
    for (auto& p : results.varied) key.push_back(t.cell(p));
    auto& c = configs[key];
    c.values = key;
    c.trials.push_back(&t);
    if (!c.best || better(v, c.best->metric(selection.metric))) c.best = &t;
  }

  for (auto& [key, c] : configs) {
    const double n = static_cast<double>(c.trials.size());
    double sum = 0;
    for (auto* t : c.trials) sum += t->metric(selection.metric);
    c.mean = sum / n;
    double ss = 0;
    for (auto* t : c.trials) ss += std::pow(t->metric(selection.metric) - c.mean, 2);
    // Standard error of the mean with the sample standard deviation (ddof = 1).
    c.sem = c.trials.size() > 1 ? std::sqrt(ss / (n - 1)) / std::sqrt(n) : std::nan("");
    a.configs.push_back(c);
  }
  std::stable_sort(
      a.configs.begin(), a.configs.end(), [&](const ConfigStats& x, const ConfigStats& y) {
        if (x.mean != y.mean) return better(x.mean, y.mean);
        if (x.trials.size() != y.trials.size()) return x.trials.size() > y.trials.size();
        return std::lexicographical_compare(x.values.begin(), x.values.end(), y.values.begin(),
                                            y.values.end(), value_less);
      });

  for (auto& [status, g] : problems) {
    for (auto& [msg, count] : messages[status]) g.messages.emplace_back(msg, count);
    std::stable_sort(g.messages.begin(), g.messages.end(),
                     [](const auto& x, const auto& y) { return x.second > y.second; });
    a.problems.push_back(g);
  }
  std::stable_sort(a.problems.begin(), a.problems.end(),
                   [](const ProblemGroup& x, const ProblemGroup& y) { return x.count > y.count; });

  for (std::size_t i = 0; i < results.varied.size(); ++i) {
    Marginal m;
    m.param = results.varied[i];
    std::map<std::string, std::vector<double>> by_value;
    for (auto& c : a.configs)
      for (auto* t : c.trials) by_value[c.values[i]].push_back(t->metric(selection.metric));
    m.numeric = !by_value.empty();
    for (auto& [value, vs] : by_value) {
      double v;
      m.numeric = m.numeric && parse_number(value, v);
      MarginalRow row;
      row.value = value;
      row.n = static_cast<int>(vs.size());
      row.best = vs.front();
      double sum = 0;
      for (double x : vs) {
        sum += x;
        if (better(x, row.best)) row.best = x;
      }
      row.mean = sum / row.n;
      m.rows.push_back(row);
    }
    std::sort(m.rows.begin(), m.rows.end(), [](const MarginalRow& x, const MarginalRow& y) {
      return value_less(x.value, y.value);
    });
    if (m.rows.size() >= 2) {
      auto [lo, hi] = std::minmax_element(m.rows.begin(), m.rows.end(),
                                          [](auto& x, auto& y) { return x.mean < y.mean; });
      m.spread = hi->mean - lo->mean;
    }
    a.marginals.push_back(std::move(m));
  }
  // Ranked by PED-ANOVA importance (n/a last, in the order of results.varied).
  a.importance = importance_of(results, selection);
  for (auto& m : a.marginals)
    for (const auto& p : a.importance.params)
      if (p.param == m.param) m.importance = p.fraction;
  std::stable_sort(a.marginals.begin(), a.marginals.end(), [](const Marginal& x, const Marginal& y) {
    const bool nx = std::isnan(x.importance), ny = std::isnan(y.importance);
    if (nx != ny) return ny;
    return !nx && x.importance > y.importance;
  });
  if (second) {
    a.has_pareto = true;
    a.pareto = pareto_of(results, selection, *second);
  }

  a.best_config = best_config(results, selection);
  if (!a.best_config.is_null()) {
    // Its entry in the leaderboard: the configuration holding one of its rows (its rows share
    // their parameters, so any one names it).
    std::set<std::string> ids;
    for (const json& row : a.best_config.at("rows")) ids.insert(row.at("trial_id").get<std::string>());
    for (std::size_t i = 0; i < a.configs.size() && a.best_config_index < 0; ++i)
      for (const Trial* t : a.configs[i].trials)
        if (ids.count(t->id)) a.best_config_index = static_cast<int>(i);
  }
  return a;
}

json best_config_json(const Analysis& analysis) { return analysis.best_config; }

namespace {

json best_config(const Results& results, const Selection& selection) {
  engine::BestConfigTracker tracker(selection.metric, selection.maximize,
                                    results.sweep.replicates, results.param_columns);
  // The trials as results.csv holds them (a retried trial's last row, in its first row's
  // place): the rows the engine's tracker saw, in the same order.
  std::vector<std::string> cells(results.param_columns.size());
  for (const Trial& t : results.trials) {
    for (std::size_t i = 0; i < cells.size(); ++i) cells[i] = t.cell(results.param_columns[i]);
    engine::ReplicateRow row;
    row.trial_id = t.id;
    row.status = t.state;
    row.value = t.metric(selection.metric);
    const json seed = cell_json(t.cell("seed")), repeat = cell_json(t.cell("repeat")),
               fold = cell_json(t.cell(engine::fold_column()));
    if (seed.is_number_unsigned()) row.seed = seed.get<std::uint64_t>();
    if (repeat.is_number_integer()) row.repeat = repeat.get<int>();
    if (fold.is_number_integer()) row.fold = fold.get<int>();
    if (std::isfinite(t.rung)) row.rung = static_cast<int>(t.rung);
    if (!std::isnan(t.resource)) row.resource = t.resource;
    tracker.offer_cells(cells, std::move(row));
  }
  return tracker.to_json();
}

}  // namespace

}  // namespace ns::report
