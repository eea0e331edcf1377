#include "models/torch_common.hpp"
#include "models/registry.hpp"

#include <dlfcn.h>
#include <malloc.h>

#include <fstream>

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

torch::Tensor bytes_tensor(const std::string& s) {
  return torch::from_blob(const_cast<char*>(s.data()), {static_cast<std::int64_t>(s.size())},
                          torch::kUInt8)
      .clone();
}

std::string tensor_bytes(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU).contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<std::uint8_t>()),
                     static_cast<std::size_t>(c.numel()));
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
// Whether this LibTorch is a CUDA build (its CUDA hooks are linked), with or without a GPU:
// at::hasCUDA() is false on a CUDA build that sees no device (LibTorch 2.x).
bool cuda_build() { return at::detail::getCUDAHooks().hasCUDART(); }

// CUDA runtime and cuDNN versions of a CUDA build (e.g. 12040 -> "12.4"); null on a CPU build.
nlohmann::json cuda_version() {
  if (!cuda_build()) return nullptr;
  try {
    const long v = at::detail::getCUDAHooks().versionCUDART();
    return fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
  } catch (const std::exception&) {
    return nullptr;
  }
}
nlohmann::json cudnn_version() {
  if (!cuda_build()) return nullptr;
  try {
    const long v = at::detail::getCUDAHooks().versionCuDNN();
    return std::to_string(v);
  } catch (const std::exception&) {
    return nullptr;
  }
}
}  // namespace

engine::TorchBuild torch_build() {
  if (!cuda_build()) return {fmt::format("LibTorch {}, CPU only", TORCH_VERSION), false};
  const auto cuda = cuda_version(), cudnn = cudnn_version();
  return {fmt::format("LibTorch {} with CUDA {} / cuDNN {}", TORCH_VERSION,
                      cuda.is_null() ? "?" : cuda.get<std::string>(),
                      cudnn.is_null() ? "?" : cudnn.get<std::string>()),
          true};
}

nlohmann::json library_versions() {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  return {{"torch", TORCH_VERSION},
          {"torch_build", torch_build().name},
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

namespace ns::models {
namespace {

// The GPU's name through the CUDA driver API (libcuda.so.1 comes with every NVIDIA driver; its
// C ABI is stable), so no CUDA header is needed at build time and a CPU build compiles the same.
std::string cuda_device_name(int ordinal) {
  void* lib = ::dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (lib == nullptr) return "";
  using InitFn = int (*)(unsigned);
  using GetFn = int (*)(int*, int);
  using NameFn = int (*)(char*, int, int);
  auto init = reinterpret_cast<InitFn>(::dlsym(lib, "cuInit"));
  auto get = reinterpret_cast<GetFn>(::dlsym(lib, "cuDeviceGet"));
  auto name = reinterpret_cast<NameFn>(::dlsym(lib, "cuDeviceGetName"));
  std::string out;
  int dev = 0;
  char buf[256] = {0};
  if (init && get && name && init(0) == 0 && get(&dev, ordinal) == 0 &&
      name(buf, sizeof(buf) - 1, dev) == 0) {
    out = buf;
  }
  ::dlclose(lib);
  return out;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  }
  return "";
}

}  // namespace

std::string device_name(const std::string& device) {
  std::string name;
  if (device.rfind("cuda", 0) == 0) {
    const auto colon = device.find(':');
    name = cuda_device_name(colon == std::string::npos ? 0 : std::stoi(device.substr(colon + 1)));
  } else {
    name = cpu_model_name();
  }
  return name.empty() ? "unknown" : name;
}

}  // namespace ns::models
