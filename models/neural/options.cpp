#include "models/neural/options.hpp"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"

namespace ns::models::neural {
namespace {

using nlohmann::json;

template <typename E>
struct Choice {
  const char* name;
  E value;
};
const std::vector<Choice<Act>> kActs = {{"softplus", Act::kSoftplus}, {"relu", Act::kRelu}};
const std::vector<Choice<Pool>> kPools = {{"avg", Pool::kAvg}, {"max", Pool::kMax},
                                          {"none", Pool::kNone}};
const std::vector<Choice<Positive>> kPositive = {{"none", Positive::kNone},
                                                 {"abs", Positive::kAbs}};
const std::vector<Choice<LossKind>> kLosses = {{"poisson", LossKind::kPoisson},
                                               {"mse", LossKind::kMse}};

template <typename E>
std::string name_of(const std::vector<Choice<E>>& choices, E v) {
  for (const auto& c : choices)
    if (c.value == v) return c.name;
  return "?";
}

template <typename E>
E get_choice(const json& p, const char* key, E def, const std::vector<Choice<E>>& choices) {
  if (!p.contains(key)) return def;
  std::vector<std::string> names;
  for (const auto& c : choices) names.push_back(fmt::format("\"{}\"", c.name));
  const json& v = p.at(key);
  NS_CHECK(v.is_string(), "parameter '{}' must be one of {}, got {}", key,
           fmt::join(names, ", "), v.dump());
  for (const auto& c : choices)
    if (v.get<std::string>() == c.name) return c.value;
  NS_FAIL_CODE(kExitBadInput, "parameter '{}' must be one of {}, got {}", key,
               fmt::join(names, ", "), v.dump());
}

std::int64_t get_int(const json& p, const char* key, std::int64_t def, std::int64_t lo) {
  if (!p.contains(key)) return def;
  const json& v = p.at(key);
  bool integral = v.is_number_integer() ||
                  (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  NS_CHECK(integral, "parameter '{}' must be an integer >= {}, got {}", key, lo, v.dump());
  const auto x = v.is_number_integer() ? v.get<std::int64_t>()
                                       : static_cast<std::int64_t>(v.get<double>());
  NS_CHECK(x >= lo, "parameter '{}' must be an integer >= {}, got {}", key, lo, x);
  return x;
}

double get_double(const json& p, const char* key, double def, double lo, bool lo_open) {
  if (!p.contains(key)) return def;
  const json& v = p.at(key);
  NS_CHECK(v.is_number(), "parameter '{}' must be a number {} {}, got {}", key,
           lo_open ? ">" : ">=", lo, v.dump());
  double x = v.get<double>();
  NS_CHECK(std::isfinite(x) && (lo_open ? x > lo : x >= lo),
           "parameter '{}' must be a finite number {} {}, got {}", key, lo_open ? ">" : ">=",
           lo, x);
  return x;
}

bool get_bool(const json& p, const char* key, bool def) {
  if (!p.contains(key)) return def;
  const json& v = p.at(key);
  NS_CHECK(v.is_boolean(), "parameter '{}' must be true or false, got {}", key, v.dump());
  return v.get<bool>();
}

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
  m.channels(get_int(p, "channels", d.channels(), 1))
      .layers(get_int(p, "layers", d.layers(), 1))
      .k1(get_int(p, "k1", d.k1(), 1))
      .k_later(get_int(p, "k_later", d.k_later(), 1))
      .act(get_choice(p, "act", d.act(), kActs))
      .bn_before_act(get_bool(p, "bn_before_act", d.bn_before_act()))
      .pool(get_choice(p, "pool", d.pool(), kPools))
      .pool_size(get_int(p, "pool_size", d.pool_size(), 1))
      .readout_positive(get_choice(p, "readout_positive", d.readout_positive(), kPositive))
      .input_bn_affine(get_bool(p, "input_bn_affine", d.input_bn_affine()))
      .init_std(get_double(p, "init_std", d.init_std(), 0.0, true));
  NS_CHECK(m.k_later() % 2 == 1,
           "parameter 'k_later' must be odd (later convolutions use 'same' padding k/2), got {}",
           m.k_later());
  return m;
}

LossOptions loss_options_from_json(const json& p) {
  LossOptions d;
  LossOptions l;
  l.loss(get_choice(p, "loss", d.loss(), kLosses))
      .smoothness(get_double(p, "smoothness", d.smoothness(), 0.0, false))
      .readout_scale(get_double(p, "readout_scale", d.readout_scale(), 0.0, false))
      .group_sparsity(get_double(p, "group_sparsity", d.group_sparsity(), 0.0, false));
  return l;
}

TrainOptions train_options_from_json(const json& p) {
  TrainOptions d;
  TrainOptions t;
  t.lr(get_double(p, "lr", d.lr(), 0.0, true))
      .phases(get_int(p, "phases", d.phases(), 1))
      .lr_decay(get_double(p, "lr_decay", d.lr_decay(), 0.0, true))
      .batch_size(get_int(p, "batch_size", d.batch_size(), 1))
      .eval_every(get_int(p, "eval_every", d.eval_every(), 1))
      .patience(get_int(p, "patience", d.patience(), 1))
      .max_iters_per_phase(get_int(p, "max_iters_per_phase", d.max_iters_per_phase(), 1))
      .eval_batch_size(get_int(p, "eval_batch_size", d.eval_batch_size(), 1))
      .channels_last(get_bool(p, "channels_last", d.channels_last()))
      .fast_conv0_grad(get_bool(p, "fast_conv0_grad", d.fast_conv0_grad()));
  return t;
}

}  // namespace ns::models::neural
