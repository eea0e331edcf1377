#include "engine/executor.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/file.hpp"

namespace ns::engine {

TrialExecutor::TrialExecutor(const FamilyRegistry& registry, std::string family,
                             nlohmann::json data, std::string out_dir, RankInfo info)
    : registry_(registry), family_(std::move(family)), data_(std::move(data)),
      out_dir_(std::move(out_dir)), info_(std::move(info)) {}

namespace {

using Clock = std::chrono::steady_clock;

// The runner's outcome as the row's status, metrics and error: a status a runner may not
// return is a failure, an interruption the time limit caused is a timeout.
void apply_outcome(ResultRow& row, TrialOutcome out, const std::string& family, bool timed_out,
                   double time_limit_s) {
  row.status = out.status;
  row.metrics = std::move(out.metrics);
  row.error = std::move(out.error);
  if (row.status == TrialStatus::kInvalid || row.status == TrialStatus::kTimeout) {
    row.error = fmt::format("the {} runner returned status \"{}\" (expected ok, failed or "
                            "interrupted){}{}",
                            family, to_string(row.status), row.error.empty() ? "" : ": ",
                            row.error);
    row.status = TrialStatus::kFailed;
  }
  if (row.status == TrialStatus::kInterrupted && timed_out) {
    row.status = TrialStatus::kTimeout;
    row.error = fmt::format("exceeded the trial time limit of {} s", time_limit_s);
  }
  row.error = without_backtrace(std::move(row.error));
}

void apply_exception(ResultRow& row, const std::string& what, bool timed_out) {
  row.status = timed_out ? TrialStatus::kTimeout : TrialStatus::kFailed;
  row.error = without_backtrace(what);
}

// `stop`, and true once the assignment's time limit (from `start`) has passed, which also sets
// `timed_out`.
std::function<bool()> with_time_limit(const msg::Assign& assign, Clock::time_point start,
                                      const std::function<bool()>& stop, bool& timed_out) {
  const double limit = assign.time_limit_s;
  return [limit, start, &stop, &timed_out]() {
    if (limit > 0 && std::chrono::duration<double>(Clock::now() - start).count() > limit) {
      timed_out = true;
      return true;
    }
    return stop();
  };
}

namespace fs = std::filesystem;

// PBT's exploit: the snapshot's files (not its result.json) replace the trial directory's.
void adopt_snapshot(const fs::path& snapshot, const fs::path& dir) {
  NS_CHECK(fs::is_directory(snapshot), "the snapshot {} to continue from is missing (deleted "
                                       "while a member still needed it?)",
           snapshot.string());
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(dir)) fs::remove_all(e.path());
  for (const auto& e : fs::directory_iterator(snapshot)) {
    if (e.path().filename() == "result.json") continue;
    fs::copy(e.path(), dir / e.path().filename(), fs::copy_options::recursive);
  }
}

// PBT's snapshot of a segment that came back: the trial directory (when paused: its checkpoint)
// and the row, written to a temporary directory renamed into place, so a snapshot that exists
// is whole.
void write_snapshot(const fs::path& dir, const fs::path& snapshot, const ResultRow& row,
                    int rank) {
  const fs::path tmp = snapshot.string() + fmt::format(".tmp{}", rank);
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  if (row.status == TrialStatus::kPaused && fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      fs::copy(e.path(), tmp / e.path().filename(), fs::copy_options::recursive);
  core::write_file_atomic(tmp / "result.json", msg::row_json(row).dump() + "\n");
  fs::remove_all(snapshot);
  fs::rename(tmp, snapshot);
}

}  // namespace

ResultRow TrialExecutor::start_row(const msg::Assign& assign) const {
  ResultRow row;
  row.trial_id = assign.trial.id;
  row.params = assign.trial.params;
  row.seed = assign.trial.seed;
  row.repeat = assign.trial.repeat;
  row.attempt = assign.attempt;
  row.rank = info_.rank;
  row.host = info_.host;
  row.device = info_.device;
  return row;
}

const ModelFamily& TrialExecutor::prepare(const msg::Assign& assign) {
  const ModelFamily& family = registry_.get(family_);
  if (!runner_) runner_ = family.make_runner();
  if (family.wants_trial_dir())
    std::filesystem::create_directories(std::filesystem::path(out_dir_) / "trials" / assign.trial.id);
  return family;
}

std::function<Decision(double, const std::map<std::string, double>&)> TrialExecutor::reporter_for(
    const msg::Assign& assign, std::shared_ptr<std::size_t> next_rung) const {
  return [this, &assign, next_rung](double resource, const std::map<std::string, double>& m) {
    bool crossed = false;
    while (*next_rung < assign.rungs.size() && resource >= assign.rungs[*next_rung]) {
      crossed = true;
      ++*next_rung;
    }
    if (!crossed || !reporter_) return Decision::kContinue;
    return reporter_(msg::Report{assign.trial.id, resource, m});
  };
}

ResultRow TrialExecutor::execute(const msg::Assign& assign, const std::function<bool()>& stop) {
  const auto start = Clock::now();
  ResultRow row = start_row(assign);
  bool timed_out = false;
  const std::function<bool()> stop_requested = with_time_limit(assign, start, stop, timed_out);
  try {
    prepare(assign);
    const auto dir = std::filesystem::path(out_dir_) / "trials" / assign.trial.id;
    TrialContext ctx{assign.trial, data_, dir, info_.device, info_.threads, stop_requested,
                     info_.rank};
    ctx.resource_limit = assign.resource_limit;
    ctx.final_rung = assign.final_rung;
    ctx.rungs = assign.rungs;
    ctx.checkpoint_every_s = info_.checkpoint_every_s;
    ctx.report = reporter_for(assign, std::make_shared<std::size_t>(0));
    ctx.options = options_;
    if (!assign.adopt.empty()) {
      adopt_snapshot(fs::path(out_dir_) / assign.adopt, dir);
      ctx.adopted = true;
    }
    TrialOutcome out = runner_->run(ctx);  // before reading timed_out, which it may set
    apply_outcome(row, std::move(out), family_, timed_out, assign.time_limit_s);
  } catch (const std::exception& e) {
    apply_exception(row, e.what(), timed_out);
  } catch (...) {
    row.status = TrialStatus::kFailed;
    row.error = "unknown exception";
  }
  row.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (!assign.snapshot.empty() && row.status != TrialStatus::kInterrupted &&
      row.status != TrialStatus::kTimeout) {
    try {
      write_snapshot(fs::path(out_dir_) / "trials" / assign.trial.id,
                     fs::path(out_dir_) / assign.snapshot, row, info_.rank);
    } catch (const std::exception& e) {
      row.status = TrialStatus::kFailed;
      row.error = fmt::format("cannot write the snapshot {}: {}", assign.snapshot, e.what());
    }
  }
  return row;
}

msg::Result TrialExecutor::run(const msg::Assign& assign, const std::function<bool()>& stop) {
  if (assign.pack.empty()) return msg::Result{execute(assign, stop), {}};
  const auto start = Clock::now();
  std::vector<const msg::Assign*> members = {&assign};
  for (const auto& m : assign.pack) members.push_back(&m);
  std::vector<ResultRow> rows;
  for (const auto* m : members) rows.push_back(start_row(*m));
  bool timed_out = false;
  const std::function<bool()> stop_requested = with_time_limit(assign, start, stop, timed_out);
  try {
    std::vector<TrialContext> contexts;
    for (const auto* m : members) {
      prepare(*m);
      contexts.push_back(TrialContext{m->trial, data_,
                                      std::filesystem::path(out_dir_) / "trials" / m->trial.id,
                                      info_.device, info_.threads, stop_requested, info_.rank});
      contexts.back().checkpoint_every_s = info_.checkpoint_every_s;
      contexts.back().options = options_;
    }
    std::vector<TrialOutcome> outcomes = runner_->run_pack(contexts);
    NS_CHECK(outcomes.size() == members.size(), "the {} runner returned {} outcomes for a pack "
                                                "of {} trials",
             family_, outcomes.size(), members.size());
    for (std::size_t k = 0; k < rows.size(); ++k)
      apply_outcome(rows[k], std::move(outcomes[k]), family_, timed_out, assign.time_limit_s);
  } catch (const std::exception& e) {
    for (auto& row : rows) apply_exception(row, e.what(), timed_out);
  } catch (...) {
    for (auto& row : rows) apply_exception(row, "unknown exception", false);
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& row : rows) row.wall_s = wall;
  msg::Result result{std::move(rows[0]), {}};
  for (std::size_t k = 1; k < rows.size(); ++k) result.pack.push_back(std::move(rows[k]));
  return result;
}

}  // namespace ns::engine
