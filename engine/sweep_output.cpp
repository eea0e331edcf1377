#include "engine/sweep_output.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <unordered_set>

#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/json.hpp"
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

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S%z", std::localtime(&t));
  return buf;
}

// A JSON pointer ("/argv/1") as the spec's JSON path under `prefix` ("$.command.argv[1]").
std::string json_path(const std::string& prefix, const std::string& pointer) {
  std::string out = prefix;
  std::size_t i = 1;
  while (i <= pointer.size() && !pointer.empty()) {
    const std::size_t end = std::min(pointer.find('/', i), pointer.size());
    std::string seg = pointer.substr(i, end - i);
    for (std::size_t k; (k = seg.find("~1")) != std::string::npos;) seg.replace(k, 2, "/");
    for (std::size_t k; (k = seg.find("~0")) != std::string::npos;) seg.replace(k, 2, "~");
    const bool index = !seg.empty() && seg.find_first_not_of("0123456789") == std::string::npos;
    out += index ? "[" + seg + "]" : "." + seg;
    i = end + 1;
  }
  return out;
}

// What differs between two JSON values, one line per difference ("$.data.path: "a.h5" ->
// "b.h5""), at most `max` lines and a count of the rest.
std::vector<std::string> json_differences(const nlohmann::json& before, const nlohmann::json& after,
                                          const std::string& prefix, std::size_t max = 5) {
  std::vector<std::string> out;
  if (before.dump() == after.dump()) return out;
  const nlohmann::json patch = nlohmann::json::diff(before, after);
  std::map<std::string, std::size_t> appended;  // elements added at the end of each array so far
  for (const auto& op : patch) {
    if (out.size() == max) {
      out.push_back(fmt::format("... and {} more", patch.size() - max));
      break;
    }
    std::string pointer = op.value("path", "");
    if (pointer.size() >= 2 && pointer.compare(pointer.size() - 2, 2, "/-") == 0) {
      // An element appended to an array: named by the index it takes.
      const std::string parent = pointer.substr(0, pointer.size() - 2);
      const nlohmann::json::json_pointer pp(parent);
      const std::size_t size = before.contains(pp) ? before.at(pp).size() : 0;
      pointer = parent + "/" + std::to_string(size + appended[parent]++);
    }
    const std::string where = json_path(prefix, pointer);
    const std::string kind = op.value("op", "");
    const nlohmann::json::json_pointer ptr(pointer);
    if (kind == "add") {
      out.push_back(
          fmt::format("{}: added {}", where, core::shown(op.value("value", nlohmann::json()))));
    } else if (kind == "remove") {
      out.push_back(fmt::format("{}: removed (was {})", where,
                                before.contains(ptr) ? core::shown(before.at(ptr)) : "?"));
    } else {
      out.push_back(fmt::format("{}: {} -> {}", where,
                                before.contains(ptr) ? core::shown(before.at(ptr)) : "?",
                                core::shown(op.value("value", nlohmann::json()))));
    }
  }
  if (out.empty())
    out.push_back(fmt::format("{}: {} -> {}", prefix, core::shown(before), core::shown(after)));
  return out;
}

nlohmann::json identity_of(const OutputPlan& plan, const nlohmann::json& options) {
  return plan.identity_options ? plan.identity_options(options) : options;
}

// The spec block of an earlier run's sweep.json named `key` (null when absent).
nlohmann::json old_block(const nlohmann::json& sweep, const std::string& key) {
  if (!sweep.is_object() || !sweep.contains("spec") || !sweep.at("spec").is_object())
    return nullptr;
  const auto& spec = sweep.at("spec");
  return spec.contains(key) ? spec.at(key) : nlohmann::json();
}

// What a rerun may only continue with `accept_changed_inputs`: input files whose content
// differs from what the directory's rows read, and a changed family block (neither is part of
// a trial id, so the same ids would name rows of another computation).
struct Review {
  std::vector<InputChange> changed;            ///< content changes (against every recorded digest)
  std::vector<std::string> block_differences;  ///< the family block's identity, line by line
  nlohmann::json block_before, block_after;
  bool needs_acceptance() const { return !changed.empty() || !block_differences.empty(); }
  std::string describe(const std::string& family) const {
    std::string s;
    for (const auto& c : changed) s += "\n  changed: " + c.describe();
    if (!block_differences.empty())
      s += fmt::format("\n  the \"{}\" block (what runs the trials, not in their ids):", family);
    for (const auto& d : block_differences) s += "\n    " + d;
    return s;
  }
};

Review review(const OutputPlan& plan, const nlohmann::json& previous) {
  Review r;
  if (!previous.is_object()) return r;
  for (auto& c : compare_inputs(recorded_inputs(previous), plan.inputs))
    if (c.changed()) r.changed.push_back(std::move(c));
  if (previous.contains("spec")) {
    r.block_before = identity_of(plan, old_block(previous, plan.spec.family));
    r.block_after = identity_of(plan, plan.spec.options);
    r.block_differences = json_differences(r.block_before, r.block_after, "$." + plan.spec.family);
  }
  return r;
}

// The sweep.json of `dir`, or null when there is none or it cannot be read (check_output_dir
// reports that through incompatibility()).
nlohmann::json previous_sweep(const std::string& dir) {
  const auto path = fs::path(dir) / "sweep.json";
  if (!fs::exists(path)) return nullptr;
  try {
    return sweeps::read_json_file(path.string());
  } catch (const Error&) {
    return nullptr;
  }
}

std::string refusal(const OutputPlan& plan, const Review& r) {
  return fmt::format(
      "{}: cannot resume: what its rows were run with has changed since:{}\nrerun with "
      "--accept-changed-inputs if the change cannot alter any result (sweep.json records it), "
      "with --force-new to move the old results and trial directories aside and start afresh, "
      "or use another --out",
      plan.dir, r.describe(plan.spec.family));
}

// sweep.json's record of the inputs: the current set, and the history of the sets the rows
// were run with, each from the number of rows results.csv held when it began (rows are only
// ever appended, so row i was run with the last entry whose since_row <= i).
nlohmann::json input_record(const OutputPlan& plan, const nlohmann::json& previous,
                            const Review& accepted, int rows) {
  nlohmann::json history = nlohmann::json::array();
  if (previous.is_object() && previous.contains("input_history") &&
      previous.at("input_history").is_array())
    history = previous.at("input_history");
  const std::string set = input_set_digest(plan.inputs);
  const bool first = history.empty();
  if (first || history.back().value("inputs_sha256", "") != set || accepted.needs_acceptance()) {
    nlohmann::json e = {{"since_row", rows},
                        {"time", now_iso()},
                        {"inputs_sha256", set},
                        {"inputs", inputs_json(plan.inputs)}};
    if (first) {
      e["reason"] = rows == 0 ? "first run"
                              : "first record: the rows before since_row were written without "
                                "a record of their inputs (an earlier version)";
    } else {
      nlohmann::json last = nlohmann::json::object();
      if (history.back().contains("inputs")) last["inputs"] = history.back().at("inputs");
      nlohmann::json changes = nlohmann::json::array();
      for (const auto& c : compare_inputs(recorded_inputs(last), plan.inputs))
        changes.push_back(c.to_json());
      if (!changes.empty()) e["changes"] = changes;
      e["reason"] = accepted.needs_acceptance() ? "a change accepted with --accept-changed-inputs"
                                                : "files added or no longer read";
    }
    if (accepted.needs_acceptance()) {
      nlohmann::json a = {{"inputs", nlohmann::json::array()}};
      for (const auto& c : accepted.changed) a["inputs"].push_back(c.to_json());
      if (!accepted.block_differences.empty())
        a["family_block"] = {{"before", accepted.block_before},
                             {"after", accepted.block_after},
                             {"differences", accepted.block_differences}};
      e["accepted"] = a;
      log::warn(
          "{}: continuing with changed inputs (--accept-changed-inputs; recorded in "
          "sweep.json from row {}):{}",
          plan.dir, rows, accepted.describe(plan.spec.family));
    }
    history.push_back(e);
  }
  return {{"inputs", inputs_json(plan.inputs)}, {"inputs_sha256", set}, {"input_history", history}};
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
  // The data block is part of every trial id: rows of another one are another sweep's.
  if (old.contains("spec") && old.at("spec").is_object()) {
    nlohmann::json data = old_block(old, "data");
    if (data.is_null()) data = nlohmann::json::object();
    const auto diffs = json_differences(data, spec.data, "$.data");
    if (!diffs.empty())
      return fmt::format(
          "it holds rows of another data block ({}), so none of its trial ids "
          "is one of this spec's",
          fmt::join(diffs, "; "));
  }
  return "";
}

// Rewrites the existing file at `path` with `text` without allocating: only when the file's
// allocated blocks hold `text` (a full disk refuses the temporary of an atomic write). Not
// atomic; for the last word of a run that cannot write anything else. True when it worked.
bool overwrite_in_place(const std::string& path, const std::string& text) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::uint64_t>(st.st_blocks) * 512 < text.size())
    return false;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()) &&
                  ::ftruncate(fd, static_cast<off_t>(text.size())) == 0 && ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// The runs a state.json records (its "runs": objects with a numeric "started"), in order;
// none when it has none (written before them).
nlohmann::json recorded_runs(const nlohmann::json& state) {
  nlohmann::json runs = nlohmann::json::array();
  if (!state.is_object()) return runs;
  const auto r = state.find("runs");
  if (r == state.end() || !r->is_array()) return runs;
  for (const auto& run : *r)
    if (run.is_object() && run.contains("started") && run.at("started").is_number())
      runs.push_back(run);
  return runs;
}

// One run's record in state.json's "runs": ended absent while it runs (or when it was killed).
nlohmann::json run_record(double started, std::optional<double> ended, int workers) {
  nlohmann::json run = {{"started", started}};
  if (ended) run["ended"] = *ended;
  if (workers > 0) run["workers"] = workers;
  return run;
}

// The first word of <dir>/.lock: who last took the lock ("host=H,pid=P"); "" when not known.
std::string lock_file_holder(const std::string& dir) {
  std::string holder;
  std::ifstream((fs::path(dir) / ".lock").string()) >> holder;
  return holder;
}

// Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" (UTC).
std::string utc_iso(std::time_t t) {
  std::tm tm{};
  char buf[40];
  if (gmtime_r(&t, &tm) == nullptr || std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    return "?";
  return buf;
}

// Called with the directory's lock held: when `previous` (state.json as found) says "running",
// the run that wrote it ended without writing its final state (killed: SIGKILL, the OOM killer,
// a node failure, a job killed by its scheduler). Logs a warning naming that run (`holder`: the
// .lock it left, read before this run took the lock) and when state.json was last written, and
// returns state.json's "previous_run" record; null when the last run ended properly (or none).
nlohmann::json unfinished_run(const std::string& dir, const nlohmann::json& previous,
                              const std::string& holder) {
  if (state_of(previous) != SweepState::kRunning) return nullptr;
  nlohmann::json record = {{"ended", "without writing its state"}};
  if (!holder.empty()) record["lock_holder"] = holder;
  std::string written = "at an unknown time";
  struct stat info {};
  if (::stat((fs::path(dir) / "state.json").c_str(), &info) == 0) {
    record["state_written"] = static_cast<double>(info.st_mtime);
    written = "at " + utc_iso(info.st_mtime);
  }
  log::warn("{}: the previous run ({}) ended without writing its state (killed? a node failure?): "
            "its state.json still said \"running\", last written {}; resuming from its rows and "
            "checkpoints",
            dir, holder.empty() ? "holder unknown" : holder, written);
  return record;
}

// state.json while a run goes on: "running", with the figures earlier runs finished with
// (makespan_s, runs), so a run killed before its end does not lose them; `previous_run` (when
// not null) records that the run before this one was killed (unfinished_run).
nlohmann::json running_state(const nlohmann::json& previous, int total_trials, double started,
                             int workers, nlohmann::json runs, const nlohmann::json& previous_run) {
  nlohmann::json state = {{"state", SweepState::kRunning}, {"trials", total_trials}, {"started", started}};
  if (workers > 0) state["workers"] = workers;
  if (!previous_run.is_null()) state["previous_run"] = previous_run;
  if (previous.is_object())
    if (const auto m = previous.find("makespan_s"); m != previous.end() && m->is_number())
      state["makespan_s"] = *m;
  runs.push_back(run_record(started, std::nullopt, workers));
  state["runs"] = std::move(runs);
  return state;
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
  if (const Review r = review(plan, previous_sweep(plan.dir));
      r.needs_acceptance() && !plan.accept_changed_inputs)
    throw Error(refusal(plan, r));
  ResultsTable table(results_path(plan.dir), plan.spec.param_names(), plan.metrics,
                    plan.spec.has_scheduler(), plan.spec.folds > 1);
  table.check();
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

SweepState state_of(const nlohmann::json& state) {
  if (!state.is_object() || !state.contains("state") || !state["state"].is_string())
    return SweepState::kInvalid;
  return state["state"].get<SweepState>();  // unknown word: kInvalid
}

std::string gone_lock_holder(const std::string& dir) {
  const std::string holder = lock_file_holder(dir);
  const auto host_at = holder.find("host="), pid_at = holder.find(",pid=");
  if (host_at != 0 || pid_at == std::string::npos) return {};
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  if (holder.substr(5, pid_at - 5) != host) return {};
  char* end = nullptr;
  const long pid = std::strtol(holder.c_str() + pid_at + 5, &end, 10);
  if (pid <= 0 || *end != '\0') return {};
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH ? holder : std::string();
}

SweepOutput::SweepOutput(const OutputPlan& plan, const nlohmann::json& provenance, int total_trials)
    : dir_(plan.dir), best_(plan.spec.metric, plan.spec.mode == sweeps::Mode::kMax),
      best_config_(plan.spec.metric, plan.spec.mode == sweeps::Mode::kMax,
                   plan.spec.replicates(), plan.spec.param_names()),
      total_(total_trials) {
  started_unix_ = unix_now();
  workers_ = plan.workers;
  fs::create_directories(dir_);
  const std::string last_holder = lock_file_holder(dir_);  // before DirLock writes this run's
  lock_ = std::make_unique<DirLock>(dir_);
  // Read under the lock: a run that held it until just now has written its final state.
  previous_state_ = read_state(dir_);
  earlier_runs_ = recorded_runs(previous_state_);
  previous_run_ = unfinished_run(dir_, previous_state_, last_holder);
  const std::string results = results_path(dir_);
  if (plan.force_new) {
    const std::string old = incompatibility(dir_, plan.spec);
    bool header_differs = false;
    try {
      ResultsTable(results, plan.spec.param_names(), plan.metrics, plan.spec.has_scheduler(),
                   plan.spec.folds > 1).check();
    } catch (const Error&) {
      header_differs = true;
    }
    // Changed inputs keep the trial ids: the trial directories (checkpoints of the other
    // inputs: resume.pt of another architecture) go aside with the rows.
    if (!old.empty() || header_differs || review(plan, previous_sweep(dir_)).needs_acceptance()) {
      const std::string suffix = ".old-" + stamp();
      std::vector<std::string> moved;
      for (const char* f :
           {"results.csv", "sweep.json", "best.json", "best_config.json", "reports.jsonl",
            "trials", "pbt"}) {
        const auto p = fs::path(dir_) / f;
        if (!fs::exists(p)) continue;
        fs::rename(p, p.string() + suffix);
        moved.push_back(f);
      }
      log::info("--force-new: moved the previous {} aside ({})", fmt::join(moved, ", "), suffix);
    }
  }
  // The sweep.json of an earlier run, read before it is replaced (metric definitions, inputs).
  const nlohmann::json previous = previous_sweep(dir_);
  // Checked again under the lock: another run may have finished in between.
  const Review changes = review(plan, previous);
  if (changes.needs_acceptance() && !plan.accept_changed_inputs)
    throw Error(refusal(plan, changes));
  table_ = std::make_unique<ResultsTable>(results, plan.spec.param_names(), plan.metrics,
                    plan.spec.has_scheduler(), plan.spec.folds > 1);
  std::vector<std::string> row_ids;
  std::unordered_set<std::string> counted;  // ids of this spec's trials with a row
  int foreign_rows = 0;
  // Every row of the table, read once as cells (a resume of a large sweep reads them all).
  const CsvTable table = table_->open_table();
  const std::vector<std::string>& header = table_->header();
  const auto wall_column = static_cast<std::size_t>(
      std::find(header.begin(), header.end(), "wall_s") - header.begin());
  const std::vector<std::string> param_names = plan.spec.param_names();
  row_ids.reserve(table.rows.size());
  for (const auto& row : table.rows) {
    const std::string& id = row.at(0);  // trial_id
    finished_.insert(id);
    row_ids.push_back(id);
    // Rows of trials the spec does not list (a narrowed grid) stay in results.csv, but the
    // counts and best.json are this spec's.
    if (plan.trial_ids && !plan.trial_ids->count(id)) {
      ++foreign_rows;
      continue;
    }
    counted.insert(id);
    if (wall_column < row.size()) {
      const std::string& w = row[wall_column];
      char* end = nullptr;
      const double v = std::strtod(w.c_str(), &end);
      if (end != w.c_str() && std::isfinite(v)) finished_wall_s_ += v;
    }
    best_.offer_record(header, row, param_names, plan.metrics);
    best_config_.offer_record(header, row);
  }
  if (foreign_rows > 0)
    log::info(
        "{}: {} row(s) of trials this spec does not list stay in results.csv; the counts "
        "and best.json / best_config.json leave them out",
        dir_, foreign_rows);
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
  sweep.update(input_record(plan, previous, changes, static_cast<int>(row_ids.size())));
  core::write_file_atomic((fs::path(dir_) / "sweep.json").string(), sweep.dump(2) + "\n");
  core::write_file_atomic((fs::path(dir_) / "state.json").string(),
                    running_state(previous_state_, total_trials, started_unix_, workers_,
                                  earlier_runs_, previous_run_)
                            .dump(2) +
                        "\n");
  if (table_->rows_dropped()) log::warn("{}: dropped a partial last line (a run was killed mid-write)", results);
  done_before_ = static_cast<int>(counted.size());
  done_ = done_before_;
  write_best();
  write_best_config();
  if (plan.trial_ids && !best_.has_best()) {
    // best.json of rows the spec no longer lists (it is rebuilt from this spec's rows).
    std::error_code ec;
    fs::remove(fs::path(dir_) / "best.json", ec);
  }
  if (plan.trial_ids && !best_config_.has_best()) {
    std::error_code ec;
    fs::remove(fs::path(dir_) / "best_config.json", ec);
  }
  tty_ = ::isatty(STDERR_FILENO) != 0;
  start_ = last_line_ = std::chrono::steady_clock::now();
}

void SweepOutput::write_best() {
  if (!best_.has_best()) return;
  core::write_file_atomic((fs::path(dir_) / "best.json").string(), best_.to_json().dump(2) + "\n");
}

void SweepOutput::write_best_config() {
  if (!best_config_.has_best()) return;
  core::write_file_atomic((fs::path(dir_) / "best_config.json").string(),
                          best_config_.to_json().dump(2) + "\n");
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
  if (best_config_.offer(row) && write_error_.empty()) {
    try {
      write_best_config();
    } catch (const core::WriteError& e) {
      write_error_ = e.what();  // rebuilt on resume, as best.json
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

// state.json's unhealthy_ranks and silent_ranks: each rank's fields under their own names.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(UnhealthyRank, rank, host, failures, within_s, last_error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SilentRank, rank, host, silent_s, trials, returned)

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
  for (const auto& r : s.silent) {
    log::warn("rank {} on {} was taken out of the sweep: it sent nothing for {:.0f} s while it ran "
              "{} trial(s){}",
              r.rank, r.host.empty() ? "?" : r.host, r.silent_s, r.trials.size(),
              r.returned ? " (it answered later and was shut down)" : "");
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
  nlohmann::json state = {{"state", complete ? SweepState::kComplete : SweepState::kInterrupted},
                          {"reason", reason},
                          {"rows", done_},
                          {"trials", total_},
                          {"failed", failed_},
                          {"interrupted", s.interrupted},
                          {"not_started", s.not_started},
                          {"makespan_s", makespan_before + s.makespan_s},
                          {"run_makespan_s", s.makespan_s},
                          {"unhealthy_ranks", s.unhealthy},
                          {"silent_ranks", s.silent},
                          {"elapsed_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()}};
  // When this run began and ended (Unix seconds, results.csv's clock) and the ranks that
  // trained: with the rows' started/ended, what the report's utilization needs; "runs" keeps
  // every run's, earlier ones first.
  const double ended = unix_now();
  state["started"] = started_unix_;
  state["ended"] = ended;
  if (workers_ > 0) state["workers"] = workers_;
  if (!previous_run_.is_null()) state["previous_run"] = previous_run_;
  nlohmann::json runs = earlier_runs_;
  runs.push_back(run_record(started_unix_, ended, workers_));
  state["runs"] = std::move(runs);
  if (!output_error.empty()) {
    state["output_error"] = output_error;
    state["unwritten"] = s.unwritten;
  }
  const int code = !output_error.empty() ? kExitCannotWrite
                   : complete            ? kExitOk
                                         : kExitInterrupted;
  // The status this run exits with: a job script reads it when the launcher reports another one
  // (rank 0 ends the job with MPI_Abort when a rank taken out as silent never came back, and
  // srun then reports the tasks it killed).
  state["exit_status"] = code;
  const std::string state_path = (fs::path(dir_) / "state.json").string();
  const std::string text = state.dump(2) + "\n";
  try {
    core::write_file_atomic(state_path, text);
  } catch (const core::WriteError& e) {
    // A full disk has no room for the temporary; the "running" state.json already holds a block
    // (a few KiB on ext4, xfs, tmpfs), which takes the final state in place.
    if (overwrite_in_place(state_path, text)) {
      log::warn("{}; state.json was rewritten in place instead", e.what());
    } else {
      log::error("{}; state.json still says \"running\": this run ended {} (exit {})", e.what(),
                 complete ? "complete" : "interrupted", kExitCannotWrite);
      return kExitCannotWrite;
    }
  }
  return code;
}

}  // namespace ns::engine
