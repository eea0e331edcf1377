#include "report/pbt.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.hpp"
#include "engine/sweep_output.hpp"
#include "sweeps/spec.hpp"
#include "report/terminal.hpp"

namespace ns::report {

using nlohmann::json;

PbtView load_pbt(const Results& r) {
  PbtView v;
  if (r.sweep.search != engine::SearchMethod::kPbt) return v;
  const auto events = engine::read_journal(r.dir.string());
  bool any = false;
  for (const auto& e : events) any |= engine::journal::kind_of(e) == engine::journal::Kind::kPbtStart;
  if (!any) return v;
  v.history = engine::pbt_history(events);
  v.present = true;
  const auto sweep_json = r.dir / "sweep.json";
  if (std::filesystem::exists(sweep_json)) {
    const json j = sweeps::read_json_file(sweep_json.string());
    if (j.contains("spec")) v.spec = j["spec"];
  }
  if (v.spec.contains("search")) v.max = v.spec["search"].value("max", 0.0);
  const bool maximize = r.sweep.maximize.value_or(true);
  std::map<std::string, int> member_of;
  for (std::size_t i = 0; i < v.history.members.size(); ++i)
    member_of[v.history.members[i].trial] = static_cast<int>(i);
  for (const auto& t : r.trials) {
    if (!t.ok() || !member_of.count(t.id)) continue;
    const double x = t.metric(r.sweep.metric);
    if (!std::isfinite(x)) continue;
    if (v.best < 0 || (maximize ? x > v.best_value : x < v.best_value)) {
      v.best = member_of[t.id];
      v.best_value = x;
    }
  }
  return v;
}

namespace {

std::string shown(const json& x) {
  if (x.is_number_float()) return format_metric(x.get<double>());
  if (x.is_string()) return x.get<std::string>();
  return x.dump();
}

double median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const std::size_t n = x.size();
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

}  // namespace

std::string render_pbt(const PbtView& v, const Results& r) {
  if (!v.present) return "";
  const auto& h = v.history;
  int failed = 0;
  for (const auto& x : h.exploits) failed += x.reason == engine::ExploitReason::kFailed;
  std::string out = fmt::format(
      "\nPBT: population {}, {} exploits ({} replacing a failed segment)\n", h.members.size(),
      h.exploits.size(), failed);
  // The population's metric at each pause, with the exploits decided there.
  std::map<double, std::vector<double>> at;
  for (const auto& m : h.members)
    for (const auto& [step, value] : m.values)
      if (std::isfinite(value)) at[step].push_back(value);
  std::map<double, int> exploits_at;
  for (const auto& x : h.exploits) ++exploits_at[x.step];
  std::vector<std::vector<std::string>> rows;
  const bool maximize = r.sweep.maximize.value_or(true);
  for (const auto& [step, values] : at) {
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    rows.push_back({format_metric(step), std::to_string(values.size()),
                    format_metric(maximize ? *hi : *lo), format_metric(median(values)),
                    format_metric(maximize ? *lo : *hi),
                    std::to_string(exploits_at.count(step) ? exploits_at[step] : 0)});
  }
  out += fmt::format("  the population's {} at each pause (members that paused or ended there)\n",
                     r.sweep.metric);
  out += table({"step", "members", "best", "median", "worst", "exploits"}, rows,
               {true, true, true, true, true, true}, "  ");
  if (v.best < 0) return out + "  no member has finished ok yet\n";
  const auto& best = h.members[static_cast<std::size_t>(v.best)];
  const auto& lineage = best.lineage;
  std::vector<std::string> names;
  if (v.spec.contains("search") && v.spec["search"].contains("mutable"))
    for (const auto& n : v.spec["search"]["mutable"]) names.push_back(n.get<std::string>());
  out += fmt::format("  winning schedule: member {} (trial {}), {} {}; its lineage starts at "
                     "member {}'s initial draw\n",
                     v.best, best.trial, r.sweep.metric, format_metric(v.best_value),
                     lineage.front().member);
  std::vector<std::string> header = {"from", "to", "trained by"};
  for (const auto& n : names) header.push_back(n);
  std::vector<std::vector<std::string>> srows;
  std::vector<bool> right(header.size(), true);
  right[2] = false;
  for (std::size_t s = 0; s < lineage.size(); ++s) {
    // Segments with the same parameters trained by the same member are shown as one.
    std::size_t e = s;
    while (e + 1 < lineage.size() && lineage[e + 1].params == lineage[s].params &&
           lineage[e + 1].member == lineage[s].member)
      ++e;
    const double to = e + 1 < lineage.size() ? lineage[e + 1].from : v.max;
    std::vector<std::string> row = {format_metric(lineage[s].from),
                                    to > 0 ? format_metric(to) : std::string("end"),
                                    fmt::format("member {}", lineage[s].member)};
    for (const auto& n : names)
      row.push_back(lineage[s].params.contains(n) ? shown(lineage[s].params.at(n)) : "");
    srows.push_back(row);
    s = e;
  }
  out += table(header, srows, right, "    ");
  out += "  report --replay FILE writes a spec that retrains this schedule as one trial\n";
  return out;
}

json best_replay_spec(const PbtView& v, const std::string& trial) {
  NS_CHECK(v.present, "--replay: the sweep is not a PBT sweep (its reports.jsonl has no PBT "
                      "events)");
  if (!trial.empty()) {
    for (std::size_t i = 0; i < v.history.members.size(); ++i)
      if (v.history.members[i].trial == trial)
        return engine::pbt_replay_spec(v.spec, v.history, static_cast<int>(i), v.max);
    throw Error(fmt::format("--replay-trial {}: not a member of this PBT sweep", trial));
  }
  NS_CHECK(v.best >= 0, "--replay: no PBT member has finished ok yet");
  return engine::pbt_replay_spec(v.spec, v.history, v.best, v.max);
}

}  // namespace ns::report
