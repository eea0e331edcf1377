#include "report/report.hpp"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <csignal>
#include <memory>
#include <sstream>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/log.hpp"
#include "engine/sweep_output.hpp"
#include "report/analysis.hpp"
#include "report/compare.hpp"
#include "report/html.hpp"
#include "report/pbt.hpp"
#include "report/results.hpp"
#include "report/terminal.hpp"
#include "report/timeline.hpp"

namespace ns::report {
namespace fs = std::filesystem;

void run_report(const ReportOptions& o, std::ostream& out) {
  NS_CHECK(o.top >= 1, "--top: expected a positive number of configurations, found {}", o.top);
  const Results results = load_results(o.out_dir);
  const Selection selection = choose_selection(results, o.metric, o.mode);
  // Check the HTML's prerequisites before writing anything, so bad input leaves no output.
  std::string plotly;
  const std::pair<const char*, const fs::path*> outputs[] = {
      {"--html", &o.html}, {"--best-config", &o.best_config}, {"--replay", &o.replay}};
  for (const auto& [flag, file] : outputs) {
    if (file->empty()) continue;
    const fs::path parent = file->has_parent_path() ? file->parent_path() : fs::path(".");
    NS_CHECK(fs::is_directory(parent), "{} {}: no directory {}; create it or write elsewhere",
             flag, file->string(), parent.string());
    NS_CHECK(fs::weakly_canonical(*file) != fs::weakly_canonical(o.out_dir / "best.json"),
             "{} {}: best.json in the sweep's directory is the engine's (the best single trial); "
             "write the best configuration elsewhere",
             flag, file->string());
  }
  if (!o.html.empty()) plotly = load_plotly_js();
  // The Pareto view: --metric2, else wall_s where results.csv has it.
  const bool has_wall = std::find(results.columns.begin(), results.columns.end(), "wall_s") !=
                        results.columns.end();
  const bool pareto = !o.metric2.empty() || has_wall;
  const SecondMetric second =
      pareto ? choose_second(results, selection, o.metric2, o.mode2) : SecondMetric();
  const Analysis analysis = analyze(results, selection, pareto ? &second : nullptr);

  const PbtView pbt = load_pbt(results);
  // Checked before anything is written: a sweep that cannot give a replay writes nothing.
  NS_CHECK(o.replay_trial.empty() || !o.replay.empty(),
           "--replay-trial {}: needs --replay FILE (where to write the spec)", o.replay_trial);
  const nlohmann::json replay =
      o.replay.empty() ? nlohmann::json() : best_replay_spec(pbt, o.replay_trial);
  out << render_terminal(results, analysis, o.top);
  out << render_pbt(pbt, results);
  out << render_timeline_text(load_timeline(results));
  out.flush();
  if (!o.replay.empty()) {
    core::write_file_atomic(o.replay, replay.dump(2) + "\n", kExitBadInput);
    out << "wrote " << o.replay.string() << " (run it with its own --out to retrain the winning "
                                            "schedule as one trial)\n";
  }
  if (!o.best_config.empty()) {
    // Written even when no configuration has a finite metric (then null), so a script that asked
    // for the file always finds it.
    const nlohmann::json best = best_config_json(analysis);
    core::write_file_atomic(o.best_config, best.dump(2) + "\n", kExitBadInput);
    out << "wrote " << o.best_config.string() << "\n";
  }
  if (!o.html.empty()) {
    std::string html = render_html(results, analysis, o.top, plotly);
    if (o.refresh_s > 0) {
      // --watch while the sweep runs: the browser reloads the page (rewritten meanwhile).
      const std::string head = "<head>\n";
      const auto at = html.find(head);
      if (at != std::string::npos)
        html.insert(at + head.size(),
                    fmt::format("<meta http-equiv=\"refresh\" content=\"{}\">\n", o.refresh_s));
    }
    core::write_file_atomic(o.html, html, kExitBadInput);
    out << "wrote " << o.html.string() << "\n";
  }
}

namespace {

volatile std::sig_atomic_t g_watch_stop = 0;
extern "C" void on_watch_signal(int) { g_watch_stop = 1; }

// state.json says the sweep runs ("state": "running") and the run that holds the directory is not
// known to be gone; false without one.
bool sweep_running(const fs::path& dir) {
  const nlohmann::json state = engine::read_state(dir.string());
  if (engine::state_of(state) != engine::SweepState::kRunning) return false;
  const std::string gone = engine::gone_lock_holder(dir.string());
  if (!gone.empty())
    log::warn("--watch: {}/state.json says running, but the run that holds it ({}) is gone "
              "(killed?); stopping", dir.string(), gone);
  return gone.empty();
}

}  // namespace

void watch_report(ReportOptions o, int seconds, std::ostream& out) {
  NS_CHECK(seconds >= 1, "--watch: expected seconds >= 1, found {}", seconds);
  NS_CHECK(!o.html.empty(), "--watch {}: needs --html FILE (the page it rewrites)", seconds);
  g_watch_stop = 0;
  struct sigaction sa {}, old_int{}, old_term{};
  sa.sa_handler = on_watch_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  struct Restore {
    struct sigaction i, t;
    ~Restore() {
      sigaction(SIGINT, &i, nullptr);
      sigaction(SIGTERM, &t, nullptr);
    }
  } restore{old_int, old_term};
  for (int round = 1;; ++round) {
    const bool running = sweep_running(o.out_dir) && g_watch_stop == 0;
    o.refresh_s = running ? seconds : 0;
    if (!running) {
      // The final page, without the reload, and the terminal report.
      run_report(o, out);
      if (g_watch_stop != 0) log::info("--watch: stopped by a signal; the page no longer reloads");
      return;
    }
    std::ostringstream quiet;
    run_report(o, quiet);
    log::info("--watch: wrote {} (round {}; the sweep runs, next in {} s)", o.html.string(), round,
              seconds);
    for (int tenth = 0; tenth < seconds * 10 && g_watch_stop == 0; ++tenth)
      ::usleep(100000);
  }
}

void add_report_command(CLI::App& root, std::function<int()>& action) {
  // Options live as long as the CLI app: the callback runs after parsing.
  auto opts = std::make_shared<ReportOptions>(fs::path());
  auto dirs = std::make_shared<std::vector<fs::path>>();
  CLI::App* cmd =
      root.add_subcommand("report",
                          "Summarize a sweep's output directory: leaderboard, failures, what mattered "
                          "(PED-ANOVA importance, marginals, a Pareto front), "
                          "optional HTML page and best configuration (works while the sweep "
                          "runs; writes nothing into the directory). With several directories: "
                          "the sweeps side by side");
  cmd->add_option("OUT_DIR", *dirs,
                  "the sweep's output directory (holds results.csv); two or more: compare them")
      ->required();
  cmd->add_option("--metric", opts->metric, "metric to rank by (default: the sweep's)");
  cmd->add_option("--mode", opts->mode,
                  "max or min (default: the sweep's, or from the metric name)")
      ->check(CLI::IsMember({"max", "min"}));
  cmd->add_option("--metric2", opts->metric2,
                  "second metric set against the first, its Pareto front listed and drawn: a "
                  "metric column, wall_s or a numeric parameter column (default: wall_s)");
  cmd->add_option("--mode2", opts->mode2,
                  "max or min for --metric2 (default: from its name; wall_s is min)")
      ->check(CLI::IsMember({"max", "min"}));
  cmd->add_option("--top", opts->top, "configurations in the leaderboard")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--html", opts->html, "also write a self-contained HTML report to FILE");
  cmd->add_option("--best-config", opts->best_config,
                  "also write the best configuration (by mean over its replicates, as the "
                  "engine's best_config.json) as JSON to FILE");
  cmd->add_option("--replay", opts->replay,
                  "PBT: also write a spec that retrains the best member's schedule (its "
                  "lineage) as one fixed-schedule trial to FILE");
  cmd->add_option("--replay-trial", opts->replay_trial,
                  "with --replay: the member (trial id) to replay instead of the best");
  auto watch = std::make_shared<int>(0);
  cmd->add_option("--watch", *watch,
                  "with --html: rewrite the page every SECONDS while state.json says the sweep "
                  "runs (the page reloads itself); stop when it ends, or on Ctrl-C")
      ->check(CLI::PositiveNumber);
  cmd->callback([opts, dirs, cmd, watch, &action] {
    // Which options were given, read now (the App lives on, its parse state may not).
    std::vector<std::string> single_only;
    for (const char* flag :
         {"--top", "--best-config", "--replay", "--replay-trial", "--metric2", "--mode2"})
      if (cmd->count(flag) > 0) single_only.push_back(flag);
    action = [opts, dirs, single_only, watch] {
      try {
        NS_CHECK(*watch == 0 || dirs->size() == 1,
                 "--watch: watches one sweep directory, found {}", dirs->size());
        if (dirs->size() > 1) {
          NS_CHECK(single_only.empty(),
                   "{}: applies to one sweep directory; comparing {} sweeps takes --metric, "
                   "--mode and --html",
                   single_only.front(), dirs->size());
          CompareOptions c;
          c.dirs = *dirs;
          c.metric = opts->metric;
          c.mode = opts->mode;
          c.html = opts->html;
          run_compare(c, std::cout);
          return static_cast<int>(kExitOk);
        }
        opts->out_dir = dirs->front();
        if (*watch > 0) {
          watch_report(*opts, *watch, std::cout);
          return static_cast<int>(kExitOk);
        }
        run_report(*opts, std::cout);
        return static_cast<int>(kExitOk);
      } catch (const Error& e) {
        log::error("{}", e.what());
        return e.exit_code();
      }
    };
  });
}

}  // namespace ns::report
