// core/: durations, atomic writes, and hash values pinned to the formulas trial ids and seeds
// were built with before core/ existed (a change here would stop old sweeps resuming).
#include "catch.hpp"
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/json.hpp"

namespace fs = std::filesystem;
using namespace ns::core;

TEST_CASE("hash and seed values are those of the copies they replace", "[core]") {
  CHECK(splitmix64(0) == 0xe220a8397b1dcdafULL);
  CHECK(splitmix64(42) == 0xbdd732262feb6e95ULL);
  CHECK(mix_seed(7, 0) == 0x63cbe1e459320dd7ULL);  // models/neural/rng.hpp's formula
  CHECK(mix_seed(7, 3) == 0x953aeb70673e29cbULL);
  CHECK(fnv1a("abc") == 0xe16801510db89efdULL);
  // sweeps::trial_seed's derivation for sweep seed 1
  CHECK((splitmix64(fnv1a("00000000deadbeef", splitmix64(1))) & ((1ULL << 53) - 1)) ==
        620243146782520ULL);
}

TEST_CASE("one duration rule and one job-loss formula", "[core]") {
  CHECK(*parse_duration("30") == 1800);
  CHECK(*parse_duration("1:30") == 90);
  CHECK(*parse_duration("1:30:00") == 5400);
  CHECK(*parse_duration("1-00:30") == 88200);
  CHECK(*parse_duration("1h30m") == 5400);
  CHECK_FALSE(parse_duration("4 hours"));
  CHECK_THROWS_WITH(parse_duration_s("0", "--time"), "--time '0' is zero; give a positive duration");
  CHECK(signal_margin_s(1800) == 180);
  CHECK(job_loss_s(0) == 0);
  CHECK(job_loss_s(1800) == 210);    // max(120, 180) + 30
  CHECK(job_loss_s(600) == 150);     // max(120, 60) + 30
  CHECK(job_loss_s(86400) == 330);   // max(120, 300) + 30
  CHECK(human_duration(7500) == "2 h 05 m");
}

TEST_CASE("atomic writes leave the whole file or none, and no temporary", "[core]") {
  const fs::path dir = fs::temp_directory_path() / ("ns_core_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_file_atomic(dir / "a.txt", "one");
  write_file_atomic(dir / "a.txt", "two");
  std::ifstream in(dir / "a.txt");
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == "two");
  CHECK_THROWS_AS(write_atomic_with(dir / "b.txt",
                                    [](const fs::path& tmp) {
                                      std::ofstream(tmp) << "half";
                                      throw ns::Error("interrupted");
                                    }),
                  ns::Error);
  CHECK_FALSE(fs::exists(dir / "b.txt"));
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  CHECK(files == 1);
  CHECK_THROWS_AS(write_file_atomic(dir / "no" / "c.txt", "x"), ns::Error);
  fs::remove_all(dir);
}

TEST_CASE("core::JsonFields: one message style, by path or by label", "[core][json]") {
  using ns::core::Interval;
  using ns::core::JsonFields;
  using ns::core::Naming;
  const nlohmann::json block = {{"size", 2.5}, {"n", 64.0}, {"big", 3}, {"name", ""},
                                {"mode", "cell"}, {"flag", "yes"}, {"rate", -1.0}};
  const JsonFields path(block, "$.data");
  const JsonFields label(block, "maskcnn parameter", Naming::kLabel);
  CHECK(path.name("size") == "$.data.size");
  CHECK(label.name("size") == "maskcnn parameter 'size'");
  // Absent members give the fallback, whatever their range.
  CHECK(path.integer("absent", -7, Interval::at_least(1)) == -7);
  CHECK(path.string("absent", "x", true) == "x");
  // Integers: an integral float counts; others do not.
  CHECK(path.integer("n", 0, Interval::at_least(1)) == 64);
  REQUIRE_THROWS_WITH(path.integer("size", 0, Interval::at_least(8)),
                      "$.data.size: expected an integer >= 8, got 2.5");
  REQUIRE_THROWS_WITH(label.integer("big", 0, Interval::closed(0, 2)),
                      "maskcnn parameter 'big': expected an integer in [0, 2], got 3");
  REQUIRE_THROWS_WITH(path.number("rate", 0, Interval::above(0)),
                      "$.data.rate: expected a finite number > 0, got -1.0");
  REQUIRE_THROWS_WITH(path.number("rate", 0, Interval::open(0, 1)),
                      "$.data.rate: expected a finite number in (0, 1), got -1.0");
  REQUIRE_THROWS_WITH(path.boolean("flag", false), "$.data.flag: expected true or false, got \"yes\"");
  REQUIRE_THROWS_WITH(path.string("name", "", true), "$.data.name: expected a non-empty string, got \"\"");
  CHECK(path.choice("mode", "", {"cell", "trial"}) == "cell");
  REQUIRE_THROWS_WITH(path.choice("flag", "", {"cell", "trial"}),
                      "$.data.flag: expected one of \"cell\", \"trial\", got \"yes\"");
  enum class Mode { kCell, kTrial };
  CHECK(path.choice_of("mode", Mode::kTrial, {{"cell", Mode::kCell}, {"trial", Mode::kTrial}}) ==
        Mode::kCell);
  CHECK(path.choice_of("absent", Mode::kTrial, {{"cell", Mode::kCell}}) == Mode::kTrial);
  // Every error is bad input (exit code 2).
  try {
    path.integer("size", 0);
    FAIL("no error");
  } catch (const ns::Error& e) {
    CHECK(e.exit_code() == ns::kExitBadInput);
  }
  // A huge unsigned value is refused, not wrapped.
  const nlohmann::json huge = {{"seed", 18446744073709551615ULL}};
  REQUIRE_THROWS_WITH(JsonFields(huge, "$").integer("seed", 0, Interval::at_least(0)),
                      "$.seed: expected an integer >= 0, got 18446744073709551615");
}
