// Trial runner of the maskcnn family. Per trial (TrialContext::trial_dir) it writes:
//   config.json          resolved parameters, data block, dataset geometry, seed, device
//   curve.csv            iteration,phase,lr,train_loss,val_loss (one row per evaluation)
//   model.pt             best model (LibTorch archive; torch::load(model, "model.pt"))
//   optimizer.pt         Adam state at the best model;  best_checkpoint.json: its iteration, val loss
//   neurons.csv          per-neuron Pearson, CCmax, CCnorm, FEV on val and test
//   predictions.h5       `pred` [M_test, N] float32 and `index` [M_test] image indices
//   readout_masks.json   {"shape": [N, h, w], "values": [...]} spatial readout masks
//   resume.pt            while it trains (at most every --checkpoint-every seconds, at an
//                        evaluation, improved or not) and while interrupted: everything needed
//                        to continue exactly (current and best weights and Adam states, the
//                        protocol's state, minibatch order)
#include "models/neural/runner.hpp"

#include <torch/torch.h>

#include <fmt/format.h>

#include <time.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/log.hpp"
#include "engine/rung_walk.hpp"
#include "models/neural/dataset.hpp"
#include "models/neural/h5.hpp"
#include "models/neural/maskcnn.hpp"
#include "models/neural/metrics.hpp"
#include "models/neural/net.hpp"
#include "models/neural/options.hpp"
#include "models/neural/packed.hpp"
#include "models/neural/rng.hpp"
#include "models/neural/schedule.hpp"
#include "models/torch_common.hpp"

namespace ns::models::neural {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Training losses are read from the device every this many steps (and before every
// evaluation): one host sync per 16 steps, as the convnet's finiteness check.
constexpr int kReadLossEvery = 16;

void write_file(const fs::path& path, const std::string& content) {
  core::write_file_atomic(path, content, kExitBadInput);
}

// LibTorch archives as byte strings: in-memory snapshots of the best model / optimizer state.
std::string archive_bytes(torch::serialize::OutputArchive& archive) {
  std::ostringstream os;
  archive.save_to(os);
  return os.str();
}

template <typename T>
std::string save_blob(T& object) {
  torch::serialize::OutputArchive archive;
  object.save(archive);
  return archive_bytes(archive);
}

// A model's blob is written from CPU copies (save_module_on_cpu): model.pt carries no CUDA device
// tags, so `torch::load(model, "model.pt")` works on a machine without a GPU.
std::string save_model_blob(const torch::nn::Module& model) {
  torch::serialize::OutputArchive archive;
  save_module_on_cpu(model, archive);
  return archive_bytes(archive);
}

template <typename T>
void load_blob(T& object, const std::string& blob, const torch::Device& device) {
  torch::serialize::InputArchive archive;
  std::istringstream is(blob);
  archive.load_from(is, device);
  object.load(archive);
}

std::string num(double x) { return fmt::format("{:.9g}", x); }

// A device tensor's values on the host, as doubles (one transfer: a sync on a GPU).
std::vector<double> host_doubles(const torch::Tensor& t) {
  const torch::Tensor host = t.to(torch::kCPU).to(torch::kDouble).contiguous();
  return std::vector<double>(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
}

// An exception's message without the C++ backtrace LibTorch appends.
std::string short_error(const std::exception& e) {
  return engine::without_backtrace(e.what());
}

// CPU time of the whole process (all threads): robust to other processes sharing the cores.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// A dataset as device tensors, uploaded once per (data block, device).
struct DeviceData {
  torch::Tensor images;   // [M, C, H, W] float32
  torch::Tensor targets;  // [M, N] float32 (trial-averaged responses)
  std::vector<std::int64_t> train, val, test;
  torch::Tensor val_index, test_index;  // int64 on the device
};

torch::Tensor index_tensor(const std::vector<std::int64_t>& idx, const torch::Device& device) {
  return torch::tensor(idx, torch::kInt64).to(device);
}

class MaskCnnRunner : public engine::TrialRunner {
 public:
  /// `script`: the torchscript family's runner (the module a trial's "module" names).
  explicit MaskCnnRunner(bool script = false) : script_(script) {}
  engine::TrialOutcome run(const engine::TrialContext& ctx) override;
  std::vector<engine::TrialOutcome> run_pack(
      const std::vector<engine::TrialContext>& members) override;

 private:
  std::shared_ptr<const NeuralData> dataset(const json& block);
  std::shared_ptr<const DeviceData> device_data(const json& block, const NeuralData& data,
                                                const torch::Device& device);

  bool script_;
  std::map<std::string, std::shared_ptr<const NeuralData>> datasets_;
  std::string device_key_;
  std::shared_ptr<const DeviceData> device_data_;
};

std::shared_ptr<const NeuralData> MaskCnnRunner::dataset(const json& block) {
  const std::string key = block.dump();  // nlohmann objects are key-sorted: order-independent
  auto it = datasets_.find(key);
  if (it != datasets_.end()) return it->second;
  const DataSpec spec = parse_data_spec(block);
  auto data = std::make_shared<const NeuralData>(load_dataset(spec));
  datasets_[key] = data;
  return data;
}

std::shared_ptr<const DeviceData> MaskCnnRunner::device_data(const json& block,
                                                             const NeuralData& d,
                                                             const torch::Device& device) {
  const std::string key = block.dump() + "@" + device.str();
  if (key == device_key_) return device_data_;
  auto dd = std::make_shared<DeviceData>();
  dd->images = torch::from_blob(const_cast<float*>(d.pixels.data()),
                                {d.images, d.channels, d.height, d.width}, torch::kFloat32)
                   .to(device, /*non_blocking=*/false, /*copy=*/true);
  dd->targets = torch::from_blob(const_cast<float*>(d.responses.data()), {d.images, d.neurons},
                                 torch::kFloat32)
                    .to(device, false, true);
  dd->train = d.indices(kTrain);
  dd->val = d.indices(kVal);
  dd->test = d.indices(kTest);
  dd->val_index = index_tensor(dd->val, device);
  dd->test_index = index_tensor(dd->test, device);
  device_data_ = dd;
  device_key_ = key;
  return dd;
}

// A trial's view of the data: with folds (the spec's "folds"), its fold's train and val images
// (fold_labels; the test images stay); the device tensors are shared, not copied.
std::shared_ptr<const DeviceData> for_fold(std::shared_ptr<const DeviceData> base,
                                           const NeuralData& d, const sweeps::Trial& trial,
                                           const torch::Device& device) {
  if (trial.folds <= 1) return base;
  auto dd = std::make_shared<DeviceData>(*base);
  const std::vector<std::int8_t> labels =
      fold_labels(d.split, trial.folds, trial.fold, trial.fold_seed);
  dd->train = part_indices(labels, kTrain);
  dd->val = part_indices(labels, kVal);
  dd->val_index = index_tensor(dd->val, device);
  return dd;
}

// The built-in mask CNN as a Net.
class MaskCnnNet final : public Net {
 public:
  MaskCnnNet(const ModelOptions& mo, const LossOptions& lo, const TrainOptions& to,
             const std::vector<double>& mean_response, const torch::Device& device)
      : mo_(mo), lo_(lo), channels_last_(to.channels_last()), model_(mo) {
    // Readout bias from each neuron's mean training response (models/neural/README.md, "The
    // published model").
    model_->init_readout_bias(mean_response);
    model_->to(device);
    if (channels_last_) parameters_to_channels_last(*model_);
  }
  torch::Tensor forward(const torch::Tensor& x) override { return model_->forward(x); }
  torch::Tensor regularizer() override { return model_->regularizer(lo_); }
  std::vector<torch::Tensor> parameters() override { return model_->parameters(); }
  void train(bool on) override { model_->train(on); }
  std::string save_blob() const override { return save_model_blob(*model_); }
  void load_blob(const std::string& blob, const torch::Device& device) override {
    neural::load_blob(*model_, blob, device);
  }
  const char* best_file() const override { return "model.pt"; }
  std::int64_t parameter_count() const override { return count_parameters(*model_); }
  json describe() const override {
    json j = to_json(mo_, lo_);
    j["map_size"] = {mo_.map_size().first, mo_.map_size().second};
    return j;
  }
  void write_outputs(const fs::path& dir) const override {
    const torch::Tensor masks = model_->spatial_weights().detach().to(torch::kCPU).contiguous();
    json mj = {{"shape", masks.sizes().vec()},
               {"values", std::vector<float>(masks.data_ptr<float>(),
                                             masks.data_ptr<float>() + masks.numel())}};
    write_file(dir / "readout_masks.json", mj.dump() + "\n");
  }
  bool channels_last() const override { return channels_last_; }
  MaskCnn* maskcnn() override { return &model_; }

 private:
  ModelOptions mo_;
  LossOptions lo_;
  bool channels_last_;
  MaskCnn model_;
};

// Which net a Trial trains: the family decides (maskcnn, or torchscript's "neural" task).
struct NetKind {
  bool script = false;
  json options;  ///< the torchscript block
};

// Each neuron's mean training response.
std::vector<double> mean_training_response(const NeuralData& data, const DeviceData& dd) {
  std::vector<double> mean(data.neurons, 0.0);
  for (auto m : dd.train)
    for (std::int64_t n = 0; n < data.neurons; ++n) mean[n] += data.responses[m * data.neurons + n];
  for (double& x : mean) x /= static_cast<double>(dd.train.size());
  return mean;
}

// Everything one trial needs while it trains.
class Trial {
 public:
  Trial(const engine::TrialContext& ctx, const NeuralData& data, const DeviceData& dd,
        const NetKind& kind = NetKind{})
      : ctx_(ctx),
        data_(data),
        dd_(dd),
        device_(to_torch_device(ctx.device)),
        family_(kind.script ? "torchscript" : "maskcnn"),
        loss_(loss_kind_from_json(ctx.trial.params)),
        to_(train_options_from_json(ctx.trial.params)),
        schedule_(ScheduleOptions{static_cast<int>(to_.phases()), to_.lr(), to_.lr_decay(),
                                  to_.eval_every(), to_.patience(),
                                  to_.max_iters_per_phase()}),
        rng_(mix_seed(ctx.trial.seed, 0x5417)) {
    NS_CHECK(static_cast<std::int64_t>(dd_.train.size()) >= to_.batch_size(),
             "batch_size {} is larger than the training set ({} images of {}); lower "
             "\"batch_size\"",
             to_.batch_size(), dd_.train.size(), data_.source);
    seed_torch(ctx.trial.seed);
    const std::vector<double> mean = mean_training_response(data_, dd_);
    if (kind.script) {
      net_ = make_script_net(ctx.trial.params.at("module").get<std::string>(), kind.options,
                             ctx.trial.params, mean, device_);
    } else {
      // fast_conv0_grad was measured on CPU (oneDNN) only; on CUDA cuDNN's own gradient is
      // kept, and on AVX-512 CPUs oneDNN's (conv0_fast_grad_helps).
      const ModelOptions mo = with_computation_switches(
          model_options_from_json(ctx.trial.params, data.channels, data.height, data.width,
                                  data.neurons),
          to_, device_.is_cpu());
      net_ = std::make_unique<MaskCnnNet>(mo, loss_options_from_json(ctx.trial.params), to_,
                                          mean, device_);
    }
    optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(),
                                                      torch::optim::AdamOptions(to_.lr()));
  }

  /// Trains alone, start to end (or to a stop).
  engine::TrialOutcome run();

  // A packed trial (MaskCnnRunner::run_pack) goes through the same steps, with the training
  // steps taken for all members at once: begin(); then per step next_batch(), the fused
  // forward and backward, optimizer().step(), add_loss(), driver().stepped(), supply_losses()
  // when the driver wants them; end() with the driver's result.
  /// prepare(), then starts the protocol (its initial evaluation) under driver().
  void begin();
  ProtocolDriver& driver() { return *driver_; }
  /// The next minibatch's image indices (on the device), in this trial's own order.
  torch::Tensor next_batch();
  /// The mask CNN (packed trials are mask CNNs only).
  MaskCnn& model() {
    MaskCnn* m = net_->maskcnn();
    NS_CHECK(m != nullptr, "internal: only mask CNN trials are packed");
    return *m;
  }
  torch::optim::Adam& optimizer() { return *optimizer_; }
  LossKind loss() const { return loss_; }
  torch::Tensor regularizer() { return net_->regularizer(); }
  /// Queues a step's data loss (read later, with read_losses): the data loss when `total` is
  /// finite, else `total`, so a non-finite step fails the trial.
  void add_loss(const torch::Tensor& data, const torch::Tensor& total);
  /// The queued losses as one device tensor [n] (undefined when none); clear_losses() after
  /// they were read.
  torch::Tensor queued_losses() const;
  void clear_losses() { unread_.clear(); }
  /// Adds a step's wall and CPU time (for ms_per_iter); a packed step counts whole for each.
  void add_step_time(double wall_s, double cpu_s);
  /// Outputs of the run as `result` says it ended (checkpoint, or the best model's scores).
  engine::TrialOutcome end(const ProtocolResult& result);

 private:
  fs::path file(const char* name) const { return ctx_.trial_dir / name; }
  /// Writes config.json, resumes from resume.pt when there is one, sets up the protocol's hooks.
  void prepare();
  void write_config() const;
  bool try_resume();
  void save_resume() const;
  void write_curve() const;
  /// Every write into the trial directory: TrialContext::check_owner first, so a rank the
  /// coordinator took out as silent (its trial now another rank's) learns it here and writes
  /// nothing (engine::TrialAbandoned), even when it wakes up between two training steps.
  void write_own(const fs::path& path, const std::string& content) const {
    ctx_.check_owner();
    write_file(path, content);
  }
  void write_best() const;
  void train_step();
  std::vector<double> read_losses();
  torch::Tensor predict(const std::vector<std::int64_t>& idx);
  double loss_on(const std::vector<std::int64_t>& idx, const torch::Tensor& pred);
  engine::TrialOutcome finish();
  PopulationView population() const;
  /// After an evaluation, the step boundary of walk_: at a rung the scheduler's decision, at the
  /// resource limit pause (or finish at the final rung). True ends training here (hold_ says how).
  bool check_rung();
  /// The validation metrics of the last evaluation (what a rung ranks by), with the iteration.
  std::map<std::string, double> val_metrics() const;
  /// After an evaluation (improved or not) and its rung check, resume.pt when
  /// ctx.checkpoint_every_s passed since the last one: a SIGKILL costs at most about that much
  /// training plus one evaluation interval.
  void checkpoint_if_due();

  const engine::TrialContext& ctx_;
  const NeuralData& data_;
  const DeviceData& dd_;
  torch::Device device_;
  const char* family_;  // "maskcnn" or "torchscript"
  LossKind loss_;
  TrainOptions to_;
  std::unique_ptr<Net> net_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  PhaseSchedule schedule_;
  Rng rng_;                         // minibatch order
  std::vector<std::int64_t> order_; // current epoch's permutation of the training images
  std::size_t pos_ = 0;             // next position in order_
  // order_ on the device, copied once per epoch (or resume): a step slices it instead of copying
  // its batch's indices from the host (one host-to-device copy per step on CUDA).
  torch::Tensor order_device_;
  std::string best_model_, best_optimizer_;
  std::vector<torch::Tensor> unread_;  // losses of the steps not read yet (on the device)
  // Early stopping (engine/rung_walk.hpp) in iterations: the walk, what it said when it last
  // ended training or when the trial resumed (kContinue: neither), and the metrics it reported.
  engine::RungWalk walk_{ctx_};
  engine::RungAction hold_ = engine::RungAction::kContinue;
  engine::RungAction resumed_ = engine::RungAction::kContinue;
  std::map<std::string, double> rung_metrics_;
  torch::Tensor last_val_pred_;     // the last evaluation's validation predictions
  Clock::time_point last_checkpoint_ = Clock::now();
  ProtocolHooks hooks_;
  std::optional<ProtocolDriver> driver_;
  double train_seconds_ = 0;        // wall time in training steps (for ms_per_iter)
  double train_cpu_seconds_ = 0;    // process CPU time in training steps (cpu_ms_per_iter)
  std::int64_t timed_steps_ = 0;
};

void Trial::write_config() const {
  json cfg = {{"family", family_},
              {"trial_id", ctx_.trial.id},
              {"index", ctx_.trial.index},
              {"repeat", ctx_.trial.repeat},
              {"seed", ctx_.trial.seed},
              {"params", ctx_.trial.params},
              {"model", net_->describe()},
              {"training", to_json(to_)},
              {"data", ctx_.data},
              {"dataset",
               {{"source", data_.source},
                {"images", data_.images},
                {"channels", data_.channels},
                {"height", data_.height},
                {"width", data_.width},
                {"neurons", data_.neurons},
                {"repeats", data_.repeats},
                {"train", dd_.train.size()},
                {"val", dd_.val.size()},
                {"test", dd_.test.size()}}},
              {"parameters", net_->parameter_count()},
              {"device", ctx_.device},
              {"threads", ctx_.threads}};
  if (ctx_.trial.folds > 1) {  // cross-validation: which part of train + val validated
    cfg["fold"] = ctx_.trial.fold;
    cfg["folds"] = ctx_.trial.folds;
    cfg["fold_seed"] = ctx_.trial.fold_seed;
  }
  write_own(file("config.json"), cfg.dump(2) + "\n");
}

torch::Tensor Trial::next_batch() {
  const auto bs = static_cast<std::size_t>(to_.batch_size());
  if (pos_ + bs > order_.size()) {  // new epoch: shuffle, drop the last partial batch
    order_ = dd_.train;
    rng_.shuffle(order_);
    pos_ = 0;
    order_device_ = torch::Tensor();
  }
  if (!order_device_.defined()) order_device_ = index_tensor(order_, device_);
  auto idx = order_device_.narrow(0, static_cast<std::int64_t>(pos_), static_cast<std::int64_t>(bs));
  pos_ += bs;
  return idx;
}

void Trial::add_loss(const torch::Tensor& data, const torch::Tensor& total) {
  torch::NoGradGuard no_grad;
  unread_.push_back(torch::where(torch::isfinite(total), data, total).detach().reshape({1}));
}

torch::Tensor Trial::queued_losses() const {
  return unread_.empty() ? torch::Tensor() : torch::cat(unread_, 0);
}

void Trial::add_step_time(double wall_s, double cpu_s) {
  train_seconds_ += wall_s;
  train_cpu_seconds_ += cpu_s;
  ++timed_steps_;
}

// No host sync: the indices are a slice of the epoch's order already on the device, the
// regularizer's constants are built once, and the loss stays on the device until read_losses.
// The optimizer steps whatever the loss; a non-finite one fails the trial when it is read, at
// most `read_every` steps later, before any evaluation (so no checkpoint holds its weights).
void Trial::train_step() {
  const auto t0 = Clock::now();
  const double cpu0 = process_cpu_seconds();
  auto idx = next_batch();
  auto x = dd_.images.index_select(0, idx);
  if (net_->channels_last()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  auto y = dd_.targets.index_select(0, idx);
  net_->train(true);
  optimizer_->zero_grad();  // the optimizer's: a script module has no zero_grad of its own
  auto loss = data_loss(loss_, net_->forward(x), y);
  auto total = loss + net_->regularizer();
  total.backward();
  optimizer_->step();
  add_loss(loss, total);
  add_step_time(std::chrono::duration<double>(Clock::now() - t0).count(),
                process_cpu_seconds() - cpu0);
}

std::vector<double> Trial::read_losses() {
  const torch::Tensor all = queued_losses();
  unread_.clear();
  if (!all.defined()) return {};
  return host_doubles(all);
}

torch::Tensor Trial::predict(const std::vector<std::int64_t>& idx) {
  torch::NoGradGuard no_grad;
  net_->train(false);
  std::vector<torch::Tensor> parts;
  const auto n = static_cast<std::int64_t>(idx.size());
  for (std::int64_t start = 0; start < n; start += to_.eval_batch_size()) {
    const std::int64_t end = std::min(n, start + to_.eval_batch_size());
    std::vector<std::int64_t> chunk(idx.begin() + start, idx.begin() + end);
    auto x = dd_.images.index_select(0, index_tensor(chunk, device_));
    if (net_->channels_last()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    parts.push_back(net_->forward(x));
  }
  return torch::cat(parts, 0);
}

double Trial::loss_on(const std::vector<std::int64_t>& idx, const torch::Tensor& pred) {
  torch::NoGradGuard no_grad;
  auto y = dd_.targets.index_select(0, index_tensor(idx, device_));
  return data_loss(loss_, pred, y).item<double>();
}

void Trial::write_best() const {
  write_own(file(net_->best_file()), best_model_);
  write_own(file("optimizer.pt"), best_optimizer_);
  json best = {{"iteration", schedule_.best_iteration()},
               {"val_loss", schedule_.best_loss()},
               {"phase", schedule_.best_phase()}};
  write_own(file("best_checkpoint.json"), best.dump(2) + "\n");
}

void Trial::write_curve() const {
  std::string csv = "iteration,phase,lr,train_loss,val_loss\n";
  for (const auto& r : schedule_.curve())
    csv += fmt::format("{},{},{},{},{}\n", r.iteration, r.phase, num(r.lr), num(r.train_loss),
                       num(r.val_loss));
  write_own(file("curve.csv"), csv);
}

void Trial::save_resume() const {
  json state = {{"trial_id", ctx_.trial.id},
                {"seed", ctx_.trial.seed},
                {"schedule", schedule_.state()},
                {"rng", rng_.state()},
                {"order", order_},
                {"pos", pos_},
                {"train_seconds", train_seconds_},
                {"train_cpu_seconds", train_cpu_seconds_},
                {"timed_steps", timed_steps_}};
  torch::serialize::OutputArchive archive;
  archive.write("state", bytes_tensor(state.dump()));
  archive.write("model", bytes_tensor(net_->save_blob()));
  archive.write("optimizer", bytes_tensor(save_blob(*optimizer_)));
  archive.write("best_model", bytes_tensor(best_model_));
  archive.write("best_optimizer", bytes_tensor(best_optimizer_));
  write_own(file("resume.pt"), archive_bytes(archive));
}

bool Trial::try_resume() {
  if (!fs::exists(file("resume.pt"))) return false;
  torch::serialize::InputArchive archive;
  archive.load_from(file("resume.pt").string());
  torch::Tensor t;
  archive.read("state", t);
  const json state = json::parse(tensor_bytes(t));
  // A PBT exploit copied another member's checkpoint here: it continues that member's training
  // (its weights, optimizer, minibatch order and protocol state) with this trial's parameters.
  if (!ctx_.adopted &&
      (state.at("trial_id") != ctx_.trial.id || state.at("seed") != ctx_.trial.seed)) {
    log::warn("{}: resume.pt belongs to trial {} (seed {}), not {}; starting afresh",
              ctx_.trial_dir.string(), state.at("trial_id").dump(), state.at("seed").dump(),
              ctx_.trial.id);
    return false;
  }
  archive.read("model", t);
  net_->load_blob(tensor_bytes(t), device_);
  archive.read("optimizer", t);
  load_blob(*optimizer_, tensor_bytes(t), device_);
  archive.read("best_model", t);
  best_model_ = tensor_bytes(t);
  archive.read("best_optimizer", t);
  best_optimizer_ = tensor_bytes(t);
  schedule_.set_state(state.at("schedule"));
  rng_.set_state(state.at("rng").get<std::string>());
  order_ = state.at("order").get<std::vector<std::int64_t>>();
  pos_ = state.at("pos").get<std::size_t>();
  train_seconds_ = state.at("train_seconds").get<double>();
  train_cpu_seconds_ = state.at("train_cpu_seconds").get<double>();
  timed_steps_ = state.at("timed_steps").get<std::int64_t>();
  return true;
}

void Trial::prepare() {
  write_config();
  bool resumed = false;
  try {
    resumed = try_resume();
  } catch (const std::exception& e) {
    // The model may be half loaded: never continue from a checkpoint that did not load whole.
    NS_FAIL_CODE(kExitBadInput, "cannot resume from {}: {}; delete it to rerun the trial from "
                               "the start",
                 file("resume.pt").string(), short_error(e));
  }
  if (resumed) {
    log::note("trial {}: resuming at iteration {} (phase {}) from its checkpoint", ctx_.trial.id,
               schedule_.iteration(), schedule_.phase() + 1);
  }
  hooks_.stop_requested = [this] { return ctx_.stop_requested && ctx_.stop_requested(); };
  hooks_.train_step = [this] { train_step(); };
  hooks_.read_losses = [this] { return read_losses(); };
  hooks_.read_every = kReadLossEvery;
  hooks_.evaluate = [this] {
    last_val_pred_ = predict(dd_.val);
    return loss_on(dd_.val, last_val_pred_);
  };
  hooks_.save_best = [this] {
    best_model_ = net_->save_blob();
    best_optimizer_ = save_blob(*optimizer_);
    write_best();
  };
  hooks_.restore_best = [this] {
    net_->load_blob(best_model_, device_);
    load_blob(*optimizer_, best_optimizer_, device_);
  };
  hooks_.on_phase_end = [this] { write_best(); };
  hooks_.after_eval = [this] { write_curve(); };  // so the curve can be watched while it trains
  // The checkpoint comes after the rung's report: a resume skips the rungs it passed.
  hooks_.hold = [this] {
    if (check_rung()) return true;
    checkpoint_if_due();
    return false;
  };
  // Rungs already passed before a resume (a promotion continues from the last one).
  resumed_ = walk_.resume(static_cast<double>(schedule_.iteration()));
  hooks_.set_lr = [this](double lr) {
    for (auto& group : optimizer_->param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  };
}

void Trial::begin() {
  prepare();
  driver_.emplace(schedule_, hooks_);
  driver_->start();
}

engine::TrialOutcome Trial::run() {
  prepare();
  // Resumed at or past its limit (killed after the pause's checkpoint, before the pause was
  // recorded): pause (or finish) again at once with the same metrics instead of training on.
  if (resumed_ != engine::RungAction::kContinue && !schedule_.curve().empty() &&
      !schedule_.finished()) {
    last_val_pred_ = predict(dd_.val);
    rung_metrics_ = val_metrics();
    hold_ = resumed_;
    return end(ProtocolResult{ProtocolResult::Status::kInterrupted, {}});
  }
  return end(run_protocol(schedule_, hooks_));
}

std::map<std::string, double> Trial::val_metrics() const {
  std::map<std::string, double> m;
  m["iterations"] = static_cast<double>(schedule_.iteration());
  m["val_loss"] = schedule_.curve().empty() ? std::nan("") : schedule_.curve().back().val_loss;
  if (!last_val_pred_.defined()) return m;
  auto c = last_val_pred_.to(torch::kCPU).to(torch::kFloat32).contiguous();
  const SplitScores val = score_split(
      std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel()), dd_.val,
      population());
  m["val_pearson"] = val.mean_pearson;
  m["val_ccnorm"] = val.mean_ccnorm;
  m["val_ccnorm2"] = val.mean_ccnorm2;
  m["val_ccnorm_excluded"] = static_cast<double>(val.ccnorm_excluded);
  m["val_fev"] = val.mean_fev;
  return m;
}

bool Trial::check_rung() {
  const auto it = static_cast<double>(schedule_.iteration());
  if (!walk_.due(it)) return false;  // the validation metrics cost a scoring pass: only here
  rung_metrics_ = val_metrics();
  hold_ = walk_.at(it, rung_metrics_);
  return hold_ != engine::RungAction::kContinue;
}

void Trial::checkpoint_if_due() {
  if (schedule_.finished()) return;
  const auto now = Clock::now();
  if (std::chrono::duration<double>(now - last_checkpoint_).count() < ctx_.checkpoint_every_s)
    return;
  save_resume();
  last_checkpoint_ = now;
}

engine::TrialOutcome Trial::end(const ProtocolResult& result) {
  write_curve();
  engine::TrialOutcome outcome;
  if (result.status == ProtocolResult::Status::kInterrupted &&
      hold_ != engine::RungAction::kContinue) {
    switch (hold_) {
      case engine::RungAction::kPause:  // a checkpoint to be promoted from, on any rank
        save_resume();
        outcome.status = engine::TrialStatus::kPaused;
        outcome.metrics = rung_metrics_;
        return outcome;
      case engine::RungAction::kStop:
        fs::remove(file("resume.pt"));
        outcome.status = engine::TrialStatus::kStopped;
        outcome.metrics = rung_metrics_;
        outcome.error = fmt::format("stopped by the scheduler at iteration {}",
                                    schedule_.iteration());
        return outcome;
      case engine::RungAction::kFinish:  // the final rung's budget is spent: the best model's scores
        if (schedule_.best_iteration() >= 0) {
          net_->load_blob(best_model_, device_);
          load_blob(*optimizer_, best_optimizer_, device_);
        }
        return finish();
      case engine::RungAction::kContinue:
        break;
    }
  }
  switch (result.status) {
    case ProtocolResult::Status::kInterrupted:
      save_resume();
      outcome.status = engine::TrialStatus::kInterrupted;
      outcome.error = fmt::format("stopped at iteration {}; resume.pt saved in {}",
                                  schedule_.iteration(), ctx_.trial_dir.string());
      return outcome;
    case ProtocolResult::Status::kFailed:
      outcome.status = engine::TrialStatus::kFailed;
      outcome.error = result.error;
      fs::remove(file("resume.pt"));
      return outcome;
    case ProtocolResult::Status::kFinished:
      break;
  }
  return finish();
}

PopulationView Trial::population() const {
  PopulationView view;
  view.images = data_.images;
  view.neurons = data_.neurons;
  view.responses = data_.responses.data();
  view.trials = data_.trials.empty() ? nullptr : data_.trials.data();
  view.repeats = data_.trials.empty() ? 0 : data_.repeats;
  view.truth = data_.truth.empty() ? nullptr : data_.truth.data();
  return view;
}

engine::TrialOutcome Trial::finish() {
  // The protocol ended with the best model restored: every metric is the best checkpoint's.
  const std::int64_t N = data_.neurons;
  const PopulationView view = population();
  auto to_vector = [](const torch::Tensor& t) {
    auto c = t.to(torch::kCPU).to(torch::kFloat32).contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  const torch::Tensor val_pred = predict(dd_.val), test_pred = predict(dd_.test);
  const std::vector<float> test_host = to_vector(test_pred);
  const SplitScores val = score_split(to_vector(val_pred), dd_.val, view);
  const SplitScores test = score_split(test_host, dd_.test, view);
  // Before the outputs and resume.pt's removal: a rank taken out as silent while it scored
  // learns it here (see write_own) and leaves the directory to the trial's new rank.
  ctx_.check_owner();

  engine::TrialOutcome outcome;
  auto& m = outcome.metrics;
  m["val_loss"] = loss_on(dd_.val, val_pred);
  m["val_pearson"] = val.mean_pearson;
  m["val_ccnorm"] = val.mean_ccnorm;
  m["val_ccnorm2"] = val.mean_ccnorm2;
  m["val_ccnorm_excluded"] = static_cast<double>(val.ccnorm_excluded);
  m["val_fev"] = val.mean_fev;
  m["test_loss"] = loss_on(dd_.test, test_pred);
  m["test_pearson"] = test.mean_pearson;
  m["test_ccnorm"] = test.mean_ccnorm;
  m["test_ccnorm2"] = test.mean_ccnorm2;
  m["test_ccnorm_excluded"] = static_cast<double>(test.ccnorm_excluded);
  m["test_ccmax"] = test.mean_ccmax;
  m["test_fev"] = test.mean_fev;
  m["best_iteration"] = static_cast<double>(schedule_.best_iteration());
  m["iterations"] = static_cast<double>(schedule_.iteration());
  m["ms_per_iter"] =
      timed_steps_ > 0 ? 1000.0 * train_seconds_ / static_cast<double>(timed_steps_) : std::nan("");
  m["cpu_ms_per_iter"] = timed_steps_ > 0
                             ? 1000.0 * train_cpu_seconds_ / static_cast<double>(timed_steps_)
                             : std::nan("");

  std::string csv =
      "neuron,val_pearson,val_ccmax,val_ccnorm,val_fev,test_pearson,test_ccmax,test_ccnorm,"
      "test_fev\n";
  for (std::int64_t n = 0; n < N; ++n)
    csv += fmt::format("{},{},{},{},{},{},{},{},{}\n", n, num(val.pearson[n]), num(val.ccmax[n]),
                       num(val.ccnorm[n]), num(val.fev[n]), num(test.pearson[n]),
                       num(test.ccmax[n]), num(test.ccnorm[n]), num(test.fev[n]));
  write_own(file("neurons.csv"), csv);

  {
    core::write_atomic_with(file("predictions.h5"), [&](const fs::path& tmp) {
      h5::File f = h5::File::create(tmp.string());
      f.write("pred", {static_cast<std::int64_t>(dd_.test.size()), N}, test_host.data());
      f.write("index", {static_cast<std::int64_t>(dd_.test.size())}, dd_.test.data());
    });
  }

  net_->write_outputs(ctx_.trial_dir);
  fs::remove(file("resume.pt"));
  return outcome;
}

engine::TrialOutcome MaskCnnRunner::run(const engine::TrialContext& ctx) {
  set_torch_threads(ctx.threads);
  const torch::Device device = to_torch_device(ctx.device);
  auto data = dataset(ctx.data);
  auto dd = for_fold(device_data(ctx.data, *data, device), *data, ctx.trial, device);
  Trial trial(ctx, *data, *dd, NetKind{script_, ctx.options});
  return trial.run();
}

// One fused training step of the members in `active` (same shapes): each member's own batch,
// one forward and backward through packed_forward, each member's own loss, regularizers and
// Adam step. The loss summed over members has, for each member's parameters, the gradient of
// that member's own loss.
void packed_step(const std::vector<Trial*>& active, const DeviceData& dd) {
  const auto t0 = Clock::now();
  const double cpu0 = process_cpu_seconds();
  std::vector<torch::Tensor> xs, ys;
  std::vector<MaskCnn> models;
  for (Trial* t : active) {
    auto idx = t->next_batch();
    xs.push_back(dd.images.index_select(0, idx));
    ys.push_back(dd.targets.index_select(0, idx));
    models.push_back(t->model());
    t->model()->train();
    t->optimizer().zero_grad();
  }
  const torch::Tensor pred = packed_forward(models, torch::stack(xs, 0));
  std::vector<torch::Tensor> data(active.size()), totals(active.size());
  torch::Tensor sum;
  for (std::size_t k = 0; k < active.size(); ++k) {
    data[k] = data_loss(active[k]->loss(), pred[static_cast<std::int64_t>(k)], ys[k]);
    totals[k] = data[k] + active[k]->regularizer();
    sum = sum.defined() ? sum + totals[k] : totals[k];
  }
  sum.backward();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = process_cpu_seconds() - cpu0;
  for (std::size_t k = 0; k < active.size(); ++k) {
    active[k]->optimizer().step();
    active[k]->add_loss(data[k], totals[k]);
    active[k]->add_step_time(wall, cpu);
  }
}

// Reads the queued losses of every member in one transfer and hands each its own.
void supply_all(const std::vector<Trial*>& members) {
  std::vector<torch::Tensor> parts;
  std::vector<std::int64_t> counts;
  for (Trial* t : members) {
    torch::Tensor q = t->queued_losses();
    counts.push_back(q.defined() ? q.numel() : 0);
    if (q.defined()) parts.push_back(q);
  }
  if (parts.empty()) return;
  const std::vector<double> host = host_doubles(torch::cat(parts, 0));  // one transfer
  auto v = host.begin();
  for (std::size_t k = 0; k < members.size(); ++k) {
    members[k]->clear_losses();
    members[k]->driver().supply(std::vector<double>(v, v + counts[k]));
    v += counts[k];
  }
}

std::vector<engine::TrialOutcome> MaskCnnRunner::run_pack(
    const std::vector<engine::TrialContext>& members) {
  NS_CHECK(!members.empty(), "run_pack: no members");
  if (members.size() == 1) return {run(members[0])};
  set_torch_threads(members[0].threads);
  const torch::Device device = to_torch_device(members[0].device);
  auto data = dataset(members[0].data);
  auto dd = device_data(members[0].data, *data, device);
  const std::size_t K = members.size();
  std::vector<engine::TrialOutcome> outcomes(K);
  std::vector<std::unique_ptr<Trial>> trials(K);
  std::vector<std::shared_ptr<const DeviceData>> views(K);  // each member's fold (for_fold)
  std::vector<bool> open(K, false);  // member k still trains in the pack
  auto fail = [&](std::size_t k, const std::string& error) {
    outcomes[k].status = engine::TrialStatus::kFailed;
    outcomes[k].error = error;
    open[k] = false;
  };
  std::string shape;
  for (std::size_t k = 0; k < K; ++k) {
    try {
      // Built one after the other: each seeds LibTorch's generator with its own seed first.
      views[k] = for_fold(dd, *data, members[k].trial, device);
      trials[k] = std::make_unique<Trial>(members[k], *data, *views[k]);
      const TrainOptions to = train_options_from_json(members[k].trial.params);
      const std::string key = pack_shape_key(trials[k]->model()->options(), to);
      if (shape.empty()) shape = key;
      NS_CHECK(key == shape, "trial {} cannot share a pack with trial {}: their shapes differ "
                             "({} vs {})",
               members[k].trial.id, members[0].trial.id, key, shape);
      trials[k]->begin();
      open[k] = true;
    } catch (const std::exception& e) {
      fail(k, short_error(e));
    }
  }
  auto finish_done = [&] {
    for (std::size_t k = 0; k < K; ++k) {
      if (open[k] && trials[k]->driver().done()) {
        outcomes[k] = trials[k]->end(trials[k]->driver().result());
        open[k] = false;
      }
    }
  };
  auto active = [&] {
    std::vector<Trial*> a;
    for (std::size_t k = 0; k < K; ++k)
      if (open[k]) a.push_back(trials[k].get());
    return a;
  };
  try {
    finish_done();
    const auto& stop = members[0].stop_requested;
    while (true) {
      const std::vector<Trial*> train = active();
      if (train.empty()) break;
      if (stop && stop()) {
        supply_all(train);  // the checkpoints hold the pending losses
        for (std::size_t k = 0; k < K; ++k) {
          if (!open[k]) continue;
          const bool failed = trials[k]->driver().done();
          outcomes[k] = trials[k]->end(trials[k]->driver().result(/*interrupted=*/!failed));
          open[k] = false;
        }
        break;
      }
      packed_step(train, *dd);
      bool read = false;
      for (Trial* t : train) {
        t->driver().stepped();
        read = read || t->driver().wants_losses();
      }
      if (read) supply_all(train);
      finish_done();
    }
  } catch (const std::exception& e) {
    // A failure of the fused step (out of memory, a broken device) fails every member still in
    // the pack; members that already finished keep their results.
    const std::string error = short_error(e);
    for (std::size_t k = 0; k < K; ++k)
      if (open[k]) fail(k, "packed training step: " + error);
  }
  return outcomes;
}

}  // namespace

const std::vector<std::string>& maskcnn_metrics() {
  static const std::vector<std::string> names = {
      "val_loss",     "val_pearson",  "val_ccnorm",          "val_ccnorm2",
      "val_ccnorm_excluded", "val_fev", "test_loss",         "test_pearson",
      "test_ccnorm",  "test_ccnorm2", "test_ccnorm_excluded", "test_ccmax",
      "test_fev",     "best_iteration", "iterations",        "ms_per_iter",
      "cpu_ms_per_iter"};
  return names;
}

std::unique_ptr<engine::TrialRunner> make_maskcnn_runner() {
  return std::make_unique<MaskCnnRunner>();
}

std::unique_ptr<engine::TrialRunner> make_torchscript_runner() {
  return std::make_unique<MaskCnnRunner>(/*script=*/true);
}

}  // namespace ns::models::neural
