// core/: durations, atomic writes, and hash values pinned to the formulas trial ids and seeds
// were built with before core/ existed (a change here would stop old sweeps resuming).
#include "catch.hpp"
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/json.hpp"
#include "core/json_text.hpp"
#include "support/temp_dir.hpp"

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
  const ns::test::TempDir scratch("core");
  const fs::path& dir = scratch.path;
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

TEST_CASE("core::parse_json: bounded depth and size, no duplicate keys, clear messages", "[core][json]") {
  using ns::core::JsonLimits;
  auto error_of = [](const std::string& text, JsonLimits limits = JsonLimits::spec()) {
    try {
      ns::core::parse_json(text, "s.json", limits);
    } catch (const ns::Error& e) {
      CHECK(e.exit_code() == 2);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(ns::core::parse_json(R"({"a": [1, {"b": "x"}]})", "s.json") ==
        nlohmann::json{{"a", {1, {{"b", "x"}}}}});
  // 100000 levels: refused at the limit, before anything recursive touches the value.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK(error_of(deep) == "s.json: $" + [] {
          std::string p;
          for (int i = 0; i < 64; ++i) p += "[0]";
          return p;
        }() + ": nested deeper than 64 levels");
  CHECK(error_of(R"({"step": 1, "metrics": {"score": [[[1]]]}})",
                 JsonLimits{1 << 20, 4, true, false}) ==
        "s.json: $.metrics.score[0][0]: nested deeper than 4 levels");
  CHECK(error_of(R"({"grid": {"lr": [1], "lr": [2]}})") ==
        "s.json: $.grid.lr: the key appears twice in one object (which one counts would be a guess)");
  CHECK(error_of(R"({"x": 1e999})") ==
        "s.json: a number too large for a double (number overflow parsing '1e999'); write it "
        "within +-1.8e308");
  CHECK(error_of(R"({"base": {"tag": ["a", "b\u0000c"]}})") ==
        "s.json: $.base.tag[1]: a string holds a NUL character (\\u0000), which no file name, "
        "argument or CSV cell can carry");
  CHECK(error_of(R"({"a": 1)").rfind("s.json: not valid JSON: parse error at line 1, column 8", 0) == 0);
  CHECK(error_of(std::string(100, ' ') + "1", JsonLimits{64, 8, true, false}) ==
        "s.json: 101 bytes of JSON, more than the 64 allowed");
  // The same text with duplicates allowed: the last wins, as nlohmann does.
  CHECK(ns::core::parse_json(R"({"a": 1, "a": 2})", "s.json", JsonLimits{1 << 20, 8, false, false})
            .at("a") == 2);
  std::string why;
  CHECK_FALSE(ns::core::try_parse_json("[[", JsonLimits::trial_line(), &why));
  CHECK(why.rfind("not valid JSON", 0) == 0);
}

TEST_CASE("core::shown cuts any value without walking all of it", "[core][json]") {
  nlohmann::json v = 1;
  for (int i = 0; i < 200000; ++i) v = nlohmann::json::array({std::move(v)});
  CHECK(ns::core::shown(v) == std::string(57, '[') + "...");
  CHECK(ns::core::shown(nlohmann::json{{"a", 1}, {"b", "x"}}) == R"({"a":1,"b":"x"})");
  CHECK(ns::core::shown(std::string(1000, 'y')) == "\"" + std::string(56, 'y') + "...");
}

TEST_CASE("core::read_json_file refuses what is not a regular file", "[core][json]") {
  const ns::test::TempDir scratch("json");
  const auto& dir = scratch.path;
  const auto fifo = dir / "spec.json";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  try {
    ns::core::read_json_file(fifo.string());
    FAIL("a FIFO was read");
  } catch (const ns::Error& e) {
    CHECK(std::string(e.what()) == fifo.string() + ": expected a regular file, got a pipe, socket or device");
  }
}
