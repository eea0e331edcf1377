// report/terminal: golden tests of the terminal report on the committed fixtures.
// To regenerate after an intended change: NS_UPDATE_GOLDEN=1 ctest -R test_report, then review
// the diff of tests/report/golden/ by hand.
#include "catch.hpp"
#include <sstream>

#include "report/report.hpp"
#include "report/terminal.hpp"
#include "test_util.hpp"

using namespace ns::report;
namespace fs = std::filesystem;

namespace {

// Runs the whole command on a scratch copy of `fixture`; the directory prints as <DIR>.
std::string report_text(const std::string& fixture, const std::string& metric, int top) {
  test::TempDir tmp;
  const fs::path dir = test::copy_fixture(fixture, tmp.path);
  std::ostringstream out;
  ReportOptions o(dir);
  o.with_metric(metric).with_top(top);
  run_report(o, out);
  std::string text = out.str();
  for (std::size_t p; (p = text.find(dir.string())) != std::string::npos;)
    text.replace(p, dir.string().size(), "<DIR>");
  return text;
}

void check_golden(const std::string& name, const std::string& actual) {
  const fs::path golden = test::fixture("").parent_path().parent_path() / "golden" / name;
  if (std::getenv("NS_UPDATE_GOLDEN")) {
    test::write_text(golden, actual);
    WARN("rewrote " << golden.string());
    return;
  }
  REQUIRE(fs::exists(golden));
  CHECK(actual == test::read_text(golden));
}

}  // namespace

TEST_CASE("terminal: golden report of the maskcnn sweep (repeats, failures, partial line)") {
  check_golden("maskcnn_sweep.txt", report_text("maskcnn_sweep", "", 10));
}

TEST_CASE("terminal: golden report ranked by another metric, top 3") {
  check_golden("maskcnn_sweep_val_loss_top3.txt", report_text("maskcnn_sweep", "val_loss", 3));
}

TEST_CASE("terminal: golden report without sweep.json") {
  check_golden("classifier_nosweep.txt", report_text("classifier_nosweep", "val_accuracy", 10));
}

TEST_CASE("terminal: numbers print with 4 significant digits and '-' for NaN") {
  CHECK(format_metric(0.5666666) == "0.5667");
  CHECK(format_metric(1.0 / 0.0) == "inf");
  CHECK(format_metric(std::nan("")) == "-");
  CHECK(format_metric(1.234e-5) == "1.234e-05");
}
