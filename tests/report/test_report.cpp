// report/report: the command end to end (best.json, exit codes, nothing written on bad input).
#include <CLI/CLI.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
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

TEST_CASE("report: writes best.json from the aggregated view, atomically") {
  test::TempDir tmp;
  const fs::path dir = test::copy_fixture("maskcnn_sweep", tmp.path);
  std::ostringstream out;
  run_report(ReportOptions(dir), out);
  CHECK(out.str().find("wrote " + (dir / "best.json").string()) != std::string::npos);
  const auto best = nlohmann::json::parse(test::read_text(dir / "best.json"));
  CHECK(best["trial_id"] == "e5b61c83");
  CHECK(best["n"] == 2);
  // No temporary file left behind.
  for (auto& e : fs::directory_iterator(dir))
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("report: the CLI returns 0, or 2 with nothing written on bad input") {
  test::TempDir tmp;
  const fs::path dir = test::copy_fixture("maskcnn_sweep", tmp.path);
  CHECK(run_cli({"report", dir.string(), "--top", "2"}) == 0);
  CHECK(fs::exists(dir / "best.json"));
  fs::remove(dir / "best.json");
  CHECK(run_cli({"report", dir.string(), "--metric", "val_acc"}) == ns::kExitBadInput);
  CHECK(run_cli({"report", (tmp.path / "missing").string()}) == ns::kExitBadInput);
  CHECK(run_cli({"report", dir.string(), "--html", (tmp.path / "no/such/dir/r.html").string()}) ==
        ns::kExitBadInput);
  CHECK_FALSE(fs::exists(dir / "best.json"));
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
  CHECK_FALSE(fs::exists(dir / "best.json"));
  CHECK_FALSE(fs::exists(tmp.path / "r.html"));
}
