#include "engine/executor.hpp"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
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

// The runner's outcome as the trial's status, metrics and error: a status a runner may not
// return is a failure, an interruption the time limit caused is a timeout.
void apply_outcome(Outcome& o, TrialOutcome out, const std::string& family, bool timed_out,
                   double time_limit_s) {
  o.status = out.status;
  o.metrics = std::move(out.metrics);
  o.error = std::move(out.error);
  if (o.status == TrialStatus::kInvalid || o.status == TrialStatus::kTimeout) {
    o.error = fmt::format("the {} runner returned status \"{}\" (expected ok, failed or "
                          "interrupted){}{}",
                          family, to_string(o.status), o.error.empty() ? "" : ": ", o.error);
    o.status = TrialStatus::kFailed;
  }
  if (o.status == TrialStatus::kInterrupted && timed_out) {
    o.status = TrialStatus::kTimeout;
    o.error = fmt::format("exceeded the trial time limit of {} s", time_limit_s);
  }
  o.error = without_backtrace(std::move(o.error));
}

void apply_exception(Outcome& o, const std::string& what, bool timed_out) {
  o.status = timed_out ? TrialStatus::kTimeout : TrialStatus::kFailed;
  o.error = without_backtrace(what);
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

// Why a failure is the output directory's (its filesystem refuses writes), or "": a WriteError
// from our writers or a filesystem_error with a filesystem errno says so itself; anything else
// (torch::save's "file write failed", a program's own write, a runner that ignored the error)
// is put down to the disk when a small write and fsync in the trial directory fail too.
std::string output_fault(const std::exception_ptr& failure, const fs::path& dir,
                         const fs::path& out_dir) {
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const core::WriteError& e) {
      return e.what();
    } catch (const fs::filesystem_error& e) {
      if (core::is_filesystem_errno(e.code().value())) return e.what();
    } catch (...) {
    }
  }
  std::error_code ec;
  const fs::path where = fs::is_directory(dir, ec) ? dir : out_dir;
  if (!fs::is_directory(where, ec)) return "";
  const int err = core::probe_write(where);
  if (!core::is_filesystem_errno(err)) return "";
  return fmt::format("{}: a test write fails: {}", where.string(), std::strerror(err));
}

// Failed outcomes whose cause is the output directory become "interrupted" with output_error:
// no row, the trial stays pending, the coordinator drains. One verdict for all of `rows` (a pack
// shares its directory's filesystem), probed only when one of them failed.
void blame_output(const std::vector<Outcome*>& rows, const std::exception_ptr& failure,
                  const fs::path& dir, const fs::path& out_dir) {
  bool failed = false;
  for (const Outcome* r : rows) failed = failed || r->status == TrialStatus::kFailed;
  if (!failed) return;
  const std::string why = output_fault(failure, dir, out_dir);
  if (why.empty()) return;
  for (Outcome* r : rows) {
    if (r->status != TrialStatus::kFailed) continue;
    if (r->error != why) r->error = fmt::format("{} (the trial failed with: {})", why, r->error);
    r->status = TrialStatus::kInterrupted;
    r->output_error = true;
  }
}

}  // namespace

Outcome TrialExecutor::start_outcome(const msg::Assign& assign) const {
  Outcome row;
  row.trial_id = assign.trial.id;
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
    const msg::Assign& assign, std::shared_ptr<RungCursor> passed) const {
  return [this, &assign, passed](double resource, const std::map<std::string, double>& m) {
    if (!passed->pass(resource) || !reporter_) return Decision::kContinue;
    return reporter_(msg::Report{assign.trial.id, resource, m});
  };
}

Outcome TrialExecutor::execute(const msg::Assign& assign, const std::function<bool()>& stop) {
  const auto start = Clock::now();
  Outcome o = start_outcome(assign);
  bool timed_out = false;
  const std::function<bool()> stop_requested = with_time_limit(assign, start, stop, timed_out);
  const auto dir = fs::path(out_dir_) / "trials" / assign.trial.id;
  std::exception_ptr failure;
  try {
    prepare(assign);
    TrialContext ctx{assign.trial, data_, dir, info_.device, info_.threads, stop_requested,
                     info_.rank};
    ctx.resource_limit = assign.resource_limit;
    ctx.final_rung = assign.final_rung;
    ctx.rungs = assign.rungs;
    ctx.checkpoint_every_s = info_.checkpoint_every_s;
    if (owner_check_) ctx.check_owner = owner_check_;
    ctx.report = reporter_for(assign, std::make_shared<RungCursor>(assign.rungs));
    ctx.options = options_;
    if (!assign.adopt.empty()) {
      adopt_snapshot(fs::path(out_dir_) / assign.adopt, dir);
      ctx.adopted = true;
    }
    TrialOutcome out = runner_->run(ctx);  // before reading timed_out, which it may set
    apply_outcome(o, std::move(out), family_, timed_out, assign.time_limit_s);
  } catch (const std::exception& e) {
    apply_exception(o, e.what(), timed_out);
    failure = std::current_exception();
  } catch (const TrialAbandoned&) {
    throw;
  } catch (...) {
    o.status = TrialStatus::kFailed;
    o.error = "unknown exception";
  }
  o.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  blame_output({&o}, failure, dir, out_dir_);
  if (!assign.snapshot.empty() && o.status != TrialStatus::kInterrupted &&
      o.status != TrialStatus::kTimeout) {
    try {
      // The file holds the whole row (PBT's restore writes it to results.csv as it is).
      write_snapshot(fs::path(out_dir_) / "trials" / assign.trial.id,
                     fs::path(out_dir_) / assign.snapshot, msg::row_of(assign, o), info_.rank);
    } catch (const std::exception& e) {
      o.status = TrialStatus::kFailed;
      o.error = fmt::format("cannot write the snapshot {}: {}", assign.snapshot, e.what());
      blame_output({&o}, std::current_exception(), dir, out_dir_);
    }
  }
  return o;
}

msg::Result TrialExecutor::run(const msg::Assign& assign, const std::function<bool()>& stop) {
  if (assign.pack.empty()) return msg::Result{execute(assign, stop), {}};
  const auto start = Clock::now();
  std::vector<const msg::Assign*> members = {&assign};
  for (const auto& m : assign.pack) members.push_back(&m);
  std::vector<Outcome> outs;
  for (const auto* m : members) outs.push_back(start_outcome(*m));
  bool timed_out = false;
  const std::function<bool()> stop_requested = with_time_limit(assign, start, stop, timed_out);
  std::exception_ptr failure;
  try {
    std::vector<TrialContext> contexts;
    for (const auto* m : members) {
      prepare(*m);
      contexts.push_back(TrialContext{m->trial, data_,
                                      std::filesystem::path(out_dir_) / "trials" / m->trial.id,
                                      info_.device, info_.threads, stop_requested, info_.rank});
      contexts.back().checkpoint_every_s = info_.checkpoint_every_s;
      if (owner_check_) contexts.back().check_owner = owner_check_;
      contexts.back().options = options_;
    }
    std::vector<TrialOutcome> outcomes = runner_->run_pack(contexts);
    NS_CHECK(outcomes.size() == members.size(), "the {} runner returned {} outcomes for a pack "
                                                "of {} trials",
             family_, outcomes.size(), members.size());
    for (std::size_t k = 0; k < outs.size(); ++k)
      apply_outcome(outs[k], std::move(outcomes[k]), family_, timed_out, assign.time_limit_s);
  } catch (const std::exception& e) {
    for (auto& o : outs) apply_exception(o, e.what(), timed_out);
    failure = std::current_exception();
  } catch (const TrialAbandoned&) {
    throw;
  } catch (...) {
    for (auto& o : outs) apply_exception(o, "unknown exception", false);
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<Outcome*> all;
  for (auto& o : outs) {
    o.wall_s = wall;
    all.push_back(&o);
  }
  blame_output(all, failure, fs::path(out_dir_) / "trials" / assign.trial.id, out_dir_);
  msg::Result result{std::move(outs[0]), {}};
  for (std::size_t k = 1; k < outs.size(); ++k) result.pack.push_back(std::move(outs[k]));
  return result;
}

}  // namespace ns::engine
