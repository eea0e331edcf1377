#pragma once
// The run and plan subcommands (app/run_command.cpp, app/plan_command.cpp) and the setup
// function of each subcommand's command line (app/cli.cpp).
#include <functional>
#include <string>
#include <vector>

#include "engine/trial_runner.hpp"

namespace CLI {
class App;
}

namespace ns::app {

struct RunOptions {
  std::string spec_path;
  std::string out;            ///< overrides the spec's "out"
  bool force_new = false;
  /// Continue a directory whose rows were run with other input contents or another family
  /// block (declared harmless by the user; recorded in sweep.json).
  bool accept_changed_inputs = false;
  std::string deadline;       ///< duration or clock time; "" = none (or the scheduler's)
  double deadline_margin_s = 120;
  int threads = 0;            ///< 0 = cores per node / training ranks per node
  std::string schedule = "dynamic";
  bool no_scheduler_deadline = false;
  std::string order = "cost";  ///< dynamic schedule: "cost" (longest first) or "sweep"
  std::string device = "auto";  ///< auto | cpu | cuda (engine::resolve_device)
  bool tf32 = false;           ///< CUDA: TF32 matmuls and convolutions
  bool deterministic = false;  ///< CUDA: cuDNN deterministic, benchmark off
  int unhealthy_after = 5;     ///< consecutive failures that take a rank out (0 = never)
  double unhealthy_window_s = 120;
  double rank_timeout_s = 600;  ///< a rank with a trial silent this long is taken out (0 = never)
  int pack = 0;                ///< trials trained together per worker; 0 = the spec's "pack"
  double checkpoint_every_s = 60;  ///< mid-trial checkpoints at most this often
};

struct PlanOptions {
  std::string spec_path;
  std::string out;
  int list = 20;              ///< trials to list (-1 = all)
  bool json = false;
  int calibrate = 0;          ///< trials to time here first (0 = none)
  std::vector<std::string> calibrate_set;  ///< KEY=VALUE overrides for the calibration trials
  std::string save_timings;   ///< write the calibration trials' times here (CSV)
  std::string timings;        ///< a results.csv to estimate from
  int threads = 0;            ///< threads for the calibration trials (0 = all cores)
  std::vector<int> workers;   ///< training ranks to plan for (empty = 1, 2, 4, ... 128)
  int nodes = 0;              ///< with gpus_per_node or ranks_per_node: workers = nodes x that
  int gpus_per_node = 0;
  int ranks_per_node = 0;
  int pack = 0;               ///< 0 = the spec's "pack"
  std::string time;           ///< walltime per job ("" = unlimited)
  double margin_s = -1;       ///< lost per job (-1 = as the launch scripts)
  int max_jobs = 11;          ///< launch's default --max-resubmits 10, plus the first job
  std::string queue_max_time; ///< the queue's walltime limit ("" = unknown)
};

/// `neurosweep run`: sets up MPI, validates on rank 0, and runs the coordinator or a worker.
int run_command(const RunOptions& opt, const engine::FamilyRegistry& registry, int argc,
                char** argv);

/// `neurosweep plan` (app/plan_command.cpp): validates the spec, lists its trials, and estimates
/// their cost and the allocation they need.
int plan_command(const PlanOptions& opt, const engine::FamilyRegistry& registry);

// One setup function per subcommand (app/cli.cpp), CLI11's pattern as launch::add_launch_command:
// each adds its subcommand, with its options, to `root`, and a callback that sets `action` (run by
// main after parsing). `registry` must outlive `action`.
void add_run_command(CLI::App& root, const engine::FamilyRegistry& registry,
                     std::function<int()>& action, int argc, char** argv);
void add_plan_command(CLI::App& root, const engine::FamilyRegistry& registry,
                      std::function<int()>& action);
void add_families_command(CLI::App& root, const engine::FamilyRegistry& registry,
                          std::function<int()>& action);
/// `simulate`: only in builds with the neural family (HAVE_NS_NEURAL).
void add_simulate_command(CLI::App& root, std::function<int()>& action);

}  // namespace ns::app
