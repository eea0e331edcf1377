// Tests for models/classifier/runner.*: tiny trials on the first images of Fashion-MNIST (installed
// by scripts/setup.sh as Debian's dataset-fashion-mnist), run through the TrialRunner interface.
#include "catch.hpp"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/classifier/family.hpp"
#include "models/classifier/runner.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using Catch::Contains;
using nlohmann::json;
using ns::engine::TrialContext;
using ns::engine::TrialOutcome;
using ns::sweeps::Trial;

using ns::test::TempDir;

namespace {

const char* kFashion = "/usr/share/datasets/fashion-mnist";

json tiny_data() {
  REQUIRE(fs::exists(fs::path(kFashion) / "train-images-idx3-ubyte.gz"));  // scripts/setup.sh
  return {{"kind", "idx"}, {"dir", kFashion}, {"limit", 512}, {"test_limit", 256}};
}

// Family defaults <- overrides, as the spec parser resolves a trial's parameters.
json params_with(const json& overrides) {
  const auto fam = ns::models::classifier::convnet_family();
  json p = fam->schema().model_defaults;
  p.update(fam->schema().training_defaults);
  p.update({{"filters", 8}, {"dense_units", 32}, {"max_epochs", 2}, {"val_split", 0.25}});
  p.update(overrides);
  return p;
}

TrialOutcome run_trial(
    ns::engine::TrialRunner& runner, const json& params, const json& data, const fs::path& dir,
    std::function<bool()> stop = [] { return false; }) {
  ns::sweeps::Trial spec;
  spec.id = "t0";
  spec.seed = 1234;
  spec.params = params;
  TrialContext ctx{spec, data, dir};
  ctx.stop_requested = std::move(stop);
  return runner.run(ctx);
}

std::vector<std::string> lines(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("a tiny convnet trial trains, scores and writes its files", "[runner]") {
  TempDir d("tiny");
  auto runner = ns::models::classifier::convnet_family()->make_runner();
  const json data = tiny_data();
  const auto out = run_trial(*runner, params_with({{"patience", 5}}), data, d.path);
  INFO(out.error);
  REQUIRE(out.status == ns::engine::TrialStatus::kOk);
  for (const char* m : {"val_accuracy", "val_loss", "test_accuracy", "test_loss", "epochs",
                        "best_epoch", "s_per_epoch"}) {
    INFO(m);
    REQUIRE(out.metrics.count(m) == 1);
    CHECK(std::isfinite(out.metrics.at(m)));
  }
  CHECK(out.metrics.at("epochs") == 2);
  CHECK(out.metrics.at("best_epoch") >= 1);
  CHECK(out.metrics.at("best_epoch") <= 2);
  // 384 training images, 2 epochs: far above chance (0.1) on 10 classes if training works.
  CHECK(out.metrics.at("val_accuracy") > 0.3);
  CHECK(out.metrics.at("test_accuracy") > 0.3);

  const auto config = json::parse(std::ifstream(d.path / "config.json"));
  CHECK(config.at("trial_id") == "t0");
  CHECK(config.at("n_train") == 384);
  CHECK(config.at("n_val") == 128);
  CHECK(config.at("n_test") == 256);
  CHECK(config.at("model").at("filters") == 8);

  const auto curve = lines(d.path / "curve.csv");
  REQUIRE(curve.size() == 3);
  CHECK(curve[0] == "epoch,lr,train_loss,val_loss,val_accuracy");
  CHECK(curve[1].rfind("1,0.001,", 0) == 0);
  CHECK(curve[2].rfind("2,0.001,", 0) == 0);
  CHECK(fs::file_size(d.path / "model.pt") > 1000);
  CHECK_FALSE(fs::exists(d.path / "resume.pt"));

  // The confusion matrix counts every test image once, and its diagonal is the test accuracy.
  const auto conf = lines(d.path / "confusion.csv");
  REQUIRE(conf.size() == 11);
  CHECK(conf[0].rfind("true,pred_0,pred_1,", 0) == 0);
  long total = 0, diag = 0;
  for (int r = 0; r < 10; ++r) {
    std::stringstream ss(conf[r + 1]);
    std::string cell;
    std::getline(ss, cell, ',');
    CHECK(cell == std::to_string(r));
    for (int c = 0; std::getline(ss, cell, ','); ++c) {
      total += std::stol(cell);
      if (c == r) diag += std::stol(cell);
    }
  }
  CHECK(total == 256);
  CHECK(out.metrics.at("test_accuracy") == Approx(diag / 256.0));

  // A second trial on the same runner reuses the cached dataset.
  TempDir d2("tiny2");
  const auto out2 = run_trial(*runner, params_with({{"max_epochs", 1}}), data, d2.path);
  CHECK(out2.status == ns::engine::TrialStatus::kOk);
  const auto* cr = dynamic_cast<ns::models::classifier::ConvNetRunner*>(runner.get());
  REQUIRE(cr != nullptr);
  CHECK(cr->cache().loads() == 1);
}

TEST_CASE("a learning rate that diverges gives a failed trial, not a crash", "[runner]") {
  TempDir d("nan");
  auto runner = ns::models::classifier::convnet_family()->make_runner();
  const auto out =
      run_trial(*runner, params_with({{"optimizer", "sgd"}, {"lr", 1e6}, {"batch_norm", false}}),
                tiny_data(), d.path);
  CHECK(out.status == ns::engine::TrialStatus::kFailed);
  CHECK_THAT(out.error, Contains("training diverged") && Contains("lower the learning rate"));
  CHECK_FALSE(fs::exists(d.path / "resume.pt"));
}

TEST_CASE("a stopped trial saves a checkpoint and resumes to the uninterrupted result",
          "[runner]") {
  const json data = tiny_data();
  // Dropout and augmentation draw random numbers: the resume must restore the generator too.
  const json params = params_with({{"max_epochs", 3},
                                   {"patience", 5},
                                   {"dropout", 0.3},
                                   {"augment_flip", true},
                                   {"augment_shift", 2}});
  TempDir ref_dir("ref"), dir("resume");
  auto runner = ns::models::classifier::convnet_family()->make_runner();
  const auto ref = run_trial(*runner, params, data, ref_dir.path);
  REQUIRE(ref.status == ns::engine::TrialStatus::kOk);

  // 384 training images in batches of 64: 6 batches per epoch. Stop in epoch 2, batch 3, and
  // then again in epoch 3, with a fresh runner each time as a restarted worker would have.
  int calls = 0;
  auto stop_at = [&calls](int n) {
    calls = 0;
    return [&calls, n] { return ++calls > n; };
  };
  auto r1 = ns::models::classifier::convnet_family()->make_runner();
  const auto first = run_trial(*r1, params, data, dir.path, stop_at(8));
  CHECK(first.status == ns::engine::TrialStatus::kInterrupted);
  CHECK_THAT(first.error, Contains("epoch 2"));
  CHECK(fs::exists(dir.path / "resume.pt"));
  CHECK(lines(dir.path / "curve.csv").size() == 2);  // header + epoch 1

  auto r2 = ns::models::classifier::convnet_family()->make_runner();
  const auto second = run_trial(*r2, params, data, dir.path, stop_at(6));
  CHECK(second.status == ns::engine::TrialStatus::kInterrupted);
  CHECK_THAT(second.error, Contains("epoch 3"));

  auto r3 = ns::models::classifier::convnet_family()->make_runner();
  const auto done = run_trial(*r3, params, data, dir.path);
  REQUIRE(done.status == ns::engine::TrialStatus::kOk);
  CHECK_FALSE(fs::exists(dir.path / "resume.pt"));
  CHECK(lines(dir.path / "curve.csv") == lines(ref_dir.path / "curve.csv"));
  for (const char* m :
       {"val_loss", "val_accuracy", "test_loss", "test_accuracy", "epochs", "best_epoch"}) {
    INFO(m);
    CHECK(done.metrics.at(m) == Approx(ref.metrics.at(m)).epsilon(1e-9));
  }
}

TEST_CASE("check_data reports a bad data block before any training", "[runner][errors]") {
  const auto fam = ns::models::classifier::convnet_family();
  CHECK_NOTHROW(fam->check_data(tiny_data(), "$.data"));
  TempDir d("empty");
  REQUIRE_THROWS_WITH(
      fam->check_data({{"kind", "idx"}, {"dir", d.path.string()}}, "$.data"),
      Contains("IDX file not found") && Contains((d.path / "train-images-idx3-ubyte.gz").string()));
  REQUIRE_THROWS_WITH(fam->check_data({{"kind", "simulated"}}, "$.data"), Contains("$.data.kind"));
}

TEST_CASE("early stopping: a convnet trial pauses after its rung's epochs, resumes exactly when "
          "promoted, and stops when the scheduler says so", "[runner][asha]") {
  TempDir d("asha");
  auto runner = ns::models::classifier::convnet_family()->make_runner();
  const json data = tiny_data();
  const json p = params_with({{"max_epochs", 3}, {"patience", 5}});
  const auto whole = run_trial(*runner, p, data, d.path / "whole");
  REQUIRE(whole.status == ns::engine::TrialStatus::kOk);
  ns::sweeps::Trial spec;
  spec.id = "t0";
  spec.seed = 1234;
  spec.params = p;
  const fs::path dir = d.path / "rungs";
  TrialContext ctx{spec, data, dir};
  ctx.resource_limit = 1;
  const auto paused = runner->run(ctx);
  INFO(paused.error);
  REQUIRE(paused.status == ns::engine::TrialStatus::kPaused);
  CHECK(paused.metrics.at("epochs") == 1);
  CHECK(std::isfinite(paused.metrics.at("val_accuracy")));
  REQUIRE(fs::exists(dir / "resume.pt"));
  ctx.resource_limit = 3;
  ctx.final_rung = true;
  const auto done = runner->run(ctx);
  INFO(done.error);
  REQUIRE(done.status == ns::engine::TrialStatus::kOk);
  for (const char* m : {"val_accuracy", "val_loss", "test_accuracy", "test_loss", "epochs"})
    CHECK(done.metrics.at(m) == Approx(whole.metrics.at(m)).margin(1e-6));

  const fs::path sdir = d.path / "stopped";
  TrialContext stop_ctx{spec, data, sdir};
  stop_ctx.rungs = {2};
  stop_ctx.resource_limit = 3;
  stop_ctx.final_rung = true;
  std::vector<double> asked;
  stop_ctx.report = [&](double r, const std::map<std::string, double>&) {
    asked.push_back(r);
    return ns::engine::Decision::kStop;
  };
  const auto stopped = runner->run(stop_ctx);
  CHECK(stopped.status == ns::engine::TrialStatus::kStopped);
  CHECK(asked == std::vector<double>{2});
  CHECK(stopped.metrics.at("epochs") == 2);
}

TEST_CASE("a kill on a plateau loses at most one batch: checkpoints are kept whether or not the "
          "validation loss improved, and resume bit for bit", "[runner][checkpoint]") {
  const json data = tiny_data();
  // A high learning rate on 384 images: the validation loss stops improving after a few epochs.
  const json params = params_with({{"max_epochs", 8}, {"patience", 0}, {"lr", 0.02},
                                   {"dropout", 0.3}, {"augment_shift", 2}});
  TempDir ref_dir("plateau_ref");
  auto runner = ns::models::classifier::convnet_family()->make_runner();
  const auto ref = run_trial(*runner, params, data, ref_dir.path);
  REQUIRE(ref.status == ns::engine::TrialStatus::kOk);
  // Epochs (1-based, before the last) whose validation loss did not improve.
  std::vector<int> plateau;
  double best = INFINITY;
  const auto curve = lines(ref_dir.path / "curve.csv");
  for (std::size_t r = 1; r + 1 < curve.size(); ++r) {
    std::vector<std::string> f;  // epoch,lr,train_loss,val_loss,val_accuracy
    std::stringstream ss(curve[r]);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    const double val = std::stod(f.at(3));
    if (val < best) best = val;
    else plateau.push_back(static_cast<int>(r));
  }
  INFO(ref_dir.path / "curve.csv");
  REQUIRE(!plateau.empty());
  for (const int e : plateau) {
    INFO("killed in epoch " << e + 1 << " after 2 batches");
    TempDir dir("plateau_" + std::to_string(e));
    ns::sweeps::Trial spec;
    spec.id = "t0";
    spec.seed = 1234;
    spec.params = params;
    TrialContext ctx{spec, data, dir.path};
    ctx.checkpoint_every_s = 0;  // a checkpoint before every batch
    int calls = 0;
    // Before every batch (6 an epoch): a SIGKILL after e epochs and 2 batches.
    ctx.stop_requested = [&calls, e] {
      if (++calls > 6 * e + 2) throw std::runtime_error("killed");
      return false;
    };
    auto r1 = ns::models::classifier::convnet_family()->make_runner();
    REQUIRE_THROWS_WITH(r1->run(ctx), "killed");
    REQUIRE(fs::exists(dir.path / "resume.pt"));
    torch::serialize::InputArchive ar;
    ar.load_from((dir.path / "resume.pt").string());
    c10::IValue progress;
    ar.read("progress", progress);
    const json pr = json::parse(progress.toStringRef());
    CHECK(pr.at("epoch") == e);  // 0-based epoch in progress: e epochs done
    CHECK(pr.at("batch") == 1);  // written before batch 2, the last one trained: one is lost
    CHECK(pr.at("best_epoch").get<int>() < e);  // not the last improvement's checkpoint
    auto r2 = ns::models::classifier::convnet_family()->make_runner();
    const auto done = run_trial(*r2, params, data, dir.path);
    INFO(done.error);
    REQUIRE(done.status == ns::engine::TrialStatus::kOk);
    CHECK(lines(dir.path / "curve.csv") == curve);
    for (const char* m :
         {"val_loss", "val_accuracy", "test_loss", "test_accuracy", "epochs", "best_epoch"}) {
      INFO(m);
      CHECK(done.metrics.at(m) == ref.metrics.at(m));
    }
  }
}
