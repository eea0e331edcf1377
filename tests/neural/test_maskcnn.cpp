#include "models/neural/maskcnn.hpp"

#include "catch.hpp"

#include <cmath>

#include "core/error.hpp"
#include "models/neural/family.hpp"
#include "models/neural/options.hpp"
#include "models/torch_common.hpp"
#include "support/temp_dir.hpp"

using namespace ns::models::neural;
using Catch::Contains;
using Catch::Equals;

namespace {

// Two models from `a` and `b` with the same initial weights (each built right after the same
// seed); a channels_last model gets its conv weights in that layout, as the runner does.
std::pair<MaskCnn, MaskCnn> twins(const ModelOptions& a, const ModelOptions& b,
                                  std::uint64_t seed) {
  auto make = [seed](const ModelOptions& o) {
    torch::manual_seed(seed);
    MaskCnn m(o);
    if (o.channels_last()) parameters_to_channels_last(*m);
    return m;
  };
  MaskCnn first = make(a);
  return {first, make(b)};
}

}  // namespace

TEST_CASE("50x50 input, k1 9, avg pool 3: a 14x14 map and a 16,827-parameter readout",
          "[maskcnn]") {
  ModelOptions o(1, 50, 50, 79);
  o.channels(16).layers(2).k1(9).k_later(3).pool(Pool::kAvg).pool_size(3);
  REQUIRE(o.map_size() == std::make_pair<std::int64_t, std::int64_t>(14, 14));
  MaskCnn model(o);
  torch::NoGradGuard no_grad;
  auto f = model->features(torch::randn({2, 1, 50, 50}));
  REQUIRE(f.sizes().vec() == std::vector<std::int64_t>{2, 16, 14, 14});
  REQUIRE(model->forward(torch::randn({3, 1, 50, 50})).sizes().vec() ==
          std::vector<std::int64_t>{3, 79});
  std::int64_t readout = 0;
  for (const auto& p : model->named_parameters(false)) readout += p.value().numel();
  REQUIRE(readout == 79 * (196 + 16) + 79);
  REQUIRE(readout == 16827);
  // conv0 9x9x16 (no bias, BN follows) + conv1 3x3x16x16 + 2 BNs (16 weights + 16 biases);
  // the input BN is not affine by default.
  REQUIRE(count_parameters(*model) == 16827 + 16 * 81 + 16 * 16 * 9 + 2 * 32);
}

TEST_CASE("map sizes for other pooling choices and shape errors", "[maskcnn]") {
  ModelOptions o(1, 32, 32, 5);
  REQUIRE(o.map_size() == std::make_pair<std::int64_t, std::int64_t>(8, 8));  // 24 / 3
  o.pool(Pool::kNone);
  REQUIRE(o.map_size() == std::make_pair<std::int64_t, std::int64_t>(24, 24));
  o.pool(Pool::kMax).pool_size(5);
  REQUIRE(o.map_size() == std::make_pair<std::int64_t, std::int64_t>(5, 5));  // ceil(24 / 5)
  {
    MaskCnn m(o);
    torch::NoGradGuard no_grad;
    REQUIRE(m->features(torch::randn({1, 1, 32, 32})).size(2) == 5);
  }
  ModelOptions big(1, 8, 8, 5);
  big.k1(9);
  REQUIRE_THROWS_WITH(big.map_size(), Contains("k1 = 9 is larger than the images (8x8)"));
  ModelOptions pool(1, 12, 12, 5);
  pool.k1(9).pool_size(5);
  REQUIRE_THROWS_WITH(MaskCnn(pool), Contains("pool_size = 5 is larger than the 4x4 map"));
}

TEST_CASE("readout bias = inverse softplus of the mean response (= mean for relu)",
          "[maskcnn]") {
  const std::vector<double> mean = {0.5, 2.0, 30.0, 0.0};
  ModelOptions o(1, 16, 16, 4);
  o.k1(5).channels(4);
  MaskCnn soft(o);
  soft->init_readout_bias(mean);
  auto b = soft->readout_bias();
  REQUIRE(b[0].item<double>() == Approx(std::log(std::exp(0.5) - 1)).epsilon(1e-6));
  REQUIRE(b[1].item<double>() == Approx(std::log(std::exp(2.0) - 1)).epsilon(1e-6));
  auto sp = torch::softplus(b);
  REQUIRE(sp[2].item<double>() == Approx(30.0).epsilon(1e-6));
  REQUIRE(sp[3].item<double>() == Approx(1e-6).epsilon(1e-2));  // clamped, not -inf
  // With tiny N(0, 0.01^2) weights the initial prediction is close to the mean response.
  torch::NoGradGuard no_grad;
  auto out = soft->forward(torch::rand({8, 1, 16, 16}) * 255).mean(0);
  REQUIRE(out[1].item<double>() == Approx(2.0).epsilon(0.02));

  o.act(Act::kRelu);
  MaskCnn relu(o);
  relu->init_readout_bias(mean);
  REQUIRE(relu->readout_bias()[1].item<double>() == Approx(2.0));
  REQUIRE(relu->readout_bias()[2].item<double>() == Approx(30.0));
}

TEST_CASE("the Poisson loss on a hand-computed case", "[maskcnn]") {
  auto pred = torch::tensor({{1.0f, 2.0f}});
  auto target = torch::tensor({{0.0f, 3.0f}});
  // ((1 - 0 * log(1 + 1e-5)) + (2 - 3 * log(2 + 1e-5))) / 2 = (3 - 3 * 0.6931521806) / 2
  REQUIRE(poisson_loss(pred, target).item<double>() == Approx(0.46027173).epsilon(1e-6));
  REQUIRE(data_loss(LossKind::kMse, pred, target).item<double>() == Approx(1.0));
}

TEST_CASE("the Laplacian smoothness penalty on hand-computed slices", "[maskcnn]") {
  // A centred delta: conv with the Laplacian returns L itself: ||L||^2 = 4/16 + 4/4 + 9 = 10.25.
  auto delta = torch::zeros({1, 1, 3, 3});
  delta[0][0][1][1] = 1.0;
  REQUIRE(laplacian_penalty(delta).item<double>() == Approx(10.25));
  // A constant slice of ones: centre 0, edges -1, corners -1.75 (zero padding):
  // (4 * 1 + 4 * 3.0625) / 9 = 16.25 / 9. Penalties of slices add up, scale-free.
  auto both = torch::cat({delta, torch::ones({1, 1, 3, 3}) * 5.0}, 0);
  REQUIRE(laplacian_penalty(both).item<double>() == Approx(10.25 + 16.25 / 9.0));
}

TEST_CASE("readout and group sparsity penalties; the weighted regularizer", "[maskcnn]") {
  // Neuron 0: sum|Ws| = 3, sum|Wf| = 3 -> 9; neuron 1: 1 * 2 = 2; mean 5.5.
  auto ws = torch::tensor({{1.0f, -2.0f}, {0.5f, 0.5f}});
  auto wf = torch::tensor({{3.0f}, {-2.0f}});
  REQUIRE(readout_penalty(ws, wf).item<double>() == Approx(5.5));
  auto w = torch::tensor({3.0f, 4.0f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f}).view({2, 1, 2, 2});
  REQUIRE(group_penalty(w).item<double>() == Approx(6.0));  // sqrt(9 + 16) + sqrt(1)

  ModelOptions o(1, 16, 16, 3);
  o.k1(5).channels(4).layers(3);
  MaskCnn m(o);
  LossOptions l;
  l.smoothness(0.5).readout_scale(0.25).group_sparsity(2.0);
  auto named = m->named_parameters();
  const double expected =
      0.5 * laplacian_penalty(m->convs()[0]->weight).item<double>() +
      0.25 * readout_penalty(named["readout_spatial"], named["readout_feature"]).item<double>() +
      2.0 * (group_penalty(m->convs()[1]->weight).item<double>() +
             group_penalty(m->convs()[2]->weight).item<double>());
  REQUIRE(m->regularizer(l).item<double>() == Approx(expected).epsilon(1e-5));
  REQUIRE(m->regularizer(LossOptions().smoothness(0).readout_scale(0)).item<double>() == 0.0);
}

TEST_CASE("readout positivity, bn order and the input BN option change the model", "[maskcnn]") {
  ModelOptions o(1, 16, 16, 3);
  o.k1(5).channels(4).readout_positive(Positive::kAbs).bn_before_act(false)
      .input_bn_affine(true);
  MaskCnn m(o);
  REQUIRE((m->spatial_weights() >= 0).all().item<bool>());
  REQUIRE((m->feature_weights() >= 0).all().item<bool>());
  auto named = m->named_parameters();
  REQUIRE(named.contains("conv0.bias"));     // act -> BN: the conv keeps its bias
  REQUIRE(named.contains("input_bn.weight"));
  ModelOptions d(1, 16, 16, 3);
  d.k1(5);
  MaskCnn plain(d);
  REQUIRE_FALSE(plain->named_parameters().contains("conv0.bias"));
  REQUIRE_FALSE(plain->named_parameters().contains("input_bn.weight"));
}

TEST_CASE("options map 1:1 to JSON and reject bad values", "[maskcnn]") {
  const nlohmann::json p = {{"channels", 8},    {"act", "relu"},          {"pool", "max"},
                            {"loss", "mse"},    {"readout_positive", "abs"},
                            {"smoothness", 0.1}, {"lr", 0.01},            {"phases", 2}};
  const ModelOptions m = model_options_from_json(p, 1, 32, 32, 10);
  const LossOptions l = loss_options_from_json(p);
  const TrainOptions t = train_options_from_json(p);
  REQUIRE(m.channels() == 8);
  REQUIRE(m.act() == Act::kRelu);
  REQUIRE(m.pool() == Pool::kMax);
  REQUIRE(l.loss() == LossKind::kMse);
  REQUIRE(t.lr() == 0.01);
  REQUIRE(t.phases() == 2);
  const nlohmann::json back = to_json(m, l);
  REQUIRE(back.at("act") == "relu");
  REQUIRE(back.at("readout_positive") == "abs");
  REQUIRE(back.at("smoothness") == 0.1);
  REQUIRE(back.size() == model_defaults().size());
  REQUIRE_THROWS_WITH(model_options_from_json({{"act", "tanh"}}, 1, 32, 32, 10),
                      Equals("maskcnn parameter 'act': expected one of \"softplus\", "
                             "\"relu\", got \"tanh\""));
  REQUIRE_THROWS_WITH(model_options_from_json({{"k_later", 4}}, 1, 32, 32, 10),
                      Contains("'k_later': expected an odd number") && Contains("got 4"));
  REQUIRE_THROWS_WITH(train_options_from_json({{"lr", -1.0}}),
                      Equals("maskcnn parameter 'lr': expected a finite number > 0, got -1.0"));
  REQUIRE_THROWS_WITH(train_options_from_json({{"batch_size", 0}}),
                      Equals("maskcnn parameter 'batch_size': expected an integer in [1, 65536], got 0"));
  // Size-like settings have a documented maximum (docs/guide/specs.md, "Sweep specs").
  REQUIRE_THROWS_WITH(model_options_from_json({{"channels", 2000000000}}, 1, 32, 32, 10),
                      Equals("maskcnn parameter 'channels': expected an integer in [1, 1024], got "
                             "2000000000"));
  // An integral float is an integer (a random search may sample 64.0); 2.5 is not.
  CHECK(train_options_from_json({{"batch_size", 64.0}}).batch_size() == 64);
  REQUIRE_THROWS_WITH(train_options_from_json({{"batch_size", 2.5}}),
                      Equals("maskcnn parameter 'batch_size': expected an integer in [1, 65536], got 2.5"));
}

TEST_CASE("the family schema: defaults fix JSON types, metrics are fixed", "[maskcnn]") {
  const auto f = maskcnn_family();
  REQUIRE(f->schema().name == "maskcnn");
  const auto& md = f->schema().model_defaults;
  REQUIRE(md.at("channels").is_number_integer());
  REQUIRE(md.at("smoothness").is_number_float());
  REQUIRE(md.at("readout_scale").get<double>() == 0.01);
  REQUIRE(md.at("smoothness").get<double>() == 5e-6);
  REQUIRE(md.at("act") == "softplus");
  REQUIRE(md.at("bn_before_act") == true);
  REQUIRE(md.at("input_bn_affine") == false);
  REQUIRE(md.at("group_sparsity").is_number_float());
  const auto& td = f->schema().training_defaults;
  REQUIRE(td.at("lr").get<double>() == 0.001);
  REQUIRE(td.at("lr_decay").is_number_float());
  REQUIRE(td.at("batch_size") == 256);
  REQUIRE(td.at("eval_every") == 50);
  REQUIRE(td.at("patience") == 10);
  REQUIRE(td.at("phases") == 3);
  REQUIRE(f->schema().metrics.front() == "val_loss");
  REQUIRE(f->schema().metrics.size() == 17);
  REQUIRE(f->schema().metrics.back() == "cpu_ms_per_iter");
}

TEST_CASE("check_params builds the model at the checked data's image size", "[maskcnn]") {
  const auto f = maskcnn_family();
  // Before any data block is checked: types and choices only.
  REQUIRE_NOTHROW(f->check_params({{"k1", 40}}, {}));
  REQUIRE_THROWS_WITH(f->check_params({{"pool", "median"}}, {}), Contains("parameter 'pool'"));
  const auto facts = f->check_data({{"kind", "simulated"}, {"size", 16}, {"images", 100}}, "$.data");
  CHECK(facts.checked);
  CHECK(facts.height == 16);
  CHECK(facts.width == 16);
  CHECK(facts.train == 64);
  CHECK(facts.outputs == 60);
  CHECK(facts.describe() == "simulated data: 100 images of 1x16x16, 60 neurons, 6 repeats, 64 for training");
  REQUIRE_NOTHROW(f->check_params({{"k1", 9}, {"batch_size", 64}}, facts));
  REQUIRE_THROWS_WITH(f->check_params({{"k1", 17}, {"batch_size", 64}}, facts),
                      Contains("k1 = 17 is larger than the images (16x16)"));
  // The facts are a value: the same family still checks parameters alone without them.
  REQUIRE_NOTHROW(f->check_params({{"k1", 17}, {"batch_size", 64}}, {}));
  REQUIRE_THROWS_WITH(f->check_params({{"batch_size", 256}}, facts),
                      Contains("batch_size 256 is larger than the training set of simulated "
                               "data (64 images)"));
}

TEST_CASE("conv0's fast weight gradient equals the native convolution gradient", "[maskcnn]") {
  for (const std::int64_t cin : {1, 3}) {
    for (const bool cl : {false, true}) {
      const auto mf = cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
      torch::manual_seed(cin);
      auto x = torch::randn({5, cin, 14, 13}).contiguous(mf).requires_grad_(true);
      auto w = torch::randn({4, cin, 5, 5}).contiguous(mf).requires_grad_(true);
      auto dy = torch::randn({5, 4, 10, 9});
      auto [gx, gw] = [&] {
        auto y = conv0_fast_grad(x, w);
        auto g = torch::autograd::grad({y}, {x, w}, {dy});
        return std::make_pair(g[0], g[1]);
      }();
      auto ref = torch::autograd::grad({torch::conv2d(x, w)}, {x, w}, {dy});
      INFO("cin " << cin << " channels_last " << cl);
      REQUIRE(torch::allclose(conv0_fast_grad(x, w), torch::conv2d(x, w), 1e-5, 1e-5));
      REQUIRE(torch::allclose(gw, ref[1], 1e-4, 1e-4));
      REQUIRE(torch::allclose(gx, ref[0], 1e-4, 1e-4));
      REQUIRE(gw.sizes() == w.sizes());
    }
  }
  // The model uses it by default and gives the same gradients as the plain path.
  ModelOptions o(1, 16, 16, 3);
  o.k1(5).channels(4);
  auto [fast, slow] = twins(o, ModelOptions(o).fast_conv0_grad(false), 0);
  auto x = torch::rand({6, 1, 16, 16}) * 255;
  fast->forward(x).sum().backward();
  slow->forward(x).sum().backward();
  REQUIRE(torch::allclose(fast->convs()[0]->weight.grad(), slow->convs()[0]->weight.grad(), 1e-4,
                          1e-6));
}

TEST_CASE("channels_last and contiguous inputs give the same predictions and gradients",
          "[maskcnn]") {
  ModelOptions o(1, 20, 20, 5);
  o.k1(5).channels(4);
  auto [a, b] = twins(o, ModelOptions(o).channels_last(true), 1);
  auto x = torch::rand({7, 1, 20, 20}) * 255;
  auto ya = a->forward(x);
  auto yb = b->forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
  REQUIRE(torch::allclose(ya, yb, 1e-5, 1e-6));
  ya.sum().backward();
  yb.sum().backward();
  auto ga = a->named_parameters()["readout_spatial"].grad();
  auto gb = b->named_parameters()["readout_spatial"].grad();
  REQUIRE(torch::allclose(ga, gb, 1e-4, 1e-6));
  REQUIRE(torch::allclose(a->convs()[1]->weight.grad(), b->convs()[1]->weight.grad(), 1e-4, 1e-5));
}

TEST_CASE("fast_softplus equals torch::softplus, forward and gradient, in every layout",
          "[maskcnn]") {
  torch::manual_seed(2);
  // Values across softplus's regimes: far negative (output ~exp(x)), around 0, past ATen's
  // threshold of 20 (output x), and the special values.
  auto x = torch::cat({torch::randn({2, 3, 5, 7}).flatten() * 4, torch::linspace(-90, 90, 61),
                       torch::tensor({0.0f, 20.0f, 21.0f, -1e-4f, 1e-4f})});
  auto xa = x.detach().requires_grad_(true);
  auto xb = x.detach().requires_grad_(true);
  auto ya = fast_softplus(xa);
  auto yb = torch::softplus(xb);
  REQUIRE(torch::allclose(ya, yb, 1e-6, 1e-6));
  auto dy = torch::randn_like(x);
  ya.backward(dy);
  yb.backward(dy);
  REQUIRE(torch::allclose(xa.grad(), xb.grad(), 1e-6, 1e-6));

  auto special = torch::tensor({NAN, INFINITY, -INFINITY});
  auto ys = fast_softplus(special);
  CHECK(std::isnan(ys[0].item<float>()));
  CHECK(std::isinf(ys[1].item<float>()));
  CHECK(ys[2].item<float>() == 0.0f);

  // A channels_last activation and a gradient in the other layout; a non-dense slice and a
  // double tensor take torch::softplus.
  auto a = (torch::randn({4, 3, 6, 5}) * 3).contiguous(torch::MemoryFormat::ChannelsLast);
  auto a1 = a.detach().requires_grad_(true);
  auto a2 = a.detach().requires_grad_(true);
  auto y1 = fast_softplus(a1);
  REQUIRE(y1.is_contiguous(torch::MemoryFormat::ChannelsLast));
  auto g = torch::randn({4, 3, 6, 5});  // NCHW
  y1.backward(g);
  torch::softplus(a2).backward(g);
  REQUIRE(torch::allclose(a1.grad(), a2.grad(), 1e-6, 1e-6));
  auto strided = a.select(3, 1);
  REQUIRE(torch::allclose(fast_softplus(strided), torch::softplus(strided), 1e-6, 1e-6));
  auto d = a.to(torch::kDouble);
  REQUIRE(torch::allclose(fast_softplus(d), torch::softplus(d), 1e-12, 1e-12));
}

TEST_CASE("the model's fast softplus gives the same predictions and gradients as ATen's",
          "[maskcnn]") {
  ModelOptions o(1, 18, 18, 4);
  o.k1(5).channels(4);
  auto [fast, aten] = twins(o, ModelOptions(o).fast_softplus(false), 3);
  auto x = torch::rand({5, 1, 18, 18}) * 255;
  auto yf = fast->forward(x);
  auto ya = aten->forward(x);
  REQUIRE(torch::allclose(yf, ya, 1e-5, 1e-6));
  yf.sum().backward();
  ya.sum().backward();
  REQUIRE(torch::allclose(fast->convs()[1]->weight.grad(), aten->convs()[1]->weight.grad(), 1e-4,
                          1e-6));
  REQUIRE(torch::allclose(fast->named_parameters()["readout_feature"].grad(),
                          aten->named_parameters()["readout_feature"].grad(), 1e-4, 1e-6));
}

TEST_CASE("bn_softplus equals BatchNorm2d, softplus and average pooling in training mode",
          "[maskcnn]") {
  for (const auto& [offset, pool] : {std::pair{0.0, 1}, {50.0, 1}, {0.0, 3}, {50.0, 3}}) {
    // offset 50: mean >> std, where raw moments would cancel
    CAPTURE(offset, pool);
    torch::manual_seed(4);
    const auto o = torch::nn::BatchNorm2dOptions(6).eps(1e-3).momentum(0.1);
    torch::nn::BatchNorm2d fused(o), ref(o);
    {
      torch::NoGradGuard no_grad;
      auto w = torch::rand({6}) + 0.5, b = torch::randn({6});
      fused->weight.copy_(w);
      ref->weight.copy_(w);
      fused->bias.copy_(b);
      ref->bias.copy_(b);
    }
    auto x = (torch::randn({5, 6, 9, 12}) * 2 + offset).contiguous(torch::MemoryFormat::ChannelsLast);
    REQUIRE(bn_softplus_fusable(x, fused, pool));
    auto x1 = x.detach().requires_grad_(true);
    auto x2 = x.detach().requires_grad_(true);
    auto y1 = bn_softplus(x1, fused, pool);
    auto y2 = torch::avg_pool2d(torch::softplus(ref(x2)), {pool, pool}, {pool, pool}, {0, 0},
                                /*ceil_mode=*/true);
    REQUIRE(y1.sizes() == y2.sizes());
    REQUIRE(y1.is_contiguous(torch::MemoryFormat::ChannelsLast));
    REQUIRE(torch::allclose(y1, y2, 1e-5, 1e-5));
    auto dy = torch::randn_like(y2);
    y1.backward(dy);
    y2.backward(dy);
    REQUIRE(torch::allclose(x1.grad(), x2.grad(), 1e-4, 1e-5));
    REQUIRE(torch::allclose(fused->weight.grad(), ref->weight.grad(), 1e-4, 1e-4));
    REQUIRE(torch::allclose(fused->bias.grad(), ref->bias.grad(), 1e-4, 1e-4));
    REQUIRE(torch::allclose(fused->running_mean, ref->running_mean, 1e-5, 1e-5));
    REQUIRE(torch::allclose(fused->running_var, ref->running_var, 1e-4, 1e-5));
    REQUIRE(fused->num_batches_tracked.item<std::int64_t>() == 1);
  }
  // Not fusable: evaluation mode, NCHW, a channel count that differs, double.
  torch::nn::BatchNorm2d bn(torch::nn::BatchNorm2dOptions(3));
  auto cl = torch::randn({2, 3, 4, 4}).contiguous(torch::MemoryFormat::ChannelsLast);
  CHECK(bn_softplus_fusable(cl, bn));
  CHECK_FALSE(bn_softplus_fusable(torch::randn({2, 3, 4, 4}), bn));
  CHECK(bn_softplus_fusable(cl, bn, 2));
  CHECK_FALSE(bn_softplus_fusable(cl, bn, 3));  // 4 is not a multiple of 3
  CHECK_FALSE(bn_softplus_fusable(cl.to(torch::kDouble), bn));
  CHECK_FALSE(bn_softplus_fusable(torch::randn({2, 4, 4, 4}).contiguous(
                                      torch::MemoryFormat::ChannelsLast), bn));
  CHECK_THROWS_AS(bn_softplus(cl, bn, 3), ns::Error);
  // Evaluation mode: the running statistics, forward only (no input that needs a gradient).
  {
    torch::NoGradGuard no_grad;
    bn->running_mean.copy_(torch::tensor({0.5f, -1.0f, 2.0f}));
    bn->running_var.copy_(torch::tensor({0.25f, 4.0f, 1.0f}));
    bn->weight.copy_(torch::tensor({1.5f, 0.5f, -1.0f}));
  }
  bn->eval();
  auto cl_grad = cl.detach().requires_grad_(true);
  CHECK_FALSE(bn_softplus_fusable(cl_grad, bn));
  CHECK_THROWS_AS(bn_softplus(cl_grad, bn), ns::Error);
  for (const std::int64_t pool : {1, 2}) {
    CAPTURE(pool);
    torch::NoGradGuard no_grad;
    REQUIRE(bn_softplus_fusable(cl_grad, bn, pool));
    auto expect = torch::avg_pool2d(torch::softplus(bn(cl)), {pool, pool}, {pool, pool});
    REQUIRE(torch::allclose(bn_softplus(cl, bn, pool), expect, 1e-5, 1e-6));
  }
  REQUIRE(bn->num_batches_tracked.item<std::int64_t>() == 0);  // evaluation counts nothing
}

TEST_CASE("a channels_last model trains the same with the fused and ATen paths", "[maskcnn]") {
  // 19x19: conv0 gives 15x15, which the 3x3 pooling divides (pooling fused into the last
  // layer); 20x20: 16x16, pooled by ATen after the fused BatchNorm + softplus.
  const std::int64_t size = GENERATE(19, 20);
  CAPTURE(size);
  ModelOptions o(1, size, size, 5);
  o.k1(5).channels(4).channels_last(true);
  auto [fast, aten] = twins(o, ModelOptions(o).fast_softplus(false), 5);
  auto x = (torch::rand({7, 1, size, size}) * 255).contiguous(torch::MemoryFormat::ChannelsLast);
  auto yf = fast->forward(x);
  auto ya = aten->forward(x);
  REQUIRE(torch::allclose(yf, ya, 1e-4, 1e-6));
  yf.sum().backward();
  ya.sum().backward();
  for (const auto& name : {"conv1.weight", "bn0.weight", "bn1.bias", "readout_spatial"}) {
    CAPTURE(name);
    REQUIRE(torch::allclose(fast->named_parameters()[name].grad(),
                            aten->named_parameters()[name].grad(), 1e-3, 1e-5));
  }
  REQUIRE(torch::allclose(fast->named_buffers()["bn1.running_var"],
                          aten->named_buffers()["bn1.running_var"], 1e-4, 1e-6));
  fast->eval();
  aten->eval();
  torch::NoGradGuard no_grad;  // as the runner evaluates: the fused path in evaluation mode
  REQUIRE(torch::allclose(fast->forward(x), aten->forward(x), 1e-4, 1e-6));
}

TEST_CASE("maskcnn relative_cost takes the image size from the data facts, never a guess",
          "[maskcnn]") {
  const auto f = maskcnn_family();
  nlohmann::json p = f->schema().model_defaults;
  p.update(f->schema().training_defaults);
  // Without checked data there is no image size: an internal error, not a silent 32x32.
  try {
    f->relative_cost(p, {});
    FAIL("no error");
  } catch (const ns::Error& e) {
    CHECK(e.exit_code() == ns::kExitInternal);
  }
  const auto small = f->check_data({{"kind", "simulated"}, {"size", 16}}, "$.data");
  const auto large = f->check_data({{"kind", "simulated"}, {"size", 32}}, "$.data");
  // Convolutions at the input size: 4x the pixels, 4x the cost.
  CHECK(f->relative_cost(p, large) == Approx(4 * f->relative_cost(p, small)));
}

TEST_CASE("model checkpoints are written from CPU copies and load with plain torch::load",
          "[maskcnn][checkpoint]") {
  // save_module_on_cpu writes what Module::save writes, each tensor copied to the CPU first (on a
  // GPU run the file then carries no CUDA tags; scripts/gpu_check.sh loads a GPU checkpoint on
  // the CPU). Here: the archive round-trips through the documented load line.
  torch::manual_seed(1);
  ns::models::neural::ModelOptions o(1, 16, 16, 5);
  ns::models::neural::MaskCnn saved(o);
  {
    torch::NoGradGuard g;
    saved->forward(torch::randn({4, 1, 16, 16}));  // BatchNorm running statistics move
  }
  ns::test::TempDir dir;
  const std::string path = dir.file("model.pt");
  torch::serialize::OutputArchive archive;
  ns::models::save_module_on_cpu(*saved, archive);
  archive.save_to(path);
  torch::manual_seed(2);
  ns::models::neural::MaskCnn loaded(o);
  torch::load(loaded, path);
  auto a = saved->named_parameters(), b = loaded->named_parameters();
  REQUIRE(a.size() == b.size());
  for (const auto& p : a) {
    CHECK(torch::equal(p.value(), b[p.key()]));
    CHECK(b[p.key()].requires_grad() == p.value().requires_grad());
  }
  auto ab = saved->named_buffers(), bb = loaded->named_buffers();
  REQUIRE(ab.size() == bb.size());
  for (const auto& x : ab) CHECK(torch::equal(x.value(), bb[x.key()]));
}
