#pragma once
// The run and plan subcommands (app/run_command.cpp).
#include <string>

#include "engine/trial_runner.hpp"

namespace ns::app {

struct RunOptions {
  std::string spec_path;
  std::string out;            ///< overrides the spec's "out"
  bool force_new = false;
  std::string deadline;       ///< duration or clock time; "" = none (or the scheduler's)
  double deadline_margin_s = 120;
  int threads = 0;            ///< 0 = cores per node / training ranks per node
  std::string schedule = "dynamic";
  bool no_scheduler_deadline = false;
};

struct PlanOptions {
  std::string spec_path;
  std::string out;
  int list = 20;              ///< trials to list (-1 = all)
  bool json = false;
};

/// `neurosweep run`: sets up MPI, validates on rank 0, and runs the coordinator or a worker.
int run_command(const RunOptions& opt, const engine::FamilyRegistry& registry, int argc,
                char** argv);

/// `neurosweep plan`: validates the spec and lists its trials without training.
int plan_command(const PlanOptions& opt, const engine::FamilyRegistry& registry);

}  // namespace ns::app
