#include "models/classifier/runner.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "engine/rung_walk.hpp"
#include "models/classifier/convnet.hpp"
#include "models/classifier/net.hpp"
#include "models/folds.hpp"
#include "core/json.hpp"
#include "models/torch_common.hpp"

namespace ns::models::classifier {
namespace fs = std::filesystem;
using nlohmann::json;

nlohmann::json TrainOptions::to_json() const {
  return {{"optimizer", optimizer},
          {"lr", lr},
          {"momentum", momentum},
          {"weight_decay", weight_decay},
          {"batch_size", batch_size},
          {"max_epochs", max_epochs},
          {"patience", patience},
          {"val_split", val_split},
          {"split_seed", split_seed},
          {"lr_schedule", lr_schedule},
          {"augment_flip", augment_flip},
          {"augment_shift", augment_shift},
          {"eval_batch_size", eval_batch_size},
          {"channels_last", channels_last}};
}

TrainOptions& TrainOptions::update_from_json(const nlohmann::json& p) {
  const core::JsonFields f(p, "convnet parameter", core::Naming::kLabel);
  optimizer = f.choice("optimizer", optimizer, {"adam", "sgd"});
  lr = f.number("lr", lr, {0.0, 1e12, true});
  momentum = f.number("momentum", momentum, {0.0, 1.0, false, true});
  weight_decay = f.number("weight_decay", weight_decay, {0.0, 1e6});
  batch_size = f.integer("batch_size", batch_size, core::Interval::closed(1, 1 << 20));
  max_epochs = f.integer("max_epochs", max_epochs, core::Interval::closed(1, 1 << 20));
  patience = f.integer("patience", patience, core::Interval::closed(0, 1 << 20));
  val_split = f.number("val_split", val_split, {0.0, 1.0, true, true});
  split_seed = f.integer("split_seed", split_seed, core::Interval::at_least(0));
  lr_schedule = f.choice("lr_schedule", lr_schedule, {"none", "cosine"});
  augment_flip = f.boolean("augment_flip", augment_flip);
  augment_shift = f.integer("augment_shift", augment_shift, core::Interval::closed(0, 64));
  eval_batch_size = f.integer("eval_batch_size", eval_batch_size, core::Interval::closed(1, 1 << 20));
  channels_last = f.boolean("channels_last", channels_last);
  return *this;
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kResumeFile = "resume.pt";

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

torch::Generator cpu_generator(std::uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

struct CurveRow {
  std::int64_t epoch;
  double lr, train_loss, val_loss, val_accuracy;
};

std::string curve_csv(const std::vector<CurveRow>& rows) {
  std::string s = "epoch,lr,train_loss,val_loss,val_accuracy\n";
  for (const auto& r : rows) {
    s += fmt::format("{},{:.9g},{:.9g},{:.9g},{:.9g}\n", r.epoch, r.lr, r.train_loss, r.val_loss,
                     r.val_accuracy);
  }
  return s;
}

struct EvalResult {
  double loss = 0;      // mean cross-entropy
  double accuracy = 0;  // fraction correct
  torch::Tensor pred;   // [N] int64 predicted classes (when asked for)
};

EvalResult evaluate(Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                    std::int64_t batch, torch::MemoryFormat fmt, bool keep_pred) {
  torch::NoGradGuard no_grad;
  model.train(false);
  const std::int64_t n = x.size(0);
  auto loss_sum = torch::zeros({}, x.options().dtype(torch::kFloat64));
  auto correct = torch::zeros({}, y.options());
  std::vector<torch::Tensor> preds;
  for (std::int64_t s = 0; s < n; s += batch) {
    const std::int64_t len = std::min(batch, n - s);
    const auto xb = x.narrow(0, s, len).contiguous(fmt);
    const auto yb = y.narrow(0, s, len);
    const auto logits = model.forward(xb);
    loss_sum +=
        torch::nn::functional::cross_entropy(
            logits, yb, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
            .to(torch::kFloat64);
    const auto p = logits.argmax(1);
    correct += (p == yb).sum();
    if (keep_pred) preds.push_back(p);
  }
  EvalResult r;
  r.loss = loss_sum.item<double>() / static_cast<double>(n);
  r.accuracy = static_cast<double>(correct.item<std::int64_t>()) / static_cast<double>(n);
  if (keep_pred) r.pred = torch::cat(preds);
  return r;
}

// Puts every 4-d parameter (the conv weights) in `fmt`; set_data keeps the parameter's identity.
void to_memory_format(Classifier& model, torch::MemoryFormat fmt) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(fmt));
  }
}

// Random horizontal flips and translations (zero-padded with the background value), drawn from
// LibTorch's seeded default generator.
torch::Tensor augment(torch::Tensor x, const TrainOptions& t, double background) {
  const std::int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  if (t.augment_flip) {
    const auto flip = torch::rand({b, 1, 1, 1}, x.options()) < 0.5;
    x = torch::where(flip, x.flip({3}), x);
  }
  if (t.augment_shift > 0) {
    const std::int64_t s = t.augment_shift;
    namespace F = torch::nn::functional;
    const auto padded = F::pad(x, F::PadFuncOptions({s, s, s, s}).value(background));
    const auto opts = x.options().dtype(torch::kInt64);
    const auto dy = torch::randint(0, 2 * s + 1, {b, 1, 1}, opts);
    const auto dx = torch::randint(0, 2 * s + 1, {b, 1, 1}, opts);
    const auto rows = torch::arange(h, opts).view({1, h, 1}) + dy;  // [b, h, 1]
    const auto cols = torch::arange(w, opts).view({1, 1, w}) + dx;  // [b, 1, w]
    const auto bi = torch::arange(b, opts).view({b, 1, 1});
    // padded: [b, c, H, W] -> permute so advanced indices come first: [b, H, W, c]
    x = padded.permute({0, 2, 3, 1}).index({bi, rows, cols}).permute({0, 3, 1, 2});
  }
  return x;
}

// What a trial carries across an interruption (the tensors travel in the same archive).
struct Progress {
  std::int64_t epoch = 0;       // 0-based epoch in progress
  std::int64_t batch = 0;       // next batch of that epoch
  double loss_sum = 0;          // training loss summed over this epoch's images so far
  std::int64_t loss_count = 0;  // images in loss_sum
  double best_val_loss = std::numeric_limits<double>::infinity();
  std::int64_t best_epoch = 0;  // 1-based; 0 = none yet
  std::int64_t bad_epochs = 0;  // epochs since the last improvement
  double train_seconds = 0;     // wall time of epochs (training + validation), all sessions
  std::int64_t resumes = 0;
  /// Seeds the epochs' shuffles: the trial seed of the run that started this training (a PBT
  /// member that copied another's checkpoint goes on with that member's order).
  std::uint64_t order_seed = 0;
  std::vector<CurveRow> curve;

  json to_json() const {
    json c = json::array();
    for (const auto& r : curve) {
      c.push_back({r.epoch, r.lr, r.train_loss, r.val_loss, r.val_accuracy});
    }
    return {{"epoch", epoch},
            {"batch", batch},
            {"loss_sum", loss_sum},
            {"loss_count", loss_count},
            {"best_val_loss", std::isfinite(best_val_loss) ? json(best_val_loss) : json(nullptr)},
            {"best_epoch", best_epoch},
            {"bad_epochs", bad_epochs},
            {"train_seconds", train_seconds},
            {"resumes", resumes},
            {"order_seed", order_seed},
            {"curve", c}};
  }
  static Progress from_json(const json& j) {
    Progress p;
    p.epoch = j.at("epoch");
    p.batch = j.at("batch");
    p.loss_sum = j.at("loss_sum");
    p.loss_count = j.at("loss_count");
    if (!j.at("best_val_loss").is_null()) p.best_val_loss = j.at("best_val_loss");
    p.best_epoch = j.at("best_epoch");
    p.bad_epochs = j.at("bad_epochs");
    p.train_seconds = j.at("train_seconds");
    p.resumes = j.at("resumes");
    if (j.contains("order_seed")) p.order_seed = j.at("order_seed");
    for (const auto& r : j.at("curve")) {
      p.curve.push_back({r.at(0).get<std::int64_t>(), r.at(1), r.at(2), r.at(3), r.at(4)});
    }
    return p;
  }
};

void save_resume(const fs::path& path, const Classifier& model, torch::optim::Optimizer& opt,
                 const Progress& progress) {
  torch::serialize::OutputArchive ar;
  torch::serialize::OutputArchive m;
  model.save_state(m);
  ar.write("model", m);
  torch::serialize::OutputArchive o;
  opt.save(o);
  ar.write("optimizer", o);
  // Dropout, flips and shifts draw from the default generator: saving it makes a resumed CPU run
  // repeat the uninterrupted one exactly.
  ar.write("rng", at::detail::getDefaultCPUGenerator().get_state());
  ar.write("progress", c10::IValue(progress.to_json().dump()));
  core::write_atomic_with(path, [&](const fs::path& tmp) { ar.save_to(tmp.string()); });
}

Progress load_resume(const fs::path& path, Classifier& model, torch::optim::Optimizer& opt,
                     const torch::Device& device) {
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path.string(), device);
    torch::serialize::InputArchive m;
    ar.read("model", m);
    model.load_state(m);
    torch::serialize::InputArchive o;
    ar.read("optimizer", o);
    opt.load(o);
    torch::Tensor rng;
    ar.read("rng", rng);
    auto gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(rng.cpu());
    c10::IValue progress;
    ar.read("progress", progress);
    return Progress::from_json(json::parse(progress.toStringRef()));
  } catch (const c10::Error& e) {
    NS_FAIL_CODE(kExitBadInput,
                 "{}: cannot resume from this checkpoint (written by a different model or "
                 "version?): {}. Delete it to restart the trial from scratch",
                 path.string(), e.what_without_backtrace());
  }
}

double epoch_lr(const TrainOptions& t, std::int64_t epoch) {
  if (t.lr_schedule == "cosine") {
    // Loshchilov & Hutter 2017 (SGDR), Eq. 5 without restarts, stepped once per epoch.
    return 0.5 * t.lr *
           (1.0 + std::cos(M_PI * static_cast<double>(epoch) / static_cast<double>(t.max_epochs)));
  }
  return t.lr;
}

void set_weight_decay(torch::optim::Optimizer& opt, const TrainOptions& t) {
  for (auto& g : opt.param_groups()) {
    if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(&g.options())) sgd->weight_decay(t.weight_decay);
    if (auto* adam = dynamic_cast<torch::optim::AdamOptions*>(&g.options())) adam->weight_decay(t.weight_decay);
  }
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(Classifier& model, const TrainOptions& t) {
  if (t.optimizer == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        model.parameters(),
        torch::optim::SGDOptions(t.lr).momentum(t.momentum).weight_decay(t.weight_decay));
  }
  return std::make_unique<torch::optim::Adam>(
      model.parameters(), torch::optim::AdamOptions(t.lr).weight_decay(t.weight_decay));
}

std::string confusion_csv(const torch::Tensor& pred, const torch::Tensor& truth,
                          std::int64_t classes) {
  const auto p = pred.to(torch::kCPU).contiguous();
  const auto y = truth.to(torch::kCPU).contiguous();
  std::vector<std::int64_t> counts(classes * classes, 0);
  const auto* pp = p.data_ptr<std::int64_t>();
  const auto* yp = y.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < p.numel(); ++i) ++counts[yp[i] * classes + pp[i]];
  std::string s = "true";
  for (std::int64_t c = 0; c < classes; ++c) s += fmt::format(",pred_{}", c);
  s += "\n";
  for (std::int64_t r = 0; r < classes; ++r) {
    s += std::to_string(r);
    for (std::int64_t c = 0; c < classes; ++c) s += fmt::format(",{}", counts[r * classes + c]);
    s += "\n";
  }
  return s;
}

engine::TrialOutcome train_classifier(const engine::TrialContext& ctx, ImageDataCache& cache,
                                      bool script) {
  const json& params = ctx.trial.params;
  TrainOptions t;
  t.update_from_json(params);
  set_torch_threads(ctx.threads);
  const torch::Device device = to_torch_device(ctx.device);
  const auto data = cache.get(IdxDataOptions::from_json(ctx.data, "$.data"), device);
  const Geometry geometry{data->channels(), data->height(), data->width(), kClasses};
  const auto fmt =
      t.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;

  // Validation split: a permutation seeded by split_seed (not the trial seed), so every trial of
  // a sweep is scored on the same held-out images. With folds (the spec's "folds"), the fold's
  // part of all training images validates instead (models/folds.hpp; val_split and split_seed
  // are unused), and the test images stay as they are.
  const std::int64_t n_all = data->train_x.size(0);
  torch::Tensor val_idx, tr_idx;
  std::int64_t n_val = 0;
  if (ctx.trial.folds > 1) {
    std::vector<std::int64_t> all(static_cast<std::size_t>(n_all));
    for (std::int64_t i = 0; i < n_all; ++i) all[static_cast<std::size_t>(i)] = i;
    const FoldSplit f = fold_split(all, ctx.trial.folds, ctx.trial.fold, ctx.trial.fold_seed);
    n_val = static_cast<std::int64_t>(f.val.size());
    val_idx = torch::tensor(f.val, torch::kInt64).to(device);
    tr_idx = torch::tensor(f.train, torch::kInt64).to(device);
  } else {
    n_val = static_cast<std::int64_t>(std::llround(t.val_split * double(n_all)));
    NS_CHECK(n_val >= 1 && n_all - n_val >= 1,
             "convnet: val_split {} of {} training images leaves {} for validation and {} for "
             "training; both need at least one (raise the data block's limit or change "
             "val_split)",
             t.val_split, n_all, n_val, n_all - n_val);
    const auto perm =
        torch::randperm(n_all, cpu_generator(static_cast<std::uint64_t>(t.split_seed)),
                        torch::TensorOptions().dtype(torch::kInt64))
            .to(device);
    val_idx = perm.narrow(0, 0, n_val);
    tr_idx = perm.narrow(0, n_val, n_all - n_val);
  }
  const auto x_val = data->train_x.index_select(0, val_idx).contiguous(fmt);
  const auto y_val = data->train_y.index_select(0, val_idx);
  const auto x_tr = data->train_x.index_select(0, tr_idx);
  const auto y_tr = data->train_y.index_select(0, tr_idx);
  const std::int64_t n_tr = x_tr.size(0);
  const double background = (0.0 - data->mean) / data->std;  // a black pixel after normalizing

  seed_torch(ctx.trial.seed);
  const std::unique_ptr<Classifier> net =
      script ? make_script_classifier(params.at("module").get<std::string>(), device)
             : make_convnet(params, geometry, device);
  Classifier& model = *net;
  if (t.channels_last) to_memory_format(model, fmt);
  auto opt = make_optimizer(model, t);

  // A big first-block activation caps the evaluation batch (256 MiB of float32 per map).
  const std::int64_t act_per_image = model.activation_per_image();
  const std::int64_t eval_batch =
      act_per_image <= 0
          ? t.eval_batch_size
          : std::max<std::int64_t>(1, std::min(t.eval_batch_size,
                                               (std::int64_t(64) << 20) / act_per_image));

  const fs::path dir = ctx.trial_dir;
  fs::create_directories(dir);
  const fs::path resume_path = dir / kResumeFile;

  json config = {{"family", script ? "torchscript" : "convnet"},
                 {"trial_id", ctx.trial.id},
                 {"index", ctx.trial.index},
                 {"repeat", ctx.trial.repeat},
                 {"seed", ctx.trial.seed},
                 {"params", params},
                 {"data", ctx.data},
                 {"model", model.describe()},
                 {"training", t.to_json()},
                 {"trainable_parameters", model.parameter_count()},
                 {"image", {data->channels(), data->height(), data->width()}},
                 {"classes", kClasses},
                 {"n_train", n_tr},
                 {"n_val", n_val},
                 {"n_test", data->test_x.size(0)},
                 {"normalization", {{"mean", data->mean}, {"std", data->std}}},
                 {"files", {{"train_images", data->train_path}, {"test_images", data->test_path}}},
                 {"eval_batch_size", eval_batch},
                 {"device", ctx.device},
                 {"threads", ctx.threads},
                 {"torch_version", TORCH_VERSION}};
  if (ctx.trial.folds > 1) {  // cross-validation: which part of the training images validated
    config["fold"] = ctx.trial.fold;
    config["folds"] = ctx.trial.folds;
    config["fold_seed"] = ctx.trial.fold_seed;
  }
  core::write_file_atomic(dir / "config.json", config.dump(2) + "\n");

  Progress pr;
  pr.order_seed = ctx.trial.seed;
  if (fs::exists(resume_path)) {
    pr = load_resume(resume_path, model, *opt, device);
    if (t.channels_last) to_memory_format(model, fmt);
    ++pr.resumes;
    log::note("trial {}: resuming in epoch {} at batch {} ({} epochs done) from its checkpoint",
              ctx.trial.id, pr.epoch + 1, pr.batch + 1, pr.epoch);
    // The optimizer's saved options are the checkpoint's; this trial's weight decay (a PBT
    // exploit may have changed it) holds from here on. The learning rate is set every epoch.
    set_weight_decay(*opt, t);
  }

  engine::TrialOutcome out;
  auto fail = [&](std::string msg) {
    fs::remove(resume_path);
    out.status = engine::TrialStatus::kFailed;
    out.error = std::move(msg);
    out.metrics["epochs"] = static_cast<double>(pr.curve.size());
    out.metrics["best_epoch"] = static_cast<double>(pr.best_epoch);
    return out;
  };
  auto diverged = [&](const char* what, std::int64_t batch) {
    return fail(fmt::format(
        "training diverged: the {} became NaN or infinite in epoch {}{} (optimizer {}, lr {}); "
        "lower the learning rate",
        what, pr.epoch + 1, batch >= 0 ? fmt::format(", batch {}", batch + 1) : std::string(),
        t.optimizer, t.lr));
  };

  const std::int64_t n_batches = (n_tr + t.batch_size - 1) / t.batch_size;
  // Early stopping (engine/rung_walk.hpp) counts epochs: rungs already passed before a resume are
  // not reported again.
  engine::RungWalk walk(ctx);
  const engine::RungAction resumed = walk.resume(static_cast<double>(pr.epoch));
  auto last_checkpoint = Clock::now();
  // Resumed at or past its limit (killed after the pause's checkpoint, before the pause was
  // recorded): pause again at once with the same metrics instead of training on; at the final
  // rung, the loop below is skipped and the best epoch is scored.
  const bool past_limit =
      resumed != engine::RungAction::kContinue && pr.batch == 0 && !pr.curve.empty();
  if (past_limit && resumed == engine::RungAction::kPause) {
    out.status = engine::TrialStatus::kPaused;
    out.metrics = {{"val_accuracy", pr.curve.back().val_accuracy},
                   {"val_loss", pr.curve.back().val_loss},
                   {"epochs", static_cast<double>(pr.epoch)},
                   {"best_epoch", static_cast<double>(pr.best_epoch)}};
    return out;
  }
  while (pr.epoch < t.max_epochs && !past_limit) {
    const auto t0 = Clock::now();
    const double lr = epoch_lr(t, pr.epoch);
    set_lr(*opt, lr);
    // The shuffle depends only on (order seed, epoch), so a resumed epoch replays the same order.
    const auto order = torch::randperm(n_tr, cpu_generator(core::splitmix64(pr.order_seed ^ core::splitmix64(pr.epoch))),
                                       torch::TensorOptions().dtype(torch::kInt64))
                           .to(device);
    model.train(true);
    auto loss_sum =
        torch::full({}, pr.loss_sum, torch::TensorOptions(device).dtype(torch::kFloat64));
    for (; pr.batch < n_batches; ++pr.batch) {
      if (ctx.stop_requested()) {
        pr.loss_sum = loss_sum.item<double>();
        pr.train_seconds += seconds_since(t0);
        save_resume(resume_path, model, *opt, pr);
        out.status = engine::TrialStatus::kInterrupted;
        out.error = fmt::format("stopped in epoch {} at batch {} of {}; resume.pt saved",
                                pr.epoch + 1, pr.batch + 1, n_batches);
        return out;
      }
      // A checkpoint at most every checkpoint_every_s, improved or not (the best weights stay
      // in their own file): a SIGKILL costs at most about that much training plus one batch.
      if (seconds_since(last_checkpoint) >= ctx.checkpoint_every_s) {
        Progress at = pr;
        at.loss_sum = loss_sum.item<double>();
        at.train_seconds += seconds_since(t0);
        save_resume(resume_path, model, *opt, at);
        last_checkpoint = Clock::now();
      }
      const std::int64_t start = pr.batch * t.batch_size;
      const std::int64_t len = std::min(t.batch_size, n_tr - start);
      const auto idx = order.narrow(0, start, len);
      auto xb = x_tr.index_select(0, idx);
      if (t.augment_flip || t.augment_shift > 0) xb = augment(xb, t, background);
      xb = xb.contiguous(fmt);
      const auto yb = y_tr.index_select(0, idx);
      const auto loss = torch::nn::functional::cross_entropy(model.forward(xb), yb);
      opt->zero_grad();
      loss.backward();
      opt->step();
      loss_sum += loss.detach().to(torch::kFloat64) * static_cast<double>(len);
      pr.loss_count += len;
      // A synchronizing check every few batches stops a diverged run early without stalling a
      // GPU on every step.
      if (pr.batch % 16 == 0 && !std::isfinite(loss.item<double>())) {
        return diverged("training loss", pr.batch);
      }
    }
    const double train_loss = loss_sum.item<double>() / static_cast<double>(pr.loss_count);
    if (!std::isfinite(train_loss)) return diverged("training loss", -1);
    const EvalResult val = evaluate(model, x_val, y_val, eval_batch, fmt, false);
    if (!std::isfinite(val.loss)) return diverged("validation loss", -1);

    pr.curve.push_back({pr.epoch + 1, lr, train_loss, val.loss, val.accuracy});
    // Before writing into the trial directory: a rank taken out as silent (its trial now
    // another rank's) learns it here (engine::TrialAbandoned) and writes nothing.
    ctx.check_owner();
    core::write_file_atomic(dir / "curve.csv", curve_csv(pr.curve));
    if (val.loss < pr.best_val_loss) {
      pr.best_val_loss = val.loss;
      pr.best_epoch = pr.epoch + 1;
      pr.bad_epochs = 0;
      model.save_best(dir);
    } else {
      ++pr.bad_epochs;
    }
    ++pr.epoch;
    pr.batch = 0;
    pr.loss_sum = 0;
    pr.loss_count = 0;
    pr.train_seconds += seconds_since(t0);
    if (t.patience > 0 && pr.bad_epochs >= t.patience) break;
    const auto used = static_cast<double>(pr.epoch);
    if (walk.due(used)) {
      const std::map<std::string, double> m = {{"val_accuracy", val.accuracy},
                                               {"val_loss", val.loss},
                                               {"epochs", used},
                                               {"best_epoch", static_cast<double>(pr.best_epoch)}};
      const engine::RungAction next = walk.at(used, m);
      if (next == engine::RungAction::kStop) {
        fs::remove(resume_path);
        out.status = engine::TrialStatus::kStopped;
        out.metrics = m;
        out.error = fmt::format("stopped by the scheduler after epoch {}", pr.epoch);
        return out;
      }
      if (next == engine::RungAction::kPause) {  // paused at its rung, to be promoted from here
        save_resume(resume_path, model, *opt, pr);
        out.status = engine::TrialStatus::kPaused;
        out.metrics = m;
        return out;
      }
      // The final rung's budget: the best epoch's scores below.
      if (next == engine::RungAction::kFinish) break;
    }
  }

  // Final metrics are those of the best epoch's weights.
  model.load_best(dir, device);
  if (t.channels_last) to_memory_format(model, fmt);
  const EvalResult val = evaluate(model, x_val, y_val, eval_batch, fmt, false);
  const EvalResult test = evaluate(model, data->test_x, data->test_y, eval_batch, fmt, true);
  ctx.check_owner();  // as before curve.csv: the outputs are this rank's to write
  core::write_file_atomic(dir / "confusion.csv", confusion_csv(test.pred, data->test_y, kClasses));
  model.write_outputs(dir);
  fs::remove(resume_path);

  const auto epochs = static_cast<double>(pr.curve.size());
  out.metrics = {{"val_accuracy", val.accuracy},
                 {"val_loss", val.loss},
                 {"test_accuracy", test.accuracy},
                 {"test_loss", test.loss},
                 {"epochs", epochs},
                 {"best_epoch", static_cast<double>(pr.best_epoch)},
                 {"s_per_epoch", epochs > 0 ? pr.train_seconds / epochs : 0.0}};
  return out;
}

}  // namespace

engine::TrialOutcome ConvNetRunner::run(const engine::TrialContext& ctx) {
  return train_classifier(ctx, cache_, /*script=*/false);
}

namespace {
class ScriptClassifierRunner final : public engine::TrialRunner {
 public:
  engine::TrialOutcome run(const engine::TrialContext& ctx) override {
    return train_classifier(ctx, cache_, /*script=*/true);
  }

 private:
  ImageDataCache cache_;
};
}  // namespace

std::unique_ptr<engine::TrialRunner> make_script_classifier_runner() {
  return std::make_unique<ScriptClassifierRunner>();
}

}  // namespace ns::models::classifier
