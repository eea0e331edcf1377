// The HTML report in headless Chromium: Plotly draws every chart offline, the table is filled,
// and a screenshot is saved next to the test (label: browser).
#include "catch.hpp"
#include <sstream>

#include "report/compare.hpp"
#include "report/report.hpp"
#include "test_util.hpp"

using namespace ns::report;
namespace fs = std::filesystem;

namespace {

std::string chromium() {
  if (const char* c = std::getenv("NS_CHROMIUM")) return c;
  return test::run_shell("command -v chromium >/dev/null 2>&1") == 0 ? "chromium" : "";
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = text.find(what); p != std::string::npos;
       p = text.find(what, p + what.size()))
    ++n;
  return n;
}

// The page from `<div id="ID"` to the next heading: one section's charts.
std::string section(const std::string& dom, const std::string& id) {
  const std::size_t from = dom.find("<div id=\"" + id + "\"");
  if (from == std::string::npos) return "";
  const std::size_t to = dom.find("<h2", from);
  return dom.substr(from, to == std::string::npos ? std::string::npos : to - from);
}

// Flags from the issue: no sandbox (root in CI), no GPU, nothing fetched, a fresh profile.
std::string chromium_cmd(const fs::path& profile) {
  return "timeout 120 " + test::shell_quote(chromium()) +
         " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
         " --disable-background-networking --disable-component-update --disable-sync"
         " --user-data-dir=" +
         test::shell_quote(profile.string()) + " --virtual-time-budget=5000";
}

}  // namespace

TEST_CASE("browser: the report's Plotly charts render offline in headless Chromium") {
  INFO("needs Debian's chromium: run scripts/setup.sh --deps, or set NS_CHROMIUM");
  REQUIRE_FALSE(chromium().empty());
  test::TempDir tmp;
  const fs::path dir = test::copy_fixture("maskcnn_sweep", tmp.path);
  // Kept in the test's working directory (the build tree) to open by hand after a run.
  const fs::path html = fs::current_path() / "report_browser.html";
  const fs::path png = fs::current_path() / "report_screenshot.png";
  fs::remove(png);
  std::ostringstream out;
  run_report(ReportOptions(dir).with_html(html), out);
  REQUIRE(fs::file_size(html) > 1000000);  // Plotly inlined

  const fs::path dom_path = tmp.path / "dom.html";
  const std::string dump = chromium_cmd(tmp.path / "profile1") + " --dump-dom " +
                           test::shell_quote("file://" + html.string()) + " > " +
                           test::shell_quote(dom_path.string()) + " 2> " +
                           test::shell_quote((tmp.path / "chromium.log").string());
  INFO(dump);
  REQUIRE(test::run_shell(dump) == 0);
  const std::string dom = test::read_text(dom_path);
  INFO("chromium log: " << test::read_text(tmp.path / "chromium.log").substr(0, 2000));

  // One Plotly container per chart: 2 metric-vs-parameter, the importance bars, the parallel
  // coordinates, the Pareto scatter, 1 heatmap, 3 learning-curve series (train_loss, val_loss,
  // val_ccnorm), 2 per-neuron histograms (Pearson, CCnorm), 12 masks.
  CHECK(count(dom, "class=\"plot-container plotly\"") == 23);
  CHECK(count(dom, "class=\"main-svg\"") >= 23);
  // What mattered: one importance bar per varied parameter (lr, channels); one line per trial with
  // a finite metric (14 ok; 3 failed left out) across 3 axes (lr, channels, val_ccnorm); the
  // Pareto scatter's 14 ok trials and its front of 5 (val_ccnorm max against wall_s min).
  const std::string bars = section(dom, "importance"), lines = section(dom, "parallel"),
                    pareto = section(dom, "pareto");
  CHECK(count(bars, "trace bars") == 1);
  CHECK(count(bars, "<g class=\"point\"") == 2);
  CHECK(count(lines, "class=\"trace scatter") == 14);
  CHECK(count(lines, "class=\"xtick\"") == 3);
  CHECK(lines.find("3 failed or without a val_ccnorm, left out") != std::string::npos);
  CHECK(count(pareto, "class=\"trace scatter") == 2);
  CHECK(count(pareto, "<path class=\"point\"") == 14 + 5);
  CHECK(pareto.find("5 of 14 trials on the front") != std::string::npos);
  CHECK(count(dom, "class=\"hm\"") >= 13);         // heatmap traces drawn (1 + 12 masks)
  CHECK(count(dom, "class=\"trace bars\"") >= 3);  // histogram bars (3 neuron columns)
  CHECK(count(dom, "class=\"scatterlayer") >= 5);
  CHECK(dom.find("data-ns-rendered=\"0\"") == std::string::npos);
  // The sortable table: one body row per trial, the best one marked.
  CHECK(count(dom, "<tr class=\"") == 17);
  CHECK(count(dom, "<tr class=\"ok best\">") == 1);
  CHECK(dom.find("lower lr or add gradient clipping") != std::string::npos);

  const std::string shot =
      chromium_cmd(tmp.path / "profile2") +
      " --window-size=1200,2000 --screenshot=" + test::shell_quote(png.string()) + " " +
      test::shell_quote("file://" + html.string()) + " > /dev/null 2>&1";
  INFO(shot);
  REQUIRE(test::run_shell(shot) == 0);
  REQUIRE(fs::exists(png));
  CHECK(fs::file_size(png) > 50000);  // a blank 1200x2000 page compresses to a few KB
  CHECK(test::read_text(png).substr(1, 3) == "PNG");
  WARN("screenshot: " << png.string());
}

TEST_CASE("browser: the comparison page draws every sweep's best-so-far curve on one chart") {
  INFO("needs Debian's chromium: run scripts/setup.sh --deps, or set NS_CHROMIUM");
  REQUIRE_FALSE(chromium().empty());
  test::TempDir tmp;
  const fs::path a = test::copy_fixture("maskcnn_sweep", tmp.path);
  const fs::path b = tmp.path / "again";
  fs::copy(a, b, fs::copy_options::recursive);
  CompareOptions o;
  o.dirs = {a, b};
  o.html = tmp.path / "compare.html";
  std::ostringstream out;
  run_compare(o, out);
  const fs::path dom_path = tmp.path / "dom.html";
  const std::string dump = chromium_cmd(tmp.path / "profile") + " --dump-dom " +
                           test::shell_quote("file://" + o.html.string()) + " > " +
                           test::shell_quote(dom_path.string()) + " 2>/dev/null";
  INFO(dump);
  REQUIRE(test::run_shell(dump) == 0);
  const std::string dom = test::read_text(dom_path);
  CHECK(count(dom, "class=\"plot-container plotly\"") == 1);
  CHECK(count(dom, "class=\"trace scatter") == 2);  // one curve per sweep
  CHECK(dom.find("data-ns-rendered=\"0\"") == std::string::npos);
  // The table: a row per sweep, told apart by their directories (one sweep name).
  CHECK(count(dom, "<td>maskcnn_lr_channels (") == 2);
}

TEST_CASE("browser: the timeline draws one bar per row with times, one row per rank") {
  INFO("needs Debian's chromium: run scripts/setup.sh --deps, or set NS_CHROMIUM");
  REQUIRE_FALSE(chromium().empty());
  test::TempDir tmp;
  const fs::path dir = tmp.path / "sweep";
  fs::create_directories(dir);
  // 5 rows on 2 ranks (a failed first attempt, then its retry), one run of 2 workers; a row
  // without times (nan) gets no bar.
  test::write_text(
      dir / "results.csv",
      "trial_id,status,x,score,seed,repeat,attempt,wall_s,started,ended,rank,host,device,error\n"
      "t1,failed,1,nan,1,0,1,1.000,1000.000,1001.000,1,h,cpu,boom\n"
      "t1,ok,1,0.5,1,0,2,2.000,1001.500,1003.500,1,h,cpu,\n"
      "t2,ok,2,0.7,2,0,1,3.000,1000.000,1003.000,2,h,cpu,\n"
      "t3,ok,3,0.6,3,0,1,2.000,1003.600,1005.600,1,h,cpu,\n"
      "t4,ok,4,0.4,4,0,1,2.000,1003.100,1005.100,2,h,cpu,\n"
      "t5,ok,5,0.3,5,0,1,0.000,nan,nan,0,,,reused\n");
  test::write_text(dir / "state.json",
                   R"({"state": "complete", "started": 999.5, "ended": 1006.0, "workers": 2,
                       "runs": [{"started": 999.5, "ended": 1006.0, "workers": 2}]})");
  const fs::path html = tmp.path / "timeline.html";
  std::ostringstream out;
  run_report(ReportOptions(dir).with_html(html).with_mode("max"), out);
  const fs::path dom_path = tmp.path / "dom.html";
  const std::string dump = chromium_cmd(tmp.path / "profile") + " --dump-dom " +
                           test::shell_quote("file://" + html.string()) + " > " +
                           test::shell_quote(dom_path.string()) + " 2>/dev/null";
  INFO(dump);
  REQUIRE(test::run_shell(dump) == 0);
  const std::string dom = test::read_text(dom_path);
  const auto at = dom.find("id=\"timeline\"");
  REQUIRE(at != std::string::npos);
  const std::string chart = dom.substr(at, dom.find("</section>", at) - at);
  CHECK(count(chart, "class=\"plot-container plotly\"") == 1);
  CHECK(count(chart, "class=\"trace bars\"") == 2);  // ok and failed
  CHECK(count(chart, "class=\"point\"") == 5);       // one bar per row with times
  CHECK(chart.find(">rank 1<") != std::string::npos);
  CHECK(chart.find(">rank 2<") != std::string::npos);
  CHECK(chart.find("utilization 76.9%") != std::string::npos);  // 10 of 13 rank-seconds
  CHECK(dom.find("data-ns-rendered=\"0\"") == std::string::npos);
}
