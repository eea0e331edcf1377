#include "report/results.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/json.hpp"
#include "core/json_text.hpp"
#include "engine/results.hpp"
#include "report/csv.hpp"

namespace ns::report {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Columns every results.csv has besides the parameters and metrics (docs/formats.md, "Results
// directory").
const std::set<std::string> kBookkeeping = {"trial_id", "status", "seed", "repeat", "fold", "attempt",
                                            "wall_s",   "started", "ended", "rank", "host",
                                            "device",   "error"};

std::vector<std::string> string_list(const json& j, const std::string& where) {
  std::vector<std::string> out;
  NS_CHECK(j.is_array(), "{}: expected an array of names, found {}", where, j.type_name());
  for (const auto& v : j) {
    NS_CHECK(v.is_string(), "{}: expected names (strings), found {}", where, v.dump());
    out.push_back(v.get<std::string>());
  }
  return out;
}

void add_keys(const json& spec, const char* block, std::vector<std::string>& out) {
  if (spec.contains(block) && spec[block].is_object())
    for (auto it = spec[block].begin(); it != spec[block].end(); ++it) out.push_back(it.key());
}

SweepInfo read_sweep_json(const fs::path& path) {
  SweepInfo info;
  if (!fs::exists(path)) return info;
  json j;
  try {
    j = core::read_json_file(path.string(), core::JsonLimits::spec());
  } catch (const Error& e) {
    throw Error(fmt::format("{}; fix the file or move it away to report from results.csv alone",
                            e.what()));
  }
  NS_CHECK(j.is_object(), "{}: expected a JSON object, found {}", path.string(), j.type_name());
  info.present = true;
  const core::JsonFields f(j, path.string() + ": $");
  auto str = [&](const char* key, std::string& out) {
    if (j.contains(key) && !j[key].is_null()) out = f.string(key, out);
  };
  str("name", info.name);
  str("family", info.family);
  str("metric", info.metric);
  if (j.contains("mode") && !j["mode"].is_null())
    info.maximize = f.choice("mode", "", {"max", "min"}) == "max";
  if (j.contains("varied")) {
    info.varied = string_list(j["varied"], path.string() + ": $.varied");
    info.has_varied = true;
  }
  if (j.contains("metrics"))
    info.metrics = string_list(j["metrics"], path.string() + ": $.metrics");
  if (j.contains("rows_by_earlier_metric_definitions") &&
      j["rows_by_earlier_metric_definitions"].is_array()) {
    for (const json& e : j["rows_by_earlier_metric_definitions"]) {
      if (!e.is_object() || !e.contains("trial_ids") || !e["trial_ids"].is_array()) continue;
      std::string what;
      if (e.contains("metric_definitions") && e["metric_definitions"].is_object())
        for (auto it = e["metric_definitions"].begin(); it != e["metric_definitions"].end(); ++it)
          what += (what.empty() ? "" : "; ") + it.key() + ": " +
                  (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
      for (const json& id : e["trial_ids"])
        if (id.is_string()) info.earlier_definitions[id.get<std::string>()] = what;
    }
  }
  if (j.contains("search") && j["search"].is_object()) {
    const json& s = j["search"];
    if (s.contains("kind") && s["kind"].is_string())
      info.search = engine::search_method_named(s["kind"].get<std::string>());
    if (s.contains("random_first") && s["random_first"].is_number_integer())
      info.random_first = s["random_first"].get<int>();
    if (s.contains("description") && s["description"].is_string())
      info.search_description = s["description"].get<std::string>();
  }
  if (j.contains("spec") && j["spec"].is_object()) {
    const json& spec = j["spec"];
    info.spec = spec;
    if (info.name.empty() && spec.contains("name") && spec["name"].is_string())
      info.name = spec["name"];
    if (info.family.empty() && spec.contains("family") && spec["family"].is_string())
      info.family = spec["family"];
    // SweepSpec::replicates(): repeats x folds (folds of 0 or 1: none).
    auto count = [&](const char* key) {
      return spec.contains(key) && spec[key].is_number_integer() ? spec[key].get<int>() : 1;
    };
    const int repeats = count("repeats"), folds = count("folds");
    info.replicates = std::max(1, repeats) * (folds > 1 ? folds : 1);
    add_keys(spec, "fixed", info.spec_params);
    add_keys(spec, "training", info.spec_params);
    add_keys(spec, "grid", info.spec_params);
    if (spec.contains("random") && spec["random"].is_object())
      add_keys(spec["random"], "params", info.spec_params);
    if (!info.search && spec.contains("search") && spec["search"].is_object()) {
      // A sweep.json from before the search record: the kind the spec's words select, the TPE
      // parser's default startup.
      auto word = [&](const char* block) {
        const json* b = spec.contains(block) && spec[block].is_object() ? &spec[block] : nullptr;
        return b && b->contains("kind") && (*b)["kind"].is_string() ? (*b)["kind"].get<std::string>()
                                                                     : std::string();
      };
      for (const auto& k : engine::search_kinds())
        if (k.spec.selects(word("scheduler"), word("search"))) info.search = k.method;
      const json& s = spec["search"];
      info.random_first = s.contains("startup") && s["startup"].is_number_integer()
                              ? s["startup"].get<int>()
                              : engine::TpeSpec{}.startup;
    }
    const bool searched = (spec.contains("search") && !spec["search"].is_null()) ||
                          (spec.contains("scheduler") && !spec["scheduler"].is_null());
    if (!info.search && !searched) info.search = engine::SearchMethod::kList;
    if (info.search == engine::SearchMethod::kList) {
      const bool grid = spec.contains("grid"), random = spec.contains("random");
      info.search_name = grid && random ? "grid+random" : grid ? "grid" : random ? "random" : "list";
    }
  }
  if (info.search && info.search_name.empty()) info.search_name = engine::search_kind(*info.search).name;
  return info;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

const std::string& Trial::cell(const std::string& column) const {
  static const std::string kEmpty;
  auto it = cells.find(column);
  return it == cells.end() ? kEmpty : it->second;
}

double Trial::metric(const std::string& name) const {
  auto it = metrics.find(name);
  return it == metrics.end() ? std::nan("") : it->second;
}

bool looks_like_metric(const std::string& column) {
  static const std::set<std::string> kSplits = {"train",      "val",  "valid",
                                                "validation", "test", "eval"};
  static const std::set<std::string> kNames = {"loss", "accuracy", "objective", "value", "score"};
  if (kNames.count(column)) return true;
  const auto us = column.find('_');
  return us != std::string::npos && kSplits.count(column.substr(0, us)) > 0;
}

bool safe_trial_id(const std::string& id) {
  if (id.empty() || id == "." || id == "..") return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

Results load_results(const fs::path& dir) {
  Results r;
  r.dir = dir;
  NS_CHECK(fs::is_directory(dir),
           "{}: no such directory; give the sweep's output directory "
           "(the spec's \"out\", which holds results.csv)",
           dir.string());
  const fs::path csv_path = dir / "results.csv";
  NS_CHECK(fs::exists(csv_path),
           "{}: no results.csv; is this a sweep output directory? A sweep "
           "writes it as soon as it starts",
           dir.string());
  r.sweep = read_sweep_json(dir / "sweep.json");

  CsvTable t = read_csv(csv_path);
  NS_CHECK(!t.header.empty(),
           "{}: no header line yet (empty file); rerun once the sweep has "
           "started writing it",
           csv_path.string());
  r.columns = t.header;
  r.dropped_partial = t.dropped_partial;
  for (const char* need : {"trial_id", "status"})
    NS_CHECK(contains(r.columns, need),
             "{}: header has no \"{}\" column (found: {}); not a "
             "neurosweep results table",
             csv_path.string(), need, fmt::join(r.columns, ","));

  // Rows first: telling metrics from parameters looks at the cells.
  std::map<std::string, std::size_t> index_of;
  const auto wall_at =
      static_cast<std::size_t>(std::find(r.columns.begin(), r.columns.end(), "wall_s") - r.columns.begin());
  for (auto& rec : t.records) {
    if (rec.fields.size() != r.columns.size()) {
      r.malformed_lines.push_back(rec.line);
      continue;
    }
    ++r.rows;
    double wall = 0;
    if (wall_at < rec.fields.size() && parse_number(rec.fields[wall_at], wall) && std::isfinite(wall))
      r.wall_s += wall;
    Trial tr;
    tr.line = rec.line;
    for (std::size_t c = 0; c < r.columns.size(); ++c) tr.cells[r.columns[c]] = rec.fields[c];
    tr.id = tr.cells["trial_id"];
    tr.status = tr.cells["status"];
    tr.state = nlohmann::json(tr.status).get<engine::TrialStatus>();  // unknown: kInvalid
    tr.error = tr.cell("error");
    auto it = index_of.find(tr.id);
    if (it == index_of.end()) {
      index_of[tr.id] = r.trials.size();
      r.trials.push_back(std::move(tr));
    } else {
      // A retried (or resumed) trial: its last row is its final state.
      r.trials[it->second] = std::move(tr);
      ++r.superseded_rows;
    }
  }
  if (!r.malformed_lines.empty())
    r.warnings.push_back(fmt::format(
        "skipped {} row(s) of results.csv whose field count differs from the header's {} "
        "(line {}{})",
        r.malformed_lines.size(), r.columns.size(), r.malformed_lines.front(),
        r.malformed_lines.size() > 1 ? ", ..." : ""));

  auto numeric_column = [&](const std::string& col) {
    for (auto& tr : r.trials) {
      double v;
      const std::string& s = tr.cell(col);
      if (!s.empty() && !parse_number(s, v)) return false;
    }
    return true;
  };
  const auto& scheduler = engine::scheduler_columns();  // rung, resource
  for (auto& col : r.columns) {
    if (kBookkeeping.count(col)) continue;
    if (contains(scheduler, col)) {
      r.rungs = true;
      continue;
    }
    bool metric;
    if (!r.sweep.metrics.empty()) {
      metric = contains(r.sweep.metrics, col);
    } else {
      // No metric list in sweep.json: metrics are named by split (val_*, test_*) and are numbers;
      // a parameter the spec names (e.g. "loss": "poisson") is never one.
      metric =
          col == r.sweep.metric || (looks_like_metric(col) && !contains(r.sweep.spec_params, col) &&
                                    !contains(r.sweep.varied, col) && numeric_column(col));
    }
    (metric ? r.metric_columns : r.param_columns).push_back(col);
  }
  for (auto& tr : r.trials) {
    for (auto& m : r.metric_columns) {
      double v = std::nan("");
      parse_number(tr.cell(m), v);
      tr.metrics[m] = v;
    }
    if (r.rungs) {
      parse_number(tr.cell(scheduler[0]), tr.rung);
      parse_number(tr.cell(scheduler[1]), tr.resource);
    }
  }

  if (r.sweep.has_varied) {
    for (auto& p : r.sweep.varied) {
      if (contains(r.param_columns, p))
        r.varied.push_back(p);
      else
        r.warnings.push_back(fmt::format(
            "sweep.json lists \"{}\" as varied but results.csv has no such parameter column", p));
    }
  } else {
    // No sweep.json: a configuration is whatever differs between rows.
    for (auto& p : r.param_columns) {
      std::set<std::string> seen;
      for (auto& tr : r.trials) seen.insert(tr.cell(p));
      if (seen.size() > 1) r.varied.push_back(p);
    }
  }
  if (!r.sweep.earlier_definitions.empty()) {
    std::map<std::string, int> by_definition;
    for (Trial& t : r.trials) {
      const auto it = r.sweep.earlier_definitions.find(t.id);
      if (it == r.sweep.earlier_definitions.end()) continue;
      t.earlier_definition = it->second;
      ++by_definition[it->second];
    }
    for (const auto& [what, n] : by_definition)
      r.warnings.push_back(fmt::format(
          "{} trial(s) marked * were scored with an earlier metric definition ({}); their "
          "metrics are not comparable with the other rows",
          n, what));
  }
  return r;
}

}  // namespace ns::report
