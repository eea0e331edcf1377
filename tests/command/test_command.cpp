// models/command/report.* and process.*: hostile report lines, line splitting, argv holding a
// NUL, and the processes a program leaves outside its process group.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <string>
#include <thread>

#include "catch.hpp"
#include "core/error.hpp"
#include "models/command/process.hpp"
#include "models/command/report.hpp"

using namespace ns::models::command;
using Kind = ReportLine::Kind;

namespace {
const std::vector<std::string> kMetrics = {"score", "loss"};

std::string nested(int depth) {
  return "{\"step\": 1, \"metrics\": {\"score\": " + std::string(depth, '[') + std::string(depth, ']') + "}}";
}

// Runs the child to its end, returning its stdout lines.
std::vector<std::string> run_to_end(ChildProcess& c) {
  std::vector<std::string> lines;
  const auto add = [&](int s, const std::string& l) {
    if (s == 1) lines.push_back(l);
  };
  while (!c.poll_exit()) c.pump(std::chrono::milliseconds(20), add);
  for (int i = 0; i < 100 && c.pump(std::chrono::milliseconds(20), add); ++i) {
  }
  return lines;
}

// A child of this process started before the program (as MPI's own helpers would be).
struct OtherChild {
  pid_t pid = ::fork();
  OtherChild() {
    if (pid == 0) {
      ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~OtherChild() {
    ::kill(pid, SIGKILL);
    int st = 0;
    ::waitpid(pid, &st, 0);
  }
};

bool alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const auto close = stat.rfind(')');
  return close != std::string::npos && stat.size() > close + 2 && stat[close + 2] != 'Z';
}
}  // namespace

TEST_CASE("report lines: reports, finals, text") {
  auto r = parse_report_line(R"({"step": 3, "metrics": {"score": 0.5, "loss": "nan", "x": 1}})", kMetrics);
  REQUIRE(r.kind == Kind::kReport);
  CHECK(r.step == 3);
  CHECK(r.metrics.at("score") == 0.5);
  CHECK(std::isnan(r.metrics.at("loss")));
  CHECK(r.unknown == std::vector<std::string>{"x"});
  r = parse_report_line(R"(  {"final": {"score": "-inf", "loss": null}})", kMetrics);
  REQUIRE(r.kind == Kind::kFinal);
  CHECK(std::isinf(r.metrics.at("score")));
  CHECK(parse_report_line("epoch 3: loss 0.2", kMetrics).kind == Kind::kText);
  CHECK(parse_report_line(R"({"epoch": 3})", kMetrics).kind == Kind::kText);
  CHECK(parse_report_line("", kMetrics).kind == Kind::kText);
}

TEST_CASE("report lines: hostile or broken lines are malformed, with the reason") {
  // 100000 deep: parsed recursively this crashed the rank (SIGSEGV).
  auto r = parse_report_line(nested(100000), kMetrics);
  REQUIRE(r.kind == Kind::kMalformed);
  CHECK_THAT(r.why, Catch::Contains("not JSON") && Catch::Contains("deeper than 32"));
  CHECK(parse_report_line(nested(20), kMetrics).kind == Kind::kMalformed);  // a list, not a number
  r = parse_report_line(R"({"step": 1, "step": 2})", kMetrics);
  REQUIRE(r.kind == Kind::kMalformed);
  CHECK_THAT(r.why, Catch::Contains("twice"));
  r = parse_report_line(R"({"step": "three", "metrics": {"score": 1}})", kMetrics);
  REQUIRE(r.kind == Kind::kMalformed);
  CHECK(r.why == "\"step\": expected a number, got \"three\"");
  r = parse_report_line(R"({"final": {"score": "high"}})", kMetrics);
  REQUIRE(r.kind == Kind::kMalformed);
  CHECK_THAT(r.why, Catch::Contains("\"final\".score: expected a number"));
  CHECK(parse_report_line(R"({"final": [1]})", kMetrics).kind == Kind::kMalformed);
  CHECK(parse_report_line("{\"step\": 1, \"metrics\": {\"score\": 1e999}}", kMetrics).kind == Kind::kMalformed);
  const std::string big = "{\"step\": 1, \"x\": \"" + std::string(std::size_t{2} << 20, 'a') + "\"}";
  CHECK(parse_report_line(big, kMetrics).kind == Kind::kMalformed);
  CHECK(parse_report_line("{not json", kMetrics).kind == Kind::kMalformed);
  CHECK(head_of(std::string(1000, 'a'), 10) == "aaaaaaaaaa ... (1000 bytes)");
}

TEST_CASE("split_lines: complete lines, empty lines, a runaway line in pieces") {
  std::vector<std::string> got;
  auto add = [&](const std::string& l) { got.push_back(l); };
  std::string buf = "a\n\nbc\nrest";
  split_lines(buf, false, add);
  CHECK(got == std::vector<std::string>{"a", "", "bc"});
  CHECK(buf == "rest");
  split_lines(buf, true, add);
  CHECK(got.back() == "rest");
  CHECK(buf.empty());
  got.clear();
  buf = std::string(kMaxLine * 2 + 5, 'x');
  split_lines(buf, false, add);
  CHECK(got.size() == 2);
  CHECK(buf.size() == 5);
  got.clear();
  buf = std::string(kMaxLine + 3, 'y') + "\n";
  split_lines(buf, false, add);
  REQUIRE(got.size() == 2);
  CHECK(got[0].size() == kMaxLine);
  CHECK(got[1] == "yyy");
}

TEST_CASE("an argument or variable holding a NUL is refused before anything runs") {
  const std::vector<std::string> env = {"PATH=/usr/bin:/bin"};
  std::string arg = "ab";
  arg += '\0';
  arg += "cd";
  REQUIRE_THROWS_WITH(ChildProcess({"echo", arg}, env, "/"),
                      Catch::Contains("argv[1] holds a NUL byte after \"ab\" (byte 2)"));
  REQUIRE_THROWS_WITH(ChildProcess({"echo"}, {"PATH=/usr/bin:/bin", std::string("X=a\0b", 5)}, "/"),
                      Catch::Contains("the variable X holds a NUL byte"));
}

TEST_CASE("end_strays ends what the program left outside its process group, and only that") {
  const OtherChild mine;
  // The program starts a grandchild in a session of its own (setsid), waits until it is there
  // (it prints its pid after setsid) and exits.
  ChildProcess c({"/bin/sh", "-c", "p=$(setsid sh -c 'echo $$; exec sleep 1000 >/dev/null 2>&1' &); echo $p"},
                 {"PATH=/usr/bin:/bin"}, "/");
  const auto lines = run_to_end(c);
  REQUIRE(!lines.empty());
  const pid_t stray = static_cast<pid_t>(std::stol(lines.at(0)));
  // The grandchild outlived its parent and left the group; as the subreaper we are its parent.
  for (int i = 0; i < 100 && !children_of(::getpid()).count(stray); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(alive(stray));
  CHECK(children_of(::getpid()).count(stray) == 1);
  CHECK(c.end_strays(std::chrono::milliseconds(2000)) == 1);
  CHECK(!alive(stray));
  CHECK(children_of(::getpid()).count(stray) == 0);  // reaped, not a zombie
  CHECK(alive(mine.pid));
}
