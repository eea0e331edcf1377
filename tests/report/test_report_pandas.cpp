// results.csv loads in pandas with numeric columns typed as numbers, and pandas reads every
// complete record exactly as the report's RFC 4180 reader does (label: python).
#include "catch.hpp"
#include <nlohmann/json.hpp>

#include "report/csv.hpp"
#include "test_util.hpp"

using namespace ns::report;
namespace fs = std::filesystem;

namespace {
// Debian's python3-pandas lives under /usr/bin/python3; a pyenv python3 earlier on PATH may lack
// it.
std::string python_with_pandas() {
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("NS_PYTHON")) candidates.push_back(p);
  candidates.push_back("/usr/bin/python3");
  candidates.push_back("python3");
  for (auto& py : candidates)
    if (test::run_shell(test::shell_quote(py) + " -c 'import pandas' >/dev/null 2>&1") == 0)
      return py;
  return "";
}

void check_with_pandas(const fs::path& csv) {
  const std::string py = python_with_pandas();
  INFO("needs python3 with pandas: run scripts/setup.sh --deps (python3-pandas), or set NS_PYTHON");
  REQUIRE_FALSE(py.empty());
  test::TempDir tmp;
  const CsvTable t = read_csv(csv);
  nlohmann::json records = nlohmann::json::array();
  for (auto& r : t.records) records.push_back(r.fields);
  test::write_text(tmp.path / "expect.json", nlohmann::json{{"header", t.header},
                                                            {"records", records},
                                                            {"dropped_partial", t.dropped_partial}}
                                                 .dump());
  const fs::path script = test::fixture("").parent_path().parent_path() / "check_results_csv.py";
  const std::string cmd = test::shell_quote(py) + " " + test::shell_quote(script.string()) + " " +
                          test::shell_quote(csv.string()) + " --expect " +
                          test::shell_quote((tmp.path / "expect.json").string());
  INFO(cmd);
  CHECK(test::run_shell(cmd) == 0);
}
}  // namespace

TEST_CASE("pandas: the maskcnn results.csv (quoted multi-line errors, partial last line)") {
  check_with_pandas(test::fixture("maskcnn_sweep") / "results.csv");
}

TEST_CASE("pandas: the same file once the partial line is cut, as a resumed sweep leaves it") {
  test::TempDir tmp;
  std::string text = test::read_text(test::fixture("maskcnn_sweep") / "results.csv");
  text.erase(text.rfind('\n') + 1);
  test::write_text(tmp.path / "results.csv", text);
  check_with_pandas(tmp.path / "results.csv");
}

TEST_CASE("pandas: started and ended (Unix seconds, ms) read as numbers, nan where not known") {
  test::TempDir tmp;
  test::write_text(
      tmp.path / "results.csv",
      "trial_id,status,x,score,seed,repeat,attempt,wall_s,started,ended,rank,host,device,error\n"
      "t1,ok,1,0.5,1,0,1,2.000,1796675689.165,1796675691.185,1,h,cpu,\n"
      "t2,ok,2,0.7,2,0,1,0.000,nan,nan,0,,,reused from a (warm start)\n");
  check_with_pandas(tmp.path / "results.csv");
}

TEST_CASE("pandas: a CRLF results.csv without sweep.json") {
  check_with_pandas(test::fixture("classifier_nosweep") / "results.csv");
}

TEST_CASE("pandas: the check itself fails when pandas disagrees") {
  // Guards the guard, so that the tests above can fail.
  const std::string py = python_with_pandas();
  REQUIRE_FALSE(py.empty());
  const fs::path script = test::fixture("").parent_path().parent_path() / "check_results_csv.py";
  test::TempDir tmp;
  auto check = [&](const std::string& csv, const std::string& expect) {
    test::write_text(tmp.path / "r.csv", csv);
    std::string cmd = test::shell_quote(py) + " " + test::shell_quote(script.string()) + " " +
                      test::shell_quote((tmp.path / "r.csv").string());
    if (!expect.empty()) {
      test::write_text(tmp.path / "e.json", expect);
      cmd += " --expect " + test::shell_quote((tmp.path / "e.json").string());
    }
    return test::run_shell(cmd + " >/dev/null 2>&1");
  };
  const std::string good = "trial_id,status,val_loss\nt1,ok,0.5\nt2,ok,\"0.25\"\n";
  CHECK(check(good, "") == 0);  // quoted numbers are numbers to pandas too
  // Python's float() reads "1_000", pandas leaves the column as text: a dtype failure.
  CHECK(check("trial_id,status,val_loss\nt1,ok,0.5\nt2,ok,1_000\n", "") == 1);
  // A reader that saw another value than pandas: a cell failure.
  CHECK(check(good, R"({"header":["trial_id","status","val_loss"],"dropped_partial":false,
                        "records":[["t1","ok","0.5"],["t2","ok","0.26"]]})") == 1);
}
