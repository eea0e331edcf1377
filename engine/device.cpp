#include "engine/device.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace ns::engine {

int local_worker_index(const NodePlacement& p) {
  if (p.world_size > 1 && p.has_coordinator) return std::max(0, p.local_rank - 1);
  return p.local_rank;
}

int local_workers(const NodePlacement& p) {
  if (p.world_size > 1 && p.has_coordinator) return std::max(1, p.local_size - 1);
  return std::max(1, p.local_size);
}

std::string choose_device(const NodePlacement& p, int visible_gpus) {
  if (visible_gpus <= 0) return "cpu";
  return "cuda:" + std::to_string(local_worker_index(p) % visible_gpus);
}

std::string gpu_request(const std::function<const char*(const char*)>& env) {
  auto value = [&](const char* name) -> std::string {
    const char* v = env(name);
    return v ? std::string(v) : std::string();
  };
  for (const char* name : {"NS_GPUS_PER_NODE", "SLURM_GPUS_ON_NODE"}) {
    const std::string v = value(name);
    if (!v.empty() && std::atoi(v.c_str()) > 0) return std::string(name) + "=" + v;
  }
  for (const char* name : {"SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_PER_NODE", "SLURM_GPUS"}) {
    const std::string v = value(name);
    if (!v.empty() && v != "0") return std::string(name) + "=" + v;
  }
  const std::string cvd = value("CUDA_VISIBLE_DEVICES");
  if (!cvd.empty() && cvd != "-1" && cvd != "NoDevFiles") return "CUDA_VISIBLE_DEVICES=" + cvd;
  return "";
}

std::string resolve_device(const std::string& policy, const NodePlacement& p, int visible_gpus,
                           const std::string& request, const TorchBuild& torch_build, int rank) {
  if (policy == "cpu") return "cpu";
  NS_CHECK(policy == "auto" || policy == "cuda",
           "--device: expected auto, cpu or cuda, got \"{}\"", policy);
  if (visible_gpus > 0) return choose_device(p, visible_gpus);
  NS_CHECK(policy != "cuda", "--device cuda: rank {} sees no CUDA device ({}{}); use a GPU node{}, or --device cpu",
           rank, torch_build.name, request.empty() ? "" : ", though " + request + " is set",
           torch_build.cuda ? "" : ", a neurosweep built against a CUDA LibTorch");
  NS_CHECK(request.empty(),
           "--device auto: the job asked for GPUs ({}) but rank {} can use none: this neurosweep "
           "is built with {}. {}, or pass --device cpu to run on the CPUs anyway",
           request, rank, torch_build.name,
           torch_build.cuda ? "CUDA sees no device here (no NVIDIA driver, or the GPUs are hidden); "
                        "run on a node whose GPUs the job was given"
                      : "Build it against a CUDA LibTorch (scripts/setup.sh with "
                        "CMAKE_PREFIX_PATH=/path/to/libtorch, or the GPU container image)");
  return "cpu";
}

int choose_threads(const NodePlacement& p, int cores_per_node, int requested) {
  if (requested > 0) return requested;
  return std::max(1, cores_per_node / local_workers(p));
}

int count_visible_devices(const char* v) {
  if (v == nullptr) return -1;
  std::string s(v);
  if (s.empty()) return 0;
  return static_cast<int>(std::count(s.begin(), s.end(), ',')) + 1;
}

}  // namespace ns::engine
