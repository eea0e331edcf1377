#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <set>
#include <thread>

#include "app/commands.hpp"
#include "engine/coordinator.hpp"
#include "engine/deadline.hpp"
#include "engine/error.hpp"
#include "engine/log.hpp"
#include "engine/mpi_transport.hpp"
#include "engine/sweep_output.hpp"
#include "engine/worker.hpp"
#include "models/registry.hpp"
#include "sweeps/spec.hpp"

namespace ns::app {
namespace {

// Signal state is process-wide by nature. The first SIGTERM/SIGINT/SIGUSR1 asks for a drain;
// a second one exits at once (results rows are single write(2) calls, so none is torn).
std::atomic<int> g_signals{0};
std::atomic<int> g_last_signal{0};

extern "C" void on_signal(int sig) {
  g_last_signal = sig;
  if (g_signals.fetch_add(1) >= 1) {
    const char msg[] = "neurosweep: second signal, exiting now (rerun the command to resume)\n";
    (void)!::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    ::_exit(kExitInterrupted);
  }
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGTERM, SIGINT, SIGUSR1}) sigaction(s, &sa, nullptr);
}

std::string drain_reason() {
  if (g_signals.load() == 0) return "";
  return fmt::format("received {}", strsignal(g_last_signal.load()));
}

/// A spec parsed, enumerated and checked: everything `plan` shows and `run` needs.
struct Prepared {
  sweeps::SweepSpec spec;
  std::vector<sweeps::Trial> trials;
  const engine::ModelFamily* family = nullptr;
};

Prepared prepare(const std::string& path, const std::string& out_override,
                 const engine::FamilyRegistry& registry, bool deep_checks) {
  Prepared p;
  const nlohmann::json j = sweeps::read_json_file(path);
  const std::string fam = sweeps::spec_family(j, path);
  try {
    p.family = &registry.get(fam);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: $.family: {}", path, e.what()));
  }
  p.spec = sweeps::parse_spec_with(j, path, p.family->schema);
  if (!out_override.empty()) p.spec.out = out_override;
  p.trials = sweeps::enumerate(p.spec);
  if (!deep_checks) return p;
  // Data first: a family may check parameters against the data's geometry (maskcnn: kernel
  // larger than the image).
  try {
    p.family->check_data(p.spec.data, "$.data");
  } catch (const Error& e) {
    const std::string what = e.what();
    throw Error(what.rfind(path, 0) == 0 ? what : fmt::format("{}: {}", path, what));
  }
  // Each distinct configuration once (repeats share it).
  std::set<std::string> seen;
  for (const auto& t : p.trials) {
    if (!seen.insert(t.params.dump()).second) continue;
    try {
      p.family->check_params(t.params);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: trial {} (#{}): {}", path, t.id, t.index, e.what()));
    }
  }
  return p;
}

std::vector<engine::TrialSpec> to_trial_specs(const std::vector<sweeps::Trial>& trials,
                                              const std::set<std::string>& skip) {
  std::vector<engine::TrialSpec> out;
  for (const auto& t : trials) {
    if (skip.count(t.id)) continue;
    out.push_back(engine::TrialSpec{t.id, t.index, t.repeat, t.seed, t.params});
  }
  return out;
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S%z", std::localtime(&t));
  return buf;
}

std::string format_wall(engine::WallTime t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", std::localtime(&tt));
  return buf;
}

}  // namespace

int run_command(const RunOptions& opt, const engine::FamilyRegistry& registry, int argc,
                char** argv) {
  install_signal_handlers();  // before MPI start-up, so an early USR1 is a drain, not a kill
  engine::MpiSession mpi(&argc, &argv);
  log::configure(mpi.rank());
  models::init_process();
  const bool coordinator = mpi.rank() == 0;

  // Step 1: every rank parses the spec; rank 0 also checks data, parameters and the output
  // directory. Nothing is written until all of that passed.
  Prepared prep;
  int status = 0;
  std::optional<engine::WallTime> deadline;
  try {
    prep = prepare(opt.spec_path, opt.out, registry, coordinator);
    if (coordinator) {
      engine::check_output_dir({prep.spec, prep.family->schema.metrics, prep.spec.out, opt.force_new});
      const auto now = std::chrono::system_clock::now();
      if (!opt.deadline.empty()) {
        deadline = engine::parse_deadline(opt.deadline, now);
      } else if (!opt.no_scheduler_deadline) {
        deadline = engine::scheduler_deadline(now);
      }
    }
  } catch (const Error& e) {
    if (coordinator) log::error("{}", e.what());
    status = e.exit_code();
  }
  status = mpi.broadcast_int(status);
  if (status != 0) return status;

  // Step 2: rank 0 takes the output directory and finds what is already done.
  std::unique_ptr<engine::SweepOutput> output;
  std::vector<engine::TrialSpec> pending;
  if (coordinator) {
    try {
      nlohmann::json prov = {{"program", "neurosweep"},
                             {"version", NS_VERSION},
                             {"git_revision", NS_GIT_REV},
                             {"libraries", models::library_versions()},
                             {"host", mpi.hostname()},
                             {"ranks", mpi.size()},
                             {"start_time", now_iso()},
                             {"spec_path", std::filesystem::absolute(opt.spec_path).string()},
                             {"command", std::vector<std::string>(argv, argv + argc)}};
      output = std::make_unique<engine::SweepOutput>(
          engine::OutputPlan{prep.spec, prep.family->schema.metrics, prep.spec.out, opt.force_new},
          prov, static_cast<int>(prep.trials.size()));
      pending = to_trial_specs(prep.trials, output->finished());
      log::info("sweep '{}': {} trials, {} already done, {} to run on {} rank(s); output {}",
                prep.spec.name, prep.trials.size(), output->finished().size(), pending.size(),
                mpi.size(), prep.spec.out);
      if (deadline) log::info("deadline {} (margin {} s)", format_wall(*deadline), opt.deadline_margin_s);
    } catch (const Error& e) {
      log::error("{}", e.what());
      status = e.exit_code();
    }
  }
  status = mpi.broadcast_int(status);
  if (status != 0) return status;

  // Step 3: device and threads for this rank.
  const auto& place = mpi.placement();
  engine::RankInfo info;
  info.rank = mpi.rank();
  info.host = mpi.hostname();
  info.device = engine::choose_device(place, models::cuda_device_count());
  info.threads = engine::choose_threads(
      place, static_cast<int>(std::thread::hardware_concurrency()), opt.threads);
  engine::TrialExecutor executor(registry, prep.spec.family, prep.spec.data, prep.spec.out, info);

  if (!coordinator) {
    auto transport = mpi.transport();
    engine::run_worker(*transport, executor, [] { return g_signals.load() > 0; });
    return 0;
  }

  engine::CoordinatorOptions copt;
  copt.retries = prep.spec.retries;
  copt.trial_timeout_s = prep.spec.trial_timeout_s;
  copt.deadline = deadline;
  copt.deadline_margin_s = opt.deadline_margin_s;
  copt.schedule = opt.schedule;
  auto transport = mpi.transport();
  engine::Coordinator coord(*transport, *output, copt, drain_reason);
  engine::CoordinatorSummary summary = mpi.size() == 1
                                           ? coord.run_serial(std::move(pending), executor)
                                           : coord.run(std::move(pending));
  output->finish(summary);
  return summary.complete() ? kExitOk : kExitInterrupted;
}

int plan_command(const PlanOptions& opt, const engine::FamilyRegistry& registry) {
  Prepared p = prepare(opt.spec_path, opt.out, registry, true);
  std::set<std::string> done;
  const auto results = std::filesystem::path(p.spec.out) / "results.csv";
  if (std::filesystem::exists(results)) {
    engine::check_output_dir({p.spec, p.family->schema.metrics, p.spec.out, false});
    engine::ResultsTable t(results.string(), p.spec.param_names(), p.family->schema.metrics);
    for (auto& row : t.open(true)) done.insert(row.at("trial_id"));
  }
  const auto varied = p.spec.varied();
  if (opt.json) {
    nlohmann::json j = {{"name", p.spec.name}, {"family", p.spec.family},
                        {"trials", p.trials.size()}, {"done", done.size()},
                        {"metric", p.spec.metric}, {"out", p.spec.out}, {"list", nlohmann::json::array()}};
    for (auto& t : p.trials) {
      nlohmann::json v;
      for (auto& k : varied) v[k] = t.params.at(k);
      j["list"].push_back({{"id", t.id}, {"repeat", t.repeat}, {"seed", t.seed}, {"params", v},
                           {"done", done.count(t.id) > 0}});
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format("sweep '{}' (family {}): {} trials", p.spec.name, p.spec.family, p.trials.size());
  if (!done.empty()) std::cout << fmt::format(", {} already done in {}", done.size(), p.spec.out);
  std::cout << fmt::format("\nselect by {} ({}); output {}\n", p.spec.metric,
                           p.spec.mode == sweeps::Mode::kMax ? "max" : "min", p.spec.out);
  const size_t n = opt.list < 0 ? p.trials.size() : std::min<size_t>(opt.list, p.trials.size());
  for (size_t i = 0; i < n; ++i) {
    const auto& t = p.trials[i];
    std::string params;
    for (auto& k : varied) params += fmt::format(" {}={}", k, engine::format_value(t.params.at(k)));
    std::cout << fmt::format("  {:>5} {} r{}{}{}\n", t.index, t.id, t.repeat, params,
                             done.count(t.id) ? "  (done)" : "");
  }
  if (n < p.trials.size()) std::cout << fmt::format("  ... {} more (--list -1 for all)\n", p.trials.size() - n);
  return 0;
}

}  // namespace ns::app
