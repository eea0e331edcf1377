#pragma once
// Helpers shared by the LibTorch families. Include only from models/ (.cpp files).
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace ns::models {

/// torch::Device for an engine device string ("cpu", "cuda:1"). CUDA strings need a CUDA build.
torch::Device to_torch_device(const std::string& device);

/// Seeds LibTorch's generators (CPU and, when present, CUDA) for one trial.
void seed_torch(std::uint64_t seed);

/// Sets LibTorch's intra-op threads once per process (no-op when unchanged).
void set_torch_threads(int threads);

/// Raises glibc's mmap/trim thresholds so activation buffers are not returned to the kernel and
/// faulted back every step (docs/performance.md: ~26 % less CPU time). Call once at start-up.
void tune_allocator();

/// Writes `module` as torch::nn::Module::save does (parameters, buffers, each child as a nested
/// archive), but every tensor copied to the CPU first, so the file carries no CUDA device tags
/// and the documented `torch::load(model, "model.pt")` works on a machine without a GPU.
void save_module_on_cpu(const torch::nn::Module& module, torch::serialize::OutputArchive& archive);

/// Bytes as a uint8 tensor (a copy), and back: strings inside LibTorch archives.
torch::Tensor bytes_tensor(const std::string& s);
std::string tensor_bytes(const torch::Tensor& t);

/// True if every element of `t` is finite.
bool all_finite(const torch::Tensor& t);

}  // namespace ns::models

