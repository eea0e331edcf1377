// neurosweep: hyperparameter sweeps of LibTorch models over MPI. One binary, one main:
// parse the command line, then run the chosen subcommand (run: rank 0 coordinates, the others
// train). Exit codes: see core/error.hpp (docs/guide/specs.md, "Exit codes").
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <functional>
#include <iostream>

#include "app/commands.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "models/registry.hpp"
#ifdef HAVE_NS_LAUNCH
#include "launch/launch.hpp"
#endif
#ifdef HAVE_NS_REPORT
#include "report/report.hpp"
#endif

namespace {

/// The rank the launcher gave this process, known before MPI starts (so a bad command line is
/// reported once, by rank 0).
int launcher_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* s = std::getenv(v)) return std::atoi(s);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ns;
  log::configure(launcher_rank());
  engine::FamilyRegistry registry;
  models::register_all(registry);

  CLI::App app{"neurosweep: hyperparameter sweeps of LibTorch models over MPI"};
  app.set_version_flag("--version", std::string(NS_VERSION) + " (" + NS_GIT_REV + ")");
  app.require_subcommand(1);
  std::function<int()> action;

  app::add_run_command(app, registry, action, argc, argv);
  app::add_plan_command(app, registry, action);
  app::add_families_command(app, registry, action);
#ifdef HAVE_NS_NEURAL
  app::add_simulate_command(app, action);
#endif
#ifdef HAVE_NS_LAUNCH
  launch::add_launch_command(app, action);
#endif
#ifdef HAVE_NS_REPORT
  report::add_report_command(app, action);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (launcher_rank() == 0) {
      std::cerr << "neurosweep: error: " << e.what() << " (see neurosweep --help)\n";
    }
    return kExitBadInput;
  }
  try {
    return action();
  } catch (const Error& e) {
    log::error("{}", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    log::error("internal error: {}", e.what());
    return kExitInternal;
  }
}
