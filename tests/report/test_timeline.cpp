// The timeline (report/timeline.hpp) on hand-worked rows: busy seconds, idle gaps, pauses
// between rungs, several runs, and a directory whose results.csv predates the times.
#include "catch.hpp"

#include "report/results.hpp"
#include "report/timeline.hpp"
#include "test_util.hpp"

using namespace ns::report;
using Catch::Detail::Approx;

namespace {

Segment seg(const std::string& trial, int rank, double start, double end,
            const std::string& status = "ok") {
  return Segment{trial, ns::engine::parse_trial_status(status), rank, start, end, ""};
}

RunSpan run(double started, std::optional<double> ended, int workers) {
  return RunSpan{started, ended, workers};
}

}  // namespace

TEST_CASE("timeline: busy seconds, idle gaps and utilization of one run", "[timeline]") {
  // Run [1000, 1010] with 2 workers. Rank 1: [1000, 1004] and [1006, 1010]; rank 2: [1001, 1005].
  const Timeline t =
      build_timeline({seg("a", 1, 1000, 1004), seg("b", 2, 1001, 1005), seg("c", 1, 1006, 1010)},
                     {run(1000, 1010, 2)});
  REQUIRE(t.has_times);
  REQUIRE(t.why_none.empty());
  REQUIRE(t.runs.size() == 1);
  const RunUse& u = t.runs[0];
  CHECK(u.span_s() == 10);
  CHECK(u.workers == 2);
  CHECK(u.busy_s == Approx(12));        // 8 + 4
  CHECK(u.utilization == Approx(0.6));  // 12 / (2 x 10)
  CHECK(t.utilization == Approx(0.6));
  REQUIRE(u.ranks.size() == 2);
  CHECK(u.ranks[0].rank == 1);
  CHECK(u.ranks[0].busy_s == Approx(8));
  CHECK(u.ranks[1].busy_s == Approx(4));
  // Gaps: rank 1 [1004, 1006]; rank 2 [1000, 1001] and [1005, 1010].
  REQUIRE(u.gaps.size() == 3);
  CHECK(u.gaps[0].rank == 1);
  CHECK(u.gaps[0].start == 1004);
  CHECK(u.gaps[0].end == 1006);
  CHECK(u.gaps[1].rank == 2);
  CHECK(u.gaps[1].end == 1001);
  CHECK(u.gaps[2].start == 1005);
  CHECK(u.gaps[2].end == 1010);
  CHECK(t.origin == 1000);
  const std::string text = render_timeline_text(t);
  CHECK(text.find("utilization: 60.0% (12.0 of 20.0 rank-seconds busy, 1 run)") !=
        std::string::npos);
  CHECK(text.find("rank 1 80.0% (2 rows), rank 2 40.0% (1 row)") != std::string::npos);
}

TEST_CASE("timeline: a pack's rows count once; stretches without times are left out",
          "[timeline]") {
  const Timeline t =
      build_timeline({seg("a", 1, 0, 5), seg("b", 1, 0, 5), seg("c", 1, 5, 6), seg("x", 1, NAN, 3)},
                     {run(0, 10, 1)});
  REQUIRE(t.runs.size() == 1);
  CHECK(t.segments.size() == 3);
  CHECK(t.runs[0].busy_s == Approx(6));
  CHECK(t.utilization == Approx(0.6));
}

TEST_CASE(
    "timeline: a promoted trial's pause between rungs, and a paused visit that became "
    "its stopped row",
    "[timeline]") {
  // Trial a: a visit paused on rank 1 [0, 2], promoted, its last visit on rank 2 [5, 8].
  // Trial b: paused [1, 3] on rank 2, never promoted: the journal's visit and its "stopped"
  // row are the same stretch, kept once (as the row).
  const Timeline t = build_timeline({seg("a", 1, 0, 2, "paused"), seg("a", 2, 5, 8, "ok"),
                                     seg("b", 2, 1, 3, "paused"), seg("b", 2, 1, 3, "stopped")},
                                    {run(0, 10, 2)});
  REQUIRE(t.segments.size() == 3);
  REQUIRE(t.pauses.size() == 1);
  CHECK(t.pauses[0].trial == "a");
  CHECK(t.pauses[0].from_rank == 1);
  CHECK(t.pauses[0].to_rank == 2);
  CHECK(t.pauses[0].start == 2);
  CHECK(t.pauses[0].end == 5);
  int stopped = 0;
  for (const Segment& s : t.segments) stopped += s.trial == "b" && s.status == ns::engine::TrialStatus::kStopped;
  CHECK(stopped == 1);
  CHECK(t.utilization == Approx((2.0 + 3 + 2) / 20));
  CHECK(render_timeline_text(t).find("1 pause(s) between rungs, 3.0 s in all") !=
        std::string::npos);
}

TEST_CASE("timeline: two runs in one directory, the second killed before its end", "[timeline]") {
  // Run 1 [0, 10], 2 workers, 15 busy rank-s. Run 2 from 100, 1 worker (rank 0 trains alone),
  // no recorded end: it ends with its last stretch (108); 6 busy s.
  const Timeline t = build_timeline(
      {seg("a", 1, 0, 10), seg("b", 2, 2, 7), seg("c", 0, 101, 104), seg("d", 0, 105, 108)},
      {run(100, std::nullopt, 1), run(0, 10, 2)});
  REQUIRE(t.runs.size() == 2);
  CHECK(t.runs[0].started == 0);
  CHECK(t.runs[0].busy_s == Approx(15));
  CHECK(t.runs[0].utilization == Approx(0.75));
  CHECK(t.runs[1].open);
  CHECK(t.runs[1].ended == 108);
  CHECK(t.runs[1].busy_s == Approx(6));
  CHECK(t.runs[1].utilization == Approx(0.75));
  CHECK(t.busy_s == Approx(21));
  CHECK(t.capacity_s == Approx(28));  // 2 x 10 + 1 x 8
  CHECK(t.utilization == Approx(0.75));
  // Still running: the open run ends now.
  const Timeline live = build_timeline({seg("c", 0, 101, 104)}, {run(100, std::nullopt, 1)}, 110.0);
  CHECK(live.runs[0].ended == 110);
  CHECK(live.utilization == Approx(0.3));
}

TEST_CASE("timeline: rows without recorded runs form one run of the ranks seen", "[timeline]") {
  const Timeline t = build_timeline({seg("a", 1, 10, 14), seg("b", 2, 12, 20)}, {});
  REQUIRE(t.runs.size() == 1);
  CHECK_FALSE(t.runs[0].recorded);
  CHECK(t.runs[0].workers_from_rows);
  CHECK(t.runs[0].workers == 2);
  CHECK(t.runs[0].span_s() == 10);
  CHECK(t.utilization == Approx(12.0 / 20));
  CHECK(build_timeline({}, {run(0, 1, 1)}).why_none == "no row has times yet");
}

TEST_CASE("timeline: a results.csv written before the times says so; one with them loads",
          "[timeline]") {
  test::TempDir tmp;
  const auto old_dir = tmp.path / "old";
  std::filesystem::create_directories(old_dir);
  test::write_text(old_dir / "results.csv",
                   "trial_id,status,x,score,seed,repeat,attempt,wall_s,rank,host,device,error\n"
                   "t1,ok,1,0.5,1,0,1,1.000,1,h,cpu,\n");
  const Timeline none = load_timeline(load_results(old_dir));
  CHECK_FALSE(none.has_times);
  CHECK(render_timeline_text(none).find("written before this version") != std::string::npos);
  CHECK(timeline_json(none).contains("why_none"));

  const auto dir = tmp.path / "new";
  std::filesystem::create_directories(dir);
  test::write_text(
      dir / "results.csv",
      "trial_id,status,x,score,seed,repeat,attempt,wall_s,started,ended,rank,host,device,error\n"
      "t1,failed,1,nan,1,0,1,1.000,100.000,101.000,1,h,cpu,boom\n"
      "t1,ok,1,0.5,1,0,2,2.000,101.500,103.500,1,h,cpu,\n"
      "t2,ok,2,0.7,2,0,1,3.000,100.000,103.000,2,h,cpu,\n");
  test::write_text(dir / "state.json",
                   R"({"state": "complete", "started": 99.5, "ended": 104.0, "workers": 2,
                       "runs": [{"started": 99.5, "ended": 104.0, "workers": 2}]})");
  const Timeline t = load_timeline(load_results(dir));
  REQUIRE(t.has_times);
  CHECK(t.segments.size() == 3);  // every attempt, not only a trial's last row
  CHECK(t.busy_s == Approx(6));
  CHECK(t.utilization == Approx(6.0 / 9));
  const auto j = timeline_json(t);
  CHECK(j.at("segments").size() == 3);
  CHECK(j.at("segments")[0].at("start") == 0.5);  // seconds from the run's start
}
