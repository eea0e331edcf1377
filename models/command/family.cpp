#include "models/command/family.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/json.hpp"
#include "engine/results.hpp"
#include "engine/rung_walk.hpp"
#include "models/command/process.hpp"
#include "models/command/report.hpp"

extern char** environ;

namespace ns::models::command {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// The columns results.csv has besides parameters and metrics (with early stopping's `rung`
// and `resource`): a parameter or metric may not take them.
const std::set<std::string>& reserved_columns() {
  static const std::set<std::string> r = [] {
    std::set<std::string> s(engine::leading_columns().begin(), engine::leading_columns().end());
    s.insert(engine::trailing_columns().begin(), engine::trailing_columns().end());
    s.insert(engine::scheduler_columns().begin(), engine::scheduler_columns().end());
    s.insert(engine::fold_column());  // a sweep with folds (the spec's "folds")
    s.insert("folds");                // reserved with it: config.json's name for K
    return s;
  }();
  return r;
}

// What a placeholder may name, with a stand-in value: checks argv before any trial runs.
json placeholder_values(const CommandOptions& o) {
  json v = o.params;
  for (const auto& b : builtin_placeholders()) v[b] = "x";
  return v;
}

}  // namespace

const std::vector<std::string>& builtin_placeholders() {
  static const std::vector<std::string> b = {"trial_id", "trial_dir", "seed",
                                             "repeat",   "fold",      "folds",
                                             "device",   "threads",   "resource_limit",
                                             "config",   "cwd"};
  return b;
}

std::string substitute(const std::string& arg, const json& values) {
  std::string out;
  for (std::size_t i = 0; i < arg.size(); ++i) {
    const char c = arg[i];
    if ((c == '{' || c == '}') && i + 1 < arg.size() && arg[i + 1] == c) {
      out += c;  // {{ or }}: a literal brace
      ++i;
    } else if (c == '{') {
      const std::size_t end = arg.find('}', i);
      if (end == std::string::npos)
        throw Error(fmt::format("'{}': an unmatched {{ (write {{{{ for a literal brace)", arg));
      const std::string name = arg.substr(i + 1, end - i - 1);
      if (!values.contains(name)) {
        std::vector<std::string> known;
        for (auto& [k, v] : values.items()) known.push_back(k);
        throw Error(fmt::format("'{}': unknown placeholder {{{}}}; known: {}", arg, name,
                                fmt::join(known, ", ")));
      }
      out += engine::format_value(values.at(name));
      i = end;
    } else if (c == '}') {
      throw Error(fmt::format("'{}': an unmatched }} (write }}}} for a literal brace)", arg));
    } else {
      out += c;
    }
  }
  return out;
}

CommandOptions parse_command_options(const json& block, const std::string& where) {
  if (block.is_null())
    throw Error(fmt::format("{}: required: the command family needs a \"command\" block, e.g. "
                            "{{\"argv\": [\"python3\", \"train.py\", \"--lr\", \"{{lr}}\"], "
                            "\"params\": {{\"lr\": 0.001}}, \"metrics\": [\"val_loss\"]}}",
                            where));
  if (!block.is_object())
    throw Error(fmt::format("{}: expected an object, got {}", where, core::shown(block)));
  static const std::vector<std::string> keys = {"argv",    "params",           "metrics", "resource",
                                                "grace_s", "interrupted_exit", "env",
                                                "log_max_bytes", "inputs"};
  for (auto& [k, v] : block.items())
    if (std::find(keys.begin(), keys.end(), k) == keys.end())
      throw Error(fmt::format("{}.{}: unknown key; allowed: {}", where, k, fmt::join(keys, ", ")));
  const core::JsonFields f(block, where);
  CommandOptions o;
  if (!block.contains("argv") || !block.at("argv").is_array() || block.at("argv").empty())
    f.fail("argv", "a non-empty list of strings (the program and its arguments)");
  for (std::size_t i = 0; i < block.at("argv").size(); ++i) {
    const json& a = block.at("argv")[i];
    if (!a.is_string())
      throw Error(fmt::format("{}.argv[{}]: expected a string, got {}", where, i, core::shown(a)));
    o.argv.push_back(a.get<std::string>());
  }
  if (o.argv[0].empty()) throw Error(fmt::format("{}.argv[0]: expected the program, got \"\"", where));
  if (block.contains("params")) {
    const json& p = f.object("params");
    for (auto& [k, v] : p.items()) {
      if (!(v.is_number() || v.is_string() || v.is_boolean()))
        throw Error(fmt::format("{}.params.{}: expected a default value (number, string or "
                                "boolean; it fixes the parameter's type), got {}",
                                where, k, core::shown(v)));
      if (std::find(builtin_placeholders().begin(), builtin_placeholders().end(), k) !=
              builtin_placeholders().end() ||
          reserved_columns().count(k))
        throw Error(fmt::format("{}.params.{}: the name is taken (by a placeholder or a "
                                "results.csv column); choose another", where, k));
      o.params[k] = v;
    }
  }
  if (!block.contains("metrics") || !block.at("metrics").is_array() || block.at("metrics").empty())
    f.fail("metrics", "a non-empty list of the metric names the program reports");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < block.at("metrics").size(); ++i) {
    const json& m = block.at("metrics")[i];
    const std::string at = fmt::format("{}.metrics[{}]", where, i);
    if (!m.is_string() || m.get<std::string>().empty())
      throw Error(fmt::format("{}: expected a metric name, got {}", at, core::shown(m)));
    const std::string name = m.get<std::string>();
    if (!seen.insert(name).second) throw Error(fmt::format("{}: '{}' is listed twice", at, name));
    if (reserved_columns().count(name) || o.params.contains(name))
      throw Error(fmt::format("{}: '{}' is already a column of results.csv (or a parameter)", at, name));
    o.metrics.push_back(name);
  }
  o.resource = f.string("resource", "");
  o.grace_s = f.number("grace_s", 10, core::Interval::at_least(0));
  o.interrupted_exit = static_cast<int>(f.integer("interrupted_exit", 75, core::Interval::closed(1, 255)));
  o.log_max_bytes = f.integer("log_max_bytes", o.log_max_bytes, core::Interval::closed(1024, 1e15));
  if (block.contains("env")) {
    for (auto& [k, v] : f.object("env").items()) {
      if (!v.is_string())
        throw Error(fmt::format("{}.env.{}: expected a string, got {}", where, k, core::shown(v)));
      if (k.empty() || k.find('=') != std::string::npos)
        throw Error(fmt::format("{}.env: '{}' is not a variable name", where, k));
      o.env.emplace_back(k, v.get<std::string>());
    }
  }
  if (block.contains("inputs")) {
    const json& in = block.at("inputs");
    if (!in.is_array())
      throw Error(fmt::format("{}.inputs: expected a list of files or directories the program "
                              "depends on, got {}", where, core::shown(in)));
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (!in[i].is_string() || in[i].get<std::string>().empty())
        throw Error(fmt::format("{}.inputs[{}]: expected a path, got {}", where, i,
                                core::shown(in[i])));
      o.inputs.push_back(in[i].get<std::string>());
    }
  }
  const json values = placeholder_values(o);
  for (std::size_t i = 0; i < o.argv.size(); ++i) {
    try {
      (void)substitute(o.argv[i], values);
    } catch (const Error& e) {
      throw Error(fmt::format("{}.argv[{}]: {}", where, i, e.what()));
    }
  }
  // The program itself, unless a placeholder names it: found now, not after the job queued.
  if (o.argv[0].find('{') == std::string::npos && find_program(o.argv[0]).empty()) {
    const char* path = std::getenv("PATH");
    throw Error(fmt::format(
        "{}.argv[0]: cannot find the program '{}' ({})", where, o.argv[0],
        o.argv[0].find('/') != std::string::npos
            ? "no such executable file"
            : fmt::format("not an executable in PATH={}", path ? path : "")));
  }
  return o;
}

const fs::path& launch_dir() {
  static const fs::path dir = fs::current_path();  // neurosweep never changes its own
  return dir;
}

std::string find_program(const std::string& name) {
  auto runnable = [](const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
  };
  const char* path = std::getenv("PATH");
  for (const auto& c : program_candidates(name, path ? path : "/usr/local/bin:/usr/bin:/bin"))
    if (runnable(c)) return c;
  return "";
}

namespace {

class CommandRunner final : public engine::TrialRunner {
 public:
  engine::TrialOutcome run(const engine::TrialContext& ctx) override;

 private:
  // The block checked once per worker (the check looks the program up in PATH), not per trial.
  std::string key_;
  std::optional<CommandOptions> options_;
};

// One run of the program for one trial.
class Session {
 public:
  Session(const engine::TrialContext& ctx, CommandOptions o) : ctx_(ctx), o_(std::move(o)) {}
  engine::TrialOutcome run();

 private:
  enum class Ask { kNone, kStop, kPause, kDrain };
  void on_line(int stream, const std::string& line);
  void on_report(const ReportLine& r);
  void read_progress(std::uintmax_t max_bytes);
  void log_stream(int stream, const std::string& text);
  void ask(Ask why);
  void terminate();
  std::vector<std::string> environment(const std::string& cuda, const fs::path& config) const;
  void log(const std::string& line) {
    log_ << line << '\n';
    log_.flush();
  }

  const engine::TrialContext& ctx_;
  CommandOptions o_;
  // Its steps' rungs. The program resumes by itself, from a step the family does not know: the
  // walk starts at 0 (a resumed program's first report past the rungs it passed reports again).
  engine::RungWalk walk_{ctx_};
  std::ofstream log_;
  std::unique_ptr<ChildProcess> child_;
  fs::path progress_;
  std::uintmax_t progress_offset_ = 0;
  std::string progress_buf_;
  Ask asked_ = Ask::kNone;
  Clock::time_point asked_at_;
  std::optional<Clock::time_point> term_at_;
  bool killed_ = false;
  std::map<std::string, double> last_;   ///< metrics of the reports so far, latest value each
  std::map<std::string, double> final_;  ///< the final line's
  bool got_final_ = false, got_report_ = false;
  double last_step_ = 0;
  int malformed_ = 0;
  std::set<std::string> unknown_;        ///< metric names reported but not declared (warned once)
  std::deque<std::string> stderr_tail_;
  // What log.txt got of each stream in this run ([0] stdout with the warnings about its lines,
  // [1] stderr) and what was dropped past o_.log_max_bytes.
  std::uintmax_t logged_[2] = {0, 0}, dropped_[2] = {0, 0};
};

void Session::ask(Ask why) {
  if (asked_ != Ask::kNone) return;
  asked_ = why;
  asked_at_ = Clock::now();
  // At a rung the program was told (config.json's resource_limit) and should save its state
  // and exit by itself; it gets grace_s for that before a SIGTERM. Otherwise: SIGTERM now.
  if (why != Ask::kPause) terminate();
}

void Session::terminate() {
  if (term_at_) return;
  term_at_ = Clock::now();
  child_->signal_group(SIGTERM);
}

void Session::log_stream(int stream, const std::string& text) {
  const int i = stream == 2 ? 1 : 0;
  const auto max = static_cast<std::uintmax_t>(o_.log_max_bytes);
  const std::uintmax_t size = text.size() + 1;  // with its newline
  if (dropped_[i] > 0 || logged_[i] + size > max) {
    if (dropped_[i] == 0) {  // the first line that does not fit: its head, then where it ends
      const std::uintmax_t room = max - logged_[i];
      if (room > 0) log_ << text.substr(0, static_cast<std::size_t>(room)) << '\n';
      log(fmt::format("... [neurosweep: log truncated after {} bytes of {}]", max,
                      i == 0 ? "stdout" : "stderr"));
      dropped_[i] = size - room;
      logged_[i] = max;
    } else {
      dropped_[i] += size;
    }
    return;
  }
  logged_[i] += size;
  log(text);
}

void Session::on_report(const ReportLine& r) {
  for (const auto& k : r.unknown) {
    if (unknown_.size() >= 100 || !unknown_.insert(k).second) continue;  // warned once each
    log_stream(1, fmt::format("neurosweep: metric '{}' is not in $.command.metrics ({}); ignored",
                              head_of(k, 100), fmt::join(o_.metrics, ", ")));
  }
  if (r.kind == ReportLine::Kind::kFinal) {
    for (auto& [k, v] : r.metrics) final_[k] = v;
    got_final_ = true;
    return;
  }
  last_step_ = r.step;
  for (auto& [k, v] : r.metrics) last_[k] = v;
  got_report_ = true;
  if (asked_ != Ask::kNone) return;
  switch (walk_.at(last_step_, last_)) {
    case engine::RungAction::kStop:
      log(fmt::format("neurosweep: the scheduler stopped the trial at step {}", last_step_));
      ask(Ask::kStop);
      break;
    case engine::RungAction::kPause:
      log(fmt::format("neurosweep: step {} reached the rung at {}: pausing", last_step_,
                      ctx_.resource_limit));
      ask(Ask::kPause);
      break;
    case engine::RungAction::kFinish:  // the program was told its final rung and ends by itself
    case engine::RungAction::kContinue:
      break;
  }
}

void Session::on_line(int stream, const std::string& line) {
  if (stream == 2) {
    log_stream(2, line);
    stderr_tail_.push_back(head_of(line, 500));
    while (stderr_tail_.size() > 5) stderr_tail_.pop_front();
    return;
  }
  // Bounded (core::JsonLimits::trial_line()): a hostile line is a logged warning, never a crash.
  const ReportLine r = parse_report_line(line, o_.metrics);
  switch (r.kind) {
    case ReportLine::Kind::kText:
      log_stream(1, line);
      return;
    case ReportLine::Kind::kMalformed:
      ++malformed_;
      log_stream(1, fmt::format("neurosweep: a report line ignored ({}): {}", r.why, head_of(line)));
      return;
    case ReportLine::Kind::kReport:
    case ReportLine::Kind::kFinal:
      on_report(r);
      return;
  }
}

// Reads what the program appended to $NEUROSWEEP_REPORTS since the last call, at most
// `max_bytes` of it (in 1 MiB pieces), line by line as pump() reads stdout.
void Session::read_progress(std::uintmax_t max_bytes) {
  std::error_code ec;
  const auto size = fs::file_size(progress_, ec);
  if (ec || size <= progress_offset_) return;
  std::ifstream in(progress_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(progress_offset_));
  std::uintmax_t left = std::min<std::uintmax_t>(size - progress_offset_, max_bytes);
  std::string chunk;
  while (left > 0 && in) {
    chunk.resize(static_cast<std::size_t>(std::min<std::uintmax_t>(left, kMaxLine)));
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    chunk.resize(static_cast<std::size_t>(in.gcount()));
    if (chunk.empty()) break;
    progress_offset_ += chunk.size();
    left -= chunk.size();
    progress_buf_ += chunk;
    split_lines(progress_buf_, false, [this](const std::string& l) { on_line(1, l); });
  }
}

std::vector<std::string> Session::environment(const std::string& cuda, const fs::path& config) const {
  std::vector<std::string> env;
  std::set<std::string> ours = {"NEUROSWEEP_TRIAL_ID", "NEUROSWEEP_TRIAL_DIR", "NEUROSWEEP_SEED",
                                "NEUROSWEEP_CONFIG", "NEUROSWEEP_REPORTS",
                                "NEUROSWEEP_RESOURCE_LIMIT", "NEUROSWEEP_INTERRUPTED_EXIT",
                                "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS"};
  for (const auto& [k, v] : o_.env) ours.insert(k);
  for (char** e = environ; e && *e; ++e) {
    const std::string kv = *e;
    const std::string name = kv.substr(0, kv.find('='));
    // The program runs outside the sweep's MPI job: a Python program that imports mpi4py must
    // not take the worker's rank for its own.
    if (name.rfind("OMPI_", 0) == 0 || name.rfind("PMIX_", 0) == 0 || name.rfind("PMI_", 0) == 0 ||
        name.rfind("OPAL_", 0) == 0 || ours.count(name))
      continue;
    env.push_back(kv);
  }
  for (const auto& [k, v] : o_.env) env.push_back(k + "=" + v);
  env.push_back("NEUROSWEEP_TRIAL_ID=" + ctx_.trial.id);
  env.push_back("NEUROSWEEP_TRIAL_DIR=" + ctx_.trial_dir.string());
  env.push_back("NEUROSWEEP_SEED=" + std::to_string(ctx_.trial.seed));
  env.push_back("NEUROSWEEP_CONFIG=" + config.string());
  env.push_back("NEUROSWEEP_REPORTS=" + progress_.string());
  if (ctx_.resource_limit > 0)
    env.push_back("NEUROSWEEP_RESOURCE_LIMIT=" + engine::format_number(ctx_.resource_limit));
  env.push_back("NEUROSWEEP_INTERRUPTED_EXIT=" + std::to_string(o_.interrupted_exit));
  env.push_back("CUDA_VISIBLE_DEVICES=" + cuda);
  env.push_back("OMP_NUM_THREADS=" + std::to_string(std::max(1, ctx_.threads)));
  return env;
}

engine::TrialOutcome Session::run() {
  const fs::path dir = fs::absolute(ctx_.trial_dir);
  fs::create_directories(dir);
  const fs::path config = dir / "config.json";
  progress_ = dir / "progress.jsonl";
  const bool resumed = fs::exists(config);
  // A GPU rank's program sees only its GPU, as device 0; a CPU rank's sees none.
  std::string cuda, device = "cpu";
  if (ctx_.device.rfind("cuda", 0) == 0) {
    const auto colon = ctx_.device.find(':');
    cuda = colon == std::string::npos ? "0" : ctx_.device.substr(colon + 1);
    device = "cuda:0";
  }
  json cfg = {{"trial_id", ctx_.trial.id},
              {"trial_dir", dir.string()},
              {"seed", ctx_.trial.seed},
              {"repeat", ctx_.trial.repeat},
              {"fold", ctx_.trial.fold},
              {"folds", ctx_.trial.folds},
              {"fold_seed", ctx_.trial.fold_seed},
              {"params", ctx_.trial.params},
              {"data", ctx_.data},
              {"device", device},
              {"threads", std::max(1, ctx_.threads)},
              {"resource", o_.resource},
              {"resource_limit", ctx_.resource_limit > 0 ? json(ctx_.resource_limit) : json()},
              {"final_rung", ctx_.final_rung},
              {"rungs", ctx_.rungs},
              {"resumed", resumed},
              {"interrupted_exit", o_.interrupted_exit}};
  core::write_file_atomic(config, cfg.dump(2) + "\n");
  json values = ctx_.trial.params;
  values["trial_id"] = ctx_.trial.id;
  values["trial_dir"] = dir.string();
  values["seed"] = ctx_.trial.seed;
  values["repeat"] = ctx_.trial.repeat;
  values["fold"] = ctx_.trial.fold;    // -1 without folds
  values["folds"] = ctx_.trial.folds;  // 0 without folds
  values["device"] = device;
  values["threads"] = std::max(1, ctx_.threads);
  values["resource_limit"] = ctx_.resource_limit > 0 ? json(ctx_.resource_limit) : json("");
  values["config"] = config.string();
  values["cwd"] = launch_dir().string();
  std::vector<std::string> argv;
  for (const auto& a : o_.argv) argv.push_back(substitute(a, values));
  // A relative program path is neurosweep's (where plan checked it), not the trial directory's.
  if (argv[0].find('/') != std::string::npos && fs::path(argv[0]).is_relative())
    argv[0] = (launch_dir() / argv[0]).lexically_normal().string();

  log_.open(dir / "log.txt", std::ios::app);
  log(fmt::format("neurosweep: {} trial {}: {}", resumed ? "resuming" : "starting", ctx_.trial.id,
                  fmt::join(argv, " ")));
  std::error_code ec;
  progress_offset_ = fs::exists(progress_) ? fs::file_size(progress_, ec) : 0;
  child_ = std::make_unique<ChildProcess>(argv, environment(cuda, config), dir.string());
  const auto line = [this](int stream, const std::string& l) { on_line(stream, l); };
  std::optional<ExitStatus> status;
  while (!status) {
    child_->pump(std::chrono::milliseconds(50), line);
    read_progress(std::uintmax_t{16} << 20);
    if (asked_ == Ask::kNone && ctx_.stop_requested()) {
      log("neurosweep: asked to stop (drain or time limit): SIGTERM to the program's group");
      ask(Ask::kDrain);
    }
    if (asked_ == Ask::kPause && !term_at_ &&
        std::chrono::duration<double>(Clock::now() - asked_at_).count() > o_.grace_s) {
      log(fmt::format("neurosweep: still running {} s after its rung: SIGTERM", o_.grace_s));
      terminate();
    }
    if (term_at_ && !killed_ &&
        std::chrono::duration<double>(Clock::now() - *term_at_).count() > o_.grace_s) {
      log(fmt::format("neurosweep: still running {} s after SIGTERM: SIGKILL", o_.grace_s));
      child_->signal_group(SIGKILL);
      killed_ = true;
    }
    status = child_->poll_exit();
  }
  // What it left running outside its process group (a setsid grandchild, a daemon) ends with
  // it, whether it exited or was ended: a trial owns no process after it ends.
  const int strays = child_->end_strays(std::chrono::milliseconds(
      static_cast<long>(std::min(o_.grace_s, 10.0) * 1000)));
  // The rest of its output (the group is gone, so the pipes close).
  const auto until = Clock::now() + std::chrono::seconds(2);
  while (child_->pump(std::chrono::milliseconds(50), line) && Clock::now() < until) {
  }
  read_progress(std::numeric_limits<std::uintmax_t>::max());
  if (!progress_buf_.empty()) {
    on_line(1, progress_buf_);  // its last line, without a newline
    progress_buf_.clear();
  }
  if (strays > 0)
    log(fmt::format("neurosweep: ended {} process(es) the program left running outside its "
                    "process group", strays));
  for (int i = 0; i < 2; ++i)
    if (dropped_[i] > 0)
      log(fmt::format("neurosweep: {} more bytes of {} not logged (log_max_bytes {})", dropped_[i],
                      i == 0 ? "stdout" : "stderr", o_.log_max_bytes));
  log(fmt::format("neurosweep: the program {}", status->describe()));

  engine::TrialOutcome out;
  for (const auto& m : o_.metrics) {
    auto f = final_.find(m);
    auto l = last_.find(m);
    out.metrics[m] = f != final_.end() ? f->second : l != last_.end() ? l->second : std::nan("");
  }
  const bool clean = !status->signaled && (status->code == 0 || status->code == o_.interrupted_exit);
  const std::string stderr_tail =
      stderr_tail_.empty() ? "" : fmt::format("; stderr: {}", fmt::join(stderr_tail_, " | "));
  std::string ignored =
      malformed_ > 0 ? fmt::format(" ({} malformed report line(s) ignored; see log.txt)", malformed_) : "";
  for (int i = 0; i < 2; ++i)
    if (dropped_[i] > 0)
      ignored += fmt::format(" (log.txt truncated after {} bytes of {})", o_.log_max_bytes,
                             i == 0 ? "stdout" : "stderr");
  if (asked_ == Ask::kStop) {
    out.status = engine::TrialStatus::kStopped;
  } else if (asked_ == Ask::kPause && (clean || (status->signaled && term_at_))) {
    out.status = engine::TrialStatus::kPaused;
  } else if (!status->signaled && status->code == 0 && (got_final_ || got_report_) &&
             asked_ != Ask::kPause) {
    out.status = engine::TrialStatus::kOk;  // also when it finished before a drain's SIGTERM
  } else if (asked_ == Ask::kDrain || ctx_.stop_requested() ||
             (!status->signaled && status->code == o_.interrupted_exit)) {
    out.status = engine::TrialStatus::kInterrupted;
    out.error = fmt::format("the program {} after a stop request", status->describe());
  } else {
    out.status = engine::TrialStatus::kFailed;
    if (!status->signaled && status->code == 0)
      out.error = fmt::format("the program exited with code 0 without a result: no {{\"final\": "
                              "{{...}}}} or {{\"step\": ...}} line on stdout or in "
                              "$NEUROSWEEP_REPORTS{}{}", ignored, stderr_tail);
    else
      out.error = fmt::format("the program {}{}{}", status->describe(), ignored, stderr_tail);
  }
  return out;
}

engine::TrialOutcome CommandRunner::run(const engine::TrialContext& ctx) {
  const std::string key = ctx.options.dump();
  if (!options_ || key != key_) {
    options_ = parse_command_options(ctx.options, "$.command");
    key_ = key;
  }
  Session s(ctx, *options_);
  return s.run();
}

class CommandFamily final : public engine::ModelFamily {
 public:
  CommandFamily() : ModelFamily(base_schema()) {}

  std::string description() const override {
    return "any training program, one process per trial: argv with {placeholders} (no shell), "
           "config.json in the trial directory, JSON lines back ({\"step\": ..., \"metrics\": "
           "{...}} and {\"final\": {...}}); parameters and metrics are declared in the spec's "
           "\"command\" block";
  }
  sweeps::FamilySchema schema_for(const json& options, const std::string& where) const override {
    const CommandOptions o = parse_command_options(options, where);
    sweeps::FamilySchema s = schema();
    s.model_defaults = o.params;
    s.metrics = o.metrics;
    s.resource = o.resource;
    s.mutable_params = {"*"};  // the program reads config.json at every start
    return s;
  }
  engine::DataFacts check_data(const json& data, const std::string&) const override {
    engine::DataFacts facts;
    facts.checked = true;
    facts.source = data.empty() ? "no data block" : "the data block, given to the program in config.json";
    return facts;
  }
  std::string validation() const override { return "parameter types; argv placeholders"; }
  std::vector<engine::InputPath> input_files(const json& data, const json& options,
                                             const std::vector<json>& configurations) const override;
  // Without what declares the parameter space ("params": their defaults reach the ids through
  // the parameters), the metric columns (results.csv's header guards them), the grace period,
  // the log limit and the list of extra inputs (their content is compared instead).
  json identity_options(const json& options) const override {
    json out = options;
    if (out.is_object())
      for (const char* k : {"params", "metrics", "grace_s", "log_max_bytes", "inputs"}) out.erase(k);
    return out;
  }
  // The program does its own partition: it gets {fold}, {folds} and config.json's fold,
  // folds and fold_seed.
  bool supports_folds() const override { return true; }
  std::unique_ptr<engine::TrialRunner> make_runner() const override {
    return std::make_unique<CommandRunner>();
  }

 private:
  static sweeps::FamilySchema base_schema() {
    sweeps::FamilySchema s;
    s.name = "command";
    s.model_defaults = json::object();
    s.training_defaults = json::object();
    return s;
  }
};

// A placeholder value no path holds: an argument that still contains it after substitution
// depends on the trial (its directory, seed, device) and names no input known before the run.
const char* const kTrialValue = "\x1f<trial>\x1f";

bool regular_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// Every regular file under `dir`, sorted, skipping hidden entries and __pycache__ (Python
// rewrites its byte code caches by itself).
void files_under(const fs::path& dir, std::vector<fs::path>& out) {
  std::error_code ec;
  std::vector<fs::path> found;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || name == "__pycache__") {
      std::error_code dir_ec;
      if (it->is_directory(dir_ec)) it.disable_recursion_pending();
      continue;
    }
    if (regular_file(it->path())) found.push_back(it->path());
  }
  std::sort(found.begin(), found.end());
  out.insert(out.end(), found.begin(), found.end());
}

// Strings in the data block that name existing regular files by an absolute path.
void data_files(const json& j, std::vector<fs::path>& out) {
  if (j.is_string()) {
    const fs::path p = j.get<std::string>();
    if (p.is_absolute() && regular_file(p)) out.push_back(p);
  } else if (j.is_structured()) {
    for (const auto& v : j) data_files(v, out);
  }
}

}  // namespace

// The program when argv[0] is a path (one found in PATH, such as python3, is named, not
// digested), every argument that names an existing regular file by an absolute path once the
// configuration's values are filled in ({cwd}/train.py; also the value of --opt=/path), the
// files the data block names by absolute paths, and the block's "inputs" (a relative one from
// the working directory; a directory: every file under it). The program runs in the trial's
// directory, so a relative argument names no file known here.
std::vector<engine::InputPath> CommandFamily::input_files(
    const json& data, const json& options, const std::vector<json>& configurations) const {
  const CommandOptions o = parse_command_options(options, "$.command");
  std::vector<engine::InputPath> out;
  std::set<std::string> seen;
  auto add = [&](const fs::path& p, const char* role) {
    const fs::path n = p.lexically_normal();
    if (seen.insert(n.string()).second) out.push_back({n, role});
  };
  std::vector<json> configs = configurations;
  if (configs.empty()) configs.push_back(o.params);
  std::set<std::pair<std::size_t, std::string>> tried;  // (position, argument): each looked at once
  for (const auto& c : configs) {
    json values = c.is_object() ? c : json::object();
    for (const auto& b : builtin_placeholders()) values[b] = kTrialValue;
    values["cwd"] = launch_dir().string();
    for (std::size_t i = 0; i < o.argv.size(); ++i) {
      std::string arg;
      try {
        arg = substitute(o.argv[i], values);
      } catch (const Error&) {
        continue;
      }
      if (arg.find(kTrialValue) != std::string::npos || !tried.emplace(i == 0 ? 0 : 1, arg).second)
        continue;
      if (i == 0) {
        if (arg.find('/') == std::string::npos) continue;
        const fs::path p = fs::path(arg).is_relative() ? launch_dir() / arg : fs::path(arg);
        if (regular_file(p)) add(p, "program");
        continue;
      }
      const std::size_t eq = arg.find('=');
      for (const std::string& s : {arg, eq == std::string::npos ? std::string() : arg.substr(eq + 1)}) {
        const fs::path p = s;
        if (!s.empty() && p.is_absolute() && regular_file(p)) add(p, "argument");
      }
    }
  }
  std::vector<fs::path> files;
  data_files(data, files);
  for (const auto& f : files) add(f, "data");
  for (std::size_t i = 0; i < o.inputs.size(); ++i) {
    std::string name;
    try {
      json values = json::object();
      values["cwd"] = launch_dir().string();
      name = substitute(o.inputs[i], values);
    } catch (const Error& e) {
      throw Error(fmt::format("$.command.inputs[{}]: {} (only {{cwd}} may appear here)", i, e.what()));
    }
    const fs::path p = fs::path(name).is_relative() ? launch_dir() / name : fs::path(name);
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      files.clear();
      files_under(p, files);
      for (const auto& f : files) add(f, "declared");
    } else if (regular_file(p)) {
      add(p, "declared");
    } else {
      throw Error(fmt::format("$.command.inputs[{}]: '{}': no such file or directory", i, name));
    }
  }
  return out;
}

std::unique_ptr<engine::ModelFamily> command_family() { return std::make_unique<CommandFamily>(); }

}  // namespace ns::models::command
