// Packing (models/neural/packed.hpp): K mask CNNs trained as one fused model give each member
// the outputs of a separate trial. Checked on CPU against the same trials run one by one.
#include "models/neural/packed.hpp"

#include "catch.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

#include "models/neural/family.hpp"
#include "models/neural/runner.hpp"
#include "resume_state.hpp"
#include "support/temp_dir.hpp"

using namespace ns::models::neural;
using ns::test::TempDir;
namespace fs = std::filesystem;

namespace {

const nlohmann::json kData = {{"kind", "simulated"}, {"seed", 3},   {"images", 200},
                              {"size", 16},          {"neurons", 6}, {"repeats", 4}};

nlohmann::json base_params() {
  nlohmann::json p = maskcnn_family()->schema().model_defaults;
  p.update(maskcnn_family()->schema().training_defaults);
  p.update({{"channels", 4},
            {"k1", 5},
            {"pool_size", 2},
            {"batch_size", 32},
            {"eval_every", 2},
            {"patience", 2},
            {"max_iters_per_phase", 12},
            {"phases", 2},
            {"lr", 0.01}});
  return p;
}

// Members of one shape that differ in what a pack allows to differ: learning rate, regularizer
// weights, loss, schedule (so they stop at different iterations), seed.
std::vector<nlohmann::json> member_params(int k) {
  std::vector<nlohmann::json> v;
  for (int i = 0; i < k; ++i) {
    nlohmann::json p = base_params();
    p["lr"] = 0.01 * (1 + i);
    p["smoothness"] = 1e-4 * i;
    p["readout_scale"] = 0.01 / (1 + i);
    p["patience"] = 1 + i % 3;
    p["max_iters_per_phase"] = 8 + 4 * i;
    p["phases"] = 1 + i % 2;
    if (i == 2) p["loss"] = "mse";
    v.push_back(p);
  }
  return v;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CurveRow {
  long iteration;
  double train, val;
};

std::vector<CurveRow> read_curve(const fs::path& p) {
  std::istringstream in(slurp(p));
  std::string line;
  std::getline(in, line);  // header
  std::vector<CurveRow> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    rows.push_back({std::stol(f[0]), std::stod(f[3]), std::stod(f[4])});
  }
  return rows;
}

struct Member {
  ns::sweeps::Trial trial;
  fs::path dir;
};

std::vector<Member> members(const std::vector<nlohmann::json>& params, const fs::path& root) {
  std::vector<Member> m;
  for (std::size_t i = 0; i < params.size(); ++i) {
    ns::sweeps::Trial t;
    t.id = "m" + std::to_string(i);
    t.index = static_cast<int>(i);
    t.seed = 100 + i;
    t.params = params[i];
    m.push_back({t, root / t.id});
    fs::create_directories(m.back().dir);
  }
  return m;
}

std::vector<ns::engine::TrialContext> contexts(const std::vector<Member>& m,
                                               std::function<bool()> stop) {
  std::vector<ns::engine::TrialContext> c;
  for (const auto& x : m) {
    ns::engine::TrialContext ctx{x.trial, kData, x.dir};
    ctx.stop_requested = stop;
    c.push_back(ctx);
  }
  return c;
}

void require_close_metrics(const ns::engine::TrialOutcome& a, const ns::engine::TrialOutcome& b,
                           double tol) {
  REQUIRE(a.metrics.size() == b.metrics.size());
  for (const auto& [name, value] : a.metrics) {
    if (name == "ms_per_iter" || name == "cpu_ms_per_iter") continue;  // timings
    const double other = b.metrics.at(name);
    INFO(name << ": separate " << value << ", packed " << other);
    if (std::isnan(value)) {
      REQUIRE(std::isnan(other));
    } else {
      REQUIRE(std::abs(value - other) <= tol * std::max(1.0, std::abs(value)));
    }
  }
}

}  // namespace

TEST_CASE("packed_forward gives each member its own forward pass and BatchNorm statistics",
          "[packed]") {
  const ModelOptions o = ModelOptions(1, 16, 16, 6).channels(4).k1(5).pool_size(2).layers(3);
  std::vector<MaskCnn> packed, alone;
  for (int k = 0; k < 3; ++k) {
    torch::manual_seed(7 + k);
    packed.push_back(MaskCnn(o));
    torch::manual_seed(7 + k);
    alone.push_back(MaskCnn(o));
  }
  torch::manual_seed(1);
  const auto x = torch::rand({3, 8, 1, 16, 16}) * 5;
  for (auto& m : packed) m->train();
  for (auto& m : alone) m->train();
  const auto out = packed_forward(packed, x);
  REQUIRE(out.sizes() == torch::IntArrayRef({3, 8, 6}));
  for (int k = 0; k < 3; ++k) {
    const auto ref = alone[k]->forward(x[k]);
    INFO("member " << k);
    REQUIRE(torch::allclose(out[k], ref, 1e-5, 1e-6));
    REQUIRE(torch::allclose(packed[k]->bns()[1]->running_mean, alone[k]->bns()[1]->running_mean,
                            1e-5, 1e-7));
    REQUIRE(torch::allclose(packed[k]->bns()[2]->running_var, alone[k]->bns()[2]->running_var,
                            1e-5, 1e-7));
    REQUIRE(torch::allclose(packed[k]->input_bn()->running_mean,
                            alone[k]->input_bn()->running_mean, 1e-6, 1e-7));
    REQUIRE(packed[k]->bns()[0]->num_batches_tracked.item<std::int64_t>() == 1);
  }
  // Gradients reach each member's own parameters only from its own output.
  out[1].sum().backward();
  const auto g0 = packed[0]->convs()[0]->weight.grad();
  REQUIRE((!g0.defined() || g0.abs().sum().item<double>() == 0));
  REQUIRE(packed[1]->convs()[0]->weight.grad().abs().sum().item<double>() > 0);
}

TEST_CASE("pack shape keys: shapes and batch size separate packs, learning rates do not",
          "[packed]") {
  const auto fam = maskcnn_family();
  ns::engine::DataFacts facts;
  facts.checked = true;
  facts.channels = 1;
  facts.height = facts.width = 16;
  facts.outputs = 6;
  auto p = base_params();
  const std::string key = fam->pack_key(p, facts);
  REQUIRE_FALSE(key.empty());
  auto q = p;
  q["lr"] = 0.5;
  q["smoothness"] = 0.1;
  q["patience"] = 7;
  CHECK(fam->pack_key(q, facts) == key);
  q = p;
  q["channels"] = 8;
  CHECK(fam->pack_key(q, facts) != key);
  q = p;
  q["batch_size"] = 16;
  CHECK(fam->pack_key(q, facts) != key);
  CHECK(fam->pack_key(p, ns::engine::DataFacts{}).empty());  // unchecked data: never packed
}

TEST_CASE("K packed members match K separate trials with the same seeds (K = 1, 3, 4), "
          "members stopping at different times", "[packed]") {
  for (int K : {1, 3, 4}) {
    INFO("K = " << K);
    TempDir dir;
    const auto params = member_params(K);
    const auto sep = members(params, dir.path / "separate");
    const auto pk = members(params, dir.path / "packed");
    auto runner = maskcnn_family()->make_runner();
    std::vector<ns::engine::TrialOutcome> separate;
    for (const auto& ctx : contexts(sep, [] { return false; })) separate.push_back(runner->run(ctx));
    auto packed_runner = maskcnn_family()->make_runner();
    const auto packed = packed_runner->run_pack(contexts(pk, [] { return false; }));
    REQUIRE(packed.size() == static_cast<std::size_t>(K));
    std::set<double> stopped_at;
    for (int k = 0; k < K; ++k) {
      INFO("member " << k << ": " << packed[k].error);
      REQUIRE(separate[k].status == ns::engine::TrialStatus::kOk);
      REQUIRE(packed[k].status == ns::engine::TrialStatus::kOk);
      // Same early-stopping decisions: same iterations and best iteration.
      REQUIRE(packed[k].metrics.at("iterations") == separate[k].metrics.at("iterations"));
      REQUIRE(packed[k].metrics.at("best_iteration") == separate[k].metrics.at("best_iteration"));
      stopped_at.insert(packed[k].metrics.at("iterations"));
      // Losses over the first steps to 1e-5 (curve rows: every 2 iterations).
      const auto a = read_curve(sep[k].dir / "curve.csv");
      const auto b = read_curve(pk[k].dir / "curve.csv");
      REQUIRE(a.size() == b.size());
      for (std::size_t r = 0; r < std::min<std::size_t>(a.size(), 3); ++r) {
        INFO("curve row " << r);
        REQUIRE(a[r].iteration == b[r].iteration);
        if (r > 0) REQUIRE(std::abs(a[r].train - b[r].train) <= 1e-5 * std::abs(a[r].train));
        REQUIRE(std::abs(a[r].val - b[r].val) <= 1e-5 * std::abs(a[r].val));
      }
      // Final metrics of the short trial: only the order of float sums differs (grouped vs
      // separate convolutions, ATen's vs the fused CPU BatchNorm-softplus); over <= 30 Adam
      // steps that drift stays far below 1e-3 relative.
      require_close_metrics(separate[k], packed[k], 1e-3);
      for (const char* f : {"model.pt", "optimizer.pt", "best_checkpoint.json", "neurons.csv",
                            "predictions.h5", "readout_masks.json", "config.json"})
        REQUIRE(fs::exists(pk[k].dir / f));
    }
    if (K >= 3) REQUIRE(stopped_at.size() >= 2);  // members left the pack at different times
  }
}

TEST_CASE("a packed run stopped midway leaves each member a resume.pt that resumes alone",
          "[packed]") {
  TempDir dir;
  const auto params = member_params(3);
  const auto whole = members(params, dir.path / "whole");
  auto runner = maskcnn_family()->make_runner();
  std::vector<ns::engine::TrialOutcome> ref;
  for (const auto& ctx : contexts(whole, [] { return false; })) ref.push_back(runner->run(ctx));

  const auto split = members(params, dir.path / "split");
  int calls = 0;
  const auto first = runner->run_pack(contexts(split, [&] { return ++calls > 5; }));
  // Members that finished before the stop have their results; the others a checkpoint.
  int interrupted = 0;
  for (int k = 0; k < 3; ++k) {
    INFO("member " << k << ": " << first[k].error);
    if (first[k].status == ns::engine::TrialStatus::kOk) {
      REQUIRE_FALSE(fs::exists(split[k].dir / "resume.pt"));
      require_close_metrics(ref[k], first[k], 1e-3);
      continue;
    }
    REQUIRE(first[k].status == ns::engine::TrialStatus::kInterrupted);
    REQUIRE(fs::exists(split[k].dir / "resume.pt"));
    ++interrupted;
    // It resumes on its own (a separate trial now), and ends as the separate run did.
    const std::vector<Member> alone = {split[k]};  // outlives its contexts (they refer to it)
    const auto c = contexts(alone, [] { return false; });
    const auto done = runner->run(c[0]);
    INFO("resumed: " << done.error);
    REQUIRE(done.status == ns::engine::TrialStatus::kOk);
    REQUIRE(done.metrics.at("iterations") == ref[k].metrics.at("iterations"));
    require_close_metrics(ref[k], done, 1e-3);
  }
  REQUIRE(interrupted >= 2);
}

TEST_CASE("a member whose loss is not finite fails alone; the others finish", "[packed]") {
  TempDir dir;
  auto params = member_params(3);
  params[1]["init_std"] = 1e25;  // readout weights ~1e25: predictions overflow float32 at once
  params[1]["max_iters_per_phase"] = 40;
  const auto m = members(params, dir.path);
  auto runner = maskcnn_family()->make_runner();
  const auto out = runner->run_pack(contexts(m, [] { return false; }));
  CHECK(out[0].status == ns::engine::TrialStatus::kOk);
  REQUIRE(out[1].status == ns::engine::TrialStatus::kFailed);
  CHECK_THAT(out[1].error, Catch::Contains("training loss is not finite"));
  CHECK_THAT(out[1].error, Catch::Contains("at iteration 1 "));
  CHECK(out[2].status == ns::engine::TrialStatus::kOk);
  // The members that finished are those of separate trials.
  auto alone = maskcnn_family()->make_runner();
  const auto sep = members(params, dir.path / "separate");
  const auto c = contexts(sep, [] { return false; });
  require_close_metrics(alone->run(c[0]), out[0], 1e-3);
  require_close_metrics(alone->run(c[2]), out[2], 1e-3);
}

TEST_CASE("packed members killed on a plateau each kept a checkpoint at their last evaluation, "
          "improved or not, that resumes to the separate trial's result", "[packed][checkpoint]") {
  TempDir dir;
  auto params = member_params(3);
  for (auto& p : params) p["lr"] = p["lr"].get<double>() * 5;  // overshoots: some evaluations do not improve
  const auto whole = members(params, dir.path / "whole");
  auto runner = maskcnn_family()->make_runner();
  std::vector<ns::engine::TrialOutcome> ref;
  for (const auto& ctx : contexts(whole, [] { return false; })) ref.push_back(runner->run(ctx));

  const auto split = members(params, dir.path / "split");
  int calls = 0;
  // A SIGKILL after 5 packed steps: nothing is saved on the way out (the pack fails its members).
  auto ctxs = contexts(split, [&] {
    if (++calls > 5) throw std::runtime_error("killed");
    return false;
  });
  for (auto& c : ctxs) c.checkpoint_every_s = 0;  // a checkpoint at every evaluation
  const auto first = runner->run_pack(ctxs);
  int plateau = 0, killed = 0;
  for (int k = 0; k < 3; ++k) {
    INFO("member " << k << ": " << first[k].error);
    if (first[k].status == ns::engine::TrialStatus::kOk) continue;  // finished before the kill
    REQUIRE(first[k].status == ns::engine::TrialStatus::kFailed);
    ++killed;
    REQUIRE(fs::exists(split[k].dir / "resume.pt"));
    const auto s = ns::test::resume_state(split[k].dir / "resume.pt").at("schedule");
    // The checkpoint is the last evaluation's (the curve's last row), not the last improvement's.
    const auto curve = read_curve(split[k].dir / "curve.csv");
    REQUIRE(s.at("iteration").get<long>() == curve.back().iteration);
    if (s.at("best_iteration").get<long>() < s.at("iteration").get<long>()) ++plateau;
    const std::vector<Member> alone = {split[k]};
    const auto c = contexts(alone, [] { return false; });
    const auto done = runner->run(c[0]);
    INFO("resumed: " << done.error);
    REQUIRE(done.status == ns::engine::TrialStatus::kOk);
    REQUIRE(done.metrics.at("iterations") == ref[k].metrics.at("iterations"));
    REQUIRE(done.metrics.at("best_iteration") == ref[k].metrics.at("best_iteration"));
    require_close_metrics(ref[k], done, 1e-3);
  }
  REQUIRE(killed >= 2);
  REQUIRE(plateau >= 1);
}
