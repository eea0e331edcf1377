// Engine overhead: N zero-cost trials over W workers (W = ranks - 1), the whole engine path
// (assignment, trial directory, result message, results.csv row, best.json) with a runner that
// does nothing. Prints microseconds of engine time per trial.
//
//   mpirun -np 5 build/bench/dispatch_bench [--trials 10000] [--out DIR] [--trial-dirs]
//                                           [--reports R]
// --trial-dirs also creates each trial's directory (what real families need) to show its cost.
// --reports R: each trial reports R times at rungs and waits for the scheduler's Decision (the
// early-stopping path, a round trip to rank 0 each); the difference to R = 0 divided by R is
// the cost of one report.
// Also printed: rank 0's CPU time (user + system, getrusage) over the same span per trial, which
// a loaded machine disturbs less than the wall time.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "engine/coordinator.hpp"
#include "engine/mpi_transport.hpp"
#include "engine/search_registry.hpp"
#include "engine/sweep_output.hpp"
#include "engine/worker.hpp"
#include "sweeps/spec.hpp"

namespace {

// This process's user + system CPU seconds so far.
double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

class NullRunner final : public ns::engine::TrialRunner {
 public:
  ns::engine::TrialOutcome run(const ns::engine::TrialContext& ctx) override {
    const double x = ctx.trial.params.at("x").get<double>();
    for (double r : ctx.rungs) (void)ctx.report(r, {{"score", x}});
    return {ns::engine::TrialStatus::kOk, {{"score", x}}, ""};
  }
};

// The spec's list, with R rungs on every assignment: every report goes to rank 0 and back.
class ReportingScheduler final : public ns::engine::Scheduler {
 public:
  ReportingScheduler(std::vector<ns::sweeps::Trial> trials, std::vector<int> workers, int reports)
      : list_(std::move(trials), std::move(workers), ns::engine::Schedule::kDynamic, false) {
    for (int r = 1; r <= reports; ++r) rungs_.push_back(r);
  }
  int pending() const override { return list_.pending(); }
  int answered = 0;

 protected:
  const ns::engine::msg::Assign* choose(int w) const override { return list_.next(w); }
  ns::engine::msg::Assign commit(int w, std::optional<ns::engine::msg::Assign>) override {
    auto a = list_.take(w);
    a.rungs = rungs_;
    return a;
  }
  ns::engine::Verdict decide_result(int w, const ns::engine::msg::Assign& a,
                                    const ns::engine::ResultRow& row, bool draining) override {
    return list_.on_result(w, a, row, draining);
  }
  void requeue(int w, ns::engine::msg::Assign a) override { list_.retry(w, std::move(a)); }
  void lose_worker(int w) override { list_.on_worker_lost(w); }
  ns::engine::Decision decide_report(int, const ns::engine::msg::Report&) override {
    ++answered;
    return ns::engine::Decision::kContinue;
  }

 private:
  ns::engine::ListScheduler list_;
  std::vector<double> rungs_;
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
  int reports = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--trial-dirs")) trial_dirs = true;
    if (i + 1 >= argc) continue;
    if (!std::strcmp(argv[i], "--trials")) trials = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--out")) out = argv[i + 1];
    if (!std::strcmp(argv[i], "--reports")) reports = std::atoi(argv[i + 1]);
  }
  ns::engine::FamilyRegistry reg;
  reg.add(std::make_unique<NullFamily>(trial_dirs));
  const auto& fam = reg.get("null");
  nlohmann::json j = {{"family", "null"},
                      {"random", {{"count", trials}, {"params", {{"x", {{"dist", "uniform"}, {"low", 0}, {"high", 1}}}}}}},
                      {"metric", "score"}, {"mode", "max"}};
  auto spec = ns::engine::parse_spec(j, "bench", fam.schema());
  ns::engine::TrialExecutor ex(reg, "null", nlohmann::json::object(), out,
                               ns::engine::RankInfo{mpi.rank(), mpi.hostname(), "cpu", 1});
  auto transport = mpi.transport();
  if (mpi.rank() == 0) std::filesystem::remove_all(out);
  mpi.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  if (mpi.rank() == 0) {
    auto list = ns::sweeps::enumerate(spec);
    std::vector<ns::sweeps::Trial> specs = list;
    ns::engine::SweepOutput output({spec, fam.schema().metrics, out, false}, nlohmann::json::object(), trials);
    QuietSink sink(output);
    ns::engine::Coordinator c(*transport, sink, {}, [] { return std::string(); });
    std::vector<int> workers;
    for (int w = mpi.size() == 1 ? 0 : 1; w < std::max(1, mpi.size()); ++w) workers.push_back(w);
    ReportingScheduler sched(specs, workers, reports);
    auto s = mpi.size() == 1 ? c.run_serial(sched, ex) : c.run(sched);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    std::printf("dispatch: %d trials over %d worker(s)%s%s in %.3f s: %.1f us of engine time per "
                "trial, %.1f us of rank 0's CPU (%d rows, %d reports answered)\n",
                trials, std::max(1, mpi.size() - 1), trial_dirs ? " with trial dirs" : "",
                reports ? (" with " + std::to_string(reports) + " reports each").c_str() : "", secs,
                secs / trials * 1e6, cpu / trials * 1e6, s.recorded, sched.answered);
  } else {
    ns::engine::run_worker(*transport, ex, [] { return false; });
  }
  mpi.barrier();
  return 0;
}
