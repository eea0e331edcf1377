#include "models/neural/options.hpp"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/json.hpp"

namespace ns::models::neural {
namespace {

using nlohmann::json;

template <typename E>
using Choices = std::vector<std::pair<std::string, E>>;
const Choices<Act> kActs = {{"softplus", Act::kSoftplus}, {"relu", Act::kRelu}};
const Choices<Pool> kPools = {{"avg", Pool::kAvg}, {"max", Pool::kMax}, {"none", Pool::kNone}};
const Choices<Positive> kPositive = {{"none", Positive::kNone}, {"abs", Positive::kAbs}};
const Choices<LossKind> kLosses = {{"poisson", LossKind::kPoisson}, {"mse", LossKind::kMse}};

template <typename E>
std::string name_of(const Choices<E>& choices, E v) {
  for (const auto& c : choices)
    if (c.second == v) return c.first;
  return "?";
}

/// The parameters of one trial, as messages name them ("parameter 'k1': expected ...").
core::JsonFields fields(const json& p) { return core::JsonFields(p, "maskcnn parameter", core::Naming::kLabel); }

constexpr auto at_least = core::Interval::at_least;
constexpr auto above = core::Interval::above;

// Upper bounds on the size-like settings (docs/guide/specs.md, "Sweep specs"): far above any published mask
// CNN, low enough that no value reaches an allocation LibTorch cannot make (channels
// 2000000000 was a c10::Error backtrace) or an int64 product overflows (relative_cost:
// phases x iterations x batch).
constexpr double kMaxChannels = 1024, kMaxLayers = 32, kMaxK1 = 255, kMaxKLater = 63,
                 kMaxPoolSize = 255, kMaxBatch = 65536, kMaxPhases = 1000, kMaxIters = 1e9;
core::Interval between(double lo, double hi) { return core::Interval::closed(lo, hi); }

}  // namespace

std::string to_string(Act v) { return name_of(kActs, v); }
std::string to_string(Pool v) { return name_of(kPools, v); }
std::string to_string(Positive v) { return name_of(kPositive, v); }
std::string to_string(LossKind v) { return name_of(kLosses, v); }

std::pair<std::int64_t, std::int64_t> ModelOptions::map_size() const {
  NS_CHECK(k1_ <= height_ && k1_ <= width_,
           "k1 = {} is larger than the images ({}x{}); conv0 has no padding, so k1 must be <= "
           "the image size",
           k1_, height_, width_);
  std::int64_t h = height_ - k1_ + 1, w = width_ - k1_ + 1;  // conv0, no padding
  // Later convolutions use 'same' padding: the size is unchanged.
  if (pool_ != Pool::kNone) {
    NS_CHECK(pool_size_ <= h && pool_size_ <= w,
             "pool_size = {} is larger than the {}x{} map after conv0 (images {}x{}, k1 = {}); "
             "lower pool_size or k1",
             pool_size_, h, w, height_, width_, k1_);
    // PyTorch's ceil_mode output size with stride = kernel, no padding.
    // ceil((n - p) / p) + 1 for n >= p
    auto pooled = [&](std::int64_t n) { return (n - 1) / pool_size_ + 1; };
    h = pooled(h);
    w = pooled(w);
  }
  return {h, w};
}

json model_defaults() {
  ModelOptions m(1, 1, 1, 1);
  return to_json(m, LossOptions());
}

json training_defaults() { return to_json(TrainOptions()); }

json to_json(const ModelOptions& m, const LossOptions& l) {
  return json{{"channels", m.channels()},
              {"layers", m.layers()},
              {"k1", m.k1()},
              {"k_later", m.k_later()},
              {"act", to_string(m.act())},
              {"bn_before_act", m.bn_before_act()},
              {"pool", to_string(m.pool())},
              {"pool_size", m.pool_size()},
              {"readout_positive", to_string(m.readout_positive())},
              {"input_bn_affine", m.input_bn_affine()},
              {"init_std", m.init_std()},
              {"loss", to_string(l.loss())},
              {"smoothness", l.smoothness()},
              {"readout_scale", l.readout_scale()},
              {"group_sparsity", l.group_sparsity()}};
}

json to_json(const TrainOptions& t) {
  return json{{"lr", t.lr()},
              {"phases", t.phases()},
              {"lr_decay", t.lr_decay()},
              {"batch_size", t.batch_size()},
              {"eval_every", t.eval_every()},
              {"patience", t.patience()},
              {"max_iters_per_phase", t.max_iters_per_phase()},
              {"eval_batch_size", t.eval_batch_size()},
              {"channels_last", t.channels_last()},
              {"fast_conv0_grad", t.fast_conv0_grad()}};
}

ModelOptions model_options_from_json(const json& p, std::int64_t in_channels,
                                     std::int64_t height, std::int64_t width,
                                     std::int64_t neurons) {
  ModelOptions d(in_channels, height, width, neurons);
  ModelOptions m(in_channels, height, width, neurons);
  const core::JsonFields f = fields(p);
  m.channels(f.integer("channels", d.channels(), between(1, kMaxChannels)))
      .layers(f.integer("layers", d.layers(), between(1, kMaxLayers)))
      .k1(f.integer("k1", d.k1(), between(1, kMaxK1)))
      .k_later(f.integer("k_later", d.k_later(), between(1, kMaxKLater)))
      .act(f.choice_of("act", d.act(), kActs))
      .bn_before_act(f.boolean("bn_before_act", d.bn_before_act()))
      .pool(f.choice_of("pool", d.pool(), kPools))
      .pool_size(f.integer("pool_size", d.pool_size(), between(1, kMaxPoolSize)))
      .readout_positive(f.choice_of("readout_positive", d.readout_positive(), kPositive))
      .input_bn_affine(f.boolean("input_bn_affine", d.input_bn_affine()))
      .init_std(f.number("init_std", d.init_std(), above(0)));
  if (m.k_later() % 2 != 1)
    f.fail("k_later", "an odd number (later convolutions use 'same' padding k/2)");
  return m;
}

LossOptions loss_options_from_json(const json& p) {
  LossOptions d;
  LossOptions l;
  const core::JsonFields f = fields(p);
  l.loss(f.choice_of("loss", d.loss(), kLosses))
      .smoothness(f.number("smoothness", d.smoothness(), at_least(0)))
      .readout_scale(f.number("readout_scale", d.readout_scale(), at_least(0)))
      .group_sparsity(f.number("group_sparsity", d.group_sparsity(), at_least(0)));
  return l;
}

LossKind loss_kind_from_json(const json& p) {
  return fields(p).choice_of("loss", LossOptions().loss(), kLosses);
}

TrainOptions train_options_from_json(const json& p) {
  TrainOptions d;
  TrainOptions t;
  const core::JsonFields f = fields(p);
  t.lr(f.number("lr", d.lr(), above(0)))
      .phases(f.integer("phases", d.phases(), between(1, kMaxPhases)))
      .lr_decay(f.number("lr_decay", d.lr_decay(), above(0)))
      .batch_size(f.integer("batch_size", d.batch_size(), between(1, kMaxBatch)))
      .eval_every(f.integer("eval_every", d.eval_every(), between(1, kMaxIters)))
      .patience(f.integer("patience", d.patience(), between(1, kMaxIters)))
      .max_iters_per_phase(f.integer("max_iters_per_phase", d.max_iters_per_phase(), between(1, kMaxIters)))
      .eval_batch_size(f.integer("eval_batch_size", d.eval_batch_size(), between(1, kMaxBatch)))
      .channels_last(f.boolean("channels_last", d.channels_last()))
      .fast_conv0_grad(f.boolean("fast_conv0_grad", d.fast_conv0_grad()));
  return t;
}

}  // namespace ns::models::neural
