#pragma once
#include "engine/device.hpp"
#include "engine/trial_runner.hpp"

namespace ns::models {

/// Fills `registry` with every model family this build has (the one explicit start-up call).
void register_all(engine::FamilyRegistry& registry);

/// Number of CUDA devices LibTorch sees (honours CUDA_VISIBLE_DEVICES); 0 on a CPU build.
int cuda_device_count();

/// The LibTorch this binary was built with: "LibTorch 1.13.1, CPU only" or "LibTorch 2.6.0 with
/// CUDA 12.4 / cuDNN 9.1", and whether it is a CUDA build (with or without a visible GPU).
engine::TorchBuild torch_build();

/// Versions of LibTorch, HDF5 and the JSON/format libraries, for sweep.json's provenance.
nlohmann::json library_versions();

/// Process-wide LibTorch set-up done once per rank (allocator thresholds).
void init_process();

/// How CUDA computes, set once per rank (`run --tf32`, `--deterministic`) and recorded in
/// sweep.json. TF32 off by default: matmuls and convolutions in full float32, as on the CPU.
struct GpuSettings {
  bool tf32 = false;           ///< TF32 for cuBLAS matmuls and cuDNN convolutions
  bool deterministic = false;  ///< cuDNN deterministic algorithms, benchmark mode off
};

/// Applies `settings` (cuDNN benchmark mode is on unless deterministic) and, for a "cuda:N"
/// device, makes N this rank's current CUDA device. Harmless on a CPU build.
void configure_device(const std::string& device, const GpuSettings& settings);

/// What configure_device set, for sweep.json: {"tf32", "cudnn_benchmark", "cudnn_deterministic"}.
nlohmann::json device_settings();
/// What `device` is, for sweep.json: a GPU's name from the CUDA driver ("NVIDIA H200"; the
/// driver's device numbers follow CUDA_VISIBLE_DEVICES as LibTorch's do), the CPU's model
/// name from /proc/cpuinfo; "unknown" when neither can be read.
std::string device_name(const std::string& device);

}  // namespace ns::models
