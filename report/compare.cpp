#include "report/compare.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <ostream>

#include "core/error.hpp"
#include "core/file.hpp"
#include "report/analysis.hpp"
#include "report/html.hpp"
#include "report/results.hpp"
#include "report/terminal.hpp"

namespace ns::report {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// A parameter's value for the table: strings bare, fractions to 4 significant digits.
std::string shown(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return format_metric(v.get<double>());
  return v.dump();
}

// "x=1 y=-2" over the sweep's varied parameters (every parameter when none is varied).
std::string params_text(const Results& r, const json& params) {
  const std::vector<std::string>& names = r.varied.empty() ? r.param_columns : r.varied;
  std::string out;
  for (const auto& p : names)
    if (params.contains(p))
      out += fmt::format("{}{}={}", out.empty() ? "" : " ", p, shown(params.at(p)));
  return out.empty() ? "(no parameters)" : out;
}

std::string direction(bool maximize) { return maximize ? "higher is better" : "lower is better"; }

}  // namespace

json compare_data(const CompareOptions& o) {
  NS_CHECK(o.dirs.size() >= 2, "report: comparing sweeps needs two or more directories, got {}",
           o.dirs.size());
  // Results first (every directory checked before anything is shown), then the analyses.
  std::vector<std::unique_ptr<Results>> loaded;
  std::vector<Selection> selections;
  for (const auto& dir : o.dirs) {
    loaded.push_back(std::make_unique<Results>(load_results(dir)));
    selections.push_back(choose_selection(*loaded.back(), o.metric, o.mode));
  }
  for (std::size_t i = 1; i < selections.size(); ++i) {
    const Selection& a = selections[0];
    const Selection& b = selections[i];
    NS_CHECK(a.metric == b.metric && a.maximize == b.maximize,
             "report: the sweeps rank differently: {} by {} ({}), {} by {} ({}); compare sweeps "
             "of one metric and mode, or pass --metric and --mode to rank all by one",
             o.dirs[0].string(), a.metric, a.maximize ? "max" : "min", o.dirs[i].string(), b.metric,
             b.maximize ? "max" : "min");
  }
  const Selection& sel = selections.front();

  std::map<std::string, int> names;
  for (const auto& r : loaded) ++names[r->sweep.name];
  json sweeps = json::array();
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    const Results& r = *loaded[i];
    const Analysis a = analyze(r, selections[i]);
    json s;
    s["name"] = r.sweep.name.empty() ? r.dir.filename().string() : r.sweep.name;
    s["dir"] = r.dir.string();
    // Sweeps of one name (one spec, other --out): told apart by their directories.
    s["label"] = r.sweep.name.empty() || names[r.sweep.name] > 1
                     ? fmt::format("{} ({})", s["name"].get<std::string>(), r.dir.string())
                     : r.sweep.name;
    s["family"] = r.sweep.family.empty() ? "-" : r.sweep.family;
    s["search"] = r.sweep.search_name.empty() ? "-" : r.sweep.search_name;
    int ok = 0, stopped = 0, failed = 0;
    for (const Trial& t : r.trials) {
      if (t.ok())
        ++ok;
      else if (t.state == engine::TrialStatus::kStopped)
        ++stopped;
      else
        ++failed;
    }
    s["trials"] = r.trials.size();
    s["ok"] = ok;
    s["stopped"] = stopped;
    s["failed"] = failed;  // failed, timed out, or a status this version does not know
    s["trial_seconds"] = r.wall_s;
    // The best row: the first ok trial (in row order) with the best finite metric, as best.json.
    const Trial* best = nullptr;
    for (const Trial& t : r.trials) {
      const double v = t.ok() ? t.metric(sel.metric) : NAN;
      if (std::isfinite(v) &&
          (!best || (sel.maximize ? v > best->metric(sel.metric) : v < best->metric(sel.metric))))
        best = &t;
    }
    s["best_row"] =
        best ? json{{"trial_id", best->id}, {"value", best->metric(sel.metric)}} : json(nullptr);
    s["best_config"] = a.best_config;
    if (!a.best_config.is_null())
      s["best_config"]["params_text"] = params_text(r, a.best_config.at("params"));
    json curve = json::array();
    for (double v : a.best_so_far) curve.push_back(finite_or_null(v));
    s["best_so_far"] = curve;
    sweeps.push_back(std::move(s));
  }
  json meta = json::array();
  meta.push_back(
      fmt::format("ranked by {} ({}, {})", sel.metric, direction(sel.maximize), sel.mode_source));
  meta.push_back(
      "best row: the single best ok trial (best.json); best configuration: the best mean over "
      "a configuration's replicates, complete configurations first (best_config.json)");
  return {{"compare", true},
          {"title", fmt::format("neurosweep: {} sweeps compared", loaded.size())},
          {"metric", sel.metric},
          {"maximize", sel.maximize},
          {"meta", meta},
          {"sweeps", sweeps}};
}

std::string render_compare_terminal(const json& d) {
  const std::string metric = d.at("metric").get<std::string>();
  std::string out = fmt::format("neurosweep report: {} sweeps compared, {}\n",
                                d.at("sweeps").size(), d.at("meta")[0].get<std::string>());
  std::vector<std::vector<std::string>> rows;
  for (const json& s : d.at("sweeps")) {
    const json& b = s.at("best_row");
    const json& c = s.at("best_config");
    auto number = [](const json& v) {
      return v.is_number() ? format_metric(v.get<double>()) : "-";
    };
    rows.push_back(
        {s.at("label").get<std::string>(), s.at("family").get<std::string>(),
         s.at("search").get<std::string>(), std::to_string(s.at("trials").get<int>()),
         std::to_string(s.at("ok").get<int>()), std::to_string(s.at("stopped").get<int>()),
         std::to_string(s.at("failed").get<int>()),
         fmt::format("{:.1f}", s.at("trial_seconds").get<double>()),
         b.is_null() ? "-" : number(b.at("value")),
         b.is_null() ? "-" : b.at("trial_id").get<std::string>(),
         c.is_null() ? "-" : number(c.at("value")), c.is_null() ? "-" : number(c.at("sem")),
         c.is_null()
             ? "-"
             : fmt::format("{} of {}", c.at("n").get<int>(), c.at("replicates").get<int>())});
  }
  out += "\n" +
         table({"sweep", "family", "search", "trials", "ok", "stopped", "failed", "trial s",
                "best row", "best trial", "best mean", "+-sem", "n"},
               rows,
               {false, false, false, true, true, true, true, true, true, false, true, true, true},
               "  ");
  out += "\nBest configuration of each (best mean " + metric + "):\n";
  for (const json& s : d.at("sweeps")) {
    const json& c = s.at("best_config");
    out += fmt::format("  {}: {}{}\n", s.at("label").get<std::string>(),
                       c.is_null() ? "none yet (no ok trial with a finite " + metric + ")"
                                   : c.at("params_text").get<std::string>(),
                       !c.is_null() && !c.at("complete").get<bool>() ? " (incomplete)" : "");
  }
  // The best-so-far curves at a few points: 1, 2, 5, 10, 20, 50, ... and each sweep's end.
  std::size_t longest = 0;
  for (const json& s : d.at("sweeps")) longest = std::max(longest, s.at("best_so_far").size());
  if (longest > 0) {
    std::vector<std::size_t> at;
    for (std::size_t k = 1; k < longest; k *= 10)
      for (std::size_t m : {1, 2, 5})
        if (k * m < longest) at.push_back(k * m);
    at.push_back(longest);
    std::vector<std::string> header = {"trials"};
    std::vector<bool> right = {true};
    for (const json& s : d.at("sweeps")) {
      header.push_back(s.at("label").get<std::string>());
      right.push_back(true);
    }
    std::vector<std::vector<std::string>> curve;
    for (std::size_t k : at) {
      std::vector<std::string> row = {std::to_string(k)};
      for (const json& s : d.at("sweeps")) {
        const json& c = s.at("best_so_far");
        // A sweep with fewer trials shows its last value (its search ended there).
        const json& v = c.empty() ? json(nullptr) : c[std::min(k, c.size()) - 1];
        row.push_back(v.is_number() ? format_metric(v.get<double>()) : "-");
      }
      curve.push_back(std::move(row));
    }
    out += "\nBest " + metric + " so far after the first trials to finish:\n";
    out += table(header, curve, right, "  ");
  }
  return out;
}

void run_compare(const CompareOptions& o, std::ostream& out) {
  if (!o.html.empty()) {
    const fs::path parent = o.html.has_parent_path() ? o.html.parent_path() : fs::path(".");
    NS_CHECK(fs::is_directory(parent), "--html {}: no directory {}; create it or write elsewhere",
             o.html.string(), parent.string());
  }
  const json d = compare_data(o);
  const std::string plotly = o.html.empty() ? std::string() : load_plotly_js();
  out << render_compare_terminal(d);
  out.flush();
  if (!o.html.empty()) {
    core::write_file_atomic(o.html, render_compare_html(d, plotly), kExitBadInput);
    out << "wrote " << o.html.string() << "\n";
  }
}

}  // namespace ns::report
