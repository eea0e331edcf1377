#include "models/neural/runner.hpp"

#include "catch.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

#include "models/neural/dataset.hpp"
#include "models/neural/family.hpp"
#include "models/neural/h5.hpp"
#include "resume_state.hpp"
#include "support/temp_dir.hpp"

using namespace ns::models::neural;
using ns::test::resume_state;
using ns::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Tiny data and a few dozen iterations: the whole trial takes well under a second.
const nlohmann::json kData = {{"kind", "simulated"}, {"seed", 3},   {"images", 200},
                              {"size", 16},          {"neurons", 6}, {"repeats", 4}};

nlohmann::json tiny_params() {
  nlohmann::json p = ns::models::neural::maskcnn_family()->schema().model_defaults;
  p.update(maskcnn_family()->schema().training_defaults);
  p.update({{"channels", 4},
            {"k1", 5},
            {"pool_size", 2},
            {"batch_size", 32},
            {"eval_every", 5},
            {"patience", 2},
            {"max_iters_per_phase", 15},
            {"phases", 2},
            {"lr", 0.01}});
  return p;
}

ns::engine::TrialOutcome run_trial(ns::engine::TrialRunner& runner, const fs::path& dir,
                                   const nlohmann::json& params, const nlohmann::json& data,
                                   std::function<bool()> stop = [] { return false; },
                                   std::uint64_t seed = 11) {
  ns::sweeps::Trial spec;
  spec.id = "t" + std::to_string(seed);
  spec.seed = seed;
  spec.params = params;
  fs::create_directories(dir);
  ns::engine::TrialContext ctx{spec, data, dir};
  ctx.stop_requested = std::move(stop);
  return runner.run(ctx);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t count_lines(const fs::path& p) {
  std::ifstream in(p);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

void require_same_metrics(const ns::engine::TrialOutcome& a, const ns::engine::TrialOutcome& b) {
  REQUIRE(a.metrics.size() == b.metrics.size());
  for (const auto& [name, value] : a.metrics) {
    if (name == "ms_per_iter" || name == "cpu_ms_per_iter") continue;  // timings
    INFO(name << ": " << value << " vs " << b.metrics.at(name));
    if (std::isnan(value)) {
      REQUIRE(std::isnan(b.metrics.at(name)));
    } else {
      REQUIRE(std::abs(value - b.metrics.at(name)) <= 1e-6);
    }
  }
}

}  // namespace

TEST_CASE("a tiny trial writes every per-trial file and reports every metric", "[runner]") {
  TempDir dir;
  auto runner = maskcnn_family()->make_runner();
  const auto out = run_trial(*runner, dir.path, tiny_params(), kData);
  INFO(out.error);
  REQUIRE(out.status == ns::engine::TrialStatus::kOk);
  for (const auto& name : maskcnn_metrics()) REQUIRE(out.metrics.count(name) == 1);
  REQUIRE(out.metrics.size() == maskcnn_metrics().size());
  REQUIRE(out.metrics.at("iterations") > 0);
  REQUIRE(out.metrics.at("iterations") <= 30);
  REQUIRE(out.metrics.at("best_iteration") <= out.metrics.at("iterations"));
  REQUIRE(std::isfinite(out.metrics.at("test_ccnorm")));
  REQUIRE(std::isfinite(out.metrics.at("test_fev")));
  REQUIRE(out.metrics.at("test_ccmax") > 0);
  REQUIRE(out.metrics.at("ms_per_iter") > 0);
  REQUIRE(out.metrics.at("cpu_ms_per_iter") > 0);

  for (const char* f : {"config.json", "curve.csv", "model.pt", "optimizer.pt", "best_checkpoint.json",
                        "neurons.csv", "predictions.h5", "readout_masks.json"})
    REQUIRE(fs::exists(dir.path / f));
  REQUIRE_FALSE(fs::exists(dir.path / "resume.pt"));

  const auto cfg = nlohmann::json::parse(slurp(dir.path / "config.json"));
  REQUIRE(cfg.at("seed") == 11);
  REQUIRE(cfg.at("dataset").at("neurons") == 6);
  REQUIRE(cfg.at("model").at("channels") == 4);
  REQUIRE(cfg.at("training").at("batch_size") == 32);

  const std::string curve = slurp(dir.path / "curve.csv");
  REQUIRE(curve.rfind("iteration,phase,lr,train_loss,val_loss\n0,1,0.01,nan,", 0) == 0);
  REQUIRE(count_lines(dir.path / "neurons.csv") == 1 + 6);
  REQUIRE(slurp(dir.path / "neurons.csv").rfind("neuron,val_pearson,val_ccmax,", 0) == 0);

  // The best checkpoint's val loss is the reported one.
  const auto best = nlohmann::json::parse(slurp(dir.path / "best_checkpoint.json"));
  REQUIRE(best.at("val_loss").get<double>() == Approx(out.metrics.at("val_loss")).epsilon(1e-5));
  REQUIRE(best.at("iteration").get<double>() == out.metrics.at("best_iteration"));
  REQUIRE(best.at("phase").get<int>() >= 1);
  REQUIRE(best.at("phase").get<int>() <= 2);
  // The curve is rewritten at every evaluation; its last row is the final evaluation.
  REQUIRE(count_lines(dir.path / "curve.csv") >= 3);

  auto h5 = h5::File::open((dir.path / "predictions.h5").string());
  const auto data = simulate_v1(parse_data_spec(kData).sim);
  const auto test = data.indices(kTest);
  const auto m_test = static_cast<std::int64_t>(test.size());
  REQUIRE(h5.info("pred").dims == std::vector<std::int64_t>{m_test, 6});
  const auto index = h5.read_int("index");
  REQUIRE(std::vector<std::int64_t>(index.begin(), index.end()) == test);
  for (float p : h5.read_float("pred")) REQUIRE((std::isfinite(p) && p >= 0));

  const auto masks = nlohmann::json::parse(slurp(dir.path / "readout_masks.json"));
  REQUIRE(masks.at("shape") == nlohmann::json::array({6, 6, 6}));  // 16 - 5 + 1 = 12, pool 2
  REQUIRE(masks.at("values").size() == 6u * 6 * 6);
}

TEST_CASE("a trial is reproducible: same seed, same metrics to 1e-6", "[runner]") {
  TempDir dir;
  auto runner = maskcnn_family()->make_runner();
  const auto a = run_trial(*runner, dir.path / "a", tiny_params(), kData);
  auto other_runner = maskcnn_family()->make_runner();  // fresh cache, same result
  const auto b = run_trial(*other_runner, dir.path / "b", tiny_params(), kData);
  REQUIRE(a.status == ns::engine::TrialStatus::kOk);
  require_same_metrics(a, b);
  const auto c =
      run_trial(*runner, dir.path / "c", tiny_params(), kData, [] { return false; }, 12);
  REQUIRE(c.metrics.at("val_loss") != a.metrics.at("val_loss"));  // the seed matters
}

TEST_CASE("stop_requested interrupts with a checkpoint; the next run resumes exactly",
          "[runner]") {
  TempDir dir;
  auto runner = maskcnn_family()->make_runner();
  const auto whole = run_trial(*runner, dir.path / "whole", tiny_params(), kData);
  REQUIRE(whole.status == ns::engine::TrialStatus::kOk);

  int calls = 0;
  const fs::path d = dir.path / "split";
  const auto first = run_trial(*runner, d, tiny_params(), kData, [&] { return ++calls > 17; });
  REQUIRE(first.status == ns::engine::TrialStatus::kInterrupted);
  REQUIRE_THAT(first.error, Catch::Contains("stopped at iteration 17"));
  REQUIRE(fs::exists(d / "resume.pt"));
  REQUIRE(fs::exists(d / "model.pt"));  // the best so far is on disk
  const auto resumed = run_trial(*runner, d, tiny_params(), kData);
  INFO(resumed.error);
  REQUIRE(resumed.status == ns::engine::TrialStatus::kOk);
  REQUIRE_FALSE(fs::exists(d / "resume.pt"));
  require_same_metrics(whole, resumed);
  REQUIRE(slurp(d / "curve.csv") == slurp(dir.path / "whole" / "curve.csv"));
}

TEST_CASE("an HDF5 data block trains like the simulation it was written from", "[runner]") {
  TempDir dir;
  write_simulated_h5(kData, dir.file("sim.h5"));
  auto runner = maskcnn_family()->make_runner();
  const auto from_sim = run_trial(*runner, dir.path / "sim", tiny_params(), kData);
  const nlohmann::json file = {{"kind", "hdf5"}, {"path", dir.file("sim.h5")}};
  const auto from_file = run_trial(*runner, dir.path / "file", tiny_params(), file);
  REQUIRE(from_file.status == ns::engine::TrialStatus::kOk);
  require_same_metrics(from_sim, from_file);
}

TEST_CASE("bad parameters fail before training with a clear message", "[runner]") {
  TempDir dir;
  auto runner = maskcnn_family()->make_runner();
  auto p = tiny_params();
  p["batch_size"] = 1000;
  REQUIRE_THROWS_WITH(run_trial(*runner, dir.path, p, kData),
                      Catch::Contains("batch_size 1000 is larger than the training set (128 "
                                      "images"));
  p = tiny_params();
  p["k1"] = 17;
  REQUIRE_THROWS_WITH(run_trial(*runner, dir.path, p, kData),
                      Catch::Contains("k1 = 17 is larger than the images (16x16)"));
}

TEST_CASE("a damaged resume checkpoint is an error that says how to recover", "[runner]") {
  TempDir dir;
  { std::ofstream(dir.path / "resume.pt") << "not a checkpoint"; }
  auto runner = maskcnn_family()->make_runner();
  REQUIRE_THROWS_WITH(run_trial(*runner, dir.path, tiny_params(), kData),
                      Catch::Contains("cannot resume from") &&
                          Catch::Contains("delete it to rerun the trial from the start"));
}

TEST_CASE("a kill mid-trial loses only the training since the last checkpoint: the rerun "
          "continues from it and ends as the uninterrupted trial", "[runner][checkpoint]") {
  TempDir dir;
  auto runner = maskcnn_family()->make_runner();
  const auto whole = run_trial(*runner, dir.path / "whole", tiny_params(), kData);
  REQUIRE(whole.status == ns::engine::TrialStatus::kOk);
  // A crash (an exception out of the runner: nothing is saved on the way out, as with SIGKILL)
  // after 23 steps, with a checkpoint after every improvement.
  const fs::path d = dir.path / "killed";
  fs::create_directories(d);
  ns::sweeps::Trial spec;
  spec.id = "t11";
  spec.seed = 11;
  spec.params = tiny_params();
  int calls = 0;
  ns::engine::TrialContext ctx{spec, kData, d};
  ctx.checkpoint_every_s = 0;
  ctx.stop_requested = [&] {
    if (++calls > 23) throw std::runtime_error("killed");
    return false;
  };
  REQUIRE_THROWS_WITH(runner->run(ctx), "killed");
  REQUIRE(fs::exists(d / "resume.pt"));
  const auto resumed = run_trial(*runner, d, tiny_params(), kData);
  INFO(resumed.error);
  REQUIRE(resumed.status == ns::engine::TrialStatus::kOk);
  require_same_metrics(whole, resumed);
  // The curve shows no restart: the same rows as the uninterrupted trial's.
  REQUIRE(slurp(d / "curve.csv") == slurp(dir.path / "whole" / "curve.csv"));
}

TEST_CASE("early stopping: a trial pauses at its resource limit, resumes exactly when promoted, "
          "and stops when the scheduler says so", "[runner][asha]") {
  TempDir dir;
  auto runner = maskcnn_family()->make_runner();
  const auto whole = run_trial(*runner, dir.path / "whole", tiny_params(), kData);
  REQUIRE(whole.status == ns::engine::TrialStatus::kOk);
  ns::sweeps::Trial spec;
  spec.id = "t11";
  spec.seed = 11;
  spec.params = tiny_params();
  const fs::path d = dir.path / "rungs";
  fs::create_directories(d);
  ns::engine::TrialContext ctx{spec, kData, d};
  ctx.resource_limit = 10;  // eval_every 5: evaluations at 5, 10
  const auto paused = runner->run(ctx);
  REQUIRE(paused.status == ns::engine::TrialStatus::kPaused);
  REQUIRE(paused.metrics.at("iterations") == 10);
  REQUIRE(std::isfinite(paused.metrics.at("val_ccnorm")));
  REQUIRE(fs::exists(d / "resume.pt"));
  // Promoted to the final rung with a budget beyond the trial's own: it ends as alone.
  ctx.resource_limit = 1000;
  ctx.final_rung = true;
  const auto done = runner->run(ctx);
  INFO(done.error);
  REQUIRE(done.status == ns::engine::TrialStatus::kOk);
  require_same_metrics(whole, done);

  // The stopping variant: a report at the rung at 5 iterations, answered "stop".
  const fs::path s = dir.path / "stopped";
  fs::create_directories(s);
  ns::engine::TrialContext stop_ctx{spec, kData, s};
  stop_ctx.rungs = {5};
  stop_ctx.resource_limit = 1000;
  stop_ctx.final_rung = true;
  std::vector<double> asked;
  stop_ctx.report = [&](double r, const std::map<std::string, double>& m) {
    asked.push_back(r);
    REQUIRE(m.count("val_ccnorm") == 1);
    return ns::engine::Decision::kStop;
  };
  const auto stopped = runner->run(stop_ctx);
  REQUIRE(stopped.status == ns::engine::TrialStatus::kStopped);
  REQUIRE(asked == std::vector<double>{5});
  REQUIRE(stopped.metrics.at("iterations") == 5);
  REQUIRE_THAT(stopped.error, Catch::Contains("stopped by the scheduler at iteration 5"));
}

TEST_CASE("a kill on a plateau loses at most one evaluation interval: checkpoints are kept at "
          "evaluations that did not improve, and resume bit for bit", "[runner][checkpoint]") {
  TempDir dir;
  auto runner = maskcnn_family()->make_runner();
  nlohmann::json p = tiny_params();
  p["lr"] = 0.05;  // overshoots: several evaluations do not improve
  const auto whole = run_trial(*runner, dir.path / "whole", p, kData);
  REQUIRE(whole.status == ns::engine::TrialStatus::kOk);
  // The evaluations (before the last) that did not improve the validation loss.
  std::vector<std::int64_t> plateau;
  {
    std::istringstream in(slurp(dir.path / "whole" / "curve.csv"));
    std::string line;
    std::getline(in, line);  // header
    std::vector<std::pair<std::int64_t, double>> rows;
    while (std::getline(in, line)) {
      const auto c1 = line.find(','), c4 = line.rfind(',');
      rows.emplace_back(std::stoll(line.substr(0, c1)), std::stod(line.substr(c4 + 1)));
    }
    double best = INFINITY;
    for (std::size_t r = 0; r + 1 < rows.size(); ++r) {
      if (rows[r].second < best) best = rows[r].second;
      else plateau.push_back(rows[r].first);
    }
  }
  INFO(slurp(dir.path / "whole" / "curve.csv"));
  REQUIRE(!plateau.empty());
  for (const std::int64_t at : plateau) {
    INFO("killed 2 steps after the evaluation at iteration " << at);
    const fs::path d = dir.path / ("killed" + std::to_string(at));
    fs::create_directories(d);
    ns::sweeps::Trial spec;
    spec.id = "t11";
    spec.seed = 11;
    spec.params = p;
    ns::engine::TrialContext ctx{spec, kData, d};
    ctx.checkpoint_every_s = 0;  // a checkpoint at every evaluation
    int calls = 0;
    ctx.stop_requested = [&] {  // before every step: a SIGKILL after at + 2 steps
      if (++calls > at + 2) throw std::runtime_error("killed");
      return false;
    };
    REQUIRE_THROWS_WITH(runner->run(ctx), "killed");
    REQUIRE(fs::exists(d / "resume.pt"));
    const nlohmann::json s = resume_state(d / "resume.pt").at("schedule");
    REQUIRE(s.at("iteration").get<std::int64_t>() == at);  // not the last improvement
    REQUIRE(s.at("best_iteration").get<std::int64_t>() < at);
    const auto resumed = run_trial(*runner, d, p, kData);
    INFO(resumed.error);
    REQUIRE(resumed.status == ns::engine::TrialStatus::kOk);
    require_same_metrics(whole, resumed);
    REQUIRE(slurp(d / "curve.csv") == slurp(dir.path / "whole" / "curve.csv"));
  }
}
