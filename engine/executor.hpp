#pragma once
// Runs one trial on this rank: creates its directory, calls the family's runner, and turns
// everything that can happen (metrics, exceptions, time limit, drain) into an Outcome, which
// goes back to rank 0 (msg::Result) to be joined with the trial's Assign into its row.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "engine/protocol.hpp"
#include "engine/rung_walk.hpp"
#include "engine/trial_runner.hpp"

namespace ns::engine {

struct RankInfo {
  int rank = 0;
  std::string host;
  std::string device = "cpu";
  int threads = 1;
  double checkpoint_every_s = 60;  ///< TrialContext::checkpoint_every_s
};

/// Thrown through a runner when the coordinator took this rank out as silent (Abandon): the
/// trial runs on another rank now, so this one must leave its directory alone: no checkpoint,
/// curve or outcome. Not a std::exception, so the runners' failure handling lets it pass; the
/// executor rethrows it and the worker (run_worker) catches it.
struct TrialAbandoned {
  std::string trial_id;
};

class TrialExecutor {
 public:
  TrialExecutor(const FamilyRegistry& registry, std::string family, nlohmann::json data,
                std::string out_dir, RankInfo info);

  /// Runs the trial. `stop` is polled by the runner (through TrialContext::stop_requested);
  /// the executor adds the trial's own time limit. Never throws: failures are data, except a
  /// failure whose cause is the output directory's filesystem (a core::WriteError, or any
  /// failure while a small write in the trial directory fails with ENOSPC, EDQUOT, EIO, EROFS
  /// or EFBIG): that outcome is "interrupted" with Outcome::output_error, so it is not recorded.
  Outcome execute(const msg::Assign& assign, const std::function<bool()>& stop);
  /// execute() for a trial alone; for a pack (assign.pack), all its trials through the runner's
  /// run_pack, one outcome each, under the first trial's time limit. Never throws.
  msg::Result run(const msg::Assign& assign, const std::function<bool()>& stop);

  const RankInfo& info() const { return info_; }
  /// How a trial's Report at one of its rungs reaches the scheduler and its Decision comes back
  /// (the worker's round trip to rank 0; the scheduler itself on one rank).
  void set_reporter(std::function<Decision(const msg::Report&)> reporter) {
    reporter_ = std::move(reporter);
  }
  /// TrialContext::check_owner for the trials run from now on (the worker's poll for Abandon);
  /// empty: none.
  void set_owner_check(std::function<void()> check) { owner_check_ = std::move(check); }
  /// The spec's block named after the family (TrialContext::options).
  void set_options(nlohmann::json options) { options_ = std::move(options); }

 private:
  const FamilyRegistry& registry_;
  std::string family_;
  nlohmann::json data_;
  nlohmann::json options_;
  std::string out_dir_;
  /// An outcome for `assign` that names its trial and where it runs, nothing more yet.
  Outcome start_outcome(const msg::Assign& assign) const;
  /// The family and its runner (made on first use); the trial's directory created.
  const ModelFamily& prepare(const msg::Assign& assign);
  /// TrialContext::report for `assign`: a Report goes up only when a rung of assign.rungs was
  /// crossed since the last one (`passed`: the same rule RungWalk reports by, so a runner's
  /// RungWalk report always goes up; it guards against a runner that calls report() itself).
  std::function<Decision(double, const std::map<std::string, double>&)> reporter_for(
      const msg::Assign& assign, std::shared_ptr<RungCursor> passed) const;
  RankInfo info_;
  std::function<Decision(const msg::Report&)> reporter_;
  std::function<void()> owner_check_;
  std::unique_ptr<TrialRunner> runner_;  // lives across trials (dataset caches)
};

}  // namespace ns::engine
