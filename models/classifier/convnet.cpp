#include "models/classifier/convnet.hpp"

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/json.hpp"
#include "models/classifier/net.hpp"
#include "models/torch_common.hpp"

namespace ns::models::classifier {
namespace nn = torch::nn;

nlohmann::json ConvNetOptions::to_json() const {
  return {{"blocks", blocks_},
          {"convs_per_block", convs_per_block_},
          {"filters", filters_},
          {"filter_growth", filter_growth_},
          {"kernel_size", kernel_size_},
          {"batch_norm", batch_norm_},
          {"activation", activation_},
          {"pool", pool_},
          {"dense_units", dense_units_},
          {"dropout", dropout_},
          {"conv_dropout", conv_dropout_}};
}

ConvNetOptions& ConvNetOptions::update_from_json(const nlohmann::json& p) {
  const core::JsonFields f(p, "convnet parameter", core::Naming::kLabel);
  blocks_ = f.integer("blocks", blocks_, core::Interval::closed(1, 16));
  convs_per_block_ = f.integer("convs_per_block", convs_per_block_, core::Interval::closed(1, 8));
  filters_ = f.integer("filters", filters_, core::Interval::closed(1, 4096));
  filter_growth_ = f.choice("filter_growth", filter_growth_, {"double", "constant"});
  kernel_size_ = f.integer("kernel_size", kernel_size_, core::Interval::closed(1, 31));
  batch_norm_ = f.boolean("batch_norm", batch_norm_);
  activation_ = f.choice("activation", activation_, {"relu", "elu", "gelu", "tanh", "silu"});
  pool_ = f.choice("pool", pool_, {"max", "avg", "none"});
  dense_units_ = f.integer("dense_units", dense_units_, core::Interval::closed(0, 1 << 16));
  dropout_ = f.number("dropout", dropout_, {0.0, 1.0, false, true});
  conv_dropout_ = f.number("conv_dropout", conv_dropout_, {0.0, 1.0, false, true});
  return *this;
}

std::int64_t ConvNetOptions::block_filters(std::int64_t b) const {
  return filter_growth_ == "double" ? filters_ << b : filters_;
}

std::array<std::int64_t, 3> ConvNetOptions::feature_shape() const {
  std::int64_t h = height_, w = width_;
  NS_CHECK(kernel_size_ % 2 == 1,
           "convnet parameter 'kernel_size': expected an odd size ('same' padding keeps the image "
           "size only for odd kernels), got {}",
           kernel_size_);
  if (pool_ != "none") {
    for (std::int64_t b = 0; b < blocks_; ++b) {
      NS_CHECK(h >= 2 && w >= 2,
               "convnet: {} pooling blocks do not fit a {}x{} image: block {} would pool a {}x{} "
               "map (2x2 pooling needs at least 2x2); use at most {} blocks or pool \"none\"",
               blocks_, height_, width_, b + 1, h, w, b);
      h /= 2;
      w /= 2;
    }
  }
  // Sane maxima (docs/guide/specs.md, "Sweep specs"), checked before anything is allocated: a model no machine
  // could hold is a clear message, not a LibTorch backtrace or the out-of-memory killer.
  constexpr std::int64_t kMaxFilters = 4096;
  constexpr double kMaxParameters = double(std::int64_t{1} << 28);
  NS_CHECK(block_filters(blocks_ - 1) <= kMaxFilters,
           "convnet: filters = {} with filter_growth \"{}\" gives {} filters in block {}, more "
           "than the {} allowed; lower \"filters\" or \"blocks\", or use \"constant\" growth",
           filters_, filter_growth_, block_filters(blocks_ - 1), blocks_, kMaxFilters);
  double params = 0, in = double(in_channels_);
  const double k2 = double(kernel_size_) * double(kernel_size_);
  for (std::int64_t b = 0; b < blocks_; ++b) {
    const double out = double(block_filters(b));
    params += k2 * in * out + double(convs_per_block_ - 1) * k2 * out * out;
    in = out;
  }
  const double flat = in * double(h) * double(w), units = double(dense_units_);
  params += units > 0 ? flat * units + units * double(num_classes_) : flat * double(num_classes_);
  NS_CHECK(params <= kMaxParameters,
           "convnet: the parameters {} give a model of {:.3g} weights on {}x{} images, more than "
           "the {:.0f} allowed; lower \"filters\", \"kernel_size\", \"dense_units\" or "
           "\"convs_per_block\"",
           to_json().dump(), params, height_, width_, kMaxParameters);
  return {block_filters(blocks_ - 1), h, w};
}

namespace {

nn::AnyModule make_activation(const std::string& name) {
  if (name == "relu") return nn::AnyModule(nn::ReLU(nn::ReLUOptions().inplace(true)));
  if (name == "elu") return nn::AnyModule(nn::ELU());
  if (name == "gelu") return nn::AnyModule(nn::GELU());
  if (name == "tanh") return nn::AnyModule(nn::Tanh());
  if (name == "silu") return nn::AnyModule(nn::SiLU());
  NS_FAIL_CODE(kExitBadInput, "convnet: unknown activation '{}'", name);
}

}  // namespace

ConvNetImpl::ConvNetImpl(const ConvNetOptions& o) : options_(o) {
  const auto shape = o.feature_shape();  // checks that the blocks fit the image
  features_ = nn::Sequential();
  std::int64_t in = o.in_channels();
  for (std::int64_t b = 0; b < o.blocks(); ++b) {
    const std::int64_t out = o.block_filters(b);
    for (std::int64_t c = 0; c < o.convs_per_block(); ++c) {
      // A bias before BatchNorm is cancelled by BN's mean subtraction: leave it out.
      features_->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, o.kernel_size())
                                          .padding(o.kernel_size() / 2)
                                          .bias(!o.batch_norm())));
      if (o.batch_norm()) features_->push_back(nn::BatchNorm2d(out));
      features_->push_back(make_activation(o.activation()));
      in = out;
    }
    if (o.pool() == "max") features_->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2)));
    if (o.pool() == "avg") features_->push_back(nn::AvgPool2d(nn::AvgPool2dOptions(2)));
    if (o.conv_dropout() > 0) features_->push_back(nn::Dropout(o.conv_dropout()));
  }
  const std::int64_t flat = shape[0] * shape[1] * shape[2];
  head_ = nn::Sequential();
  if (o.dense_units() > 0) {
    head_->push_back(nn::Linear(flat, o.dense_units()));
    head_->push_back(make_activation(o.activation()));
    if (o.dropout() > 0) head_->push_back(nn::Dropout(o.dropout()));
    head_->push_back(nn::Linear(o.dense_units(), o.num_classes()));
  } else {
    if (o.dropout() > 0) head_->push_back(nn::Dropout(o.dropout()));
    head_->push_back(nn::Linear(flat, o.num_classes()));
  }
  register_module("features", features_);
  register_module("head", head_);
}

torch::Tensor ConvNetImpl::forward(torch::Tensor x) {
  x = features_->forward(x);
  // flatten() of a channels_last map copies into NCHW order, which is what Linear was sized for.
  return head_->forward(x.flatten(1));
}

std::int64_t count_parameters(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

namespace {

// The built-in convnet as a Classifier (models/classifier/net.hpp). Its best weights go to
// model.pt in torch::nn::Module's format, from CPU copies: `torch::load(model, "model.pt")`
// works on a machine without a GPU.
class ConvNetClassifier final : public Classifier {
 public:
  ConvNetClassifier(const ConvNetOptions& options, const torch::Device& device) : model_(options) {
    model_->to(device);
  }
  torch::Tensor forward(const torch::Tensor& x) override { return model_->forward(x); }
  std::vector<torch::Tensor> parameters() override { return model_->parameters(); }
  void train(bool on) override { model_->train(on); }
  void save_state(torch::serialize::OutputArchive& archive) const override {
    model_->save(archive);
  }
  void load_state(torch::serialize::InputArchive& archive) override { model_->load(archive); }
  void save_best(const std::filesystem::path& dir) const override {
    core::write_atomic_with(dir / "model.pt", [&](const std::filesystem::path& tmp) {
      torch::serialize::OutputArchive archive;
      save_module_on_cpu(*model_, archive);
      archive.save_to(tmp.string());
    });
  }
  void load_best(const std::filesystem::path& dir, const torch::Device& device) override {
    ConvNet m = model_;  // torch::load takes a module holder
    torch::load(m, (dir / "model.pt").string(), device);
  }
  std::int64_t parameter_count() const override { return count_parameters(*model_); }
  nlohmann::json describe() const override { return model_->options().to_json(); }
  std::int64_t activation_per_image() const override {
    const ConvNetOptions& o = model_->options();
    return o.block_filters(0) * o.height() * o.width();
  }

 private:
  ConvNet model_;
};

}  // namespace

std::unique_ptr<Classifier> make_convnet(const nlohmann::json& params, const Geometry& g,
                                         const torch::Device& device) {
  ConvNetOptions mo(g.channels, g.height, g.width, g.classes);
  mo.update_from_json(params);
  return std::make_unique<ConvNetClassifier>(mo, device);
}

}  // namespace ns::models::classifier
