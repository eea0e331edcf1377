#include <unistd.h>

#include <fmt/ranges.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <set>
#include <thread>

#include "app/commands.hpp"
#include "app/prepare.hpp"
#include "engine/coordinator.hpp"
#include "engine/deadline.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "engine/mpi_transport.hpp"
#include "engine/protocol.hpp"
#include "engine/sweep_output.hpp"
#include "engine/journal.hpp"
#include "engine/search_registry.hpp"
#include "engine/warm_start.hpp"
#include "core/file.hpp"
#include "engine/worker.hpp"
#include "models/registry.hpp"
#include "sweeps/spec.hpp"

namespace ns::app {
namespace {

// Signal state is process-wide by nature. The first SIGTERM/SIGINT/SIGUSR1 asks for a drain;
// a second one exits at once (a results row is one write(2) call, cut back if the disk takes
// only part of it, so none is torn).
std::atomic<int> g_signals{0};
std::atomic<int> g_last_signal{0};
// Once a rank's part is done (set just before run_command returns; -1 before), a signal ends
// the process quietly with this status. mpirun terminates the ranks still in MPI_Finalize or
// teardown when another rank exits non-zero (the coordinator's 3 after a drain): that is not
// the user's second Ctrl-C, and the work is already saved.
std::atomic<int> g_finish_status{-1};

// This rank's part is done: from here a signal ends it quietly with `status`.
int finish(int status) {
  g_finish_status = status;
  return status;
}

extern "C" void on_signal(int sig) {
  const int finished = g_finish_status.load();
  if (finished >= 0) ::_exit(finished);
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

// Logs each line of `text` (lines ending in '\n').
void log_lines(const std::string& text) {
  std::size_t from = 0;
  for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', from)) {
    log::info("{}", text.substr(from, nl - from));
    from = nl + 1;
  }
  if (from < text.size()) log::info("{}", text.substr(from));
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
  // The digests of the files the trials read (engine/inputs.hpp), with the directory's cache.
  std::optional<engine::DigestCache> cache;
  std::vector<engine::InputDigest> inputs;
  try {
    prep = prepare(opt.spec_path, opt.out, registry, coordinator);
    if (coordinator) {
      check_out_path(prep, opt.out);
      cache.emplace(engine::input_cache_path(prep.spec.out));
      inputs = digest_inputs(prep, *cache);
      if (!inputs.empty())
        log::info("inputs: {} file(s) fingerprinted ({} read, {} unchanged since the cache)",
                  inputs.size(), cache->reads(), cache->hits());
      engine::check_output_dir(output_plan(prep, opt.force_new, opt.accept_changed_inputs, inputs));
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

  // Step 1b: every rank resolves its device (run --device). A rank that cannot use what was
  // asked for (a GPU job, a CPU-only LibTorch) stops the run before anything is written; rank 0
  // speaks for all when it fails too, so the message appears once.
  const auto& place = mpi.placement();
  std::string device;
  std::string device_error;
  try {
    device = engine::resolve_device(opt.device, place, models::cuda_device_count(),
                                    engine::gpu_request(std::getenv), models::torch_build(),
                                    mpi.rank());
  } catch (const Error& e) {
    device_error = e.what();
    status = e.exit_code();
  }
  const int coordinator_status = mpi.broadcast_int(status);
  if (!device_error.empty() && (coordinator || coordinator_status == 0)) log::error("{}", device_error);
  status = mpi.max_int(status);
  if (status != 0) return status;
  models::configure_device(device, {opt.tf32, opt.deterministic});
  // The torch intra-op threads this rank trains with (run --threads, else its share of the
  // node's cores).
  const int rank_threads = engine::choose_threads(
      place, static_cast<int>(std::thread::hardware_concurrency()), opt.threads);
  // Each rank's host, device (by name), threads and whether it trains (rank 0 only coordinates
  // when there are other ranks), for sweep.json: one gather at start, before sweep.json is
  // written; rank 0's own entry included.
  const std::vector<std::string> rank_devices = mpi.gather_strings(
      nlohmann::json{{"rank", mpi.rank()},
                     {"host", mpi.hostname()},
                     {"device", device},
                     {"name", models::device_name(device)},
                     {"threads", rank_threads},
                     {"trains", !coordinator || mpi.size() == 1}}
          .dump());

  // Step 2: rank 0 takes the output directory and finds what is already done.
  std::unique_ptr<engine::SweepOutput> output;
  std::vector<sweeps::Trial> pending;
  // Warm start (engine/warm_start.hpp): TPE's prior observations, kept in the output directory
  // from the first run on (so a resumed run proposes as the uninterrupted one), or the list's
  // rows of the same trials from earlier sweeps of the same inputs.
  engine::WarmStart warm;
  const engine::SearchMethod method = engine::search_method(prep.spec);
  // TPE's priors; else the list's reuse (the spec parser allows no other kind a warm start).
  const bool warm_tpe = method == engine::SearchMethod::kTpe || method == engine::SearchMethod::kTpeAsha;
  const auto warm_file = std::filesystem::path(prep.spec.out) / "warm_start.json";
  if (coordinator) {
    try {
      bool warm_kept = false;
      if (!prep.spec.warm_start.empty()) {
        if (warm_tpe && !opt.force_new && std::filesystem::exists(warm_file)) {
          const nlohmann::json kept = sweeps::read_json_file(warm_file.string());
          warm.prior = engine::prior_from_json(kept.at("prior"));
          warm.record = kept.at("sources");
          warm_kept = true;
          log::info("warm start: {} prior observation(s) as the first run read them ({})",
                    warm.prior.size(), warm_file.string());
        } else {
          warm = engine::read_warm_start(prep.spec, warm_tpe, prep.trials, inputs);
          if (warm_tpe)
            log::info("warm start: {} prior observation(s) for TPE from {} earlier sweep(s)",
                      warm.prior.size(), prep.spec.warm_start.size());
        }
        for (const auto& w : warm.warnings) log::warn("{}", w);
      }
      nlohmann::json prov = {{"program", "neurosweep"},
                             {"version", NS_VERSION},
                             {"git_revision", NS_GIT_REV},
                             {"libraries", models::library_versions()},
                             {"device_settings", models::device_settings()},
                             {"rank_devices", [&] {
                                auto a = nlohmann::json::array();
                                for (const auto& s : rank_devices) a.push_back(nlohmann::json::parse(s));
                                return a;
                              }()},
                             {"host", mpi.hostname()},
                             {"ranks", mpi.size()},
                             {"start_time", now_iso()},
                             {"spec_path", std::filesystem::absolute(opt.spec_path).string()},
                             {"search", engine::search_record(prep.spec, search_facts(prep))},
                             {"command", std::vector<std::string>(argv, argv + argc)}};
      if (!prep.spec.warm_start.empty()) prov["warm_start"] = warm.record;
      engine::OutputPlan out_plan =
          output_plan(prep, opt.force_new, opt.accept_changed_inputs, inputs);
      out_plan.workers = mpi.size() > 1 ? mpi.size() - 1 : 1;  // state.json's "workers"
      output = std::make_unique<engine::SweepOutput>(out_plan, prov, prep.total_trials);
      try {
        cache->save();
      } catch (const Error& e) {
        log::warn("{} (the next run reads the input files again)", e.what());
      }
      // The plain list schedule needs the trials once: moved, not copied (a large grid is held once).
      pending = prep.spec.search_options ? pending_trials(prep, output->finished())
                                         : take_pending_trials(prep, output->finished());
      if (warm_tpe && !prep.spec.warm_start.empty() && !warm_kept)
        core::write_file_atomic(warm_file.string(),
                                nlohmann::json{{"prior", engine::prior_json(warm.prior)},
                                               {"sources", warm.record}}
                                        .dump(1) +
                                    "\n");
      if (!warm.reused.empty()) {
        std::set<std::string> reused;
        for (const auto& row : warm.reused) {
          if (output->finished().count(row.trial_id)) continue;
          output->record(row);
          reused.insert(row.trial_id);
        }
        pending.erase(std::remove_if(pending.begin(), pending.end(),
                                     [&](const sweeps::Trial& t) { return reused.count(t.id) > 0; }),
                      pending.end());
        log::info("warm start: {} trial(s) an earlier sweep of the same inputs finished are "
                  "reused, not run (their rows say where from)",
                  reused.size());
      }
      log::info("sweep '{}': {} trials, {} already done, {} to run on {} rank(s); output {}",
                prep.spec.name, prep.total_trials, output->done_before(), pending.size(),
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
  engine::RankInfo info;
  info.rank = mpi.rank();
  info.host = mpi.hostname();
  info.device = device;
  info.checkpoint_every_s = opt.checkpoint_every_s;
  info.threads = rank_threads;
  engine::TrialExecutor executor(registry, prep.spec.family, prep.spec.data, prep.spec.out, info);
  executor.set_options(prep.spec.options);

  if (!coordinator) {
    auto transport = mpi.transport();
    engine::run_worker(*transport, executor, [] { return g_signals.load() > 0; });
    return finish(kExitOk);
  }

  engine::CoordinatorOptions copt;
  copt.retries = prep.spec.retries;
  copt.trial_timeout_s = prep.spec.trial_timeout_s;
  copt.deadline = deadline;
  copt.deadline_margin_s = opt.deadline_margin_s;
  copt.schedule = engine::parse_schedule(opt.schedule);
  copt.longest_first = opt.order == "cost";
  copt.unhealthy_after = opt.unhealthy_after;
  copt.unhealthy_window_s = opt.unhealthy_window_s;
  copt.rank_timeout_s = opt.rank_timeout_s;
  copt.pack = opt.pack > 0 ? opt.pack : prep.spec.pack;
  copt.budget_trial_s = prep.spec.budget_trial_s;
  copt.budget_used_s = output->finished_wall_s();
  copt.budget_resource = prep.spec.budget_resource;
  if (copt.budget_trial_s > 0)
    log::info("budget: {} trial-seconds, {:.1f} spent by earlier runs", copt.budget_trial_s,
              copt.budget_used_s);
  if (copt.pack > 1) {
    const auto groups = pack_groups(pending);
    log::info("packing up to {} trials per worker: {} of the {} trials to run can share a pack "
              "({} group(s) of equal shapes)",
              copt.pack, groups.packable, pending.size(), groups.groups);
  }
  auto transport = mpi.transport();
  engine::Coordinator coord(*transport, *output, copt, drain_reason);
  // The search the spec asks for, built through the registry (engine/search_registry.hpp) and
  // rebuilt from the journal of earlier runs (reports.jsonl): the list gets the trials still to
  // run, every other kind every trial of the spec (those with a row are over).
  const engine::SearchKindEntry& kind = engine::search_kind(method);
  engine::SearchInputs in;
  in.make_trial = [&](int index, const nlohmann::json& proposal) {
    return proposed_trial(prep, index, proposal);
  };
  in.prior = warm.prior;
  in.out = prep.spec.out;
  if (kind.method == engine::SearchMethod::kList) {
    in.trials = std::move(pending);
    in.workers.clear();  // rank 0 trains alone on one rank, else the other ranks do
    if (mpi.size() == 1) in.workers.push_back(0);
    for (int r = 1; r < mpi.size(); ++r) in.workers.push_back(r);
    in.schedule = copt.schedule;
    in.longest_first = copt.longest_first;
  } else {
    in.trials = pending_trials(prep, {});
    in.journal = [&](const nlohmann::json& e) { output->journal(e); };
    in.events = engine::read_journal(prep.spec.out);
    engine::journal::check_format(in.events, prep.spec.out);
    // Decisions this run adds follow kFormat: say so once (docs/formats.md, "The journal").
    if (!engine::journal::has_format_line(in.events)) output->journal(engine::journal::format_line());
    in.finished = output->finished();
  }
  engine::BuiltSearch search = engine::build_search(prep.spec, std::move(in));
  log_lines(engine::describe_search(prep.spec, search_facts(prep)));
  for (const auto& line : search.info) log::info("{}", line);
  for (const auto& line : search.warnings) log::warn("{}", line);
  if (copt.budget_resource > 0)
    log::info("budget: {:.6g} {}, {:.6g} given by earlier runs", copt.budget_resource,
              prep.spec.search_options->scheduler_resource(), search.scheduler->resource_used());
  const engine::CoordinatorSummary summary =
      mpi.size() == 1 ? coord.run_serial(*search.scheduler, executor) : coord.run(*search.scheduler);
  const int exit_status = output->finish(summary);  // 0, 3, or 5 when the output directory refused a write
  if (summary.abandoned_rank()) {
    // A rank taken out as silent cannot take part in MPI_Finalize, which would wait for it
    // forever: everything is written, so end the job here. mpirun exits with the status, srun
    // with 137 (the tasks it killed, the silent one included); the job scripts read state.json
    // to tell a complete sweep from a crash.
    log::warn("a rank taken out as silent never answered again: ending the job with MPI_Abort "
              "(exit status {}; every result is written)", exit_status);
    finish(exit_status);
    output.reset();  // MPI_Abort runs no destructor: results.csv's fdatasync and the lock's release
    mpi.abort(exit_status);
  }
  return finish(exit_status);
}

}  // namespace ns::app
