// ns_neural_trial: runs one maskcnn trial outside the sweep engine, for measurements
// (bench/neural.md) and debugging. Prints the outcome as JSON, plus process CPU time.
//
//   ns_neural_trial --data '{"kind":"simulated","size":50,"images":2000}'
//                   --params '{"phases":1,"max_iters_per_phase":30,"eval_every":1000}'
//                   --out /tmp/trial --seed 0 --threads 1
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

#include "core/error.hpp"
#include "models/neural/family.hpp"

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

}  // namespace

int main(int argc, char** argv) {
  nlohmann::json data = {{"kind", "simulated"}}, params = nlohmann::json::object();
  std::string out = "ns_neural_trial_out";
  std::uint64_t seed = 0;
  int threads = 1;
  std::string device = "cpu";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--data") data = nlohmann::json::parse(v);
    else if (k == "--params") params = nlohmann::json::parse(v);
    else if (k == "--out") out = v;
    else if (k == "--seed") seed = std::stoull(v);
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--device") device = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    auto family = ns::models::neural::maskcnn_family();
    nlohmann::json p = family->schema().model_defaults;
    p.update(family->schema().training_defaults);
    p.update(params);
    const auto facts = family->check_data(data, "$.data");
    family->check_params(p, facts);
    ns::sweeps::Trial spec;
    spec.id = "manual";
    spec.seed = seed;
    spec.params = p;
    std::filesystem::create_directories(out);
    ns::engine::TrialContext ctx{spec, data, out};
    ctx.threads = threads;
    ctx.device = device;
    auto runner = family->make_runner();
    const auto wall0 = std::chrono::steady_clock::now();
    const double cpu0 = cpu_seconds();
    const auto outcome = runner->run(ctx);
    nlohmann::json j = {{"status", outcome.status}, {"error", outcome.error},
                        {"metrics", outcome.metrics}};
    j["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    j["cpu_s"] = cpu_seconds() - cpu0;
    std::cout << j.dump(2) << std::endl;
    return outcome.status == ns::engine::TrialStatus::kOk ? 0 : 1;
  } catch (const ns::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  }
}
