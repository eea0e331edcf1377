// The training step of the built-in mask CNN against the same architecture as a TorchScript
// module (issue 16: "step time of a scripted mask CNN against the built-in one, the same shapes,
// one thread"). Both are driven as runner.cpp's Trial::train_step drives a Net: index_select of
// a random minibatch, NHWC input where the net wants it (Net::channels_last), train mode,
// zero_grad, forward, Poisson loss + regularizers, backward, Adam step, the loss queued (read
// once at the end, as the runner reads its losses every few steps).
//
//   - builtin: MaskCnn (models/neural/maskcnn.hpp) with the runner's computation switches
//     (channels_last, fast conv0 gradient where conv0_fast_grad_helps(), fused BatchNorm +
//     softplus + pooling) and the family's default loss options (smoothness 5e-6 on conv0,
//     readout_scale 0.01, group sparsity 0).
//   - script: make_script_net (models/neural/net.hpp) on the --script file, with the torchscript
//     block of tests/cli/torchscript_family.sh (smoothness on convs.0.weight, readout_l1 on
//     readout_spatial + readout_feature, readout_bias), weighted as the built-in's loss.
// Before timing, the module's parameter names and shapes are checked against the built-in's
// (conv{l}.* = convs.{l}.*, bn{l}.* = bns.{l}.*, readout_* = readout_*), the built-in's initial
// weights are copied into every script variant, and one training-mode forward and regularizer
// of each are compared on the same batch: same architecture, same numbers, same start.
//
// Further variants (--variants a,b,...) split the difference: the built-in with its computation
// switches turned off one by one (down to ATen's ops in NCHW, what the script runs), the script
// fed NHWC input, and the script under the profiling executor (make_script_net turns it off).
// All variants are timed in one process on --threads intra-op threads (1 inter-op thread):
// --warmup untimed steps each, then --rounds rounds of --iters steps per variant, taken in turn
// (one step of each variant, then the next step of each; the order of the variants reversed
// every other round), so a change in machine load hits all of them alike. Reports
// min and median wall ms per step (and process CPU ms), the median forward / backward / Adam
// split, and each variant's ratio to the built-in (median and min).
//
//   OMP_NUM_THREADS=1 build/bench/script_step_bench --script m.pt [--size 32 --neurons 30
//       --channels 8 --batch 64] [--iters 15 --rounds 3 --warmup 5] [--threads 1]
//       [--variants builtin_no_fused,builtin_nchw,builtin_aten,script_nhwc,script_profiling]
//       [--profile N] [--dump-graph] [--json]
// (export the module with /usr/bin/python3 examples/torchscript_v1/export.py m.pt --size S
// --neurons N --channels C; its architecture is the built-in default's but for the channels).
#include <ATen/Parallel.h>
#include <time.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/csrc/profiler/orchestration/observer.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "models/neural/maskcnn.hpp"
#include "models/neural/net.hpp"
#include "models/neural/options.hpp"
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

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

// The built-in's parameter name for a parameter of examples/torchscript_v1/mask_cnn.py.
std::string builtin_name(const std::string& script_name) {
  for (const char* from_to : {"convs.|conv", "bns.|bn"}) {
    const std::string ft = from_to;
    const std::string from = ft.substr(0, ft.find('|')), to = ft.substr(ft.find('|') + 1);
    if (script_name.rfind(from, 0) == 0) return to + script_name.substr(from.size());
  }
  return script_name;
}

struct Data {
  torch::Tensor images;   // [M, 1, H, W] float32, pixel values 0..255 like the HDF5 data
  torch::Tensor targets;  // [M, N] float32 Poisson counts
  std::vector<double> mean_response;
};

Data make_data(std::int64_t m, std::int64_t size, std::int64_t neurons) {
  Data d;
  d.images = torch::randint(0, 256, {m, 1, size, size}, torch::kFloat32);
  d.targets = torch::poisson(torch::rand({m, neurons}) * 3.0 + 0.5);
  auto mean = d.targets.mean(0).to(torch::kFloat64).contiguous();
  d.mean_response.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel());
  return d;
}

// What a variant is: the built-in with some of its computation switches, or the script module
// with an input layout and an executor.
struct VariantSpec {
  bool script = false;
  // builtin
  bool fused = true;          // ModelOptions::fast_softplus (fused BN + softplus + pooling)
  bool channels_last = true;  // TrainOptions::channels_last
  bool fast_conv0 = true;     // TrainOptions::fast_conv0_grad (applied where it helps)
  // script
  bool nhwc_input = false;  // feed the module channels-last input (the runner feeds NCHW)
  bool profiling = false;   // the profiling executor (make_script_net selects the other one)
  std::string what;
};

VariantSpec variant_spec(const std::string& name) {
  VariantSpec s;
  if (name == "builtin") {
    s.what = "MaskCnn, the runner's switches";
  } else if (name == "builtin_no_fused") {
    s.fused = false;
    s.what = "MaskCnn, ATen's BatchNorm, softplus and pooling (not the fused function)";
  } else if (name == "builtin_nchw") {
    s.fused = false, s.channels_last = false;
    s.what = "MaskCnn, ATen's BatchNorm/softplus/pooling, NCHW";
  } else if (name == "builtin_aten") {
    s.fused = false, s.channels_last = false, s.fast_conv0 = false;
    s.what = "MaskCnn, ATen's ops only, NCHW, ATen's conv0 gradient: the script's ops";
  } else if (name == "script") {
    s.script = true;
    s.what = "make_script_net, as the runner drives it (NCHW input)";
  } else if (name == "script_nhwc") {
    s.script = true, s.nhwc_input = true;
    s.what = "make_script_net, channels-last input";
  } else if (name == "script_profiling") {
    s.script = true, s.profiling = true;
    s.what = "make_script_net, the profiling executor";
  } else {
    throw std::runtime_error("unknown variant '" + name +
                             "' (builtin, builtin_no_fused, builtin_nchw, builtin_aten, script, "
                             "script_nhwc, script_profiling)");
  }
  return s;
}

struct StepTimes {
  std::vector<double> wall_ms, cpu_ms, fwd_ms, bwd_ms, step_ms;
};

// The torchscript block of tests/cli/torchscript_family.sh, and the trial parameters that weight
// its regularizers as the built-in's loss options weight the built-in's.
json script_block() {
  return {{"task", "neural"},
          {"smoothness", {{"param", "convs.0.weight"}}},
          {"readout_l1", {{"params", {"readout_spatial", "readout_feature"}}}},
          {"readout_bias", {{"param", "readout_bias"}}}};
}

class Trainer {
 public:
  Trainer(std::string name, const VariantSpec& spec, const std::string& script_path,
          const json& params, std::int64_t size, std::int64_t neurons, std::int64_t batch,
          const Data& data)
      : name_(std::move(name)), spec_(spec), data_(data), batch_(batch) {
    const nn::LossOptions lo = nn::loss_options_from_json(params);
    loss_kind_ = lo.loss();
    if (!spec.script) {
      json p = params;
      p["channels_last"] = spec.channels_last;
      p["fast_conv0_grad"] = spec.fast_conv0;
      const nn::TrainOptions to = nn::train_options_from_json(p);
      nn::ModelOptions mo = nn::with_computation_switches(
          nn::model_options_from_json(p, 1, size, size, neurons), to, /*cpu=*/true);
      mo.fast_softplus(mo.fast_softplus() && spec.fused);  // the environment can turn it off
      fast_conv0_used_ = mo.fast_conv0_grad();
      lo_ = lo;
      torch::manual_seed(0);
      model_ = std::make_unique<nn::MaskCnn>(mo);
      (*model_)->init_readout_bias(data.mean_response);
      if (to.channels_last()) nn::parameters_to_channels_last(**model_);
      channels_last_input_ = to.channels_last();
      params_ = (*model_)->parameters();
    } else {
      const json weights = {{"smoothness", lo.smoothness()}, {"readout_l1", lo.readout_scale()}};
      net_ = nn::make_script_net(script_path, script_block(), weights, data.mean_response,
                                 torch::Device(torch::kCPU));
      channels_last_input_ = spec.nhwc_input || net_->channels_last();
      params_ = net_->parameters();
    }
    optimizer_ = std::make_unique<torch::optim::Adam>(
        params_, torch::optim::AdamOptions(nn::train_options_from_json(params).lr()));
  }

  const std::string& name() const { return name_; }
  const VariantSpec& spec() const { return spec_; }
  bool fast_conv0_used() const { return fast_conv0_used_; }
  bool channels_last_input() const { return channels_last_input_; }
  std::vector<torch::Tensor>& params() { return params_; }
  nn::MaskCnn* builtin() { return model_ ? model_.get() : nullptr; }

  torch::Tensor input(const torch::Tensor& idx) const {
    auto x = data_.images.index_select(0, idx);
    if (channels_last_input_) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    return x;
  }
  void train(bool on) {
    if (net_) net_->train(on);
    else (*model_)->train(on);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return net_ ? net_->forward(x) : (*model_)->forward(x);
  }
  torch::Tensor regularizer() { return net_ ? net_->regularizer() : (*model_)->regularizer(lo_); }

  // The executor mode this variant's module runs under (global flags of LibTorch's JIT, set
  // around each of its steps; the builtin variants leave them alone).
  struct ExecutorGuard {
    bool active, old;
    explicit ExecutorGuard(const VariantSpec& s) : active(s.script), old(false) {
      if (!active) return;
      old = torch::jit::getProfilingMode().exchange(s.profiling);
    }
    ~ExecutorGuard() {
      if (active) torch::jit::getProfilingMode() = old;
    }
  };

  // One iteration of runner.cpp's Trial::train_step (the minibatch random, not an epoch
  // permutation; the same index_select).
  void step(StepTimes* times) {
    ExecutorGuard guard(spec_);
    const double t0 = now_s(), c0 = cpu_s();
    auto idx = torch::randint(0, data_.images.size(0), {batch_}, torch::kInt64);
    auto x = input(idx);
    auto y = data_.targets.index_select(0, idx);
    train(true);
    optimizer_->zero_grad();
    auto loss = nn::data_loss(loss_kind_, forward(x), y);
    auto total = loss + regularizer();
    const double t1 = now_s();
    total.backward();
    const double t2 = now_s();
    optimizer_->step();
    {  // Trial::add_loss
      torch::NoGradGuard no_grad;
      unread_.push_back(torch::where(torch::isfinite(total), loss, total).detach().reshape({1}));
    }
    const double t3 = now_s();
    if (times) {
      times->wall_ms.push_back(1e3 * (t3 - t0));
      times->cpu_ms.push_back(1e3 * (cpu_s() - c0));
      times->fwd_ms.push_back(1e3 * (t1 - t0));
      times->bwd_ms.push_back(1e3 * (t2 - t1));
      times->step_ms.push_back(1e3 * (t3 - t2));
    }
  }
  // The queued losses (Trial::read_losses); all must be finite.
  std::vector<double> read_losses() {
    std::vector<double> out;
    if (unread_.empty()) return out;
    auto all = torch::cat(unread_, 0).to(torch::kFloat64).contiguous();
    unread_.clear();
    out.assign(all.data_ptr<double>(), all.data_ptr<double>() + all.numel());
    return out;
  }

 private:
  std::string name_;
  VariantSpec spec_;
  const Data& data_;
  std::int64_t batch_;
  nn::LossKind loss_kind_ = nn::LossKind::kPoisson;
  nn::LossOptions lo_;
  std::unique_ptr<nn::MaskCnn> model_;
  std::unique_ptr<nn::Net> net_;
  std::vector<torch::Tensor> params_;
  bool channels_last_input_ = false, fast_conv0_used_ = false;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  std::vector<torch::Tensor> unread_;
};

// The module's parameters by name (the order make_script_net's parameters() keeps: the
// module's named_parameters, recursively), checked against the built-in's. Throws on any
// difference, with both lists.
std::vector<std::string> check_shapes(const std::string& path, nn::MaskCnn& builtin,
                                      std::vector<std::string>* report) {
  torch::jit::Module m = torch::jit::load(path, torch::kCPU);
  std::map<std::string, torch::Tensor> theirs;
  for (const auto& p : builtin->named_parameters(/*recurse=*/true)) theirs[p.key()] = p.value();
  std::vector<std::string> names;
  std::ostringstream diff;
  std::size_t matched = 0;
  for (const auto& p : m.named_parameters(/*recurse=*/true)) {
    names.push_back(p.name);
    const std::string b = builtin_name(p.name);
    auto it = theirs.find(b);
    std::string line = p.name + " " + shape_str(p.value) + "  <->  " + b + " ";
    if (it == theirs.end()) {
      line += "(absent)";
      diff << "\n  " << line;
    } else {
      line += shape_str(it->second);
      if (!it->second.sizes().equals(p.value.sizes())) diff << "\n  " << line;
      ++matched;
    }
    report->push_back(line);
  }
  if (matched != theirs.size())
    diff << "\n  the built-in has " << theirs.size() << " parameters, " << matched
         << " matched by name";
  for (const auto& b : m.named_buffers(/*recurse=*/true)) {
    if (b.name.find("num_batches_tracked") != std::string::npos) continue;
    const std::string bn = builtin_name(b.name);
    bool found = false;
    for (const auto& q : builtin->named_buffers(true))
      if (q.key() == bn) {
        found = true;
        if (!q.value().sizes().equals(b.value.sizes()))
          diff << "\n  buffer " << b.name << " " << shape_str(b.value) << " vs " << bn << " "
               << shape_str(q.value());
      }
    if (!found) diff << "\n  buffer " << b.name << " has no counterpart " << bn;
  }
  if (!diff.str().empty())
    throw std::runtime_error("the module '" + path +
                             "' is not the built-in architecture at these sizes (export it "
                             "with --size/--neurons/--channels as given here):" +
                             diff.str());
  return names;
}

// What a graph runs, recursively through its blocks: each aten op with its count, and the JIT's
// own optimization nodes (autodiff subgraphs, fusion groups, profiling and guard nodes).
std::string graph_summary(const torch::jit::Graph& g) {
  std::map<std::string, int> aten, jit;
  std::vector<const torch::jit::Block*> blocks = {g.block()};
  while (!blocks.empty()) {
    const torch::jit::Block* b = blocks.back();
    blocks.pop_back();
    for (const torch::jit::Node* n : b->nodes()) {
      const std::string k = n->kind().toQualString();
      if (k.rfind("aten::", 0) == 0) ++aten[k.substr(6)];
      for (const char* special : {"prim::DifferentiableGraph", "prim::TensorExprGroup",
                                  "prim::FusionGroup", "prim::CudaFusionGroup", "prim::profile",
                                  "prim::profile_ivalue", "prim::TypeCheck",
                                  "prim::RequiresGradCheck", "prim::BailOut", "prim::Guard"})
        if (k == special) ++jit[k];
      for (const torch::jit::Block* sub : n->blocks()) blocks.push_back(sub);
    }
  }
  std::ostringstream os;
  os << "aten ops:";
  for (const auto& [k, c] : aten) os << " " << k << " x" << c;
  os << "; JIT optimization nodes:";
  if (jit.empty()) os << " none";
  for (const auto& [k, c] : jit) os << " " << k << " x" << c;
  return os.str();
}

// Self CPU time per op (ms, summed over the profiled steps) from the legacy autograd profiler's
// events: each push/pop pair's elapsed time less that of the ranges nested in it. Convolution
// ops are told apart by their input shapes (conv0 from conv1).
std::map<std::string, double> self_times(const torch::autograd::profiler::thread_event_lists& lists) {
  using torch::autograd::profiler::EventKind;
  using torch::autograd::profiler::LegacyEvent;
  std::map<std::string, double> out;
  for (const auto& events : lists) {
    struct Open {
      const LegacyEvent* start;
      double children_us;
    };
    std::vector<Open> stack;
    for (const LegacyEvent& e : events) {
      if (e.kind() == EventKind::PushRange) {
        stack.push_back({&e, 0.0});
      } else if (e.kind() == EventKind::PopRange && !stack.empty()) {
        // the matching push: the innermost open range with this handle (ranges nest)
        auto it = std::find_if(stack.rbegin(), stack.rend(),
                               [&](const Open& o) { return o.start->handle() == e.handle(); });
        if (it == stack.rend()) continue;
        const Open o = *it;
        stack.erase(std::next(it).base(), stack.end());
        const double us = o.start->cpuElapsedUs(e);
        std::string key = o.start->name();
        if (key.find("conv") != std::string::npos) {
          std::ostringstream os;
          os << key << " (inputs";
          for (const auto& sh : o.start->shapes())
            if (!sh.empty()) os << " " << c10::IntArrayRef(sh);
          os << ")";
          key = os.str();
        }
        out[key] += us - o.children_us;
        if (!stack.empty()) stack.back().children_us += us;
      }
    }
  }
  for (auto& [k, v] : out) v /= 1e3;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"maskcnn training step: built-in MaskCnn vs a TorchScript module (bench/README.md)"};
  std::string script_path, variants_arg, params_arg = "{}";
  int profile_steps = 0;
  std::int64_t size = 32, neurons = 30, channels = 8, batch = 64;
  int iters = 15, rounds = 3, warmup = 5, threads = 1;
  bool as_json = false, dump_graph = false;
  app.add_option("--script", script_path,
                 "TorchScript file of examples/torchscript_v1/export.py (same sizes)")
      ->required();
  app.add_option("--size", size, "image height = width (export.py --size)");
  app.add_option("--neurons", neurons, "neurons (export.py --neurons)");
  app.add_option("--channels", channels, "conv channels (export.py --channels)");
  app.add_option("--batch", batch, "training batch size");
  app.add_option("--iters", iters, "timed steps per variant and round, the variants in turn");
  app.add_option("--rounds", rounds, "rounds (the variants' order reversed every other round)");
  app.add_option("--warmup", warmup, "untimed steps per variant before the first round");
  app.add_option("--threads", threads, "intra-op threads (torch::set_num_threads)");
  app.add_option("--variants", variants_arg,
                 "comma-separated extra variants: builtin_no_fused, builtin_nchw, builtin_aten, "
                 "script_nhwc, script_profiling");
  app.add_option("--params", params_arg, "JSON object overriding family parameters");
  app.add_option("--profile", profile_steps,
                 "profile N more steps of each variant (legacy autograd profiler) and print the "
                 "ops with the most self CPU time per step");
  app.add_flag("--dump-graph", dump_graph,
               "summarize the graph each script variant last executed (the whole graph in "
               "--json)");
  app.add_flag("--json", as_json, "print one JSON object instead of the report");
  CLI11_PARSE(app, argc, argv);

  try {
    at::set_num_interop_threads(1);
    torch::set_num_threads(threads);
    ns::models::tune_allocator();  // as the families do for their runners

    json params = nn::model_defaults();
    params.update(nn::training_defaults());
    params["channels"] = channels;
    params["batch_size"] = batch;
    params.update(json::parse(params_arg));

    std::vector<std::string> names = {"builtin", "script"};
    for (const auto& v : split_list(variants_arg))
      if (std::find(names.begin(), names.end(), v) == names.end()) names.push_back(v);

    torch::manual_seed(1);
    const Data data = make_data(std::max<std::int64_t>(4 * batch, 256), size, neurons);
    std::vector<std::unique_ptr<Trainer>> trainers;
    for (const auto& n : names)
      trainers.push_back(std::make_unique<Trainer>(n, variant_spec(n), script_path, params, size,
                                                   neurons, batch, data));

    // Same architecture: names and shapes, then the built-in's initial weights into every script
    // variant, then one training-mode forward (batch statistics) and the regularizer, compared.
    nn::MaskCnn& ref = *trainers[0]->builtin();
    std::vector<std::string> shape_report;
    const std::vector<std::string> script_names = check_shapes(script_path, ref, &shape_report);
    std::map<std::string, torch::Tensor> ref_params;
    for (const auto& p : ref->named_parameters(true)) ref_params[p.key()] = p.value();
    json equivalence = json::array();
    torch::manual_seed(2);
    const auto idx = torch::randint(0, data.images.size(0), {batch}, torch::kInt64);
    torch::Tensor ref_out, ref_reg;
    {
      torch::NoGradGuard no_grad;
      trainers[0]->train(true);
      ref_out = trainers[0]->forward(trainers[0]->input(idx)).contiguous();
      ref_reg = trainers[0]->regularizer();
    }
    for (auto& t : trainers) {
      if (t->spec().script) {
        auto& ps = t->params();
        if (ps.size() != script_names.size())
          throw std::runtime_error("make_script_net trains " + std::to_string(ps.size()) +
                                   " parameters, the module has " +
                                   std::to_string(script_names.size()));
        torch::NoGradGuard no_grad;
        for (std::size_t i = 0; i < ps.size(); ++i) {
          const torch::Tensor& src = ref_params.at(builtin_name(script_names[i]));
          if (!ps[i].sizes().equals(src.sizes()))
            throw std::runtime_error("parameter " + std::to_string(i) + " (" + script_names[i] +
                                     ") of make_script_net is " + shape_str(ps[i]) +
                                     ", expected " + shape_str(src));
          ps[i].copy_(src);
        }
      }
      if (t.get() == trainers[0].get()) continue;
      torch::NoGradGuard no_grad;
      Trainer::ExecutorGuard guard(t->spec());
      t->train(true);
      const auto out = t->forward(t->input(idx)).contiguous();
      const auto reg = t->regularizer();
      const double out_diff = (out - ref_out).abs().max().item<double>();
      const double reg_rel = std::abs((reg - ref_reg).item<double>()) /
                             std::max(1e-30, std::abs(ref_reg.item<double>()));
      equivalence.push_back({{"variant", t->name()},
                             {"max_abs_output_diff", out_diff},
                             {"output_scale", ref_out.abs().max().item<double>()},
                             {"regularizer_rel_diff", reg_rel},
                             {"regularizer", reg.item<double>()}});
      if (!(out_diff <= 1e-3 * std::max(1.0, ref_out.abs().max().item<double>())) ||
          !(reg_rel <= 1e-4))
        throw std::runtime_error("variant " + t->name() + " computes other numbers than the "
                                 "built-in: max |output diff| " + std::to_string(out_diff) +
                                 ", regularizer relative diff " + std::to_string(reg_rel));
    }

    // Timing: warm-up, then rounds, the order reversed every other round.
    std::vector<StepTimes> times(trainers.size());
    for (auto& t : trainers)
      for (int i = 0; i < warmup; ++i) t->step(nullptr);
    std::vector<std::size_t> order(trainers.size());
    for (std::size_t v = 0; v < order.size(); ++v) order[v] = v;
    const double t_start = now_s();
    for (int r = 0; r < rounds; ++r) {
      for (int i = 0; i < iters; ++i)
        for (std::size_t v : order) trainers[v]->step(&times[v]);
      std::reverse(order.begin(), order.end());
    }
    const double timed_s = now_s() - t_start;
    for (auto& t : trainers)
      for (double l : t->read_losses())
        if (!std::isfinite(l)) throw std::runtime_error(t->name() + ": a non-finite loss");

    json graphs = json::object();
    if (dump_graph)
      for (auto& t : trainers) {
        if (!t->spec().script) continue;
        t->step(nullptr);
        const auto g = torch::jit::lastExecutedOptimizedGraph();
        graphs[t->name()] = {{"summary", graph_summary(*g)}, {"graph", g->toString()}};
      }
    json profiles = json::object();
    if (profile_steps > 0)
      for (auto& t : trainers) {
        std::map<std::string, double> ms;
        {
          torch::autograd::profiler::TLSLegacyProfilerGuard guard(
              torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU,
                                                    /*report_input_shapes=*/true),
              [&](const torch::autograd::profiler::thread_event_lists& lists) {
                ms = self_times(lists);
              });
          for (int i = 0; i < profile_steps; ++i) t->step(nullptr);
        }
        std::vector<std::pair<double, std::string>> top;
        for (const auto& [k, v] : ms) top.push_back({v / profile_steps, k});
        std::sort(top.rbegin(), top.rend());
        json rows = json::array();
        double total = 0;
        for (const auto& [v, k] : top) total += v;
        for (std::size_t i = 0; i < top.size() && i < 12; ++i)
          rows.push_back({{"op", top[i].second}, {"self_ms_per_step", top[i].first}});
        profiles[t->name()] = {{"steps", profile_steps}, {"total_self_ms_per_step", total},
                               {"top", rows}};
      }

    const double base_median = median_of(times[0].wall_ms), base_min = min_of(times[0].wall_ms);
    json rows = json::array();
    for (std::size_t v = 0; v < trainers.size(); ++v) {
      const StepTimes& s = times[v];
      const Trainer& t = *trainers[v];
      rows.push_back({{"name", t.name()},
                      {"what", t.spec().what},
                      {"nhwc_input", t.channels_last_input()},
                      {"fast_conv0_grad", t.fast_conv0_used()},
                      {"iters", s.wall_ms.size()},
                      {"ms_min", min_of(s.wall_ms)},
                      {"ms_median", median_of(s.wall_ms)},
                      {"cpu_ms_min", min_of(s.cpu_ms)},
                      {"cpu_ms_median", median_of(s.cpu_ms)},
                      {"forward_ms_median", median_of(s.fwd_ms)},
                      {"backward_ms_median", median_of(s.bwd_ms)},
                      {"adam_ms_median", median_of(s.step_ms)},
                      {"ratio_median", median_of(s.wall_ms) / base_median},
                      {"ratio_min", min_of(s.wall_ms) / base_min}});
    }
    const char* omp = std::getenv("OMP_NUM_THREADS");
    json out = {{"threads", {{"intra_op", torch::get_num_threads()},
                             {"inter_op", at::get_num_interop_threads()},
                             {"OMP_NUM_THREADS", omp ? omp : ""}}},
                {"sizes", {{"size", size}, {"neurons", neurons}, {"channels", channels},
                           {"layers", params.at("layers")}, {"batch", batch}}},
                {"script", script_path},
                {"parameters", shape_report},
                {"equivalence", equivalence},
                {"timed_s", timed_s},
                {"train", rows}};
    if (dump_graph) out["graphs"] = graphs;
    if (profile_steps > 0) out["profile"] = profiles;
    if (as_json) {
      std::cout << out.dump() << std::endl;
      return 0;
    }
    std::printf("threads        intra-op %d, inter-op %d, OMP_NUM_THREADS=%s\n",
                torch::get_num_threads(), at::get_num_interop_threads(), omp ? omp : "(unset)");
    std::printf("sizes          %lldx%lld input, %lld neurons, %lld channels, %lld layers, batch "
                "%lld\n",
                (long long)size, (long long)size, (long long)neurons, (long long)channels,
                (long long)params.at("layers").get<std::int64_t>(), (long long)batch);
    std::printf("script         %s: %zu parameters, names and shapes as the built-in's:\n",
                script_path.c_str(), shape_report.size());
    for (const auto& l : shape_report) std::printf("  %s\n", l.c_str());
    for (const auto& e : equivalence)
      std::printf("same numbers   [%s] from the built-in's weights: max |output diff| %.3g (outputs "
                  "up to %.3g), regularizer %.6g (relative diff %.2g)\n",
                  e["variant"].get<std::string>().c_str(), e["max_abs_output_diff"].get<double>(),
                  e["output_scale"].get<double>(), e["regularizer"].get<double>(),
                  e["regularizer_rel_diff"].get<double>());
    std::printf("timed          %d warm-up steps each, then %d rounds x %d steps per variant, "
                "one step of each in turn (order reversed every other round), %.1f s\n",
                warmup, rounds, iters, timed_s);
    for (const auto& r : rows) {
      std::printf("train_step     [%s] %s%s\n", r["name"].get<std::string>().c_str(),
                  r["what"].get<std::string>().c_str(),
                  r["fast_conv0_grad"].get<bool>() ? " (fast conv0 gradient)" : "");
      std::printf("  measured     %.2f min / %.2f median ms/step wall (%zu steps), CPU %.2f / "
                  "%.2f; median forward %.2f, backward %.2f, Adam %.2f\n",
                  r["ms_min"].get<double>(), r["ms_median"].get<double>(),
                  r["iters"].get<std::size_t>(), r["cpu_ms_min"].get<double>(),
                  r["cpu_ms_median"].get<double>(), r["forward_ms_median"].get<double>(),
                  r["backward_ms_median"].get<double>(), r["adam_ms_median"].get<double>());
      std::printf("  vs builtin   %.3fx (median) / %.3fx (min)\n",
                  r["ratio_median"].get<double>(), r["ratio_min"].get<double>());
    }
    for (auto& [k, p] : profiles.items()) {
      std::printf("profile        [%s] %d steps under the profiler, self CPU ms per step (all ops "
                  "%.1f):\n",
                  k.c_str(), p["steps"].get<int>(), p["total_self_ms_per_step"].get<double>());
      for (const auto& r : p["top"])
        std::printf("  %8.1f  %s\n", r["self_ms_per_step"].get<double>(),
                    r["op"].get<std::string>().c_str());
    }
    if (dump_graph)
      for (auto& [k, g] : graphs.items())
        std::printf("graph          [%s] last executed: %s\n", k.c_str(),
                    g.at("summary").get<std::string>().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find("\nException raised from"));
    std::fprintf(stderr, "error: %s\n", what.c_str());
    return 1;
  }
}
