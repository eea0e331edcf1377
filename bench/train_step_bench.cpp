// The mask CNN's training step against a FLOP floor (issue: "within 2x of the SGEMM floor").
// In ONE process run, on `--threads` intra-op threads (1 inter-op thread):
//   1. GEMM: float32 [n, n] x [n, n] (n = --gemm), 2 warm-ups then 5 timed repetitions, by
//      every path the machine has: torch::mm (the BLAS LibTorch links, OpenBLAS on Debian, with
//      OPENBLAS_CORETYPE as the environment sets it), oneDNN (the same product as a 1x1
//      convolution, at::mkldnn_convolution), and OpenBLAS in child processes with
//      OPENBLAS_CORETYPE empty and unset (its core detection can pick a kernel 4-5x slower than
//      the CPU allows, docs/performance.md). The BEST repetition of the FASTEST kernel is the
//      machine's rate (the floor is then the lowest, i.e. most demanding, bound); the kernel is
//      named in the output. A step faster than that floor prints no ratio: the floor is not one.
//   2. One training iteration of the maskcnn family as the runner does it (runner.cpp
//      Trial::train_step): index_select of a random minibatch from a dataset tensor, NHWC
//      conversion, forward, data loss + regularizers, backward, item() of the losses, Adam step.
//      The model and loss are the library's (ns_neural), built from the family's JSON defaults
//      with the runner's computation switches (channels_last, fast conv0 grad on CPU).
//      Warm-up iterations, then --iters timed ones: min and median wall ms/iter (and process CPU
//      ms/iter, robust to other processes on the cores), plus the split forward/backward/step.
//   3. The analytic FLOP count of one iteration (flop_count below), floor_ms = FLOPs / SGEMM
//      rate, and ratio = measured ms / floor_ms.
//   4. Evaluation (no-grad, model.eval()) of --eval-images images at several batch sizes, as
//      runner.cpp's predict(); plus grad mode and c10::InferenceMode for comparison.
// Variants (--variants a,b,...) train other configurations in the same run, interleaved with the
// defaults round by round (--rounds) so a change in machine load hits all of them alike.
//
//   build/bench/train_step_bench [--size 50 --neurons 79 --channels 16 --layers 2 --batch 256]
//       [--iters 20] [--threads 1] [--gemm 2048] [--variants nchw,relu,slow_conv0]
//       [--rounds 1] [--eval-batches 256,1000] [--json] [--smoke]
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <dlfcn.h>
#include <sys/resource.h>
#include <unistd.h>
#include <time.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "models/neural/maskcnn.hpp"
#include "models/neural/options.hpp"
#include "models/neural/packed.hpp"
#include "models/torch_common.hpp"

namespace {

using ns::bench::cpu_s;
using ns::bench::median_of;
using ns::bench::min_of;
using ns::bench::now_s;
using ns::bench::split_list;

namespace nn = ns::models::neural;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Minor page faults of the process so far: a tensor above glibc's mmap threshold (at most 32 MiB
// on 64-bit, which tune_allocator sets) is a fresh mmap each time, zero-filled page by page.
long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// ---------------------------------------------------------------------------------------------
// 1. GEMM, by every path available
struct GemmResult {
  std::string kernel;  // e.g. "torch::mm (OpenBLAS core Haswell)", "oneDNN 1x1 convolution"
  std::int64_t n = 0;
  double best_gflops = 0, median_gflops = 0, best_ms = 0;
};

// OpenBLAS's name for the core whose kernels it runs ("Haswell", "Prescott", ...); looked up at
// run time because LibTorch reaches OpenBLAS through libblas.so.3, which may be another BLAS.
std::string blas_core() {
  using Fn = char* (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return fn ? std::string("OpenBLAS core ") + fn() : "BLAS other than OpenBLAS";
}

template <class F>
GemmResult time_gemm(std::string kernel, std::int64_t n, int warmup, int reps, F&& product) {
  for (int i = 0; i < warmup; ++i) product();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_s();
    product();
    ms.push_back(1e3 * (now_s() - t0));
  }
  const double flops = 2.0 * static_cast<double>(n) * n * n;
  GemmResult r;
  r.kernel = std::move(kernel);
  r.n = n;
  r.best_ms = min_of(ms);
  r.best_gflops = flops / (r.best_ms * 1e-3) / 1e9;
  r.median_gflops = flops / (median_of(ms) * 1e-3) / 1e9;
  return r;
}

// torch::mm: the BLAS LibTorch links, with the environment's OPENBLAS_CORETYPE.
GemmResult measure_blas_gemm(std::int64_t n, int warmup, int reps) {
  torch::NoGradGuard no_grad;
  auto a = torch::randn({n, n}), b = torch::randn({n, n});
  auto c = torch::empty({n, n});
  return time_gemm("torch::mm (" + blas_core() + ")", n, warmup, reps,
                   [&] { torch::mm_out(c, a, b); });
}

// oneDNN's GEMM: [n, n] weights times [n, 16 * h * w] inputs as a 1x1 convolution over a batch
// of 16 (h * w = n / 16), the same 2 n^3 FLOPs; empty when n is not a multiple of 16 or LibTorch
// was built without oneDNN.
std::vector<GemmResult> measure_onednn_gemm(std::int64_t n, int warmup, int reps) {
  if (n % 16 != 0 || !at::hasMKLDNN()) return {};
  torch::NoGradGuard no_grad;
  const std::int64_t hw = n / 16;
  auto x = torch::randn({16, n, hw, 1}), w = torch::randn({n, n, 1, 1});
  const std::vector<std::int64_t> pad = {0, 0}, one = {1, 1};
  return {time_gemm("oneDNN (1x1 convolution)", n, warmup, reps, [&] {
    at::mkldnn_convolution(x, w, c10::nullopt, pad, one, one, 1);
  })};
}

// OpenBLAS in a child process (this binary with --gemm-only) under another OPENBLAS_CORETYPE:
// the core is chosen once per process, so it cannot change here. `env_prefix` is the shell
// prefix that sets the variable (e.g. "OPENBLAS_CORETYPE= " or "env -u OPENBLAS_CORETYPE ").
std::vector<GemmResult> measure_child_gemm(const std::string& env_prefix, const std::string& what,
                                           std::int64_t n, int threads) {
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return {};
  self[len] = 0;
  const std::string cmd = env_prefix + "'" + self + "' --gemm-only --gemm " + std::to_string(n) +
                          " --threads " + std::to_string(threads) + " 2>/dev/null";
  std::string text;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) text += buf;
    if (::pclose(p) != 0) return {};
  }
  try {
    const json j = json::parse(text);
    GemmResult r;
    r.kernel = "torch::mm (" + j.at("kernel").get<std::string>() + ", " + what + ", child process)";
    r.n = j.at("n").get<std::int64_t>();
    r.best_gflops = j.at("best_gflops").get<double>();
    r.median_gflops = j.at("median_gflops").get<double>();
    r.best_ms = j.at("best_ms").get<double>();
    return {r};
  } catch (const std::exception&) {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Analytic FLOPs of one training iteration (multiply-add = 2 FLOPs).
// Counted: every convolution (forward; backward input gradient where autograd needs it; weight
// gradient; the fast conv0 gradient is the same arithmetic as oneDNN's) and the readout's GEMMs
// (forward [B*C, S] x [S, N], backward: its input gradient and the spatial-weight gradient;
// the same multiply-adds as the [B*S, C] x [C, N] order).
// Ignored (bandwidth-bound, no GEMM floor applies): input/hidden BatchNorm, the activation
// (softplus/relu), pooling, the readout's elementwise product with the spatial mask and the sum
// over positions (and their gradients, including the spatial-mask gradient), the loss, the
// regularizers (conv0 Laplacian: a few kFLOP), the Adam step (~15 FLOPs per parameter, ~20k
// parameters at the default sizes), index_select and layout copies.
struct FlopCount {
  double conv_fwd = 0, conv_bwd_input = 0, conv_bwd_weight = 0, readout_fwd = 0, readout_bwd = 0;
  double forward() const { return conv_fwd + readout_fwd; }
  double total() const {
    return conv_fwd + conv_bwd_input + conv_bwd_weight + readout_fwd + readout_bwd;
  }
};

FlopCount flop_count(const nn::ModelOptions& o, std::int64_t batch) {
  FlopCount f;
  const double B = static_cast<double>(batch);
  std::int64_t h = o.height(), w = o.width();
  for (std::int64_t l = 0; l < o.layers(); ++l) {
    const std::int64_t cin = l == 0 ? o.in_channels() : o.channels();
    const std::int64_t k = l == 0 ? o.k1() : o.k_later();
    if (l == 0) {  // valid
      h = h - k + 1;
      w = w - k + 1;
    }  // later layers: 'same', h and w unchanged
    const double conv = 2.0 * k * k * cin * o.channels() * h * w * B;
    f.conv_fwd += conv;
    f.conv_bwd_weight += conv;
    // conv0's input is the (non-affine by default) input BatchNorm's output of the raw pixels:
    // no gradient needed unless the input BN is trainable.
    if (l > 0 || o.input_bn_affine()) f.conv_bwd_input += conv;
  }
  const auto [mh, mw] = o.map_size();
  const double readout = 2.0 * B * mh * mw * o.channels() * o.neurons();
  f.readout_fwd = readout;
  f.readout_bwd = 2.0 * readout;  // d(features) and d(feature weights)
  return f;
}

// ---------------------------------------------------------------------------------------------
// 2. The training step
struct Data {
  torch::Tensor images;   // [M, 1, H, W] float32, pixel values 0..255 like the HDF5 data
  torch::Tensor targets;  // [M, N] float32 Poisson counts
};

Data make_data(std::int64_t m, std::int64_t size, std::int64_t neurons) {
  Data d;
  d.images = torch::randint(0, 256, {m, 1, size, size}, torch::kFloat32);
  d.targets = torch::poisson(torch::rand({m, neurons}) * 3.0 + 0.5);
  return d;
}

struct Variant {
  std::string name;
  json params;  // overrides of the family defaults (model + training blocks)
};

// What each variant name changes (a flag per variant).
json variant_overrides(const std::string& name) {
  if (name == "defaults") return json::object();
  if (name == "nchw") return {{"channels_last", false}};
  if (name == "relu") return {{"act", "relu"}};
  if (name == "slow_conv0") return {{"fast_conv0_grad", false}};
  if (name == "fast_conv0") return {{"bench_force_fast_conv0", true}};
  if (name == "aten_softplus") return {{"bench_aten_softplus", true}};
  if (name == "affine_input_bn") return {{"input_bn_affine", true}};
  if (name == "no_reg") return {{"smoothness", 0.0}, {"readout_scale", 0.0}};
  if (name == "max_pool") return {{"pool", "max"}};
  throw std::runtime_error("unknown variant '" + name +
                           "' (defaults, nchw, relu, slow_conv0, fast_conv0, "
                           "aten_softplus, affine_input_bn, no_reg, max_pool)");
}

// The runner's model options on CPU, plus the bench-only keys of the variants fast_conv0 (the
// batch-as-channels conv0 gradient even where conv0_fast_grad_helps() says no) and
// aten_softplus (ATen's BatchNorm, softplus and pooling).
nn::ModelOptions bench_model_options(const json& params, std::int64_t size, std::int64_t neurons,
                                      const nn::TrainOptions& to) {
  auto mo = nn::with_computation_switches(
      nn::model_options_from_json(params, 1, size, size, neurons), to, /*cpu=*/true);
  if (params.value("bench_force_fast_conv0", false)) mo.fast_conv0_grad(to.fast_conv0_grad());
  return mo.fast_softplus(!params.value("bench_aten_softplus", false));
}

struct StepTimes {
  std::vector<double> wall_ms, cpu_ms, fwd_ms, bwd_ms, step_ms, faults;
};

class Trainer {
 public:
  Trainer(const json& params, std::int64_t size, std::int64_t neurons, std::int64_t batch,
          const Data& data)
      : data_(data),
        to_(nn::train_options_from_json(params)),
        mo_(bench_model_options(params, size, neurons, to_)),
        lo_(nn::loss_options_from_json(params)),
        batch_(batch),
        model_(nullptr) {
    torch::manual_seed(0);
    model_ = nn::MaskCnn(mo_);
    auto mean = data.targets.mean(0).to(torch::kFloat64).contiguous();
    model_->init_readout_bias(
        std::vector<double>(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel()));
    if (to_.channels_last()) nn::parameters_to_channels_last(*model_);
    optimizer_ = std::make_unique<torch::optim::Adam>(model_->parameters(),
                                                      torch::optim::AdamOptions(to_.lr()));
  }

  const nn::ModelOptions& model_options() const { return mo_; }

  // One iteration of runner.cpp's Trial::train_step (the minibatch is random, not an epoch
  // permutation; the gather is the same index_select).
  void step(StepTimes* times) {
    const double t0 = now_s(), c0 = cpu_s();
    const long f0 = minor_faults();
    auto idx = torch::randint(0, data_.images.size(0), {batch_}, torch::kInt64);
    auto x = data_.images.index_select(0, idx);
    if (to_.channels_last()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    auto y = data_.targets.index_select(0, idx);
    model_->train();
    optimizer_->zero_grad();
    auto loss = nn::data_loss(lo_.loss(), model_->forward(x), y);
    auto total = loss + model_->regularizer(lo_);
    const double t1 = now_s();
    total.backward();
    const double t2 = now_s();
    const double total_v = total.item<double>();
    (void)loss.item<double>();
    if (std::isfinite(total_v)) optimizer_->step();
    const double t3 = now_s();
    if (times) {
      times->wall_ms.push_back(1e3 * (t3 - t0));
      times->cpu_ms.push_back(1e3 * (cpu_s() - c0));
      times->fwd_ms.push_back(1e3 * (t1 - t0));
      times->bwd_ms.push_back(1e3 * (t2 - t1));
      times->step_ms.push_back(1e3 * (t3 - t2));
      times->faults.push_back(static_cast<double>(minor_faults() - f0));
    }
  }

  // runner.cpp's predict(): model.eval(), chunks of `batch` images, NHWC input; mode "no_grad"
  // (what the runner does), "grad" (autograd records the graph) or "inference"
  // (c10::InferenceMode).
  double evaluate_ms(std::int64_t images, std::int64_t batch, const std::string& mode,
                     long* faults = nullptr) {
    const double t0 = now_s();
    const long f0 = minor_faults();
    {
      std::unique_ptr<torch::NoGradGuard> no_grad;
      std::unique_ptr<c10::InferenceMode> inference;
      if (mode == "no_grad") no_grad = std::make_unique<torch::NoGradGuard>();
      if (mode == "inference") inference = std::make_unique<c10::InferenceMode>();
      model_->eval();
      std::vector<torch::Tensor> parts;
      for (std::int64_t start = 0; start < images; start += batch) {
        const std::int64_t end = std::min(images, start + batch);
        auto x = data_.images.index_select(0, torch::arange(start, end, torch::kInt64));
        if (to_.channels_last()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        parts.push_back(model_->forward(x));
      }
      auto pred = torch::cat(parts, 0);
      (void)pred.sum().item<double>();
    }
    if (faults) *faults = minor_faults() - f0;
    return 1e3 * (now_s() - t0);
  }

 private:
  const Data& data_;
  nn::TrainOptions to_;
  nn::ModelOptions mo_;
  nn::LossOptions lo_;
  std::int64_t batch_;
  nn::MaskCnn model_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

std::string gf(double flops) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", flops / 1e9);
  return buf;
}

// The throughput mode (--device, --packs): training steps as the runner takes them, without a
// host sync per step (a GPU queues them), timed over `iters` steps between two device syncs;
// for each K of `packs`, K members of the default configuration trained as one pack
// (packed_forward), each with its own batch and Adam. Prints one JSON object.
void sync_device(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

json throughput(const json& params, std::int64_t size, std::int64_t neurons, std::int64_t batch,
                int iters, int warmup, const std::vector<std::int64_t>& packs,
                const torch::Device& device) {
  const nn::TrainOptions to = nn::train_options_from_json(params);
  const nn::LossOptions lo = nn::loss_options_from_json(params);
  const nn::ModelOptions mo = nn::with_computation_switches(
      nn::model_options_from_json(params, 1, size, size, neurons), to, device.is_cpu());
  torch::manual_seed(1);
  const std::int64_t m = 4 * batch;
  const auto images = (torch::randint(0, 256, {m, 1, size, size}, torch::kFloat32)).to(device);
  const auto targets = torch::poisson(torch::rand({m, neurons}) * 3.0 + 0.5).to(device);
  json rows = json::array();
  for (std::int64_t K : packs) {
    std::vector<nn::MaskCnn> models;
    std::vector<std::unique_ptr<torch::optim::Adam>> opts;
    for (std::int64_t k = 0; k < K; ++k) {
      torch::manual_seed(10 + k);
      models.push_back(nn::MaskCnn(mo));
      models.back()->to(device);
      if (to.channels_last()) nn::parameters_to_channels_last(*models.back());
      models.back()->train();
      opts.push_back(std::make_unique<torch::optim::Adam>(models.back()->parameters(),
                                                          torch::optim::AdamOptions(to.lr())));
    }
    std::vector<torch::Tensor> losses;
    auto step = [&] {
      for (auto& o : opts) o->zero_grad();
      torch::Tensor sum;
      if (K == 1) {  // the runner's own step for a trial alone
        auto idx = torch::randint(0, m, {batch}, torch::TensorOptions().dtype(torch::kInt64).device(device));
        auto x = images.index_select(0, idx);
        if (to.channels_last()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        auto loss = nn::data_loss(lo.loss(), models[0]->forward(x), targets.index_select(0, idx));
        sum = loss + models[0]->regularizer(lo);
        losses.push_back(loss.detach());
      } else {
        std::vector<torch::Tensor> xs, ys;
        for (std::int64_t k = 0; k < K; ++k) {
          auto idx = torch::randint(0, m, {batch}, torch::TensorOptions().dtype(torch::kInt64).device(device));
          xs.push_back(images.index_select(0, idx));
          ys.push_back(targets.index_select(0, idx));
        }
        const auto pred = nn::packed_forward(models, torch::stack(xs, 0));
        for (std::int64_t k = 0; k < K; ++k) {
          auto loss = nn::data_loss(lo.loss(), pred[k], ys[static_cast<std::size_t>(k)]);
          auto total = loss + models[static_cast<std::size_t>(k)]->regularizer(lo);
          sum = sum.defined() ? sum + total : total;
          losses.push_back(loss.detach());
        }
      }
      sum.backward();
      for (auto& o : opts) o->step();
    };
    for (int i = 0; i < warmup; ++i) step();
    sync_device(device);
    const double t0 = now_s(), c0 = cpu_s();
    for (int i = 0; i < iters; ++i) step();
    const double mean_loss = torch::stack(losses).mean().item<double>();  // syncs
    sync_device(device);
    const double wall = now_s() - t0, cpu = cpu_s() - c0;
    rows.push_back({{"pack", K},
                    {"iters", iters},
                    {"ms_per_step", 1e3 * wall / iters},
                    {"cpu_ms_per_step", 1e3 * cpu / iters},
                    {"member_steps_per_s", static_cast<double>(K * iters) / wall},
                    {"mean_loss", mean_loss}});
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"maskcnn training step vs the SGEMM FLOP floor (bench/train_step.md)"};
  std::int64_t size = 50, neurons = 79, channels = 16, layers = 2, batch = 256, gemm = 2048;
  int iters = 20, threads = 1, rounds = 1, warmup = 3;
  std::int64_t eval_images = 1000;
  std::string variants_arg, eval_batches_arg = "256,1000", params_arg = "{}";
  bool as_json = false, smoke = false;
  std::string profile;
  app.add_option("--size", size, "image height = width");
  app.add_option("--neurons", neurons, "neurons (readout outputs)");
  app.add_option("--channels", channels, "conv channels");
  app.add_option("--layers", layers, "conv layers");
  app.add_option("--batch", batch, "training batch size");
  app.add_option("--iters", iters, "timed training iterations per variant and round");
  app.add_option("--warmup", warmup, "untimed iterations per variant before the first round");
  app.add_option("--threads", threads, "intra-op threads (torch::set_num_threads)");
  app.add_option("--gemm", gemm, "SGEMM matrix size n (n x n times n x n)");
  app.add_option("--variants", variants_arg,
                 "comma-separated extra configurations trained in the same run: nchw, relu, "
                 "slow_conv0, fast_conv0, aten_softplus, affine_input_bn, no_reg, "
                 "max_pool");
  app.add_option("--rounds", rounds, "rounds over (defaults, variants...), interleaved");
  app.add_option("--params", params_arg,
                 "JSON object overriding family parameters of every configuration");
  app.add_option("--eval-images", eval_images, "images per evaluation timing");
  app.add_option("--eval-batches", eval_batches_arg,
                 "comma-separated evaluation batch sizes (no-grad); '' skips evaluation");
  app.add_flag("--json", as_json, "print one JSON object instead of the report");
  app.add_option("--profile", profile,
                 "write a chrome trace (legacy autograd profiler) of 3 more default iterations");
  app.add_flag("--smoke", smoke, "tiny sizes, 2 iterations (for ctest)");
  std::string device_arg = "cpu", packs_arg;
  app.add_option("--device", device_arg,
                 "cpu (default: the FLOP-floor report) or cuda / cuda:N (the throughput mode)");
  app.add_option("--packs", packs_arg,
                 "throughput mode: comma-separated pack sizes K (1 = the runner's own step), "
                 "e.g. 1,4,16; on a CPU too");
  bool gemm_only = false;
  app.add_flag("--gemm-only", gemm_only,
               "only time torch::mm, print JSON (what the OPENBLAS_CORETYPE children run)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (smoke) {
      size = 20, neurons = 5, channels = 4, layers = 2, batch = 8, gemm = 128;
      iters = 2, warmup = 1, rounds = 1, eval_images = 20;
      eval_batches_arg = "8,20";
    }
    at::set_num_interop_threads(1);
    torch::set_num_threads(threads);
    if (gemm_only) {
      const GemmResult g = measure_blas_gemm(gemm, 2, 5);
      std::cout << json{{"kernel", blas_core()}, {"n", g.n}, {"best_gflops", g.best_gflops},
                        {"median_gflops", g.median_gflops}, {"best_ms", g.best_ms}}
                       .dump()
                << std::endl;
      return 0;
    }
    ns::models::tune_allocator();  // as the family does for its runners
    const torch::Device device(device_arg);
    if (!device.is_cpu() || !packs_arg.empty()) {
      json p = nn::model_defaults();
      p.update(nn::training_defaults());
      p["channels"] = channels;
      p["layers"] = layers;
      p["batch_size"] = batch;
      p.update(json::parse(params_arg));
      std::vector<std::int64_t> packs;
      for (const auto& k : split_list(packs_arg.empty() ? "1" : packs_arg)) packs.push_back(std::stoll(k));
      const json out = {{"device", device.str()},
                        {"threads", torch::get_num_threads()},
                        {"sizes", {{"size", size}, {"neurons", neurons}, {"channels", channels},
                                   {"layers", layers}, {"batch", batch}}},
                        {"throughput", throughput(p, size, neurons, batch, iters, warmup, packs, device)}};
      std::cout << out.dump(as_json ? -1 : 2) << std::endl;
      return 0;
    }

    // The configurations (defaults + variants), checked before anything is timed
    json base = nn::model_defaults();
    base.update(nn::training_defaults());
    base["channels"] = channels;
    base["layers"] = layers;
    base["batch_size"] = batch;
    base.update(json::parse(params_arg));
    std::vector<Variant> variants = {{"defaults", base}};
    for (const auto& name : split_list(variants_arg)) {
      json p = base;
      p.update(variant_overrides(name));
      variants.push_back({name, p});
    }

    // 1. GEMM by every path, before any model exists; the in-process ones again after every
    // round. The floor uses the fastest rate seen in the run (the most conservative floor when
    // other work on the machine slows the GEMM at times, or when BLAS runs a slow kernel).
    std::vector<GemmResult> kernels = {measure_blas_gemm(gemm, 2, 5)};
    for (auto& r : measure_onednn_gemm(gemm, 2, 5)) kernels.push_back(r);
    const bool have_onednn = kernels.size() > 1;  // kernels[1] then
    const char* coretype = std::getenv("OPENBLAS_CORETYPE");
    if (!coretype || *coretype)
      for (auto& r : measure_child_gemm("OPENBLAS_CORETYPE= ", "OPENBLAS_CORETYPE empty", gemm,
                                        threads))
        kernels.push_back(r);
    if (coretype)
      for (auto& r : measure_child_gemm("env -u OPENBLAS_CORETYPE ", "OPENBLAS_CORETYPE unset",
                                        gemm, threads))
        kernels.push_back(r);
    int gemm_runs = 1;
    auto remeasure_gemm = [&] {
      ++gemm_runs;
      const GemmResult blas = measure_blas_gemm(gemm, 1, 3);
      if (blas.best_gflops > kernels[0].best_gflops) kernels[0] = blas;
      if (have_onednn)
        for (auto& r : measure_onednn_gemm(gemm, 1, 3))
          if (r.best_gflops > kernels[1].best_gflops) kernels[1] = r;
    };
    // 2. Training
    const std::int64_t m = std::max<std::int64_t>(4 * batch, eval_images);
    torch::manual_seed(1);
    const Data data = make_data(m, size, neurons);
    std::vector<std::unique_ptr<Trainer>> trainers;
    for (const auto& v : variants)
      trainers.push_back(std::make_unique<Trainer>(v.params, size, neurons, batch, data));
    std::vector<StepTimes> times(variants.size());
    for (auto& t : trainers)
      for (int i = 0; i < warmup; ++i) t->step(nullptr);
    for (int r = 0; r < rounds; ++r) {
      for (std::size_t v = 0; v < trainers.size(); ++v)
        for (int i = 0; i < iters; ++i) trainers[v]->step(&times[v]);
      remeasure_gemm();
    }

    // 3. FLOPs and the floor, at the fastest kernel's rate
    const GemmResult g = *std::max_element(
        kernels.begin(), kernels.end(),
        [](const GemmResult& a, const GemmResult& b) { return a.best_gflops < b.best_gflops; });
    const double rate = g.best_gflops * 1e9;  // FLOP/s

    // 4. Evaluation with the default model
    struct EvalRow {
      std::string mode;
      std::int64_t batch;
      double min_ms, median_ms, faults;
    };
    std::vector<EvalRow> evals;
    std::vector<std::pair<std::string, std::int64_t>> eval_cfgs;
    for (const auto& b : split_list(eval_batches_arg))
      eval_cfgs.push_back({"no_grad", std::stoll(b)});
    if (!eval_cfgs.empty()) {  // the first batch size with autograd on, the last in InferenceMode
      const std::int64_t first = eval_cfgs.front().second, last = eval_cfgs.back().second;
      eval_cfgs.push_back({"grad", first});
      eval_cfgs.push_back({"inference", last});
    }
    for (const auto& [mode, b] : eval_cfgs) {
      trainers[0]->evaluate_ms(eval_images, b, mode);  // warm-up
      std::vector<double> ms, faults;
      for (int i = 0; i < (smoke ? 1 : 3); ++i) {
        long fl = 0;
        ms.push_back(trainers[0]->evaluate_ms(eval_images, b, mode, &fl));
        faults.push_back(static_cast<double>(fl));
      }
      evals.push_back({mode, b, min_of(ms), median_of(ms), median_of(faults)});
    }
    if (!profile.empty()) {
      torch::autograd::profiler::RecordProfile guard(profile);
      for (int i = 0; i < 3; ++i) trainers[0]->step(nullptr);
    }
    const FlopCount f0 = flop_count(trainers[0]->model_options(), batch);
    const double eval_flops = f0.forward() / static_cast<double>(batch) * eval_images;

    json out = {{"threads", {{"intra_op", torch::get_num_threads()},
                             {"inter_op", at::get_num_interop_threads()}}},
                {"sizes", {{"size", size}, {"neurons", neurons}, {"channels", channels},
                           {"layers", layers}, {"batch", batch}}},
                {"sgemm", {{"n", g.n}, {"runs", gemm_runs}, {"kernel", g.kernel},
                           {"best_gflops", g.best_gflops}, {"median_gflops", g.median_gflops},
                           {"best_ms", g.best_ms}}}};
    json jk = json::array();
    for (const auto& k : kernels)
      jk.push_back({{"kernel", k.kernel}, {"best_gflops", k.best_gflops},
                    {"median_gflops", k.median_gflops}, {"best_ms", k.best_ms}});
    out["sgemm"]["kernels"] = jk;
    // A ratio below 1 means the step beat the "floor": it is then no floor (a faster GEMM
    // exists than any measured here), and no ratio is reported.
    auto ratio = [](double ms, double floor_ms) {
      return ms / floor_ms >= 1 ? json(ms / floor_ms) : json(nullptr);
    };
    json jv = json::array();
    for (std::size_t v = 0; v < variants.size(); ++v) {
      const FlopCount f = flop_count(trainers[v]->model_options(), batch);
      const double floor_ms = 1e3 * f.total() / rate;
      const StepTimes& t = times[v];
      jv.push_back({{"name", variants[v].name},
                    {"overrides", variants[v].name == "defaults"
                                      ? json::object()
                                      : variant_overrides(variants[v].name)},
                    {"flops", f.total()},
                    {"flops_breakdown", {{"conv_fwd", f.conv_fwd},
                                         {"conv_bwd_input", f.conv_bwd_input},
                                         {"conv_bwd_weight", f.conv_bwd_weight},
                                         {"readout_fwd", f.readout_fwd},
                                         {"readout_bwd", f.readout_bwd}}},
                    {"floor_ms", floor_ms},
                    {"iters", t.wall_ms.size()},
                    {"ms_min", min_of(t.wall_ms)},
                    {"ms_median", median_of(t.wall_ms)},
                    {"cpu_ms_min", min_of(t.cpu_ms)},
                    {"cpu_ms_median", median_of(t.cpu_ms)},
                    {"forward_ms_median", median_of(t.fwd_ms)},
                    {"backward_ms_median", median_of(t.bwd_ms)},
                    {"step_ms_median", median_of(t.step_ms)},
                    {"minor_faults_median", median_of(t.faults)},
                    {"floor_is_a_floor", min_of(t.wall_ms) >= floor_ms},
                    {"ratio_min", ratio(min_of(t.wall_ms), floor_ms)},
                    {"ratio_median", ratio(median_of(t.wall_ms), floor_ms)}});
    }
    out["train"] = jv;
    json je = json::array();
    for (const auto& e : evals)
      je.push_back({{"mode", e.mode}, {"batch", e.batch}, {"images", eval_images},
                    {"ms_min", e.min_ms}, {"ms_median", e.median_ms},
                    {"minor_faults_median", e.faults},
                    {"floor_ms", 1e3 * eval_flops / rate}});
    out["eval"] = je;

    if (as_json) {
      std::cout << out.dump() << std::endl;
      return 0;
    }
    std::printf("threads        intra-op %d, inter-op %d\n", torch::get_num_threads(),
                at::get_num_interop_threads());
    std::printf("sizes          %lldx%lld input, %lld neurons, %lld channels, %lld layers, batch "
                "%lld\n",
                (long long)size, (long long)size, (long long)neurons, (long long)channels,
                (long long)layers, (long long)batch);
    for (const auto& k : kernels)
      std::printf("sgemm          n=%lld, %s: best %.1f GFLOP/s (%.1f ms), median %.1f\n",
                  (long long)k.n, k.kernel.c_str(), k.best_gflops, k.best_ms, k.median_gflops);
    std::printf("  fastest      %s, %.1f GFLOP/s (in-process kernels: fastest of %d runs, before "
                "training and after each round); the floor uses it\n",
                g.kernel.c_str(), g.best_gflops, gemm_runs);
    for (std::size_t v = 0; v < variants.size(); ++v) {
      const json& r = jv[v];
      const FlopCount f = flop_count(trainers[v]->model_options(), batch);
      std::printf("train_step     [%s] %s\n", variants[v].name.c_str(),
                  variants[v].name == "defaults" ? "(family defaults, runner's switches)"
                                                 : r["overrides"].dump().c_str());
      std::printf("  flops/iter   %s GFLOP (conv fwd %s, conv bwd input %s, conv bwd weight %s, "
                  "readout fwd %s, bwd %s)\n",
                  gf(f.total()).c_str(), gf(f.conv_fwd).c_str(), gf(f.conv_bwd_input).c_str(),
                  gf(f.conv_bwd_weight).c_str(), gf(f.readout_fwd).c_str(),
                  gf(f.readout_bwd).c_str());
      std::printf("  floor        %.1f ms/iter at %.1f GFLOP/s (%s)\n",
                  r["floor_ms"].get<double>(), g.best_gflops, g.kernel.c_str());
      std::printf("  measured     %.1f min / %.1f median ms/iter wall (%zu iters), CPU %.1f / "
                  "%.1f; median forward %.1f, backward %.1f, step %.1f; %.0f page faults\n",
                  r["ms_min"].get<double>(), r["ms_median"].get<double>(), times[v].wall_ms.size(),
                  r["cpu_ms_min"].get<double>(), r["cpu_ms_median"].get<double>(),
                  r["forward_ms_median"].get<double>(), r["backward_ms_median"].get<double>(),
                  r["step_ms_median"].get<double>(), r["minor_faults_median"].get<double>());
      if (!r["floor_is_a_floor"].get<bool>())
        std::printf("  ratio        none: the step (min) beat the floor, so the floor is not a "
                    "floor (a faster GEMM exists than those measured here)\n");
      else
        std::printf("  ratio        %.2fx (min) / %.2fx (median) of the floor\n",
                    r["ratio_min"].get<double>(), r["ratio_median"].get<double>());
    }
    for (const auto& e : evals)
      std::printf("eval           %lld images, %-9s batch %-5lld %.1f min / %.1f median ms "
                  "(floor %.1f ms; %.0f page faults)\n",
                  (long long)eval_images, e.mode.c_str(), (long long)e.batch, e.min_ms,
                  e.median_ms, 1e3 * eval_flops / rate, e.faults);
    return 0;
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find("\nException raised from"));
    std::fprintf(stderr, "error: %s\n", what.c_str());
    return 1;
  }
}
