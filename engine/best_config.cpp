#include "engine/best_config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "engine/csv.hpp"

namespace ns::engine {
namespace {

nlohmann::json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// A number cell as results.csv writes it; NaN when empty or not a number (no exceptions: a
// resume reads every row).
double number_cell(const std::string& s) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  return end == s.c_str() || errno == ERANGE ? NAN : v;
}

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

}  // namespace

bool BestConfigTracker::Better::operator()(const Rank& a, const Rank& b) const {
  if (a.stage != b.stage) return a.stage > b.stage;
  if (a.complete != b.complete) return a.complete;
  if (a.mean != b.mean) return maximize ? a.mean > b.mean : a.mean < b.mean;
  return a.index < b.index;
}

BestConfigTracker::BestConfigTracker(std::string metric, bool maximize, int replicates,
                                     std::vector<std::string> param_names)
    : metric_(std::move(metric)),
      max_(maximize),
      replicates_(std::max(1, replicates)),
      params_(std::move(param_names)),
      ranking_(Better{maximize}) {}

bool BestConfigTracker::offer(const ResultRow& row) {
  std::vector<std::string> cells;
  cells.reserve(params_.size());
  // The cells results.csv writes (ResultsTable::cells), so live rows and rows read back on
  // resume group alike (3.0 and 3 are one value there).
  for (const auto& p : params_)
    cells.push_back(row.params.contains(p) ? format_value(row.params.at(p)) : "");
  ReplicateRow r;
  r.trial_id = row.trial_id;
  r.status = row.status;
  const auto it = row.metrics.find(metric_);
  if (it != row.metrics.end()) r.value = it->second;
  r.seed = row.seed;
  r.repeat = row.repeat;
  r.fold = row.fold;
  r.rung = row.rung;
  r.resource = row.resource;
  return offer_cells(cells, std::move(r));
}

bool BestConfigTracker::offer_record(const std::vector<std::string>& header,
                                     const std::vector<std::string>& cells) {
  if (header != bound_header_) {
    bound_header_ = header;
    auto at = [&](const std::string& column) {
      const auto i = std::find(header.begin(), header.end(), column);
      return i == header.end() ? kNone : static_cast<std::size_t>(i - header.begin());
    };
    param_at_.clear();
    for (const auto& p : params_) param_at_.push_back(at(p));
    id_at_ = at("trial_id");
    status_at_ = at("status");
    metric_at_ = at(metric_);
    seed_at_ = at("seed");
    repeat_at_ = at("repeat");
    fold_at_ = at(fold_column());
    rung_at_ = at(scheduler_columns()[0]);
    resource_at_ = at(scheduler_columns()[1]);
  }
  static const std::string kEmpty;
  auto cell = [&](std::size_t i) -> const std::string& {
    return i < cells.size() ? cells[i] : kEmpty;
  };
  std::vector<std::string> params;
  params.reserve(param_at_.size());
  for (const std::size_t i : param_at_) params.push_back(cell(i));
  ReplicateRow r;
  r.trial_id = cell(id_at_);
  r.status = nlohmann::json(cell(status_at_)).get<TrialStatus>();  // unknown: kInvalid
  r.value = number_cell(cell(metric_at_));
  r.seed = std::strtoull(cell(seed_at_).c_str(), nullptr, 10);
  const double repeat = number_cell(cell(repeat_at_));
  r.repeat = std::isfinite(repeat) ? static_cast<int>(repeat) : 0;
  const double fold = number_cell(cell(fold_at_));
  if (std::isfinite(fold)) r.fold = static_cast<int>(fold);
  const double rung = number_cell(cell(rung_at_));
  if (std::isfinite(rung)) r.rung = static_cast<int>(rung);
  const double resource = number_cell(cell(resource_at_));
  if (!std::isnan(resource)) r.resource = resource;
  return offer_cells(params, std::move(r));
}

bool BestConfigTracker::offer_cells(const std::vector<std::string>& param_cells, ReplicateRow row) {
  const std::string key = csv_record(param_cells);
  auto [at, added] = config_of_.try_emplace(key, configs_.size());
  if (added) {
    configs_.emplace_back();
    configs_.back().cells = param_cells;
  }
  const std::size_t index = at->second;
  Config& c = configs_[index];
  // A retried trial counts once, with its last row, in the place of its first.
  const auto [slot, first] = c.row_of.try_emplace(row.trial_id, c.rows.size());
  if (first)
    c.rows.push_back(std::move(row));
  else
    c.rows[slot->second] = std::move(row);
  const std::optional<Rank> before =
      has_best() ? std::optional<Rank>(*ranking_.begin()) : std::nullopt;
  if (c.rank) ranking_.erase(*c.rank);
  update(c);
  c.rank->index = index;
  if (c.n > 0)
    ranking_.insert(*c.rank);
  else
    c.rank.reset();
  if (!has_best()) return before.has_value();
  const Rank& now = *ranking_.begin();
  return !before || before->index != now.index || now.index == index;
}

void BestConfigTracker::update(Config& c) {
  c.n = 0;
  double sum = 0;
  double stage = INFINITY;
  for (const auto& r : c.rows) {
    if (!r.counted()) continue;
    ++c.n;
    sum += r.value;
    const double s = r.resource && !std::isnan(*r.resource) ? *r.resource
                     : r.rung                               ? static_cast<double>(*r.rung)
                                                            : NAN;
    if (!std::isnan(s)) stage = std::min(stage, s);
  }
  c.mean = c.n > 0 ? sum / c.n : NAN;
  double ss = 0;
  for (const auto& r : c.rows)
    if (r.counted()) ss += (r.value - c.mean) * (r.value - c.mean);
  // Standard error of the mean with the sample standard deviation (ddof 1), as report's.
  c.sem = c.n > 1 ? std::sqrt(ss / (c.n - 1)) / std::sqrt(static_cast<double>(c.n)) : NAN;
  Rank rank;
  rank.stage = stage == INFINITY ? -INFINITY : stage;  // no stage: all alike
  rank.complete = static_cast<int>(c.rows.size()) >= replicates_;
  rank.mean = c.mean;
  c.rank = rank;
}

nlohmann::json BestConfigTracker::to_json() const {
  if (!has_best()) return nullptr;
  const Config& c = configs_[ranking_.begin()->index];
  nlohmann::json params = nlohmann::json::object();
  for (std::size_t i = 0; i < params_.size(); ++i) params[params_[i]] = param_value(c.cells[i]);
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : c.rows) {
    nlohmann::json j = {{"trial_id", r.trial_id}, {"seed", r.seed}, {"repeat", r.repeat}};
    if (r.fold) j["fold"] = *r.fold;
    j["value"] = finite_or_null(r.value);
    j["status"] = to_string(r.status);
    if (r.rung) j["rung"] = *r.rung;
    if (r.resource) j["resource"] = finite_or_null(*r.resource);
    rows.push_back(std::move(j));
  }
  return {{"metric", metric_},
          {"mode", max_ ? "max" : "min"},
          {"value", c.mean},
          {"sem", finite_or_null(c.sem)},
          {"n", c.n},
          {"replicates", replicates_},
          {"complete", ranking_.begin()->complete},
          {"params", params},
          {"rows", rows}};
}

}  // namespace ns::engine
