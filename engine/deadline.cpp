#include "engine/deadline.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <regex>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace ns::engine {
namespace {

std::optional<WallTime> parse_clock(const std::string& s, WallTime now) {
  std::smatch m;
  static const std::regex full(R"((\d{4})-(\d{2})-(\d{2})[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)");
  static const std::regex hm(R"((\d{1,2}):(\d{2})(?::(\d{2}))?)");
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm = *std::localtime(&t);
  if (std::regex_match(s, m, full)) {
    tm.tm_year = std::stoi(m[1]) - 1900;
    tm.tm_mon = std::stoi(m[2]) - 1;
    tm.tm_mday = std::stoi(m[3]);
    tm.tm_hour = std::stoi(m[4]);
    tm.tm_min = std::stoi(m[5]);
    tm.tm_sec = m[6].matched ? std::stoi(m[6]) : 0;
  } else if (std::regex_match(s, m, hm)) {
    tm.tm_hour = std::stoi(m[1]);
    tm.tm_min = std::stoi(m[2]);
    tm.tm_sec = m[3].matched ? std::stoi(m[3]) : 0;
    if (tm.tm_hour > 23 || tm.tm_min > 59) return std::nullopt;
  } else {
    return std::nullopt;
  }
  tm.tm_isdst = -1;
  auto when = std::chrono::system_clock::from_time_t(std::mktime(&tm));
  if (!std::regex_match(s, m, full) && when <= now) when += std::chrono::hours(24);
  return when;
}

std::string run_capture(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof(buf), p)) out += buf;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

WallTime parse_deadline(const std::string& text, WallTime now, const std::string& what) {
  // "18:30" and "2026-11-22T18:30" are clock times; every other form is a duration.
  static const std::regex clock_form(R"(\d{1,2}:\d{2}|\d{4}-\d{2}-\d{2}[T ].*)");
  if (std::regex_match(text, clock_form)) {
    if (auto c = parse_clock(text, now)) return *c;
  } else if (auto d = core::parse_duration(text)) {
    return now + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                     std::chrono::duration<double>(*d));
  }
  throw Error(fmt::format("{}: cannot read '{}'; expected a duration (90s, 30m, 2h, 1h30m, "
                          "1:30:00) or a clock time (18:30, 2026-11-22T18:30)", what, text));
}

std::optional<WallTime> scheduler_deadline(WallTime now) {
  if (const char* job = std::getenv("SLURM_JOB_ID")) {
    const std::string end = run_capture(fmt::format("squeue -h -j {} -o %e 2>/dev/null", job));
    if (auto c = parse_clock(end, now)) return c;
    if (!end.empty()) log::warn("Slurm job {}: cannot read its end time '{}'", job, end);
    return std::nullopt;
  }
  if (const char* job = std::getenv("LSB_JOBID")) {
    // time_left prints "H:MM L" (limit) or "H:MM E" (estimate); "-" without a run limit.
    std::string left = run_capture(fmt::format("bjobs -noheader -o time_left {} 2>/dev/null", job));
    left = left.substr(0, left.find(' '));
    std::smatch m;
    static const std::regex hm(R"((\d+):(\d{2}))");
    if (std::regex_match(left, m, hm)) {
      return now + std::chrono::seconds(std::stol(m[1]) * 3600 + std::stol(m[2]) * 60);
    }
  }
  return std::nullopt;
}

}  // namespace ns::engine
