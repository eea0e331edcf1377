// report/report: the command end to end (--best-config, exit codes, nothing written on bad
// input, nothing ever written into the sweep directory).
#include <CLI/CLI.hpp>
#include "catch.hpp"
#include <nlohmann/json.hpp>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "report/report.hpp"
#include "test_util.hpp"

using namespace ns::report;
namespace fs = std::filesystem;

namespace {
// Parses argv like main does and runs the chosen action; returns its exit code.
int run_cli(std::vector<std::string> args) {
  CLI::App app{"neurosweep"};
  std::function<int()> action;
  add_report_command(app, action);
  std::vector<const char*> argv = {"neurosweep"};
  for (auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  REQUIRE(action);
  return action();
}
}  // namespace

// Every file under `dir` with its contents, to show that the report changed nothing there.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[e.path().string()] = test::read_text(e.path());
  return files;
}

TEST_CASE("report: --best-config writes the aggregated best, atomically, outside the sweep") {
  test::TempDir tmp;
  const fs::path dir = test::copy_fixture("maskcnn_sweep", tmp.path);
  const auto before = snapshot(dir);
  std::ostringstream out;
  run_report(ReportOptions(dir).with_best_config(tmp.path / "best_config.json"), out);
  CHECK(out.str().find("wrote " + (tmp.path / "best_config.json").string()) != std::string::npos);
  const auto best = nlohmann::json::parse(test::read_text(tmp.path / "best_config.json"));
  CHECK(best["params"]["channels"] == 16);
  CHECK(best["n"] == 2);
  CHECK(best["replicates"] == 3);
  // The sweep directory is the engine's: its best.json (if any) and every other file unchanged.
  CHECK(snapshot(dir) == before);
  for (auto& e : fs::directory_iterator(tmp.path))
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  // The engine's best.json is never the target.
  REQUIRE_THROWS_WITH(run_report(ReportOptions(dir).with_best_config(dir / "best.json"), out),
                      Catch::Contains("best.json in the sweep's directory is the engine's"));
}

TEST_CASE("report: the CLI returns 0, or 2 with nothing written on bad input") {
  test::TempDir tmp;
  const fs::path dir = test::copy_fixture("maskcnn_sweep", tmp.path);
  const auto before = snapshot(dir);
  const std::string best = (tmp.path / "b.json").string();
  CHECK(run_cli({"report", dir.string(), "--top", "2"}) == 0);
  CHECK(snapshot(dir) == before);
  CHECK(run_cli({"report", dir.string(), "--best-config", best}) == 0);
  CHECK(fs::exists(best));
  fs::remove(best);
  CHECK(run_cli({"report", dir.string(), "--metric", "val_acc", "--best-config", best}) ==
        ns::kExitBadInput);
  CHECK(run_cli({"report", (tmp.path / "missing").string(), "--best-config", best}) ==
        ns::kExitBadInput);
  CHECK(run_cli({"report", dir.string(), "--html", (tmp.path / "no/such/dir/r.html").string(),
                 "--best-config", best}) == ns::kExitBadInput);
  CHECK(run_cli({"report", dir.string(), "--best-config",
                 (tmp.path / "no/such/dir/b.json").string()}) == ns::kExitBadInput);
  CHECK_FALSE(fs::exists(best));
  CHECK(snapshot(dir) == before);
  REQUIRE_THROWS_AS(run_cli({"report", dir.string(), "--top", "0"}), CLI::ValidationError);
  REQUIRE_THROWS_AS(run_cli({"report", dir.string(), "--mode", "up"}), CLI::ValidationError);
}

TEST_CASE("report: a missing Plotly bundle is a clear error before anything is written") {
  test::TempDir tmp;
  const fs::path dir = test::copy_fixture("maskcnn_sweep", tmp.path);
  const std::string missing = (tmp.path / "no" / "plotly.min.js").string();
  ::setenv("NS_PLOTLY_JS", missing.c_str(), 1);
  std::ostringstream out;
  ReportOptions o(dir);
  o.with_html(tmp.path / "r.html");
  REQUIRE_THROWS_WITH(run_report(o, out),
                      Catch::Contains("Plotly not found at \"" + missing + "\"") &&
                          Catch::Contains("scripts/setup.sh --deps") &&
                          Catch::Contains("NS_PLOTLY_JS"));
  ::unsetenv("NS_PLOTLY_JS");
  CHECK(out.str().empty());
  CHECK_FALSE(fs::exists(tmp.path / "r.html"));
}
