#include "catch.hpp"

#include <cmath>
#include <filesystem>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>

#include "engine/csv.hpp"
#include "core/error.hpp"
#include "core/file.hpp"
#include "engine/results.hpp"
#include "file_size_limit.hpp"
#include "support/rows.hpp"
#include "support/temp_dir.hpp"

using namespace ns::engine;
namespace fs = std::filesystem;

using ns::test::row;
using ns::test::TempDir;

namespace {
// Parameters with a comma in a value, which the CSV must quote.
const nlohmann::json kParams = {{"lr", 0.001}, {"act", "relu, softplus"}};
}  // namespace

TEST_CASE("rows are appended under a fixed header and read back", "[results]") {
  const TempDir scratch("results_rows");
  const fs::path& dir = scratch.path;
  const auto path = (dir / "results.csv").string();
  {
    ResultsTable t(path, {"act", "lr"}, {"score", "other"});
    CHECK(t.open().empty());
    t.append(row("a", 1.5, kParams));
    auto r = row("b", NAN, kParams);
    r.status = TrialStatus::kFailed;
    r.error = "boom, \"quoted\"\nsecond line";
    t.append(r);
  }
  auto csv = read_csv_file(path);
  REQUIRE(csv.rows.size() == 2);
  CHECK(csv.header[0] == "trial_id");
  CHECK(csv.header[2] == "act");
  CHECK(csv.rows[0][2] == "relu, softplus");
  CHECK(csv.rows[0][3] == "0.001");
  CHECK(csv.rows[0][4] == "1.5");
  CHECK(csv.rows[0][5] == "nan");
  CHECK(csv.rows[1][4] == "nan");
  CHECK(csv.rows[1].back() == "boom, \"quoted\"\nsecond line");
  ResultsTable again(path, {"act", "lr"}, {"score", "other"});
  CHECK(again.open().size() == 2);
}

TEST_CASE("a partial last row is cut before appending", "[results]") {
  const TempDir scratch("results_partial");
  const fs::path& dir = scratch.path;
  const auto path = (dir / "results.csv").string();
  {
    ResultsTable t(path, {"lr"}, {"score"});
    t.open();
    t.append(row("a", 1, kParams));
  }
  { std::ofstream(path, std::ios::app) << "b,ok,0.0"; }  // killed mid-write
  {
    ResultsTable t(path, {"lr"}, {"score"});
    auto rows = t.open();
    CHECK(rows.size() == 1);
    CHECK(t.rows_dropped() == 1);
    t.append(row("c", 2, kParams));
  }
  auto csv = read_csv_file(path);
  REQUIRE(csv.rows.size() == 2);
  CHECK(csv.rows[1][0] == "c");
  CHECK_FALSE(csv.dropped_partial);
}

TEST_CASE("a row the disk takes only part of is cut back: no torn line, the next one lands",
          "[results][write_error]") {
  const TempDir scratch("results_short");
  const fs::path& dir = scratch.path;
  const auto path = (dir / "results.csv").string();
  ResultsTable t(path, {"lr"}, {"score"});
  t.open();
  t.append(row("a", 1, kParams));
  const auto before = fs::file_size(path);
  {
    FileSizeLimit full(before + 10);  // the next row gets 10 bytes, then EFBIG
    CHECK_THROWS_AS(t.append(row("b", 2, kParams)), ns::core::WriteError);
    CHECK(fs::file_size(path) == before);
    try {
      t.append(row("b", 2, kParams));
    } catch (const ns::core::WriteError& e) {
      CHECK_THAT(e.what(), Catch::Contains("results.csv: cannot append") &&
                               Catch::Contains("File too large"));
      CHECK(e.error_number() == EFBIG);
      CHECK(e.exit_code() == ns::kExitCannotWrite);
    }
  }
  CHECK(fs::file_size(path) == before);
  t.append(row("c", 3, kParams));
  auto csv = read_csv_file(path);
  CHECK_FALSE(csv.dropped_partial);
  REQUIRE(csv.rows.size() == 2);
  CHECK(csv.rows[0][0] == "a");
  CHECK(csv.rows[1][0] == "c");
}

TEST_CASE("atomic writes on a full disk: WriteError naming the file, no temporary left",
          "[results][write_error]") {
  const TempDir scratch("results_atomic_full");
  const fs::path& dir = scratch.path;
  ns::core::write_file_atomic(dir / "state.json", "old\n");
  {
    FileSizeLimit full(0);
    CHECK_THROWS_AS(ns::core::write_file_atomic(dir / "state.json", "new\n"), ns::core::WriteError);
    // A writer that says only "file write failed" (torch::save): the probe tells it was the disk.
    try {
      ns::core::write_atomic_with(dir / "model.pt", [](const fs::path& tmp) {
        std::ofstream(tmp) << "x";
        throw std::runtime_error("PytorchStreamWriter failed writing file data/0: file write failed");
      });
      FAIL("no exception");
    } catch (const ns::core::WriteError& e) {
      CHECK_THAT(e.what(), Catch::Contains("model.pt: cannot write: File too large") &&
                               Catch::Contains("file write failed"));
    }
  }
  // The same writer with room on the disk: its own error, not a WriteError.
  CHECK_THROWS_WITH(ns::core::write_atomic_with(dir / "model.pt", [](const fs::path&) {
                      throw std::runtime_error("bad tensor");
                    }),
                    "bad tensor");
  std::ifstream in(dir / "state.json");
  std::string text;
  std::getline(in, text);
  CHECK(text == "old");
  for (const auto& e : fs::directory_iterator(dir))
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  CHECK(ns::core::probe_write(dir) == 0);
  CHECK(ns::core::probe_write(dir / "missing") == ENOENT);
}

TEST_CASE("a results file with another header is refused and left intact", "[results]") {
  const TempDir scratch("results_header");
  const fs::path& dir = scratch.path;
  const auto path = (dir / "results.csv").string();
  { std::ofstream(path) << "trial_id,status,zzz\nx,ok,1\n"; }
  const auto before = fs::file_size(path);
  ResultsTable t(path, {"lr"}, {"score"});
  CHECK_THROWS_WITH(t.open(), Catch::Contains("its header does not match this sweep's columns"));
  CHECK(fs::file_size(path) == before);
}

TEST_CASE("best tracking honours the mode and ignores failures and NaN", "[results]") {
  BestTracker best("score", true);
  CHECK(best.offer(row("a", 1)));
  CHECK_FALSE(best.offer(row("b", 0.5)));
  CHECK_FALSE(best.offer(row("c", NAN)));
  auto f = row("d", 9);
  f.status = TrialStatus::kFailed;
  CHECK_FALSE(best.offer(f));
  CHECK(best.offer(row("e", 2)));
  CHECK(best.to_json()["trial_id"] == "e");
  BestTracker low("score", false);
  low.offer(row("a", 1));
  CHECK(low.offer(row("b", -1)));
  CHECK(low.value() == -1);
}

TEST_CASE("BestTracker::offer_cells reads the cells of a results.csv row") {
  auto cells = [](std::string name, std::string score) {
    return std::map<std::string, std::string>{
        {"trial_id", "t" + score}, {"status", "ok"}, {"lr", "0.5"}, {"name", std::move(name)},
        {"score", std::move(score)}, {"seed", "7"}, {"repeat", "0"}};
  };
  BestTracker best("score", true);
  CHECK(best.offer_cells(cells("adam", "1.5"), {"lr", "name"}, {"score"}));
  auto j = best.to_json();
  CHECK(j["params"]["lr"] == 0.5);
  CHECK(j["params"]["name"] == "adam");  // not JSON: a bare string
  CHECK(j["value"] == 1.5);
  CHECK(best.offer_cells(cells("\"sgd\"", "2"), {"lr", "name"}, {"score"}));
  CHECK(best.to_json()["params"]["name"] == "sgd");
  // Empty, out of range or not a number: NaN, never the best.
  CHECK_FALSE(best.offer_cells(cells("x", ""), {"lr", "name"}, {"score"}));
  CHECK_FALSE(best.offer_cells(cells("x", "1e999"), {"lr", "name"}, {"score"}));
  CHECK_FALSE(best.offer_cells(cells("x", "abc"), {"lr", "name"}, {"score"}));
  CHECK(best.value() == 2);
}

TEST_CASE("early stopping's rung and resource are row fields in their own columns, not metrics",
          "[results][asha]") {
  const TempDir scratch("results_rung");
  const auto path = (scratch.path / "results.csv").string();
  // An early-stopping sweep lists the two columns after its metrics (as the run does).
  const std::vector<std::string> metrics = {"score", "rung", "resource"};
  ResultRow stopped = row("t1", 0.25, {{"x", 2}});
  stopped.status = TrialStatus::kStopped;
  stopped.seed = 7;
  stopped.wall_s = 1.5;
  stopped.rank = 2;
  stopped.host = "h";
  stopped.device = "cpu";
  stopped.error = "stopped at rung 1";
  stopped.rung = 1;
  stopped.resource = 3;
  stopped.started = 1700000000.25;
  stopped.ended = 1700000001.75;
  ResultRow plain = row("t2", 0.5, {{"x", 3}});  // no rung: nan there, as an absent metric
  {
    ResultsTable t(path, {"x"}, metrics);
    t.open();
    t.append(stopped);
    t.append(plain);
  }
  // What the version that kept them in `metrics` wrote (tests/data/resume_v1), with the times
  // after wall_s (no times: nan).
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text ==
        "trial_id,status,x,score,rung,resource,seed,repeat,attempt,wall_s,started,ended,rank,"
        "host,device,error\n"
        "t1,stopped,2,0.25,1,3,7,0,1,1.500,1700000000.250,1700000001.750,2,h,cpu,stopped at "
        "rung 1\n"
        "t2,ok,3,0.5,nan,nan,0,0,1,0.000,nan,nan,0,,,\n");
  // A stray metric of that name is not what the column shows.
  ResultRow stray = stopped;
  stray.metrics["rung"] = 99;
  CHECK(ResultsTable(path, {"x"}, metrics).cells(stray)[4] == "1");

  // Read back (a resume's best.json): into the fields; best.json shows them beside the metrics.
  BestTracker best("score", true);
  ResultsTable again(path, {"x"}, metrics);
  const auto rows = again.open(/*check_only=*/true);
  REQUIRE(rows.size() == 2);
  auto ok = rows[0];
  ok["status"] = "ok";
  CHECK(best.offer_cells(ok, {"x"}, metrics));
  const nlohmann::json j = best.to_json();
  CHECK(j.at("metrics") == nlohmann::json{{"score", 0.25}});
  CHECK(j.at("rung") == 1);
  CHECK(j.at("resource") == 3.0);
  // Live rows give the same best.json.
  BestTracker live("score", true);
  ResultRow ok_row = stopped;
  ok_row.status = TrialStatus::kOk;
  CHECK(live.offer(ok_row));
  CHECK(live.to_json().at("metrics") == j.at("metrics"));
  CHECK(live.to_json().at("rung") == 1);
  // A row with none (no early stopping): no such keys.
  BestTracker none("score", true);
  CHECK(none.offer(plain));
  CHECK_FALSE(none.to_json().contains("rung"));
  CHECK_FALSE(none.to_json().contains("resource"));
}

TEST_CASE("a results.csv written before the time columns keeps its header and rows on resume",
          "[results]") {
  const TempDir scratch("results_times");
  const auto path = (scratch.path / "results.csv").string();
  const std::string old =
      "trial_id,status,x,score,seed,repeat,attempt,wall_s,rank,host,device,error\n"
      "t1,ok,2,0.25,7,0,1,1.500,1,h,cpu,\n";
  {
    std::ofstream(path) << old;
  }
  ResultRow r = row("t2", 0.5, {{"x", 3}});
  r.started = 1700000000.0;
  r.ended = 1700000002.5;
  {
    ResultsTable t(path, {"x"}, {"score"});
    CHECK(t.has_times());
    t.check();  // accepted as it is
    const auto rows = t.open();
    REQUIRE(rows.size() == 1);
    CHECK_FALSE(t.has_times());
    CHECK(t.header().size() == 12);
    CHECK(rows[0].count("started") == 0);
    t.append(r);  // without its times: one table
  }
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == old + "t2,ok,3,0.5,0,0,1,0.000,0,,,\n");

  // A new file has the columns, and a row read back has its times; an old row has none.
  const auto fresh = (scratch.path / "fresh.csv").string();
  {
    ResultsTable t(fresh, {"x"}, {"score"});
    t.open();
    CHECK(t.has_times());
    t.append(r);
  }
  const CsvTable t = read_csv_file(fresh);
  REQUIRE(t.rows.size() == 1);
  const ResultRow back = row_from_record(t.header, t.rows[0], {"x"}, {"score"});
  CHECK(back.started == 1700000000.0);
  CHECK(back.ended == 1700000002.5);
  const CsvTable o = read_csv_file(path);
  CHECK(std::isnan(row_from_record(o.header, o.rows[0], {"x"}, {"score"}).started));
}
