// Engine overhead: N zero-cost trials over W workers (W = ranks - 1), the whole engine path
// (assignment, trial directory, result message, results.csv row, best.json) with a runner that
// does nothing. Prints microseconds of engine time per trial.
//
//   mpirun -np 5 build/bench/dispatch_bench [--trials 10000] [--out DIR] [--trial-dirs]
// --trial-dirs also creates each trial's directory (what real families need) to show its cost.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "engine/coordinator.hpp"
#include "engine/mpi_transport.hpp"
#include "engine/sweep_output.hpp"
#include "engine/worker.hpp"
#include "sweeps/spec.hpp"

namespace {

class NullRunner final : public ns::engine::TrialRunner {
 public:
  ns::engine::TrialOutcome run(const ns::engine::TrialContext& ctx) override {
    return {ns::engine::TrialStatus::kOk, {{"score", ctx.trial.params.at("x").get<double>()}}, ""};
  }
};

class NullFamily final : public ns::engine::ModelFamily {
 public:
  explicit NullFamily(bool trial_dirs) : ModelFamily(make_schema()), trial_dirs_(trial_dirs) {}
  std::string description() const override { return "a runner that does nothing"; }
  ns::engine::DataFacts check_data(const nlohmann::json&, const std::string&) const override {
    return {};
  }
  bool wants_trial_dir() const override { return trial_dirs_; }
  std::unique_ptr<ns::engine::TrialRunner> make_runner() const override {
    return std::make_unique<NullRunner>();
  }

 private:
  static ns::sweeps::FamilySchema make_schema() {
    ns::sweeps::FamilySchema s;
    s.name = "null";
    s.model_defaults = {{"x", 0.0}};
    s.training_defaults = nlohmann::json::object();
    s.metrics = {"score"};
    return s;
  }
  bool trial_dirs_;
};

class QuietSink final : public ns::engine::ResultSink {
 public:
  explicit QuietSink(ns::engine::SweepOutput& out) : out_(out) {}
  void record(const ns::engine::ResultRow& r) override { out_.record(r); }

 private:
  ns::engine::SweepOutput& out_;
};

}  // namespace

int main(int argc, char** argv) {
  ns::engine::MpiSession mpi(&argc, &argv);
  int trials = 10000;
  std::string out = "/tmp/ns_dispatch_bench";
  bool trial_dirs = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--trial-dirs")) trial_dirs = true;
    if (i + 1 >= argc) continue;
    if (!std::strcmp(argv[i], "--trials")) trials = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--out")) out = argv[i + 1];
  }
  ns::engine::FamilyRegistry reg;
  reg.add(std::make_unique<NullFamily>(trial_dirs));
  const auto& fam = reg.get("null");
  nlohmann::json j = {{"family", "null"},
                      {"random", {{"count", trials}, {"params", {{"x", {{"dist", "uniform"}, {"low", 0}, {"high", 1}}}}}}},
                      {"metric", "score"}, {"mode", "max"}};
  auto spec = ns::sweeps::parse_spec_with(j, "bench", fam.schema());
  ns::engine::TrialExecutor ex(reg, "null", nlohmann::json::object(), out,
                               ns::engine::RankInfo{mpi.rank(), mpi.hostname(), "cpu", 1});
  auto transport = mpi.transport();
  if (mpi.rank() == 0) std::filesystem::remove_all(out);
  mpi.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  if (mpi.rank() == 0) {
    auto list = ns::sweeps::enumerate(spec);
    std::vector<ns::sweeps::Trial> specs = list;
    ns::engine::SweepOutput output({spec, fam.schema().metrics, out, false}, nlohmann::json::object(), trials);
    QuietSink sink(output);
    ns::engine::Coordinator c(*transport, sink, {}, [] { return std::string(); });
    auto s = mpi.size() == 1 ? c.run_serial(specs, ex) : c.run(specs);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("dispatch: %d trials over %d worker(s)%s in %.3f s: %.1f us of engine time per trial (%d rows)\n",
                trials, std::max(1, mpi.size() - 1), trial_dirs ? " with trial dirs" : "", secs,
                secs / trials * 1e6, s.recorded);
  } else {
    ns::engine::run_worker(*transport, ex, [] { return false; });
  }
  mpi.barrier();
  return 0;
}
