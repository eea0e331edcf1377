#include "catch.hpp"

#include "engine/coordinator.hpp"
#include "core/duration.hpp"
#include "engine/deadline.hpp"
#include "core/error.hpp"

using namespace ns::engine;
using ns::core::parse_duration;
using namespace std::chrono;

TEST_CASE("durations in the forms schedulers use", "[deadline]") {
  CHECK(*parse_duration("90s") == 90);
  CHECK(*parse_duration("30m") == 1800);
  CHECK(*parse_duration("1h30m") == 5400);
  CHECK(*parse_duration("1:30:00") == 5400);
  CHECK(*parse_duration("2-00:00:00") == 172800);
  CHECK(*parse_duration("45") == 2700);  // a bare number is minutes, as in Slurm
  CHECK(*parse_duration("1:30") == 90);  // Slurm's MM:SS
  CHECK(*parse_duration("1.5s") == 1.5);
  CHECK_FALSE(parse_duration("soon"));
  CHECK_FALSE(parse_duration("1:2:3:4"));
}

TEST_CASE("deadlines: durations, clock times, and bad input", "[deadline]") {
  const auto now = system_clock::now();
  CHECK(duration_cast<seconds>(parse_deadline("2h", now) - now).count() == 7200);
  auto clock = parse_deadline("2030-01-02T03:04", now);
  CHECK(clock > now);
  auto hm = parse_deadline("00:01", now);
  CHECK(hm > now);
  CHECK(hm - now <= hours(24));
  CHECK(duration_cast<seconds>(parse_deadline("30", now) - now).count() == 1800);
  CHECK(duration_cast<seconds>(parse_deadline("1:30:00", now) - now).count() == 5400);
  CHECK_THROWS_WITH(parse_deadline("tomorrow", now),
                    "--deadline: cannot read 'tomorrow'; expected a duration (90s, 30m, 2h, 1h30m, 1:30:00) or a clock time (18:30, 2026-11-22T18:30)");
}

TEST_CASE("a trial is started only if it fits before deadline - margin", "[deadline]") {
  const auto now = system_clock::now();
  const auto end = now + seconds(100);
  CHECK(fits_before_deadline(now, end, 10, 50));
  CHECK_FALSE(fits_before_deadline(now, end, 10, 95));
  CHECK_FALSE(fits_before_deadline(now, end, 120, 0));
  CHECK(expected_duration({}) == 0);
  CHECK(expected_duration({10, 10}) == Approx(10));
  CHECK(expected_duration({5, 15}) == Approx(15));  // mean 10 + sd 5
}

TEST_CASE("DurationStats keeps expected_duration as it goes") {
  DurationStats stats;
  CHECK(stats.expected() == 0);
  std::vector<double> seen;
  std::uint64_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const double d = 0.5 + static_cast<double>(x >> 40) / 1e5 * (i % 7 == 0 ? 30 : 1);
    seen.push_back(d);
    stats.add(d);
    if (i % 97 == 0 || i == 1999)
      CHECK(stats.expected() == Approx(expected_duration(seen)).epsilon(1e-9));
  }
  CHECK(stats.count() == seen.size());
}
