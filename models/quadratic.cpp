#include "models/quadratic.hpp"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/json_text.hpp"
#include "engine/rung_walk.hpp"

namespace ns::models {
namespace {

using nlohmann::json;

/// A uniform draw in [0,1) and a normal draw, both fixed by the trial seed.
double seeded_uniform(std::uint64_t seed, std::uint64_t stream) {
  std::mt19937_64 g(seed * 0x9E3779B97F4A7C15ULL + stream);
  return static_cast<double>(g() >> 11) * 0x1.0p-53;
}
double seeded_normal(std::uint64_t seed, std::uint64_t stream) {
  const double u1 = std::max(1e-300, seeded_uniform(seed, stream));
  const double u2 = seeded_uniform(seed, stream + 1000);
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);  // Box-Muller
}

class QuadraticRunner final : public engine::TrialRunner {
 public:
  engine::TrialOutcome run(const engine::TrialContext& ctx) override {
    const json& p = ctx.trial.params;
    const auto seed = ctx.trial.seed;
    // Induced failures. The attempt count is kept only where it is read (fail_first_n > 0):
    // a trial that writes nothing has no directory (the family does not ask for one).
    int previous = 0;
    if (p.at("fail_first_n").get<int>() > 0) {
      const auto attempts_file = writable_dir(ctx) / "attempts";
      {
        std::ifstream in(attempts_file);
        if (in) in >> previous;
      }
      std::ofstream(attempts_file) << previous + 1;
    }
    // A broken rank, for the engine's tests: NS_QUADRATIC_FAIL_RANK=R fails every trial on rank
    // R (an environment setting, not a parameter, so trial ids do not change).
    if (const char* bad = std::getenv("NS_QUADRATIC_FAIL_RANK");
        bad && *bad && std::atoi(bad) == ctx.rank) {
      throw Error(fmt::format("induced failure: rank {} is broken (NS_QUADRATIC_FAIL_RANK)", ctx.rank));
    }
    if (previous < p.at("fail_first_n").get<int>()) {
      throw Error(fmt::format("induced failure (attempt {} of the first {})", previous + 1,
                              p.at("fail_first_n").get<int>()));
    }
    if (seeded_uniform(seed, 1) < p.at("fail_prob").get<double>()) {
      throw Error("induced failure (fail_prob)");
    }
    if (ctx.resource_limit > 0) return learning_curve(ctx);
    // The "training": a sleep that checkpoints its progress, so a drained trial resumes.
    double sleep_s = p.at("sleep_s").get<double>();
    const double sigma = p.at("sleep_sigma").get<double>();
    if (sigma > 0) sleep_s *= std::exp(sigma * seeded_normal(seed, 2) - sigma * sigma / 2);
    const auto ckpt = ctx.trial_dir / "checkpoint.json";
    double done = 0;
    if (std::filesystem::exists(ckpt))  // bounded: a damaged checkpoint fails the trial clearly
      done = core::read_json_file(ckpt.string()).at("slept_s").get<double>();
    const auto start = std::chrono::steady_clock::now();
    const double chunk = 0.01;
    while (done < sleep_s) {
      if (ctx.stop_requested()) {
        // Whole or not at all: a kill mid-write must not leave a damaged checkpoint.
        core::write_file_atomic(writable_dir(ctx) / "checkpoint.json", json{{"slept_s", done}}.dump());
        return {engine::TrialStatus::kInterrupted, {}, "stopped at a safe point"};
      }
      const double step = std::min(chunk, sleep_s - done);
      std::this_thread::sleep_for(std::chrono::duration<double>(step));
      done += step;
    }
    (void)start;
    double score = quadratic_score(p.at("x").get<double>(), p.at("y").get<double>(),
                                   p.at("k").get<long>());
    score += p.at("noise").get<double>() * seeded_normal(seed, 3);
    if (p.at("shape").get<std::string>() == "nan") score = NAN;
    if (!std::isfinite(score)) {
      return {engine::TrialStatus::kFailed, {{"score", score}, {"loss", -score}}, "non-finite objective"};
    }
    return {engine::TrialStatus::kOk, {{"score", score}, {"loss", -score}, {"slept_s", sleep_s}}, ""};
  }

 private:
  // The trial directory, created at the first write into it (wants_trial_dir is false).
  static const std::filesystem::path& writable_dir(const engine::TrialContext& ctx) {
    std::filesystem::create_directories(ctx.trial_dir);
    return ctx.trial_dir;
  }

  // Under an early-stopping scheduler (a resource limit): a synthetic learning curve in steps,
  // score(t) = final - 5 exp(-t / tau) + noise * N(0, 1), tau = 5 + 20 u (u, N from the trial
  // seed: slow learners look worse early, as in real sweeps); each step sleeps sleep_s / 100.
  // Each step is a step boundary of its RungWalk (reports at the rungs); it pauses at the limit
  // (checkpoint: curve.json) or, at the final rung, ends there as finished.
  engine::TrialOutcome learning_curve(const engine::TrialContext& ctx) {
    const json& p = ctx.trial.params;
    const auto seed = ctx.trial.seed;
    const double final_score =
        quadratic_score(p.at("x").get<double>(), p.at("y").get<double>(), p.at("k").get<long>());
    const double tau = 5 + 20 * seeded_uniform(seed, 4);
    const double noise = p.at("noise").get<double>();
    const double step_s = p.at("sleep_s").get<double>() / 100;
    const auto ckpt = ctx.trial_dir / "curve.json";
    long t = 0;
    if (std::filesystem::exists(ckpt)) t = core::read_json_file(ckpt.string()).at("step").get<long>();
    auto metrics = [&](long step) {
      double v = final_score - 5 * std::exp(-static_cast<double>(step) / tau);
      if (noise > 0) v += noise * seeded_normal(seed, 100 + static_cast<std::uint64_t>(step));
      return std::map<std::string, double>{{"score", v}, {"loss", -v},
                                           {"slept_s", step_s * static_cast<double>(step)}};
    };
    auto save = [&] {  // atomic: a SIGKILL mid-write leaves the last whole checkpoint
      core::write_file_atomic(writable_dir(ctx) / "curve.json", json{{"step", t}}.dump());
    };
    engine::RungWalk walk(ctx);
    engine::RungAction next = walk.resume(static_cast<double>(t));
    while (next == engine::RungAction::kContinue) {
      if (ctx.stop_requested()) {
        save();
        return {engine::TrialStatus::kInterrupted, {}, "stopped at a safe point"};
      }
      if (step_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(step_s));
      ++t;
      next = walk.at(static_cast<double>(t), metrics(t));
    }
    const auto m = metrics(t);
    switch (next) {
      case engine::RungAction::kStop:
        save();
        return {engine::TrialStatus::kStopped, m, fmt::format("stopped by the scheduler at step {}", t)};
      case engine::RungAction::kPause:
        save();
        return {engine::TrialStatus::kPaused, m, ""};
      case engine::RungAction::kFinish:
      case engine::RungAction::kContinue:  // not after the loop
        break;
    }
    return {engine::TrialStatus::kOk, m, ""};
  }
};

}  // namespace

double quadratic_score(double x, double y, long k) {
  return -((x - 1) * (x - 1) + (y + 2) * (y + 2)) + 0.1 * static_cast<double>(k);
}

namespace {

class QuadraticFamily final : public engine::ModelFamily {
 public:
  QuadraticFamily() : ModelFamily(make_schema()) {}

  std::string description() const override {
    return "known test objective with optional sleeps and induced failures";
  }
  engine::DataFacts check_data(const json& data, const std::string& path) const override {
    NS_CHECK(data.empty(), "{}: the quadratic family takes no data; remove the block", path);
    engine::DataFacts facts;
    facts.checked = true;
    facts.source = "no data";
    return facts;
  }
  void check_params(const json& p, const engine::DataFacts&) const override {
    const std::string shape = p.at("shape").get<std::string>();
    NS_CHECK(shape == "bowl" || shape == "nan", "shape: expected \"bowl\" or \"nan\", got \"{}\"", shape);
    NS_CHECK(p.at("sleep_s").get<double>() >= 0, "sleep_s: expected >= 0, got {}", p.at("sleep_s").get<double>());
  }
  // The sleep is the trial's length, up to its seeded lognormal factor (sleep_sigma), which the
  // coordinator does not know in advance; 10 ms stands for the rest of a trial.
  double relative_cost(const json& p, const engine::DataFacts&) const override {
    return p.at("sleep_s").get<double>() + 0.01;
  }
  // Its runner creates the trial directory only for what it reads back (an attempt count, a
  // checkpoint, a learning curve's step): a 10^5-trial sweep leaves no 10^5 directories.
  bool wants_trial_dir() const override { return false; }
  // No data to partition: with folds each replicate is another seed (its trial id and seed
  // include the fold), so the engine's replicate searches can be tested on it.
  bool supports_folds() const override { return true; }
  std::unique_ptr<engine::TrialRunner> make_runner() const override {
    return std::make_unique<QuadraticRunner>();
  }

 private:
  static sweeps::FamilySchema make_schema() {
    sweeps::FamilySchema s;
    s.name = "quadratic";
    s.model_defaults = {{"x", 0.0}, {"y", 0.0}, {"k", 0}, {"shape", "bowl"}};
    s.training_defaults = {{"sleep_s", 0.0},   {"sleep_sigma", 0.0}, {"noise", 0.0},
                           {"fail_prob", 0.0}, {"fail_first_n", 0}};
    s.metrics = {"score", "loss", "slept_s"};
    s.resource = "steps";
    return s;
  }
};

}  // namespace

std::unique_ptr<engine::ModelFamily> quadratic_family() { return std::make_unique<QuadraticFamily>(); }

}  // namespace ns::models
