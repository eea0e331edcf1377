// Runs a quadratic sweep over real MPI (3 ranks: a coordinator and two workers), then checks
// on rank 0 that every trial has exactly one row, that both workers took trials (pull
// scheduling) and that best.json names the known optimum. All ranks take part in the sweep and
// in the final broadcast of the verdict, so a failed check cannot hang the job.
#define CATCH_CONFIG_RUNNER
#include "catch.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

#include "engine/coordinator.hpp"
#include "engine/csv.hpp"
#include "engine/mpi_transport.hpp"
#include "engine/search_registry.hpp"
#include "engine/sweep_output.hpp"
#include "engine/worker.hpp"
#include "models/quadratic.hpp"
#include "sweeps/spec.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
fs::path g_out;
int g_trials = 0;
}  // namespace

TEST_CASE("3-rank sweep: one row per trial, both workers used, known optimum", "[mpi]") {
  auto csv = ns::engine::read_csv_file((g_out / "results.csv").string());
  REQUIRE(static_cast<int>(csv.rows.size()) == g_trials);
  std::set<std::string> ids, ranks;
  const auto col = [&](const std::string& name) {
    return std::find(csv.header.begin(), csv.header.end(), name) - csv.header.begin();
  };
  for (auto& r : csv.rows) {
    ids.insert(r[0]);
    ranks.insert(r[col("rank")]);
    CHECK(r[1] == "ok");
  }
  CHECK(static_cast<int>(ids.size()) == g_trials);
  CHECK(ranks == std::set<std::string>{"1", "2"});
  std::ifstream in(g_out / "best.json");
  json best = json::parse(in);
  CHECK(best["params"]["x"] == 1.0);
  CHECK(best["params"]["y"] == -2.0);
  CHECK(best["params"]["k"] == 3);
  CHECK(best["value"].get<double>() == Approx(0.3));
}

int main(int argc, char** argv) {
  ns::engine::MpiSession mpi(&argc, &argv);
  ns::engine::FamilyRegistry reg;
  reg.add(ns::models::quadratic_family());
  const auto& fam = reg.get("quadratic");
  json j = {{"family", "quadratic"},
            {"grid", {{"x", {-1.0, 0.0, 1.0, 2.0}}, {"y", {-3.0, -2.0, -1.0}}, {"k", {0, 1, 2, 3}}}},
            {"training", {{"sleep_s", 0.002}}},
            {"metric", "score"},
            {"mode", "max"}};
  auto spec = ns::engine::parse_spec(j, "mpi.json", fam.schema());
  auto trials = ns::sweeps::enumerate(spec);
  g_trials = static_cast<int>(trials.size());
  g_out = fs::temp_directory_path() / ("ns_mpi_test_" + std::to_string(mpi.broadcast_int(::getpid())));
  ns::engine::RankInfo info{mpi.rank(), mpi.hostname(), "cpu", 1};
  ns::engine::TrialExecutor ex(reg, "quadratic", json::object(), g_out.string(), info);
  auto transport = mpi.transport();
  if (mpi.rank() == 0) {
    fs::remove_all(g_out);
    ns::engine::SweepOutput out({spec, fam.schema().metrics, g_out.string(), false}, json::object(), g_trials);
    std::vector<ns::sweeps::Trial> specs = trials;
    ns::engine::Coordinator c(*transport, out, {}, [] { return std::string(); });
    c.run(specs);
  } else {
    ns::engine::run_worker(*transport, ex, [] { return false; });
  }
  mpi.barrier();
  int rc = 0;
  if (mpi.rank() == 0) rc = Catch::Session().run(argc, argv);
  rc = mpi.broadcast_int(rc);
  if (mpi.rank() == 0) fs::remove_all(g_out);
  return rc;
}
