#include "engine/executor.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

namespace ns::engine {

TrialExecutor::TrialExecutor(const FamilyRegistry& registry, std::string family,
                             nlohmann::json data, std::string out_dir, RankInfo info)
    : registry_(registry), family_(std::move(family)), data_(std::move(data)),
      out_dir_(std::move(out_dir)), info_(std::move(info)) {}

ResultRow TrialExecutor::execute(const msg::Assign& assign, const std::function<bool()>& stop) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  ResultRow row;
  row.trial_id = assign.trial.id;
  row.params = assign.trial.params;
  row.seed = assign.trial.seed;
  row.repeat = assign.trial.repeat;
  row.attempt = assign.attempt;
  row.rank = info_.rank;
  row.host = info_.host;
  row.device = info_.device;
  bool timed_out = false;
  auto stop_requested = [&]() {
    if (assign.time_limit_s > 0 &&
        std::chrono::duration<double>(Clock::now() - start).count() > assign.time_limit_s) {
      timed_out = true;
      return true;
    }
    return stop();
  };
  try {
    const ModelFamily& family = registry_.get(family_);
    if (!runner_) runner_ = family.make_runner();
    const auto dir = std::filesystem::path(out_dir_) / "trials" / assign.trial.id;
    if (family.wants_trial_dir()) std::filesystem::create_directories(dir);
    TrialContext ctx{assign.trial, data_, dir, info_.device, info_.threads, stop_requested,
                     info_.rank};
    TrialOutcome out = runner_->run(ctx);
    row.status = out.status;
    row.metrics = std::move(out.metrics);
    row.error = std::move(out.error);
    if (row.status == TrialStatus::kInvalid || row.status == TrialStatus::kTimeout) {
      row.error = fmt::format("the {} runner returned status \"{}\" (expected ok, failed or "
                              "interrupted){}{}",
                              family_, to_string(row.status), row.error.empty() ? "" : ": ",
                              row.error);
      row.status = TrialStatus::kFailed;
    }
    if (row.status == TrialStatus::kInterrupted && timed_out) {
      row.status = TrialStatus::kTimeout;
      row.error = fmt::format("exceeded the trial time limit of {} s", assign.time_limit_s);
    }
  } catch (const std::exception& e) {
    row.status = timed_out ? TrialStatus::kTimeout : TrialStatus::kFailed;
    row.error = e.what();
    // LibTorch appends a C++ backtrace to its messages; the first part is the useful one.
    auto cut = row.error.find("\nException raised from");
    if (cut != std::string::npos) row.error.resize(cut);
  } catch (...) {
    row.status = TrialStatus::kFailed;
    row.error = "unknown exception";
  }
  row.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  return row;
}

}  // namespace ns::engine
