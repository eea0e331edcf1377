#include "models/torch_common.hpp"
#include "models/registry.hpp"

#include <malloc.h>

#include "core/error.hpp"

namespace ns::models {

torch::Device to_torch_device(const std::string& device) {
  if (device.rfind("cuda", 0) == 0) {
    NS_CHECK(torch::cuda::is_available(), "device '{}' requested but this LibTorch has no CUDA",
             device);
  }
  return torch::Device(device);
}

void seed_torch(std::uint64_t seed) {
  torch::manual_seed(seed);
  if (torch::cuda::is_available()) torch::cuda::manual_seed_all(seed);
}

void set_torch_threads(int threads) {
  if (threads > 0 && torch::get_num_threads() != threads) torch::set_num_threads(threads);
}

void tune_allocator() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 256 << 20);
}

bool all_finite(const torch::Tensor& t) { return torch::isfinite(t).all().item<bool>(); }

}  // namespace ns::models

#include <ATen/Context.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <H5public.h>
#include <torch/version.h>

namespace ns::models {

void save_module_on_cpu(const torch::nn::Module& module, torch::serialize::OutputArchive& archive) {
  // A leaf on the CPU with the parameter's requires_grad, as Module::load expects.
  for (const auto& p : module.named_parameters(/*recurse=*/false))
    archive.write(p.key(),
                  p.value().detach().to(torch::kCPU).set_requires_grad(p.value().requires_grad()));
  for (const auto& b : module.named_buffers(/*recurse=*/false))
    archive.write(b.key(), b.value().detach().to(torch::kCPU), /*is_buffer=*/true);
  for (const auto& c : module.named_children()) {
    if (!c.value()->is_serializable()) continue;
    torch::serialize::OutputArchive child(archive.compilation_unit());
    save_module_on_cpu(*c.value(), child);
    archive.write(c.key(), child);
  }
}

int cuda_device_count() {
  return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
}

namespace {
// CUDA runtime and cuDNN versions of a CUDA build (e.g. 12040 -> "12.4"); null on a CPU build.
nlohmann::json cuda_version() {
  if (!at::hasCUDA()) return nullptr;
  try {
    const long v = at::detail::getCUDAHooks().versionCUDART();
    return fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
  } catch (const std::exception&) {
    return nullptr;
  }
}
nlohmann::json cudnn_version() {
  if (!at::hasCUDA()) return nullptr;
  try {
    const long v = at::detail::getCUDAHooks().versionCuDNN();
    return std::to_string(v);
  } catch (const std::exception&) {
    return nullptr;
  }
}
}  // namespace

std::string torch_build() {
  if (!at::hasCUDA()) return fmt::format("LibTorch {}, CPU only", TORCH_VERSION);
  const auto cuda = cuda_version(), cudnn = cudnn_version();
  return fmt::format("LibTorch {} with CUDA {} / cuDNN {}", TORCH_VERSION,
                     cuda.is_null() ? "?" : cuda.get<std::string>(),
                     cudnn.is_null() ? "?" : cudnn.get<std::string>());
}

nlohmann::json library_versions() {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  return {{"torch", TORCH_VERSION},
          {"torch_build", torch_build()},
          {"torch_cuda", torch::cuda::is_available()},
          {"cuda", cuda_version()},
          {"cudnn", cudnn_version()},
          {"hdf5", fmt::format("{}.{}.{}", maj, min, rel)},
          {"fmt", FMT_VERSION},
          {"nlohmann_json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR,
                                        NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH)}};
}

}  // namespace ns::models

namespace ns::models {
void init_process() { tune_allocator(); }

void configure_device(const std::string& device, const GpuSettings& settings) {
  auto& ctx = at::globalContext();
  ctx.setAllowTF32CuBLAS(settings.tf32);
  ctx.setAllowTF32CuDNN(settings.tf32);
  ctx.setDeterministicCuDNN(settings.deterministic);
  ctx.setBenchmarkCuDNN(!settings.deterministic);
  const torch::Device d = to_torch_device(device);
  if (d.is_cuda()) c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->setDevice(d);
}

nlohmann::json device_settings() {
  auto& ctx = at::globalContext();
  return {{"tf32", ctx.allowTF32CuBLAS() && ctx.allowTF32CuDNN()},
          {"cudnn_benchmark", ctx.benchmarkCuDNN()},
          {"cudnn_deterministic", ctx.deterministicCuDNN()}};
}
}  // namespace ns::models
