// Tests for models/classifier/convnet.* and the family's parameter checks (family.cpp).
#include <torch/torch.h>

#include <filesystem>

#include "catch.hpp"

#include "core/error.hpp"
#include "models/classifier/convnet.hpp"
#include "models/classifier/family.hpp"
#include "models/classifier/idx.hpp"
#include "models/classifier/runner.hpp"
#include "models/neural/family.hpp"
#include "models/torchscript/family.hpp"
#include "support/temp_dir.hpp"

using Catch::Contains;
using nlohmann::json;
using ns::models::classifier::ConvNet;
using ns::models::classifier::ConvNetOptions;

namespace {

ConvNetOptions opts28(const json& params = json::object()) {
  ConvNetOptions o(1, 28, 28, 10);
  o.update_from_json(params);
  return o;
}

}  // namespace

TEST_CASE("convnet maps [B,1,28,28] to [B,10] logits for every block layout", "[convnet]") {
  torch::manual_seed(0);
  const std::vector<json> configs = {
      json::object(),
      {{"blocks", 3}, {"filters", 8}, {"filter_growth", "constant"}},
      {{"blocks", 4}, {"filters", 4}, {"pool", "avg"}, {"kernel_size", 5}},
      {{"blocks", 1}, {"filters", 4}, {"pool", "none"}, {"dense_units", 0}},
      {{"convs_per_block", 2}, {"filters", 8}, {"batch_norm", false}, {"activation", "elu"}},
      {{"filters", 4}, {"activation", "gelu"}, {"conv_dropout", 0.2}},
      {{"filters", 4}, {"activation", "tanh"}},
      {{"filters", 4}, {"activation", "silu"}},
  };
  for (const auto& c : configs) {
    INFO(c.dump());
    ConvNet net(opts28(c));
    net->train();
    const auto y = net->forward(torch::randn({3, 1, 28, 28}));
    CHECK(y.sizes() == torch::IntArrayRef({3, 10}));
    CHECK(torch::isfinite(y).all().item<bool>());
  }
}

TEST_CASE("convnet feature shape follows the filter growth and the pooling", "[convnet]") {
  CHECK(opts28().feature_shape() == std::array<std::int64_t, 3>{64, 7, 7});
  CHECK(opts28({{"blocks", 3}, {"filters", 16}}).feature_shape() ==
        std::array<std::int64_t, 3>{64, 3, 3});
  CHECK(opts28({{"blocks", 3}, {"filters", 16}, {"filter_growth", "constant"}}).feature_shape() ==
        std::array<std::int64_t, 3>{16, 3, 3});
  CHECK(opts28({{"blocks", 2}, {"pool", "none"}}).feature_shape() ==
        std::array<std::int64_t, 3>{64, 28, 28});
  // Conv weights: 1->32 and 32->64 (3x3, no bias with BN), BN affine, dense 3136->128, 128->10.
  ConvNet net(opts28());
  const std::int64_t expect =
      32 * 9 + 2 * 32 + 32 * 64 * 9 + 2 * 64 + 3136 * 128 + 128 + 128 * 10 + 10;
  CHECK(ns::models::classifier::count_parameters(*net) == expect);
}

TEST_CASE("convnet in channels_last gives the same logits as contiguous", "[convnet]") {
  torch::manual_seed(1);
  ConvNet net(opts28({{"filters", 8}}));
  net->eval();
  torch::NoGradGuard g;
  const auto x = torch::randn({4, 1, 28, 28});
  const auto a = net->forward(x);
  for (auto& p : net->parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  const auto b = net->forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
  CHECK(torch::allclose(a, b, 1e-4, 1e-5));
}

TEST_CASE("too many pooling blocks fail before training, with the largest count that fits",
          "[convnet][errors]") {
  REQUIRE_THROWS_WITH(
      ConvNet(opts28({{"blocks", 5}})),
      Contains("5 pooling blocks do not fit a 28x28 image") && Contains("use at most 4 blocks"));
  const auto fam = ns::models::classifier::convnet_family();
  REQUIRE_THROWS_AS(fam->check_params({{"blocks", 5}}, {}), ns::Error);
  REQUIRE_THROWS_WITH(fam->check_params({{"blocks", 6}, {"filters", 4}}, {}),
                      Contains("6 pooling blocks do not fit"));
  CHECK_NOTHROW(fam->check_params({{"blocks", 4}, {"filters", 4}}, {}));
  CHECK_NOTHROW(fam->check_params({{"blocks", 6},
                                  {"filters", 2},
                                  {"pool", "none"},
                                  {"filter_growth", "constant"},
                                  {"dense_units", 4}}, {}));
}

TEST_CASE("convnet parameter values are checked with the parameter's name", "[convnet][errors]") {
  const auto fam = ns::models::classifier::convnet_family();
  REQUIRE_THROWS_WITH(fam->check_params({{"activation", "sigmoidish"}}, {}),
                      Catch::Equals("convnet parameter 'activation': expected one of \"relu\", \"elu\", "
                                    "\"gelu\", \"tanh\", \"silu\", got \"sigmoidish\""));
  REQUIRE_THROWS_WITH(fam->check_params({{"kernel_size", 4}}, {}),
                      Contains("'kernel_size'") && Contains("odd"));
  REQUIRE_THROWS_WITH(fam->check_params({{"dropout", 1.0}}, {}),
                      Catch::Equals("convnet parameter 'dropout': expected a finite number in [0, 1), got 1.0"));
  REQUIRE_THROWS_WITH(fam->check_params({{"optimizer", "rmsprop"}}, {}),
                      Contains("'optimizer'") && Contains("\"adam\", \"sgd\""));
  REQUIRE_THROWS_WITH(fam->check_params({{"val_split", 0.0}}, {}),
                      Contains("'val_split'") && Contains("(0, 1)"));
  REQUIRE_THROWS_WITH(fam->check_params({{"batch_size", 0}}, {}), Contains("'batch_size'"));
  REQUIRE_THROWS_WITH(fam->check_params({{"filters", 3.5}}, {}),
                      Contains("'filters'") && Contains("integer"));
}

TEST_CASE("the convnet schema lists every parameter with a typed default", "[convnet]") {
  const auto fam = ns::models::classifier::convnet_family();
  CHECK(fam->schema().name == "convnet");
  CHECK(fam->schema().metrics == std::vector<std::string>{"val_accuracy", "val_loss", "test_accuracy",
                                                       "test_loss", "epochs", "best_epoch",
                                                       "s_per_epoch"});
  const auto& m = fam->schema().model_defaults;
  const auto& t = fam->schema().training_defaults;
  CHECK(m.at("filters").is_number_integer());
  CHECK(m.at("dropout").is_number_float());
  CHECK(m.at("batch_norm").is_boolean());
  CHECK(m.at("pool").is_string());
  CHECK(t.at("lr").is_number_float());
  CHECK(t.at("batch_size").is_number_integer());
  CHECK(t.at("val_split").is_number_float());
  // No name in both blocks (params are flat), and the defaults parse back to themselves.
  for (const auto& [k, v] : m.items()) {
    (void)v;
    CHECK_FALSE(t.contains(k));
  }
  CHECK(ConvNetOptions(1, 28, 28, 10).update_from_json(m).to_json() == m);
  CHECK(ns::models::classifier::TrainOptions().update_from_json(t).to_json() == t);
  json all = m;
  all.update(t);
  CHECK_NOTHROW(fam->check_params(all, {}));
}

TEST_CASE("convnet's input files are the four IDX files it reads, the .gz copy first",
          "[convnet][inputs]") {
  namespace fs = std::filesystem;
  using ns::models::classifier::write_idx;
  const ns::test::TempDir tmp("convnet_inputs");
  const fs::path& dir = tmp.path;
  write_idx(dir / "train-images-idx3-ubyte.gz", {2, 2, 2}, std::vector<std::uint8_t>(8, 1));
  write_idx(dir / "train-images-idx3-ubyte", {2, 2, 2}, std::vector<std::uint8_t>(8, 1));
  write_idx(dir / "train-labels-idx1-ubyte", {2}, {0, 1});
  write_idx(dir / "t10k-images-idx3-ubyte", {1, 2, 2}, std::vector<std::uint8_t>(4, 1));
  write_idx(dir / "t10k-labels-idx1-ubyte.gz", {1}, {3});
  write_idx(dir / "unrelated-file", {1}, {3});  // in the directory, never read
  const auto fam = ns::models::classifier::convnet_family();
  const auto files = fam->input_files({{"kind", "idx"}, {"dir", dir.string()}}, json(), {});
  std::vector<std::string> names;
  for (const auto& f : files) {
    CHECK(f.role == "data");
    names.push_back(f.path.filename().string());
  }
  CHECK(names == std::vector<std::string>{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte",
                                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz"});
}

TEST_CASE("torchscript: every call after the data check takes its task from the spec's block",
          "[torchscript]") {
  const auto fam = ns::models::torchscript::torchscript_family();
  for (const char* name : {"classification", "neural"}) {
    INFO(name);
    const json block = {{"task", name}};
    const auto schema = fam->schema_for(block, "spec.json: $.torchscript");
    json p = schema.model_defaults;
    p.update(schema.training_defaults);
    p.erase("max_epochs");  // what the task once was guessed from: the block says it alone
    ns::engine::DataFacts facts;
    facts.checked = true;
    facts.train = 1000;
    facts.options = block;
    const auto task = std::string(name) == "classification"
                          ? ns::models::classifier::torchscript_classification_task()
                          : ns::models::neural::torchscript_neural_task();
    CHECK(fam->relative_cost(p, facts) == task->relative_cost(p, facts));
    CHECK(fam->pack_key(p, facts) == task->pack_key(p, facts));
  }
}
