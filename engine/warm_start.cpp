#include "engine/warm_start.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.hpp"
#include "engine/csv.hpp"

namespace ns::engine {

namespace {

namespace fs = std::filesystem;

/// True if `v` is a value `d` can draw (bounds inclusive; an int must be integral).
bool in_space(const sweeps::Distribution& d, const nlohmann::json& v) {
  switch (d.kind) {
    case sweeps::DistKind::kChoice:
      return std::find(d.choices.begin(), d.choices.end(), v) != d.choices.end();
    case sweeps::DistKind::kInt:
      if (!v.is_number()) return false;
      return std::floor(v.get<double>()) == v.get<double>() && v.get<double>() >= d.low &&
             v.get<double>() <= d.high;
    case sweeps::DistKind::kUniform:
    case sweeps::DistKind::kLogUniform:
      return v.is_number() && v.get<double>() >= d.low && v.get<double>() <= d.high;
  }
  return false;
}

std::vector<std::string> columns_between(const CsvTable& t) {
  // The parameter and value columns: everything but the bookkeeping ones.
  std::set<std::string> skip(leading_columns().begin(), leading_columns().end());
  skip.insert(trailing_columns().begin(), trailing_columns().end());
  std::vector<std::string> out;
  for (const auto& c : t.header)
    if (!skip.count(c)) out.push_back(c);
  return out;
}

}  // namespace

nlohmann::json prior_json(const std::vector<TpeObservation>& prior) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& o : prior) a.push_back({{"params", o.params}, {"value", journal_json(o.value)}});
  return a;
}

std::vector<TpeObservation> prior_from_json(const nlohmann::json& j) {
  std::vector<TpeObservation> out;
  for (const auto& e : j) {
    TpeObservation o;
    o.params = e.at("params");
    o.value = journal_value(e.at("value"));
    o.state = TpeState::kComplete;
    out.push_back(std::move(o));
  }
  return out;
}

WarmStart read_warm_start(const sweeps::SweepSpec& spec, bool tpe,
                          const std::vector<sweeps::Trial>& pending,
                          const std::vector<InputDigest>& inputs) {
  WarmStart out;
  std::map<std::string, const sweeps::Trial*> wanted;
  for (const auto& t : pending) wanted[t.id] = &t;
  std::set<std::string> reused_ids;
  for (const std::string& dir : spec.warm_start) {
    const std::string where = spec.source + ": $.warm_start: " + dir;
    const fs::path sweep_file = fs::path(dir) / "sweep.json", results = fs::path(dir) / "results.csv";
    NS_CHECK(fs::exists(sweep_file) && fs::exists(results),
             "{}: not a sweep's output directory (expected sweep.json and results.csv there)",
             where);
    const nlohmann::json sweep = sweeps::read_json_file(sweep_file.string());
    const std::string family = sweep.value("family", std::string());
    NS_CHECK(family == spec.family, "{}: a sweep of family '{}', this spec's is '{}'", where,
             family, spec.family);
    const CsvTable table = read_csv_file(results.string());
    const std::vector<std::string> cols = columns_between(table);
    NS_CHECK(std::count(cols.begin(), cols.end(), spec.metric) == 1,
             "{}: results.csv has no column '{}' (this spec's metric)", where, spec.metric);
    std::vector<std::string> value_columns = {spec.metric};
    for (const auto& c : scheduler_columns()) value_columns.push_back(c);
    value_columns.push_back(fold_column());
    nlohmann::json rec = {{"dir", dir},
                          {"name", sweep.value("name", std::string())},
                          {"rows", table.rows.size()},
                          {"inputs", sweep.value("inputs", nlohmann::json::array())}};
    if (tpe) {
      // The space's parameters it has, and what is dropped.
      std::vector<std::string> shared, missing, dropped;
      for (const auto& [name, d] : spec.random)
        (std::count(cols.begin(), cols.end(), name) ? shared : missing).push_back(name);
      const std::vector<std::string> varied = sweep.value("varied", std::vector<std::string>{});
      for (const auto& v : varied)
        if (std::none_of(spec.random.begin(), spec.random.end(),
                         [&](const auto& p) { return p.first == v; }))
          dropped.push_back(v);
      if (!dropped.empty())
        out.warnings.push_back(fmt::format("warm start from {}: its searched parameter(s) {} are "
                                           "not in this search space: dropped",
                                           dir, fmt::join(dropped, ", ")));
      if (!missing.empty())
        out.warnings.push_back(fmt::format("warm start from {}: it has no column for {}: its "
                                           "observations leave them out of their densities",
                                           dir, fmt::join(missing, ", ")));
      // Rows: ok, finite metric, at the highest rung the sweep reached (early stopping).
      std::vector<ResultRow> rows;
      int top = -1;
      for (const auto& cells : table.rows) {
        ResultRow r = row_from_record(table.header, cells, shared, value_columns);
        if (r.rung) top = std::max(top, *r.rung);
        rows.push_back(std::move(r));
      }
      std::map<std::string, std::pair<double, int>> sum;  // params dump -> (sum, n)
      std::map<std::string, nlohmann::json> params_of;
      std::vector<std::string> order;
      int outside = 0;
      for (const ResultRow& r : rows) {
        if (r.status != TrialStatus::kOk) continue;
        if (top >= 0 && r.rung.value_or(-1) != top) continue;
        const auto it = r.metrics.find(spec.metric);
        if (it == r.metrics.end() || !std::isfinite(it->second)) continue;
        bool ok = true;
        for (const auto& [name, d] : spec.random)
          if (r.params.contains(name) && !in_space(d, r.params.at(name))) ok = false;
        if (!ok) {
          ++outside;
          continue;
        }
        const std::string key = r.params.dump();
        if (!params_of.count(key)) {
          order.push_back(key);
          params_of[key] = r.params;
        }
        sum[key].first += it->second;
        sum[key].second += 1;
      }
      if (outside > 0)
        out.warnings.push_back(fmt::format("warm start from {}: {} row(s) lie outside this search "
                                           "space: dropped",
                                           dir, outside));
      for (const auto& key : order) {
        TpeObservation o;
        o.params = params_of[key];
        o.value = sum[key].first / sum[key].second;
        o.state = TpeState::kComplete;
        out.prior.push_back(std::move(o));
      }
      rec["observations"] = order.size();
      rec["dropped_outside"] = outside;
      rec["parameters"] = shared;
    } else {
      // The list: rows of the same trials, run with the same input files.
      const auto changes = compare_inputs(recorded_inputs(sweep), inputs);
      int reused = 0;
      if (!changes.empty()) {
        std::vector<std::string> what;
        for (const auto& c : changes) what.push_back(c.describe());
        out.warnings.push_back(fmt::format("warm start from {}: its input files differ from this "
                                           "sweep's ({}): none of its rows is reused",
                                           dir, fmt::join(what, "; ")));
      } else {
        std::vector<std::string> params = spec.param_names();
        std::vector<std::string> values;
        for (const auto& c : cols)
          if (std::find(params.begin(), params.end(), c) == params.end()) values.push_back(c);
        for (const auto& cells : table.rows) {
          ResultRow r = row_from_record(table.header, cells, params, values);
          const std::string id = r.trial_id;
          if (r.status != TrialStatus::kOk || !wanted.count(id) || reused_ids.count(id)) continue;
          const sweeps::Trial& t = *wanted.at(id);
          r.params = t.params;  // this spec's resolution of the same configuration
          r.error = fmt::format("reused from {} (warm start)", dir);
          r.started = r.ended = std::nan("");  // it ran in that sweep, not in this one's time
          reused_ids.insert(id);
          out.reused.push_back(std::move(r));
          ++reused;
        }
      }
      rec["reused"] = reused;
    }
    out.record.push_back(std::move(rec));
  }
  return out;
}

}  // namespace ns::engine
