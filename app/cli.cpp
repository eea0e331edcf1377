// The subcommands' command lines: one setup function each (CLI11's pattern, as
// launch::add_launch_command), adding the subcommand's options to the root and a callback that
// sets the action main runs after parsing.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "app/commands.hpp"
#include "core/error.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "models/registry.hpp"
#ifdef HAVE_NS_NEURAL
#include "models/neural/family.hpp"
#endif

namespace ns::app {

void add_run_command(CLI::App& root, const engine::FamilyRegistry& registry,
                     std::function<int()>& action, int argc, char** argv) {
  auto run = std::make_shared<RunOptions>();
  auto* run_cmd = root.add_subcommand("run", "run a sweep (under mpirun -np K; rank 0 coordinates)");
  run_cmd->add_option("spec", run->spec_path, "sweep spec (JSON)")->required()->check(CLI::ExistingFile);
  run_cmd->add_option("--out", run->out, "output directory (default: the spec's \"out\")");
  run_cmd->add_flag("--force-new", run->force_new,
                    "start afresh in an output directory whose results a changed spec cannot "
                    "continue (old files are moved aside, never deleted)");
  run_cmd->add_flag("--accept-changed-inputs", run->accept_changed_inputs,
                    "continue an output directory although files its trials read (data, "
                    "modules, the command's program) or the family block changed since its "
                    "rows were written, declaring the change harmless; sweep.json records what "
                    "changed and from which row");
  run_cmd->add_option("--deadline", run->deadline,
                      "stop starting trials that would not finish by then, and drain before it: "
                      "a duration (90m, 2h, 1h30m, 1:30:00) or a clock time (18:30, "
                      "2026-11-22T18:30); default: the Slurm/LSF job's end time if any");
  run_cmd->add_option("--deadline-margin", run->deadline_margin_s,
                      "seconds kept free before the deadline to checkpoint and write results")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  run_cmd->add_flag("--no-scheduler-deadline", run->no_scheduler_deadline,
                    "ignore the Slurm/LSF job end time");
  run_cmd->add_option("--threads", run->threads,
                      "intra-op threads per rank (default: cores per node / training ranks per node)")
      ->check(CLI::NonNegativeNumber);
  run_cmd->add_option("--schedule", run->schedule, "dynamic (pull) or static (round-robin by rank, for comparison)")
      ->capture_default_str()->check(CLI::IsMember({"dynamic", "static"}));
  run_cmd->add_option("--order", run->order,
                      "dynamic schedule: cost (the family's expected duration, longest first) or "
                      "sweep (the spec's order)")
      ->capture_default_str()->check(CLI::IsMember({"cost", "sweep"}));
  run_cmd->add_option("--device", run->device,
                      "auto (CUDA when a GPU is visible; an error when the job asked for GPUs "
                      "this build cannot use), cpu, or cuda (a GPU or an error)")
      ->capture_default_str()->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  run_cmd->add_flag("--tf32", run->tf32,
                    "CUDA: allow TF32 in matmuls and convolutions (faster on Ampere and later, "
                    "about 3 decimal digits); off by default, recorded in sweep.json");
  run_cmd->add_flag("--deterministic", run->deterministic,
                    "CUDA: cuDNN's deterministic algorithms, benchmark mode off (default: "
                    "benchmark mode on for training)");
  run_cmd->add_option("--unhealthy-after", run->unhealthy_after,
                      "take a rank out of the sweep after this many failed trials in a row "
                      "(within --unhealthy-window); 0 = never")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  run_cmd->add_option("--unhealthy-window", run->unhealthy_window_s,
                      "seconds from the first to the last of those failures")
      ->capture_default_str()->check(CLI::PositiveNumber);
  run_cmd->add_option("--rank-timeout", run->rank_timeout_s,
                      "seconds a rank running a trial may send nothing (its heartbeat goes every "
                      "quarter of this, at most 5 s, from the trial's batches) before it is taken "
                      "out and its trial resumes on another rank; longer than a trial's longest "
                      "step between batches (data loading, the first CUDA step, a checkpoint). "
                      "0 = never")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  run_cmd->add_option("--pack", run->pack,
                      "train up to K trials of equal shapes together on each worker (maskcnn; "
                      "for GPUs); default: the spec's \"pack\" (1)")
      ->check(CLI::Range(1, 256));
  run_cmd->add_option("--checkpoint-every", run->checkpoint_every_s,
                      "seconds between a trial's checkpoints while it trains, improved or not "
                      "(maskcnn: at an evaluation; convnet: before a batch), so a kill costs at "
                      "most about this much training plus one evaluation interval (convnet: one "
                      "batch)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  run_cmd->callback([run, &registry, &action, argc, argv] {
    action = [run, &registry, argc, argv] { return run_command(*run, registry, argc, argv); };
  });
}

void add_plan_command(CLI::App& root, const engine::FamilyRegistry& registry,
                      std::function<int()>& action) {
  auto plan = std::make_shared<PlanOptions>();
  auto* plan_cmd = root.add_subcommand("plan", "validate a spec, list its trials, and estimate its cost and allocation");
  plan_cmd->add_option("spec", plan->spec_path, "sweep spec (JSON)")->required()->check(CLI::ExistingFile);
  plan_cmd->add_option("--out", plan->out, "output directory (to count trials already finished)");
  plan_cmd->add_option("--list", plan->list, "trials to list (-1 = all)")->capture_default_str();
  plan_cmd->add_flag("--json", plan->json, "print the plan as JSON");
  plan_cmd->add_option("--calibrate", plan->calibrate,
                       "run N trials here first (spread over the cost range, in a scratch "
                       "directory) and estimate the sweep from their times")
      ->check(CLI::NonNegativeNumber);
  plan_cmd->add_option("--calibrate-set", plan->calibrate_set,
                       "KEY=VALUE: a parameter changed for the calibration trials only, e.g. "
                       "max_epochs=1 (the family's cost model scales the times back; repeatable)");
  plan_cmd->add_option("--save-timings", plan->save_timings,
                       "write the calibration trials' times (with their costs) to this CSV, for "
                       "later `plan --timings`");
  plan_cmd->add_option("--timings", plan->timings,
                       "estimate from the finished rows of a results.csv (default: the sweep's own "
                       "results, if any)");
  plan_cmd->add_option("--threads", plan->threads, "threads for --calibrate (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  plan_cmd->add_option("--workers", plan->workers,
                       "training ranks to plan for (repeatable; default 1, 2, 4, ... 128)")
      ->delimiter(',');
  plan_cmd->add_option("--nodes", plan->nodes,
                       "plan for this many nodes of --gpus-per-node or --ranks-per-node training "
                       "ranks each, as `launch` counts them (instead of --workers)")
      ->check(CLI::PositiveNumber);
  plan_cmd->add_option("--gpus-per-node", plan->gpus_per_node, "with --nodes: one training rank per GPU")
      ->check(CLI::PositiveNumber);
  plan_cmd->add_option("--ranks-per-node", plan->ranks_per_node, "with --nodes: training ranks per node")
      ->check(CLI::PositiveNumber);
  plan_cmd->add_option("--pack", plan->pack,
                       "show packs of up to K trials per worker (default: the spec's \"pack\")")
      ->check(CLI::Range(1, 256));
  plan_cmd->add_option("--time", plan->time, "walltime of one job (4h, 90m, 1:30:00, 2-00:00:00)");
  plan_cmd->add_option("--margin", plan->margin_s,
                       "seconds lost at the end of each job (default: max(120, signal margin) + 30, "
                       "as the launch scripts run)")
      ->check(CLI::NonNegativeNumber);
  plan_cmd->add_option("--max-jobs", plan->max_jobs,
                       "the most jobs the sweep may take (launch --max-resubmits + 1, or the "
                       "site's job or array limit)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  plan_cmd->add_option("--queue-max-time", plan->queue_max_time,
                       "the partition's or queue's walltime limit, to warn when --time exceeds it");
  plan_cmd->callback([plan, &registry, &action] {
    action = [plan, &registry] { return plan_command(*plan, registry); };
  });
}

void add_families_command(CLI::App& root, const engine::FamilyRegistry& registry,
                          std::function<int()>& action) {
  auto* fam_cmd = root.add_subcommand("families", "list the model families, their parameters and metrics");
  fam_cmd->callback([&registry, &action] {
    action = [&registry] {
      for (const auto& name : registry.names()) {
        const auto& f = registry.get(name);
        std::cout << name << ": " << f.description() << "\n  model parameters (defaults): "
                  << f.schema().model_defaults.dump() << "\n  training settings (defaults): "
                  << f.schema().training_defaults.dump() << "\n  metrics: "
                  << nlohmann::json(f.schema().metrics).dump() << "\n";
      }
      return 0;
    };
  });
}

#ifdef HAVE_NS_NEURAL
void add_simulate_command(CLI::App& root, std::function<int()>& action) {
  struct SimOptions {
    std::string out, data = "{}";
  };
  auto sim = std::make_shared<SimOptions>();
  auto* sim_cmd = root.add_subcommand("simulate", "write the built-in simulated V1 dataset as HDF5");
  sim_cmd->add_option("--out", sim->out, "HDF5 file to write")->required();
  sim_cmd->add_option("--data", sim->data,
                      "simulation settings as JSON, e.g. '{\"seed\": 1, \"images\": 2000}'")
      ->capture_default_str();
  sim_cmd->callback([sim, &action] {
    action = [sim] {
      nlohmann::json block = core::parse_json(sim->data, "--data", core::JsonLimits::spec());
      if (!block.contains("kind")) block["kind"] = "simulated";
      models::neural::write_simulated_h5(block, sim->out);
      log::info("wrote {}", sim->out);
      return 0;
    };
  });
}
#endif

}  // namespace ns::app
