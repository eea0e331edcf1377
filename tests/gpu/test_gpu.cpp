// The GPU path of the maskcnn family, on a CUDA device: a trial on cuda:0 agrees with the same
// trial on the CPU (TF32 off), a pack on the GPU agrees with its members trained alone, and a
// checkpoint written on the GPU loads on the CPU. Skipped (exit 77) without CUDA.
#if __has_include(<catch2/catch_all.hpp>)
#include "catch.hpp"
#else
#define CATCH_CONFIG_RUNNER
#include "catch.hpp"
#endif

#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include "models/neural/family.hpp"
#include "models/neural/maskcnn.hpp"
#include "models/neural/options.hpp"
#include "models/registry.hpp"
#include "support/temp_dir.hpp"

using namespace ns::models::neural;
namespace fs = std::filesystem;

namespace {

const nlohmann::json kData = {{"kind", "simulated"}, {"seed", 3},   {"images", 400},
                              {"size", 20},          {"neurons", 8}, {"repeats", 4}};

nlohmann::json params(double lr) {
  nlohmann::json p = maskcnn_family()->schema().model_defaults;
  p.update(maskcnn_family()->schema().training_defaults);
  p.update({{"channels", 8}, {"k1", 5}, {"pool_size", 2}, {"batch_size", 32}, {"eval_every", 5},
            {"patience", 2}, {"max_iters_per_phase", 30}, {"phases", 2}, {"lr", lr}});
  return p;
}

struct Run {
  std::vector<ns::sweeps::Trial> trials;
  std::vector<fs::path> dirs;
  std::vector<ns::engine::TrialContext> contexts;
};

Run make_run(const fs::path& root, const std::string& device, int n) {
  Run r;
  r.trials.resize(n);
  for (int i = 0; i < n; ++i) {
    r.trials[i].id = "g" + std::to_string(i);
    r.trials[i].seed = 50 + i;
    r.trials[i].params = params(0.005 * (i + 1));
    r.dirs.push_back(root / r.trials[i].id);
    fs::create_directories(r.dirs.back());
  }
  for (int i = 0; i < n; ++i) {
    ns::engine::TrialContext c{r.trials[i], kData, r.dirs[i]};
    c.device = device;
    r.contexts.push_back(c);
  }
  return r;
}

void require_close(const ns::engine::TrialOutcome& a, const ns::engine::TrialOutcome& b,
                   double tol) {
  REQUIRE(a.status == ns::engine::TrialStatus::kOk);
  REQUIRE(b.status == ns::engine::TrialStatus::kOk);
  for (const char* m : {"val_loss", "val_pearson", "test_pearson", "test_ccnorm"}) {
    INFO(m << ": " << a.metrics.at(m) << " vs " << b.metrics.at(m));
    REQUIRE(std::abs(a.metrics.at(m) - b.metrics.at(m)) <= tol);
  }
}

}  // namespace

TEST_CASE("a maskcnn trial on cuda:0 agrees with the CPU (TF32 off)", "[gpu]") {
  ns::models::configure_device("cuda:0", {/*tf32=*/false, /*deterministic=*/true});
  ns::test::TempDir dir;
  Run gpu = make_run(dir.path / "gpu", "cuda:0", 1);
  Run cpu = make_run(dir.path / "cpu", "cpu", 1);
  auto runner = maskcnn_family()->make_runner();
  const auto g = runner->run(gpu.contexts[0]);
  const auto c = runner->run(cpu.contexts[0]);
  INFO(g.error << " / " << c.error);
  require_close(g, c, 1e-3);
  // The checkpoint written on the GPU loads into a CPU model (no device tags in it).
  MaskCnn model(model_options_from_json(gpu.trials[0].params, 1, 20, 20, 8));
  torch::load(model, (gpu.dirs[0] / "model.pt").string());
  for (const auto& p : model->parameters()) REQUIRE(p.device().is_cpu());
}

TEST_CASE("a pack of 4 on the GPU agrees with its members trained alone on the GPU", "[gpu]") {
  ns::models::configure_device("cuda:0", {false, true});
  ns::test::TempDir dir;
  Run packed = make_run(dir.path / "packed", "cuda:0", 4);
  Run alone = make_run(dir.path / "alone", "cuda:0", 4);
  auto runner = maskcnn_family()->make_runner();
  const auto out = runner->run_pack(packed.contexts);
  REQUIRE(out.size() == 4);
  for (int k = 0; k < 4; ++k) {
    INFO("member " << k << ": " << out[k].error);
    const auto ref = runner->run(alone.contexts[k]);
    REQUIRE(out[k].metrics.at("iterations") == ref.metrics.at("iterations"));
    require_close(ref, out[k], 1e-3);
  }
}

int main(int argc, char** argv) {
  if (!torch::cuda::is_available()) {
    std::puts("test_gpu: no CUDA device (or a CPU-only LibTorch): skipped");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
