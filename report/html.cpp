#include "report/html.hpp"
#include "engine/journal.hpp"
#include "report/pbt.hpp"
#include "report/timeline.hpp"

#include <map>

#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/json_text.hpp"
#include "report/csv.hpp"

#ifndef NS_PLOTLY_JS_DEFAULT
#define NS_PLOTLY_JS_DEFAULT ""
#endif

namespace ns::report {

// The page's own script and style (report/assets/, compiled in by CMake).
extern const char* const kReportJs;
extern const char* const kReportCss;

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kMaxCurveTrials = 5;
constexpr int kMaxMasks = 32;

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
}

// Text inside <script> ends at the first "</script"; "<!--" changes how it is tokenized.
// In JSON both can only occur inside strings, where "\/" and "\u0021" mean the same.
std::string script_safe_json(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  replace_all(s, "</", "<\\/");
  replace_all(s, "<!--", "<\\u0021--");
  return s;
}

std::string script_safe_js(std::string js) {
  for (const char* tag : {"</script", "</SCRIPT", "</Script"}) replace_all(js, tag, "<\\/script");
  return js;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

fs::path trial_file(const Results& r, const std::string& id, const char* name) {
  return r.dir / "trials" / id / name;
}

// reports.jsonl (an early-stopping scheduler's journal): each trial's metric against the resource
// at the points the scheduler heard (rungs, or every report of the median rule), the rung
// resources, and each trial's final status (stopped trials are drawn faded). Null without one.
json early_stopping(const Results& r) {
  const fs::path p = r.dir / "reports.jsonl";
  std::ifstream in(p);
  if (!in) return nullptr;
  std::map<std::string, std::vector<std::pair<double, double>>> points;
  std::set<double> rungs;
  for (std::string line; std::getline(in, line);) {
    const auto parsed = core::try_parse_json(line, core::JsonLimits::trial_line());
    if (!parsed) continue;
    const json& e = *parsed;
    if (!e.is_object() || !e.contains("resource") || !e.contains("value"))
      continue;
    const auto& v = e.at("value");
    const double value = v.is_number() ? v.get<double>() : std::nan("");
    const double resource = e.at("resource").get<double>();
    auto& pts = points[e.value("trial", std::string())];
    if (pts.empty() || pts.back().first < resource) pts.emplace_back(resource, value);
    if (engine::journal::kind_of(e) == engine::journal::Kind::kRung) rungs.insert(resource);
  }
  json trials = json::array();
  for (const Trial& t : r.trials) {
    auto it = points.find(t.id);
    if (it == points.end()) continue;
    json x = json::array(), y = json::array();
    for (const auto& [res, val] : it->second) {
      x.push_back(res);
      y.push_back(std::isfinite(val) ? json(val) : json(nullptr));
    }
    trials.push_back({{"id", t.id}, {"status", t.status}, {"x", x}, {"y", y}});
  }
  return {{"rungs", rungs}, {"trials", trials}};
}

// trials/<id>/curve.csv: first column the x axis (iteration or epoch), others series.
json read_curve(const Results& r, const Trial& t, const std::string& label, json& skipped) {
  const fs::path p = trial_file(r, t.id, "curve.csv");
  if (!safe_trial_id(t.id) || !fs::exists(p)) {
    skipped.push_back(
        fmt::format("no learning curve for trial {} (trials/{}/curve.csv)", t.id, t.id));
    return nullptr;
  }
  CsvTable c;
  try {
    c = read_csv(p);
  } catch (const Error& e) {
    skipped.push_back(fmt::format("learning curve of {} skipped: {}", t.id, e.what()));
    return nullptr;
  }
  if (c.header.size() < 2 || c.records.empty()) {
    skipped.push_back(
        fmt::format("learning curve of {} skipped: {} has no data rows yet", t.id, p.string()));
    return nullptr;
  }
  json x = json::array(), series = json::object(), columns = json::array();
  for (std::size_t k = 1; k < c.header.size(); ++k) {
    columns.push_back(c.header[k]);
    series[c.header[k]] = json::array();
  }
  for (auto& rec : c.records) {
    if (rec.fields.size() != c.header.size()) continue;
    double v = std::nan("");
    parse_number(rec.fields[0], v);
    x.push_back(finite_or_null(v));
    for (std::size_t k = 1; k < c.header.size(); ++k) {
      double y = std::nan("");
      parse_number(rec.fields[k], y);
      series[c.header[k]].push_back(finite_or_null(y));
    }
  }
  return {{"id", t.id}, {"label", label},     {"x_name", c.header[0]},
          {"x", x},     {"columns", columns}, {"series", series}};
}

// trials/<id>/neurons.csv: one row per neuron; the Pearson and CCnorm columns are drawn.
json read_neurons(const Results& r, const Trial& t, json& skipped) {
  const fs::path p = trial_file(r, t.id, "neurons.csv");
  if (!safe_trial_id(t.id) || !fs::exists(p)) return nullptr;
  CsvTable c;
  try {
    c = read_csv(p);
  } catch (const Error& e) {
    skipped.push_back(fmt::format("per-neuron metrics of {} skipped: {}", t.id, e.what()));
    return nullptr;
  }
  json columns = json::object(), excluded = json::object();
  for (std::size_t k = 0; k < c.header.size(); ++k) {
    const std::string name = lower(c.header[k]);
    if (name.find("pearson") == std::string::npos && name.find("ccnorm") == std::string::npos)
      continue;
    json values = json::array();
    int nan = 0;
    for (auto& rec : c.records) {
      if (rec.fields.size() != c.header.size()) continue;
      double v = std::nan("");
      parse_number(rec.fields[k], v);
      if (!std::isfinite(v)) ++nan;
      values.push_back(finite_or_null(v));
    }
    columns[c.header[k]] = values;
    excluded[c.header[k]] = nan;
  }
  if (columns.empty()) {
    skipped.push_back(fmt::format("{} has no Pearson or CCnorm column (header: {})", p.string(),
                                  fmt::join(c.header, ",")));
    return nullptr;
  }
  return {{"trial", t.id}, {"columns", columns}, {"excluded", excluded}};
}

// trials/<id>/readout_masks.json: {"shape": [N, H, W], "values": [N*H*W numbers, row-major]}.
json read_masks(const Results& r, const Trial& t, json& skipped) {
  const fs::path p = trial_file(r, t.id, "readout_masks.json");
  if (!safe_trial_id(t.id) || !fs::exists(p)) return nullptr;
  try {
    // N x H x W numbers: larger than a spec may be, but never deep.
    const json j = core::read_json_file(p.string(), core::JsonLimits{std::size_t{1} << 30, 8, true, false});
    NS_CHECK(j.is_object() && j.contains("shape") && j.contains("values"),
             "expected {{\"shape\": [N, H, W], \"values\": [...]}}");
    const json& shape = j["shape"];
    NS_CHECK(shape.is_array() && shape.size() == 3 &&
                 std::all_of(shape.begin(), shape.end(),
                             [](const json& v) { return v.is_number_unsigned(); }),
             "$.shape should be [N, H, W] (non-negative integers), found {}", shape.dump());
    const std::size_t n = shape[0], h = shape[1], w = shape[2];
    const json& values = j["values"];
    NS_CHECK(values.is_array() && values.size() == n * h * w,
             "$.values should hold N*H*W = {} numbers, found {}", n * h * w,
             values.is_array() ? std::to_string(values.size()) : std::string(values.type_name()));
    const std::size_t shown = std::min<std::size_t>(n, kMaxMasks);
    json masks = json::array();
    for (std::size_t i = 0; i < shown; ++i) {
      json img = json::array();
      for (std::size_t y = 0; y < h; ++y) {
        json row = json::array();
        for (std::size_t x = 0; x < w; ++x) {
          const json& v = values[(i * h + y) * w + x];
          row.push_back(v.is_number() ? finite_or_null(v.get<double>()) : json(nullptr));
        }
        img.push_back(row);
      }
      masks.push_back(img);
    }
    return {{"trial", t.id}, {"n", n}, {"h", h}, {"w", w}, {"shown", shown}, {"values", masks}};
  } catch (const std::exception& e) {
    skipped.push_back(
        fmt::format("readout masks of {} skipped: {}: {}", t.id, p.string(), e.what()));
    return nullptr;
  }
}

// What mattered: the importance bars, the parallel coordinates of every trial (failed ones
// counted, not drawn) and the second metric against the first with the Pareto front.
void what_mattered(const Results& r, const Analysis& a, json& d) {
  const std::string& metric = a.selection.metric;
  const ImportanceResult& im = a.importance;
  json params = json::array();
  for (const auto& p : im.params)
    params.push_back({{"param", p.param},
                      {"fraction", finite_or_null(p.fraction)},
                      {"raw", finite_or_null(p.raw)},
                      {"space", p.why_na.empty() ? p.domain.source : p.why_na}});
  d["importance"] = {{"params", params}, {"top", im.top},         {"trials", im.trials},
                     {"rows", im.rows},  {"why_none", im.why_none}};

  // Axes in results.varied order; each trial's cells as written, the page places them.
  json axes = json::array();
  const std::vector<Domain> domains = search_domains(r);
  for (std::size_t i = 0; i < r.varied.size(); ++i) {
    const Domain& dom = domains[i];
    const char* kind = dom.kind == Domain::Kind::kRange      ? "range"
                       : dom.kind == Domain::Kind::kLogRange ? "log"
                       : dom.kind == Domain::Kind::kValues   ? "values"
                                                             : "categorical";
    axes.push_back({{"param", r.varied[i]}, {"kind", kind}, {"low", dom.low}, {"high", dom.high},
                    {"values", dom.values}});
  }
  json lines = json::array();
  int failed = 0;
  for (const Trial& t : r.trials) {
    const bool stopped = t.state == engine::TrialStatus::kStopped;
    const double v = t.metric(metric);
    if ((!t.ok() && !stopped) || !std::isfinite(v)) {
      ++failed;
      continue;
    }
    json cells = json::array();
    for (const auto& p : r.varied) cells.push_back(t.cell(p));
    lines.push_back({{"id", t.id}, {"status", t.status}, {"value", v}, {"cells", cells}});
  }
  d["parallel"] = {{"axes", axes}, {"lines", lines}, {"left_out", failed}};

  d["pareto"] = nullptr;
  if (a.has_pareto) {
    const ParetoView& p = a.pareto;
    d["pareto"] = {{"metric2", p.second.name}, {"maximize2", p.second.maximize},
                   {"mode2_source", p.second.mode_source}, {"ids", p.ids},
                   {"x", p.metric2}, {"y", p.metric}, {"front", p.front}};
  }
}

}  // namespace

fs::path plotly_js_path() {
  if (const char* env = std::getenv("NS_PLOTLY_JS"); env && *env) return env;
  return NS_PLOTLY_JS_DEFAULT;
}

std::string load_plotly_js() {
  const fs::path p = plotly_js_path();
  NS_CHECK(!p.empty() && fs::is_regular_file(p),
           "Plotly not found at \"{}\" (the HTML report inlines it); run scripts/setup.sh --deps, "
           "which downloads it from PyPI's plotly wheel into the cache (~/.cache/neurosweep), "
           "or set NS_PLOTLY_JS to a plotly.min.js",
           p.string());
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  NS_CHECK(in.good() || in.eof(), "{}: read failed", p.string());
  std::string js = ss.str();
  NS_CHECK(js.size() > 1000,
           "{}: only {} bytes, not a Plotly bundle; reinstall with "
           "scripts/setup.sh --deps",
           p.string(), js.size());
  return js;
}

json html_data(const Results& r, const Analysis& a, int top) {
  const std::string& metric = a.selection.metric;
  json d;
  d["title"] =
      "neurosweep report: " + (r.sweep.name.empty() ? r.dir.filename().string() : r.sweep.name);
  d["metric"] = metric;
  d["maximize"] = a.selection.maximize;
  d["varied"] = r.varied;

  json meta = json::array();
  meta.push_back(fmt::format("Directory {}; family {}.", r.dir.string(),
                             r.sweep.family.empty() ? "unknown" : r.sweep.family));
  meta.push_back(fmt::format("Ranked by {} ({} is better, {}).", metric,
                             a.selection.maximize ? "higher" : "lower", a.selection.mode_source));
  std::string counts = fmt::format("{} trials: {} ok", a.trials, a.ok);
  for (auto& g : a.problems) counts += fmt::format(", {} {}", g.count, g.status);
  meta.push_back(counts + ".");
  // The search registry's describe(), one meta line per line.
  std::size_t from = 0;
  const std::string& desc = r.sweep.search_description;
  for (std::size_t nl = desc.find('\n'); nl != std::string::npos; nl = desc.find('\n', from)) {
    meta.push_back(desc.substr(from, nl - from));
    from = nl + 1;
  }
  d["meta"] = meta;
  json notes = json::array();
  if (r.dropped_partial)
    notes.push_back(
        "A partial last line of results.csv was ignored: the sweep is running or was stopped "
        "mid-write.");
  if (a.ok_without_metric)
    notes.push_back(fmt::format("{} ok trial(s) have no finite {}.", a.ok_without_metric, metric));
  for (auto& w : r.warnings) notes.push_back(w);
  d["notes"] = notes;

  json configs = json::array();
  for (int i = 0; i < std::min<int>(top, static_cast<int>(a.configs.size())); ++i) {
    const ConfigStats& c = a.configs[i];
    configs.push_back({{"values", c.values},
                       {"mean", finite_or_null(c.mean)},
                       {"sem", finite_or_null(c.sem)},
                       {"n", c.trials.size()},
                       {"best_id", c.best->id},
                       {"best_marked", !c.best->earlier_definition.empty()},
                       {"best_value", finite_or_null(c.best->metric(metric))}});
  }
  d["configs"] = configs;

  json problems = json::array();
  for (auto& g : a.problems) {
    json msgs = json::array();
    for (std::size_t i = 0; i < std::min<std::size_t>(5, g.messages.size()); ++i)
      msgs.push_back({g.messages[i].first, g.messages[i].second});
    problems.push_back({{"status", g.status}, {"count", g.count}, {"messages", msgs}});
  }
  d["problems"] = problems;

  json points = json::array();
  for (auto& c : a.configs)
    for (auto* t : c.trials) {
      json values = json::object();
      for (std::size_t i = 0; i < r.varied.size(); ++i) values[r.varied[i]] = c.values[i];
      points.push_back({{"id", t->id}, {"value", t->metric(metric)}, {"values", values}});
    }
  d["points"] = points;

  json marginals = json::array();
  for (auto& m : a.marginals) {
    json rows = json::array();
    for (auto& row : m.rows)
      rows.push_back({{"value", row.value}, {"n", row.n}, {"best", row.best}, {"mean", row.mean}});
    marginals.push_back(
        {{"param", m.param}, {"numeric", m.numeric}, {"spread", m.spread},
         {"importance", finite_or_null(m.importance)}, {"rows", rows}});
  }
  d["marginals"] = marginals;
  what_mattered(r, a, d);

  // Heatmap over the two most important parameters (a.marginals is sorted by importance).
  d["heatmap"] = nullptr;
  if (a.marginals.size() >= 2 && !a.configs.empty()) {
    const Marginal& mx = a.marginals[0];
    const Marginal& my = a.marginals[1];
    const auto ix = std::find(r.varied.begin(), r.varied.end(), mx.param) - r.varied.begin();
    const auto iy = std::find(r.varied.begin(), r.varied.end(), my.param) - r.varied.begin();
    std::vector<std::string> xs, ys;
    for (auto& row : mx.rows) xs.push_back(row.value);
    for (auto& row : my.rows) ys.push_back(row.value);
    std::vector<std::vector<double>> sum(ys.size(), std::vector<double>(xs.size(), 0));
    std::vector<std::vector<int>> cnt(ys.size(), std::vector<int>(xs.size(), 0));
    for (auto& c : a.configs)
      for (auto* t : c.trials) {
        const auto x = std::find(xs.begin(), xs.end(), c.values[ix]) - xs.begin();
        const auto y = std::find(ys.begin(), ys.end(), c.values[iy]) - ys.begin();
        sum[y][x] += t->metric(metric);
        ++cnt[y][x];
      }
    json z = json::array(), n = json::array();
    for (std::size_t y = 0; y < ys.size(); ++y) {
      json zr = json::array();
      for (std::size_t x = 0; x < xs.size(); ++x)
        zr.push_back(cnt[y][x] ? json(sum[y][x] / cnt[y][x]) : json(nullptr));
      z.push_back(zr);
      n.push_back(cnt[y]);
    }
    d["heatmap"] = {{"x", mx.param}, {"y", my.param}, {"xs", xs}, {"ys", ys}, {"z", z}, {"n", n}};
  }

  json skipped = json::array(), curve_notes = json::array();
  json curves = json::array();
  for (int i = 0; i < std::min<int>(kMaxCurveTrials, static_cast<int>(a.configs.size())); ++i) {
    const Trial& t = *a.configs[i].best;
    json c = read_curve(r, t, fmt::format("#{} {}", i + 1, t.id), curve_notes);
    if (!c.is_null()) curves.push_back(std::move(c));
  }
  d["curves"] = curves;
  // A family that writes no curves at all gets one line on the page, not one per trial.
  if (!curves.empty())
    for (auto& n : curve_notes) skipped.push_back(n);
  d["neurons"] = nullptr;
  d["masks"] = nullptr;
  if (!a.configs.empty()) {
    const Trial& best = *a.configs.front().best;
    d["neurons"] = read_neurons(r, best, skipped);
    d["masks"] = read_masks(r, best, skipped);
  }
  d["early_stopping"] = early_stopping(r);
  d["timeline"] = timeline_json(load_timeline(r));  // when each rank trained (timeline.hpp)
  d["pbt"] = nullptr;
  if (const PbtView pbt = load_pbt(r); pbt.present) {
    json members = json::array();
    for (const auto& m : pbt.history.members) {
      json x = json::array(), y = json::array();
      for (const auto& [step, value] : m.values) {
        x.push_back(step);
        y.push_back(std::isfinite(value) ? json(value) : json(nullptr));
      }
      members.push_back({{"id", m.trial}, {"x", x}, {"y", y}});
    }
    json exploits = json::array();
    for (const auto& e : pbt.history.exploits)
      exploits.push_back({{"member", e.member}, {"donor", e.donor}, {"step", e.step},
                          {"from", e.from}, {"reason", e.reason}});
    json schedule = json::array();
    if (pbt.best >= 0) {
      const auto& lin = pbt.history.members[static_cast<std::size_t>(pbt.best)].lineage;
      for (std::size_t k = 0; k < lin.size(); ++k) {
        json params = json::object();
        if (pbt.spec.contains("search") && pbt.spec["search"].contains("mutable"))
          for (const auto& n : pbt.spec["search"]["mutable"])
            if (lin[k].params.contains(n.get<std::string>()))
              params[n.get<std::string>()] = lin[k].params[n.get<std::string>()];
        schedule.push_back({{"from", lin[k].from},
                            {"to", k + 1 < lin.size() ? json(lin[k + 1].from)
                                   : pbt.max > 0  ? json(pbt.max)
                                                  : json(nullptr)},
                            {"member", lin[k].member},
                            {"params", params}});
      }
    }
    d["pbt"] = {{"members", members}, {"exploits", exploits}, {"best", pbt.best},
                {"schedule", schedule}};
  }
  if (r.sweep.tpe()) {
    json best = json::array();
    for (double v : a.best_so_far) best.push_back(std::isfinite(v) ? json(v) : json(nullptr));
    d["search"] = {{"kind", "tpe"}, {"startup", r.sweep.random_first}, {"best", best}};
  }
  d["skipped"] = skipped;

  // Every row of results.csv (final attempt per trial) for the sortable table.
  std::vector<std::string> cols = {"trial_id", "status"};
  for (auto& p : r.varied) cols.push_back(p);
  for (auto& m : r.metric_columns) cols.push_back(m);
  for (const char* c : {"rung", "resource", "seed", "repeat", "attempt", "wall_s", "host", "error"})
    if (std::find(r.columns.begin(), r.columns.end(), c) != r.columns.end()) cols.push_back(c);
  std::vector<bool> numeric(cols.size(), true), is_metric(cols.size(), false);
  for (std::size_t k = 0; k < cols.size(); ++k)
    is_metric[k] = std::find(r.metric_columns.begin(), r.metric_columns.end(), cols[k]) !=
                   r.metric_columns.end();
  json rows = json::array();
  for (auto& t : r.trials) {
    json row = json::array();
    for (std::size_t k = 0; k < cols.size(); ++k) {
      const std::string& s = t.cell(cols[k]);
      double v;
      if (!s.empty() && !parse_number(s, v)) numeric[k] = false;
      row.push_back(s);
    }
    rows.push_back(row);
  }
  for (std::size_t k = 0; k < cols.size(); ++k)
    if (cols[k] == "trial_id" || cols[k] == "status" || cols[k] == "error" || cols[k] == "host")
      numeric[k] = false;
  d["table"] = {{"columns", cols},
                {"numeric", numeric},
                {"metric", is_metric},
                {"rows", rows},
                {"best_id", a.configs.empty() ? json(nullptr) : json(a.configs.front().best->id)}};
  return d;
}

namespace {

// The page around `body` (static HTML the script fills): the style, Plotly and the page's
// script inlined, the data as JSON in #ns-data.
std::string page(const json& d, const std::string& body, const std::string& plotly_js) {
  std::string page;
  page.reserve(plotly_js.size() + 200000);
  page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  page += "<title>" + html_escape(d["title"].get<std::string>()) + "</title>\n";
  page += "<style>\n" + std::string(kReportCss) + "</style>\n";
  page += "<script>\n" + script_safe_js(plotly_js) + "\n</script>\n</head>\n<body>\n";
  page += body;
  page += "<script type=\"application/json\" id=\"ns-data\">" + script_safe_json(d) + "</script>\n";
  page += "<script>\n" + script_safe_js(kReportJs) + "\n</script>\n</body>\n</html>\n";
  return page;
}

}  // namespace

std::string render_compare_html(const json& data, const std::string& plotly_js) {
  return page(data, R"(<h1 id="title"></h1>
<div id="summary"></div>
<h2>The sweeps</h2>
<div class="scroll" id="compare-table"></div>
<h2>The best so far against trials finished</h2>
<div id="compare-chart"></div>
)",
              plotly_js);
}

std::string render_html(const Results& r, const Analysis& a, int top,
                        const std::string& plotly_js) {
  const json d = html_data(r, a, top);
  return page(d, R"(<h1 id="title"></h1>
<div id="summary"></div>
<h2>Top configurations</h2>
<div id="leaderboard"></div>
<div id="problems"></div>
<h2>Metric against each hyperparameter</h2>
<div id="vs-params" class="grid"></div>
<section id="what-mattered">
<h2>What mattered: hyperparameter importance (PED-ANOVA)</h2>
<div id="importance"></div>
<h2>Every trial across the hyperparameters (parallel coordinates)</h2>
<div id="parallel"></div>
<h2>The metric against a second one, with the Pareto front</h2>
<div id="pareto"></div>
</section>
<h2>The two most important hyperparameters</h2>
<div id="heatmap"></div>
<h2>Learning curves of the top trials</h2>
<div id="curves" class="grid"></div>
<section id="search">
<h2>Search: the best so far against trials</h2>
<div id="best-so-far"></div>
</section>
<section id="pbt">
<h2>PBT: the population's metric over time, with the exploits</h2>
<div id="pbt-population"></div>
<h3>The winning schedule</h3>
<div class="scroll"><table id="pbt-schedule"></table></div>
</section>
<section id="early-stopping">
<h2>Early stopping: the metric at each rung</h2>
<div id="rungs"></div>
</section>
<section id="timeline-section">
<h2>Timeline: each rank's trials over wall time</h2>
<div id="timeline"></div>
</section>
<section id="neural">
<h2>Best trial: per-neuron metrics and readout masks</h2>
<div id="neurons" class="grid"></div>
<div id="masks" class="masks"></div>
</section>
<div id="skipped"></div>
<h2>All trials</h2>
<div class="scroll"><table id="trials"></table></div>
)",
              plotly_js);
}

}  // namespace ns::report
