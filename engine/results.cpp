#include "engine/results.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/csv.hpp"
#include "core/error.hpp"
#include "core/file.hpp"

namespace ns::engine {

nlohmann::json journal_json(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(format_number(v));
}

double journal_value(const nlohmann::json& j) {
  return j.is_string() ? std::stod(j.get<std::string>()) : j.get<double>();
}

std::string format_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);
}

std::string format_value(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_number_float()) return format_number(v.get<double>());
  return v.dump();
}

nlohmann::json param_value(const std::string& cell) {
  nlohmann::json v = nlohmann::json::parse(cell, nullptr, /*allow_exceptions=*/false);
  return v.is_discarded() ? nlohmann::json(cell) : v;
}

const std::vector<std::string>& leading_columns() {
  static const std::vector<std::string> c = {"trial_id", "status"};
  return c;
}

const std::vector<std::string>& trailing_columns() {
  static const std::vector<std::string> c = {"seed",  "repeat", "attempt", "wall_s", "started",
                                             "ended", "rank",   "host",    "device", "error"};
  return c;
}

const std::vector<std::string>& time_columns() {
  static const std::vector<std::string> c = {"started", "ended"};
  return c;
}

double unix_now() {
  const double t =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return std::round(t * 1000) / 1000;
}

const std::vector<std::string>& scheduler_columns() {
  static const std::vector<std::string> c = {"rung", "resource"};
  return c;
}

const std::string& fold_column() {
  static const std::string c = "fold";
  return c;
}

namespace {

// A number cell as results.csv has it ("nan", "inf", shortest round trip); NaN when empty or
// not a number (no exceptions: a resume reads every row).
double number_cell(const std::string& s) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  return end == s.c_str() || errno == ERANGE ? NAN : v;
}

// The cell of a metric column: the row's rung or resource for scheduler_columns(), else the
// metric (nan when the row has none).
std::string metric_cell(const ResultRow& row, const std::string& column) {
  const auto& sc = scheduler_columns();
  if (column == sc[0]) return format_number(row.rung ? static_cast<double>(*row.rung) : NAN);
  if (column == sc[1]) return format_number(row.resource.value_or(NAN));
  if (column == fold_column()) return row.fold ? std::to_string(*row.fold) : "nan";
  auto it = row.metrics.find(column);
  return format_number(it == row.metrics.end() ? NAN : it->second);
}

// A metric column's cell read back into `row`: scheduler_columns() into rung / resource (left
// unset for "nan"), any other into metrics.
void read_metric_cell(ResultRow& row, const std::string& column, const std::string& cell) {
  const double v = number_cell(cell);
  const auto& sc = scheduler_columns();
  if (column == sc[0]) {
    if (std::isfinite(v)) row.rung = static_cast<int>(v);
  } else if (column == sc[1]) {
    if (!std::isnan(v)) row.resource = v;
  } else if (column == fold_column()) {
    if (std::isfinite(v)) row.fold = static_cast<int>(v);
  } else {
    row.metrics[column] = v;
  }
}

nlohmann::json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

ResultsTable::ResultsTable(std::string path, std::vector<std::string> param_names,
                           std::vector<std::string> metric_names, bool scheduler_columns,
                           bool fold_column)
    : path_(std::move(path)), params_(std::move(param_names)), metrics_(std::move(metric_names)) {
  // The value columns: the metrics, then the scheduler's, then the fold (written and read as
  // one block).
  if (scheduler_columns)
    metrics_.insert(metrics_.end(), engine::scheduler_columns().begin(), engine::scheduler_columns().end());
  if (fold_column) metrics_.push_back(engine::fold_column());
  header_ = leading_columns();
  header_.insert(header_.end(), params_.begin(), params_.end());
  header_.insert(header_.end(), metrics_.begin(), metrics_.end());
  header_.insert(header_.end(), trailing_columns().begin(), trailing_columns().end());
}

ResultsTable::~ResultsTable() {
  if (fd_ >= 0) {
    ::fdatasync(fd_);
    ::close(fd_);
  }
}

namespace {

// `header` without the time_columns(): the header a results.csv written before them has.
std::vector<std::string> without_times(const std::vector<std::string>& header) {
  std::vector<std::string> h;
  for (const auto& c : header)
    if (std::find(time_columns().begin(), time_columns().end(), c) == time_columns().end())
      h.push_back(c);
  return h;
}

// The rows of an existing results.csv (none when there is no file); a header other than
// `header`, or `header` without the time columns (`*times` false then), is refused.
CsvTable read_table(const std::string& path, const std::vector<std::string>& header,
                    bool* times = nullptr) {
  if (!std::filesystem::exists(path)) return {};
  CsvTable t = read_csv_file(path);
  const bool legacy = !t.header.empty() && t.header == without_times(header);
  if (times != nullptr) *times = !legacy;
  if (!t.header.empty() && t.header != header && !legacy) {
    throw Error(fmt::format(
        "{}: its header does not match this sweep's columns (a different family or program "
        "version wrote it); use another --out, or --force-new to move it aside", path));
  }
  return t;
}

}  // namespace

void ResultsTable::check() const { (void)read_table(path_, header_); }

std::vector<std::map<std::string, std::string>> ResultsTable::open(bool check_only) {
  CsvTable t = open_table(check_only);
  std::vector<std::map<std::string, std::string>> rows;
  rows.reserve(t.rows.size());
  for (auto& r : t.rows) {
    std::map<std::string, std::string> m;
    for (size_t i = 0; i < header_.size(); ++i) m[header_[i]] = std::move(r[i]);
    rows.push_back(std::move(m));
  }
  return rows;
}

CsvTable ResultsTable::open_table(bool check_only) {
  const bool exists = std::filesystem::exists(path_);
  bool times = true;
  CsvTable t = read_table(path_, header_, &times);
  if (!times) {
    // Written before the time columns: its header stays, and so do its rows byte for byte.
    times_ = false;
    header_ = without_times(header_);
  }
  if (exists) {
    dropped_partial_ = t.dropped_partial;
    if (check_only) return t;
    if (t.dropped_partial || t.header.empty()) {
      // Cut the partial record (or a torn header) so appends start on a fresh line.
      std::filesystem::resize_file(path_, t.header.empty() ? 0 : t.complete_bytes);
    }
  }
  if (check_only) return t;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("{}: cannot open for appending: {}", path_, std::strerror(errno)));
  if (::lseek(fd_, 0, SEEK_END) == 0) {
    core::append_whole(fd_, path_, csv_record(header_));
    ::fdatasync(fd_);
  }
  return t;
}

std::vector<std::string> ResultsTable::cells(const ResultRow& row) const {
  std::vector<std::string> c = {row.trial_id, to_string(row.status)};
  for (auto& p : params_) c.push_back(row.params.contains(p) ? format_value(row.params.at(p)) : "");
  for (auto& m : metrics_) c.push_back(metric_cell(row, m));
  c.push_back(std::to_string(row.seed));
  c.push_back(std::to_string(row.repeat));
  c.push_back(std::to_string(row.attempt));
  c.push_back(fmt::format("{:.3f}", row.wall_s));
  if (times_) {
    for (double t : {row.started, row.ended})
      c.push_back(std::isfinite(t) ? fmt::format("{:.3f}", t) : format_number(NAN));
  }
  c.push_back(std::to_string(row.rank));
  c.push_back(row.host);
  c.push_back(row.device);
  std::string err = row.error;
  if (err.size() > 2000) err = err.substr(0, 2000) + "...";
  c.push_back(err);
  return c;
}

void ResultsTable::append(const ResultRow& row) {
  NS_CHECK(fd_ >= 0, "results table {} is not open", path_);
  // Whole or not at all: a full disk cuts the short write back instead of leaving a torn line.
  core::append_whole(fd_, path_, csv_record(cells(row)));
  auto now = std::chrono::steady_clock::now();
  if (now - last_sync_ > std::chrono::seconds(1)) {
    ::fdatasync(fd_);
    last_sync_ = now;
  }
}

bool BestTracker::would_take(double v) const {
  return std::isfinite(v) && (!best_ || (max_ ? v > best_value_ : v < best_value_));
}

bool BestTracker::offer(const ResultRow& row) {
  if (row.status != TrialStatus::kOk) return false;
  auto it = row.metrics.find(metric_);
  if (it == row.metrics.end() || !would_take(it->second)) return false;
  const double v = it->second;
  nlohmann::json metrics = nlohmann::json::object();
  for (auto& [k, m] : row.metrics) metrics[k] = finite_or_null(m);
  best_ = nlohmann::json{{"trial_id", row.trial_id}, {"metric", metric_},
                         {"mode", max_ ? "max" : "min"}, {"value", v},
                         {"params", row.params}, {"metrics", metrics},
                         {"seed", row.seed}, {"repeat", row.repeat}};
  // Early stopping's bookkeeping, beside the metrics (not among them).
  if (row.rung) (*best_)["rung"] = *row.rung;
  if (row.resource) (*best_)["resource"] = finite_or_null(*row.resource);
  best_value_ = v;
  return true;
}

ResultRow row_from_record(const std::vector<std::string>& header,
                          const std::vector<std::string>& cells,
                          const std::vector<std::string>& param_names,
                          const std::vector<std::string>& value_columns) {
  std::map<std::string, const std::string*> at;
  for (std::size_t i = 0; i < header.size() && i < cells.size(); ++i) at[header[i]] = &cells[i];
  auto cell = [&](const std::string& c) -> const std::string& {
    static const std::string none;
    const auto it = at.find(c);
    return it == at.end() ? none : *it->second;
  };
  ResultRow row;
  row.trial_id = cell("trial_id");
  row.status = parse_trial_status(cell("status"));
  for (const auto& p : param_names)
    if (at.count(p)) row.params[p] = param_value(cell(p));
  for (const auto& m : value_columns)
    if (at.count(m)) read_metric_cell(row, m, cell(m));
  row.seed = std::strtoull(cell("seed").c_str(), nullptr, 10);
  row.repeat = std::atoi(cell("repeat").c_str());
  row.attempt = std::max(1, std::atoi(cell("attempt").c_str()));
  row.wall_s = number_cell(cell("wall_s"));
  if (!std::isfinite(row.wall_s)) row.wall_s = 0;
  row.started = number_cell(cell("started"));  // NaN without the column (an older file)
  row.ended = number_cell(cell("ended"));
  row.rank = std::atoi(cell("rank").c_str());
  row.host = cell("host");
  row.device = cell("device");
  row.error = cell("error");
  return row;
}

bool BestTracker::offer_cells(const std::map<std::string, std::string>& cells,
                              const std::vector<std::string>& param_names,
                              const std::vector<std::string>& metric_names) {
  ResultRow row;
  row.trial_id = cells.at("trial_id");
  row.status = parse_trial_status(cells.at("status"));
  // No exceptions for ordinary cells (a resume reads every row): a cell that is not JSON is a
  // bare string value; a metric that is empty or out of range reads as NaN (as std::stod's
  // throwing did).
  for (auto& p : param_names) row.params[p] = param_value(cells.at(p));
  for (auto& m : metric_names) read_metric_cell(row, m, cells.at(m));
  std::vector<std::string> bookkeeping = scheduler_columns();
  bookkeeping.push_back(fold_column());
  for (auto& c : bookkeeping) {
    const auto at = cells.find(c);
    if (at != cells.end() && !std::count(metric_names.begin(), metric_names.end(), c))
      read_metric_cell(row, c, at->second);
  }
  row.seed = std::stoull(cells.at("seed"));
  row.repeat = std::stoi(cells.at("repeat"));
  return offer(row);
}

bool BestTracker::offer_record(const std::vector<std::string>& header,
                               const std::vector<std::string>& cells,
                               const std::vector<std::string>& param_names,
                               const std::vector<std::string>& metric_names) {
  auto cell = [&](const std::string& column) -> const std::string* {
    const auto at = std::find(header.begin(), header.end(), column);
    return at == header.end() || static_cast<std::size_t>(at - header.begin()) >= cells.size()
               ? nullptr
               : &cells[static_cast<std::size_t>(at - header.begin())];
  };
  // What offer() would decide from the status and the metric, read as offer_cells reads them.
  const std::string* status = cell("status");
  if (status == nullptr || parse_trial_status(*status) != TrialStatus::kOk) return false;
  if (std::find(metric_names.begin(), metric_names.end(), metric_) == metric_names.end())
    return false;  // offer_cells would leave the metric out, and offer refuse the row
  if (const std::string* m = cell(metric_))
    if (!would_take(number_cell(*m))) return false;
  std::map<std::string, std::string> named;
  for (std::size_t i = 0; i < header.size() && i < cells.size(); ++i) named[header[i]] = cells[i];
  return offer_cells(named, param_names, metric_names);
}

double BestTracker::value() const { return best_value_; }

nlohmann::json BestTracker::to_json() const { return best_ ? *best_ : nlohmann::json(nullptr); }

}  // namespace ns::engine
