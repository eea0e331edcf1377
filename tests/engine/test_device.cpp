#include "catch.hpp"

#include <map>

#include "core/error.hpp"
#include "engine/device.hpp"

using namespace ns::engine;

TEST_CASE("device choice: local worker index modulo visible GPUs", "[device]") {
  // 1 node, 5 ranks: rank 0 coordinates, ranks 1..4 train on 2 GPUs.
  NodePlacement p{0, 5, true, 5};
  CHECK(choose_device(p, 2) == "cuda:0");  // the coordinator's own choice (it does not train)
  p.local_rank = 1;
  CHECK(choose_device(p, 2) == "cuda:0");
  p.local_rank = 2;
  CHECK(choose_device(p, 2) == "cuda:1");
  p.local_rank = 3;
  CHECK(choose_device(p, 2) == "cuda:0");
  CHECK(choose_device(p, 0) == "cpu");
  // A second node without the coordinator: local rank 0 trains on GPU 0.
  NodePlacement q{0, 4, false, 9};
  CHECK(choose_device(q, 4) == "cuda:0");
  q.local_rank = 3;
  CHECK(choose_device(q, 4) == "cuda:3");
  // -np 1: rank 0 trains.
  NodePlacement one{0, 1, true, 1};
  CHECK(choose_device(one, 1) == "cuda:0");
}

TEST_CASE("threads: cores per node over training ranks per node", "[device]") {
  CHECK(choose_threads(NodePlacement{1, 3, true, 3}, 2, 0) == 1);   // 2 workers on 2 cores
  CHECK(choose_threads(NodePlacement{1, 2, true, 2}, 2, 0) == 2);   // 1 worker on 2 cores
  CHECK(choose_threads(NodePlacement{0, 1, true, 1}, 16, 0) == 16); // -np 1
  CHECK(choose_threads(NodePlacement{2, 8, false, 16}, 4, 0) == 1); // oversubscribed: at least 1
  CHECK(choose_threads(NodePlacement{1, 3, true, 3}, 2, 3) == 3);   // explicit --threads
}

TEST_CASE("CUDA_VISIBLE_DEVICES counting", "[device]") {
  CHECK(count_visible_devices(nullptr) == -1);
  CHECK(count_visible_devices("") == 0);
  CHECK(count_visible_devices("3") == 1);
  CHECK(count_visible_devices("0,2,5") == 3);
}

TEST_CASE("gpu_request: what says the job asked for GPUs", "[device]") {
  auto env_of = [](std::map<std::string, std::string> vars) {
    return [vars](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  };
  CHECK(gpu_request(env_of({})) == "");
  CHECK(gpu_request(env_of({{"CUDA_VISIBLE_DEVICES", ""}})) == "");
  CHECK(gpu_request(env_of({{"CUDA_VISIBLE_DEVICES", "-1"}})) == "");
  CHECK(gpu_request(env_of({{"CUDA_VISIBLE_DEVICES", "NoDevFiles"}})) == "");
  CHECK(gpu_request(env_of({{"CUDA_VISIBLE_DEVICES", "0,1"}})) == "CUDA_VISIBLE_DEVICES=0,1");
  CHECK(gpu_request(env_of({{"SLURM_GPUS_ON_NODE", "0"}})) == "");
  CHECK(gpu_request(env_of({{"SLURM_GPUS_ON_NODE", "4"}})) == "SLURM_GPUS_ON_NODE=4");
  CHECK(gpu_request(env_of({{"SLURM_JOB_GPUS", "2,3"}})) == "SLURM_JOB_GPUS=2,3");
  CHECK(gpu_request(env_of({{"SLURM_GPUS_PER_NODE", "a100:2"}})) == "SLURM_GPUS_PER_NODE=a100:2");
  CHECK(gpu_request(env_of({{"NS_GPUS_PER_NODE", "2"}, {"CUDA_VISIBLE_DEVICES", "0"}})) ==
        "NS_GPUS_PER_NODE=2");
}

TEST_CASE("run --device: a CUDA build that sees no GPU says so, not 'build it against CUDA'",
          "[device]") {
  const NodePlacement worker{1, 3, true, 3};
  const TorchBuild cuda_build{"LibTorch 2.15.0 with CUDA 13.2 / cuDNN 92600", true};
  CHECK(resolve_device("auto", worker, 0, "", cuda_build, 1) == "cpu");
  REQUIRE_THROWS_WITH(resolve_device("auto", worker, 0, "CUDA_VISIBLE_DEVICES=0", cuda_build, 1),
                      Catch::Contains("is built with LibTorch 2.15.0 with CUDA 13.2") &&
                          Catch::Contains("CUDA sees no device here") &&
                          !Catch::Contains("Build it against a CUDA LibTorch"));
  REQUIRE_THROWS_WITH(resolve_device("cuda", worker, 0, "", cuda_build, 2),
                      Catch::Contains("--device cuda: rank 2 sees no CUDA device (LibTorch 2.15.0 with CUDA") &&
                          !Catch::Contains("built against a CUDA LibTorch"));
  REQUIRE_THROWS_WITH(resolve_device("cuda", worker, 0, "", TorchBuild{"LibTorch 1.13.1, CPU only", false}, 2),
                      Catch::Contains("a neurosweep built against a CUDA LibTorch"));
}

TEST_CASE("run --device: auto, cpu and cuda, and the no-CUDA error", "[device]") {
  const NodePlacement worker{1, 3, true, 3};
  const TorchBuild cpu_build{"LibTorch 1.13.1, CPU only", false};
  // With GPUs: auto and cuda pick the worker's GPU; cpu stays on the CPU.
  CHECK(resolve_device("auto", worker, 2, "", cpu_build, 1) == "cuda:0");
  CHECK(resolve_device("cuda", worker, 2, "SLURM_GPUS_ON_NODE=2", cpu_build, 1) == "cuda:0");
  CHECK(resolve_device("cpu", worker, 2, "", cpu_build, 1) == "cpu");
  // Without GPUs and without a request: auto is the CPU, as on a workstation.
  CHECK(resolve_device("auto", worker, 0, "", cpu_build, 1) == "cpu");
  // A GPU job with a CPU-only build: auto refuses, naming the request and the build; cpu runs.
  REQUIRE_THROWS_WITH(resolve_device("auto", worker, 0, "CUDA_VISIBLE_DEVICES=0", cpu_build, 1),
                      Catch::Contains("the job asked for GPUs (CUDA_VISIBLE_DEVICES=0)") &&
                          Catch::Contains("rank 1 can use none") &&
                          Catch::Contains("LibTorch 1.13.1, CPU only") &&
                          Catch::Contains("--device cpu"));
  CHECK(resolve_device("cpu", worker, 0, "CUDA_VISIBLE_DEVICES=0", cpu_build, 1) == "cpu");
  // cuda without a visible GPU is an error even without a request.
  REQUIRE_THROWS_WITH(resolve_device("cuda", worker, 0, "", cpu_build, 3),
                      Catch::Contains("--device cuda: rank 3 sees no CUDA device"));
  try {
    resolve_device("auto", worker, 0, "SLURM_GPUS_ON_NODE=1", cpu_build, 1);
    FAIL("no error");
  } catch (const ns::Error& e) {
    CHECK(e.exit_code() == ns::kExitBadInput);
  }
}
