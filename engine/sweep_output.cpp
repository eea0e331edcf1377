#include "engine/sweep_output.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "engine/metric_definitions.hpp"

namespace ns::engine {
namespace fs = std::filesystem;

namespace {

std::string results_path(const std::string& dir) { return (fs::path(dir) / "results.csv").string(); }

std::string stamp() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--";
  const long v = std::lround(s);
  if (v >= 3600) return fmt::format("{}h{:02}m", v / 3600, (v % 3600) / 60);
  if (v >= 60) return fmt::format("{}m{:02}s", v / 60, v % 60);
  return fmt::format("{}s", v);
}

/// Why an existing sweep.json cannot be continued by this spec ("" if it can).
std::string incompatibility(const std::string& dir, const sweeps::SweepSpec& spec) {
  const auto path = fs::path(dir) / "sweep.json";
  if (!fs::exists(path)) return "";
  nlohmann::json old;
  try {
    old = sweeps::read_json_file(path.string());
  } catch (const Error& e) {
    return e.what();
  }
  const std::string fam = old.value("family", "");
  if (fam != spec.family) return fmt::format("it holds a sweep of family '{}', the spec names '{}'", fam, spec.family);
  const auto seed = old.contains("seed") ? old.at("seed").get<std::uint64_t>() : spec.seed;
  if (seed != spec.seed)
    return fmt::format("it was run with seed {}, the spec now says {}, so each trial id would "
                       "name a differently seeded run", seed, spec.seed);
  return "";
}

}  // namespace

void check_output_dir(const OutputPlan& plan) {
  const fs::path dir(plan.dir);
  if (fs::exists(dir) && !fs::is_directory(dir)) {
    throw Error(fmt::format("output path {} is a file, not a directory; choose another --out", plan.dir));
  }
  if (plan.force_new) return;
  if (std::string why = incompatibility(plan.dir, plan.spec); !why.empty()) {
    throw Error(fmt::format("{}: cannot resume: {}; use another --out, or --force-new to move the "
                            "old results aside and start afresh", plan.dir, why));
  }
  ResultsTable table(results_path(plan.dir), plan.spec.param_names(), plan.metrics);
  table.open(/*check_only=*/true);
}

DirLock::DirLock(const std::string& dir) {
  const std::string path = (fs::path(dir) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("{}: cannot create the lock file", path));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    std::string holder;
    std::ifstream(path) >> holder;
    ::close(fd_);
    fd_ = -1;
    throw Error(fmt::format("output directory {} is in use by another run ({}); wait for it to "
                            "finish or choose another --out", dir, holder.empty() ? "unknown holder" : holder),
                kExitLocked);
  }
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  const std::string who = fmt::format("host={},pid={}\n", host, ::getpid());
  if (::ftruncate(fd_, 0) == 0 && ::write(fd_, who.data(), who.size()) < 0) {
    // best effort: the lock itself is what matters
  }
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);
}

SweepOutput::SweepOutput(const OutputPlan& plan, const nlohmann::json& provenance, int total_trials)
    : dir_(plan.dir), best_(plan.spec.metric, plan.spec.mode == sweeps::Mode::kMax),
      total_(total_trials) {
  fs::create_directories(dir_);
  lock_ = std::make_unique<DirLock>(dir_);
  const std::string results = results_path(dir_);
  if (plan.force_new) {
    const std::string old = incompatibility(dir_, plan.spec);
    bool header_differs = false;
    try {
      ResultsTable(results, plan.spec.param_names(), plan.metrics).open(true);
    } catch (const Error&) {
      header_differs = true;
    }
    if (!old.empty() || header_differs) {
      const std::string suffix = ".old-" + stamp();
      for (const char* f : {"results.csv", "sweep.json", "best.json", "reports.jsonl"}) {
        const auto p = fs::path(dir_) / f;
        if (fs::exists(p)) fs::rename(p, p.string() + suffix);
      }
      log::info("--force-new: moved the previous results.csv, sweep.json, best.json and "
                "reports.jsonl aside ({})", suffix);
    }
  }
  // The sweep.json of an earlier run, read before it is replaced (metric definitions).
  nlohmann::json previous;
  if (const auto old = fs::path(dir_) / "sweep.json"; fs::exists(old)) {
    try {
      previous = sweeps::read_json_file(old.string());
    } catch (const Error&) {
      // unreadable: check_output_dir already refused what cannot be resumed
    }
  }
  table_ = std::make_unique<ResultsTable>(results, plan.spec.param_names(), plan.metrics);
  std::vector<std::string> row_ids;
  for (auto& row : table_->open()) {
    finished_.insert(row.at("trial_id"));
    if (auto w = row.find("wall_s"); w != row.end()) {
      char* end = nullptr;
      const double v = std::strtod(w->second.c_str(), &end);
      if (end != w->second.c_str() && std::isfinite(v)) finished_wall_s_ += v;
    }
    row_ids.push_back(row.at("trial_id"));
    best_.offer_cells(row, plan.spec.param_names(), plan.metrics);
  }
  const MetricDefinitionRecord defs = reconcile_metric_definitions(
      previous, plan.metric_definitions, plan.legacy_metric_definitions, row_ids);
  if (!defs.warning.empty()) log::warn("{}: {}", dir_, defs.warning);
  nlohmann::json sweep = {{"spec", plan.spec.raw},
                          {"family", plan.spec.family},
                          {"name", plan.spec.name},
                          {"seed", plan.spec.seed},
                          {"metric", plan.spec.metric},
                          {"mode", plan.spec.mode == sweeps::Mode::kMax ? "max" : "min"},
                          {"varied", plan.spec.varied()},
                          {"params", plan.spec.param_names()},
                          {"metrics", plan.metrics},
                          {"trials", total_trials},
                          {"provenance", provenance}};
  sweep.update(defs.fields);
  core::write_file_atomic((fs::path(dir_) / "sweep.json").string(), sweep.dump(2) + "\n");
  core::write_file_atomic((fs::path(dir_) / "state.json").string(),
                    nlohmann::json{{"state", "running"}, {"trials", total_trials}}.dump(2) + "\n");
  if (table_->rows_dropped()) log::warn("{}: dropped a partial last line (a run was killed mid-write)", results);
  done_before_ = static_cast<int>(finished_.size());
  done_ = done_before_;
  write_best();
  tty_ = ::isatty(STDERR_FILENO) != 0;
  start_ = last_line_ = std::chrono::steady_clock::now();
}

void SweepOutput::write_best() {
  if (!best_.has_best()) return;
  core::write_file_atomic((fs::path(dir_) / "best.json").string(), best_.to_json().dump(2) + "\n");
}

void SweepOutput::journal(const nlohmann::json& event) {
  // After a refused write nothing more is written: a journal event without the rows before it
  // would rebuild another scheduler state on resume. The coordinator is draining by now.
  if (!write_error_.empty()) return;
  const std::string line = event.dump() + "\n";
  const auto path = std::filesystem::path(dir_) / "reports.jsonl";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    const std::string why = fmt::format("cannot open {} for appending: {}", path.string(),
                                        std::strerror(err));
    if (!core::is_filesystem_errno(err)) throw Error(why, kExitInternal);
    write_error_ = why;
    return;
  }
  // Called from inside a scheduler's decision: a refused write is kept, not thrown, so the
  // scheduler's state stays whole while the coordinator drains.
  try {
    core::append_whole(fd, path.string(), line);
  } catch (const core::WriteError& e) {
    write_error_ = e.what();
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

nlohmann::json read_state(const std::string& dir) {
  const auto path = fs::path(dir) / "state.json";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return nullptr;
  try {
    nlohmann::json j = core::read_json_file(path.string(), core::JsonLimits::spec());
    return j.is_object() ? j : nlohmann::json();
  } catch (const std::exception&) {
    return nullptr;  // torn or foreign: its figures are lost, the sweep is not
  }
}

std::vector<nlohmann::json> read_journal(const std::string& dir) {
  std::vector<nlohmann::json> events;
  std::ifstream in(std::filesystem::path(dir) / "reports.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    std::string why;
    auto j = core::try_parse_json(line, core::JsonLimits::spec(), &why);
    if (!j) {
      if (in.peek() == EOF) break;  // torn by a kill mid-write: the last line only
      NS_FAIL_CODE(kExitBadInput, "{}/reports.jsonl: a line that is not JSON before the last "
                   "({}): {}", dir, why, line.substr(0, 80));
    }
    events.push_back(std::move(*j));
  }
  return events;
}

void SweepOutput::record(const ResultRow& row) {
  const std::string results = (fs::path(dir_) / "results.csv").string();
  if (!write_error_.empty())
    throw core::WriteError(results, 0, fmt::format("{}: not written after an earlier refused "
                                                   "write ({})", results, write_error_));
  try {
    table_->append(row);  // whole or not at all
  } catch (const core::WriteError& e) {
    write_error_ = e.what();
    throw;
  }
  finished_.insert(row.trial_id);
  ++done_;
  if (row.status == TrialStatus::kStopped) {
    ++stopped_;
  } else if (row.status != TrialStatus::kOk) {
    ++failed_;
    std::string msg = row.error.substr(0, row.error.find('\n'));
    if (msg.size() > 120) msg = msg.substr(0, 117) + "...";
    ++failure_messages_[to_string(row.status) + ": " + msg];
    if (!tty_) log::info("trial {} {}: {}", row.trial_id, to_string(row.status), msg);
  }
  if (best_.offer(row)) {
    try {
      write_best();
    } catch (const core::WriteError& e) {
      write_error_ = e.what();  // the row is in results.csv; best.json is rebuilt on resume
    }
  }
  tick(running_, false);
}

void SweepOutput::tick(int running, bool force) {
  running_ = running;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int new_done = done_ - done_before_;
  const int left = total_ - done_;
  const double eta = new_done > 0 ? elapsed / new_done * left : NAN;
  const std::string best = best_.has_best() ? fmt::format("{:.5g}", best_.value()) : "--";
  const std::string line =
      fmt::format("[{}/{}] running {} failed {} best {} elapsed {} eta {}", done_, total_, running,
                  failed_, best, format_duration(elapsed), left == 0 ? "0s" : format_duration(eta));
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), force ? "\n" : "");
    std::fflush(stderr);
  } else if (force || now - last_line_ > std::chrono::seconds(10)) {
    log::info("{}", line);
    last_line_ = now;
  }
}

namespace {
nlohmann::json unhealthy_json(const std::vector<UnhealthyRank>& ranks) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& u : ranks)
    out.push_back({{"rank", u.rank}, {"host", u.host}, {"failures", u.failures},
                   {"within_s", u.within_s}, {"last_error", u.last_error}});
  return out;
}
}  // namespace

int SweepOutput::finish(const CoordinatorSummary& s) const {
  log::info("sweep: {} of {} trials have a row ({} new: {} ok, {} failed, {} timeout{}{})", done_,
            total_, s.recorded, s.ok, s.failed, s.timeout,
            s.stopped || s.paused
                ? fmt::format(", {} stopped early; {} pauses at rungs", s.stopped, s.paused)
                : "",
            s.retried ? fmt::format(", {} retries", s.retried) : "");
  if (!failure_messages_.empty()) {
    std::vector<std::pair<int, std::string>> v;
    for (auto& [m, c] : failure_messages_) v.emplace_back(c, m);
    std::sort(v.rbegin(), v.rend());
    log::info("failures by message:");
    for (auto& [c, m] : v) log::info("  {:>4} x {}", c, m);
  }
  if (best_.has_best()) {
    auto b = best_.to_json();
    log::info("best: trial {} {} = {:.6g} ({}/best.json)", b.at("trial_id").get<std::string>(),
              b.at("metric").get<std::string>(), b.at("value").get<double>(), dir_);
  }
  for (const auto& u : s.unhealthy) {
    log::warn("rank {} on {} was taken out of the sweep: its last {} trials failed within {:.1f} s "
              "(last: {})",
              u.rank, u.host.empty() ? "?" : u.host, u.failures, u.within_s, u.last_error);
  }
  // A refused write the coordinator did not see (best.json with the last row) counts too.
  const std::string output_error = !s.output_error.empty() ? s.output_error : write_error_;
  const bool complete = s.complete() && output_error.empty();
  std::string reason = s.drain_reason;
  if (!output_error.empty() && reason.empty()) reason = "cannot write the output directory";
  if (!complete) {
    log::info("interrupted ({}): {} trial(s) stopped, {} not started{}; {}rerun the same command "
              "to resume",
              reason.empty() ? "stopped" : reason, s.interrupted, s.not_started,
              s.unwritten ? fmt::format(", {} finished without a row", s.unwritten) : "",
              output_error.empty() ? "" : "free space in the output directory, then ");
  }
  // Figures of earlier runs carry over: makespan_s sums every run that reached its end
  // (this one's alone is run_makespan_s), so a rerun with nothing to do keeps the total.
  double makespan_before = 0;
  if (previous_state_.is_object()) {
    const auto m = previous_state_.find("makespan_s");
    if (m != previous_state_.end() && m->is_number()) makespan_before = m->get<double>();
  }
  nlohmann::json state = {{"state", complete ? "complete" : "interrupted"},
                          {"reason", reason},
                          {"rows", done_},
                          {"trials", total_},
                          {"failed", failed_},
                          {"interrupted", s.interrupted},
                          {"not_started", s.not_started},
                          {"makespan_s", makespan_before + s.makespan_s},
                          {"run_makespan_s", s.makespan_s},
                          {"unhealthy_ranks", unhealthy_json(s.unhealthy)},
                          {"elapsed_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()}};
  if (!output_error.empty()) {
    state["output_error"] = output_error;
    state["unwritten"] = s.unwritten;
  }
  const int code = !output_error.empty() ? kExitCannotWrite
                   : complete            ? kExitOk
                                         : kExitInterrupted;
  try {
    core::write_file_atomic((fs::path(dir_) / "state.json").string(), state.dump(2) + "\n");
  } catch (const core::WriteError& e) {
    log::error("{}; state.json still says \"running\": this run ended {} (exit {})", e.what(),
               complete ? "complete" : "interrupted", kExitCannotWrite);
    return kExitCannotWrite;
  }
  return code;
}

}  // namespace ns::engine
