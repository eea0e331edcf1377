#pragma once
// Per-rank device and thread choice: pure functions, unit-tested (tests/engine/test_device.cpp).
#include <functional>
#include <string>

namespace ns::engine {

/// Where this rank sits on its node, as learnt from MPI's shared-memory split.
struct NodePlacement {
  int local_rank = 0;           ///< rank within the node
  int local_size = 1;           ///< ranks on the node
  bool has_coordinator = false; ///< the node hosts rank 0, which coordinates (when size > 1)
  int world_size = 1;
};

/// Index of this rank among the ranks of its node that train (rank 0 only coordinates when the
/// world has more than one rank, so it does not take a GPU or a thread share).
int local_worker_index(const NodePlacement& p);
/// Ranks of the node that train.
int local_workers(const NodePlacement& p);

/// "cuda:<local worker index mod visible GPUs>" when GPUs are visible, else "cpu". `visible_gpus`
/// is the count the CUDA runtime reports, which already honours CUDA_VISIBLE_DEVICES.
std::string choose_device(const NodePlacement& p, int visible_gpus);

/// What in the environment says the job asked for GPUs, as "NAME=value", or "" when nothing
/// does: NS_GPUS_PER_NODE (> 0), SLURM_GPUS_ON_NODE (> 0), SLURM_JOB_GPUS, SLURM_STEP_GPUS,
/// SLURM_GPUS_PER_NODE, SLURM_GPUS, or CUDA_VISIBLE_DEVICES naming a device (Slurm and LSF set it
/// for GPU jobs; "", "-1" and "NoDevFiles" name none). `env` reads a variable (std::getenv).
std::string gpu_request(const std::function<const char*(const char*)>& env);

/// The LibTorch a binary was built with: its name for messages ("LibTorch 1.13.1, CPU only",
/// "LibTorch 2.15.0 with CUDA 13.2 / cuDNN 92600") and whether it is a CUDA build, GPU or not.
struct TorchBuild {
  std::string name;
  bool cuda = false;
};

/// `run --device POLICY` for one rank: "cpu" is cpu; "cuda" is choose_device's cuda:N, or an
/// error (exit 2) when no CUDA device is visible; "auto" is cuda:N when one is visible, else cpu,
/// except when `gpu_request` is not empty: the job asked for GPUs this binary cannot use, which
/// is an error naming the request and `torch_build` and the ways out (a CUDA build, or a node
/// whose GPUs the job was given for a CUDA build that sees none; or --device cpu). `rank` only
/// names the rank in messages.
std::string resolve_device(const std::string& policy, const NodePlacement& p, int visible_gpus,
                           const std::string& gpu_request, const TorchBuild& torch_build,
                           int rank);

/// Intra-op threads: `requested` if > 0, else max(1, cores_per_node / training ranks on the node)
/// (docs/performance.md: one thread per rank beats two threads in one rank for these models).
int choose_threads(const NodePlacement& p, int cores_per_node, int requested);

/// Number of entries in a CUDA_VISIBLE_DEVICES value ("" hides every GPU; unset = -1, meaning
/// "all"): for logging which GPUs a rank may see.
int count_visible_devices(const char* cuda_visible_devices);

}  // namespace ns::engine
