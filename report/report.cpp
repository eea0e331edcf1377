#include "report/report.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <memory>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/log.hpp"
#include "report/analysis.hpp"
#include "report/html.hpp"
#include "report/results.hpp"
#include "report/terminal.hpp"

namespace ns::report {
namespace fs = std::filesystem;

void run_report(const ReportOptions& o, std::ostream& out) {
  NS_CHECK(o.top >= 1, "--top: expected a positive number of configurations, found {}", o.top);
  const Results results = load_results(o.out_dir);
  const Selection selection = choose_selection(results, o.metric, o.mode);
  // Check the HTML's prerequisites before writing anything, so bad input leaves no output.
  std::string plotly;
  if (!o.html.empty()) {
    const fs::path parent = o.html.has_parent_path() ? o.html.parent_path() : fs::path(".");
    NS_CHECK(fs::is_directory(parent), "--html {}: no directory {}; create it or write elsewhere",
             o.html.string(), parent.string());
    plotly = load_plotly_js();
  }
  const Analysis analysis = analyze(results, selection);

  out << render_terminal(results, analysis, o.top);
  out.flush();
  if (o.write_best) {
    const nlohmann::json best = best_json(results, analysis);
    if (!best.is_null()) {
      core::write_file_atomic(o.out_dir / "best.json", best.dump(2) + "\n", kExitBadInput);
      out << "wrote " << (o.out_dir / "best.json").string() << "\n";
    }
  }
  if (!o.html.empty()) {
    core::write_file_atomic(o.html, render_html(results, analysis, o.top, plotly), kExitBadInput);
    out << "wrote " << o.html.string() << "\n";
  }
}

void add_report_command(CLI::App& root, std::function<int()>& action) {
  // Options live as long as the CLI app: the callback runs after parsing.
  auto opts = std::make_shared<ReportOptions>(fs::path());
  CLI::App* cmd =
      root.add_subcommand("report",
                          "Summarize a sweep's output directory: leaderboard, failures, marginals, "
                          "best.json, optional HTML page (works while the sweep runs)");
  cmd->add_option("OUT_DIR", opts->out_dir, "the sweep's output directory (holds results.csv)")
      ->required();
  cmd->add_option("--metric", opts->metric, "metric to rank by (default: the sweep's)");
  cmd->add_option("--mode", opts->mode,
                  "max or min (default: the sweep's, or from the metric name)")
      ->check(CLI::IsMember({"max", "min"}));
  cmd->add_option("--top", opts->top, "configurations in the leaderboard")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--html", opts->html, "also write a self-contained HTML report to FILE");
  cmd->callback([opts, &action] {
    action = [opts] {
      try {
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
