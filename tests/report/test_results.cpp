// report/results: loading a sweep directory (column roles, retries, partial lines).
#include "catch.hpp"
#include <cmath>

#include "core/error.hpp"
#include "report/results.hpp"
#include "test_util.hpp"

using namespace ns::report;
namespace fs = std::filesystem;

TEST_CASE("results: the maskcnn fixture loads with sweep.json's roles") {
  const Results r = load_results(test::fixture("maskcnn_sweep"));
  CHECK(r.sweep.present);
  CHECK(r.sweep.family == "maskcnn");
  CHECK(r.sweep.metric == "val_ccnorm");
  CHECK(r.varied == std::vector<std::string>{"channels", "lr"});
  CHECK(r.metric_columns == std::vector<std::string>{"val_loss", "val_pearson", "val_ccnorm",
                                                     "test_pearson", "test_ccnorm"});
  CHECK(r.param_columns == std::vector<std::string>{"act", "batch_size", "bn_before_act",
                                                    "channels", "k1", "layers", "lr", "pool",
                                                    "readout_scale", "smoothness"});
  // 18 complete rows, one of them an earlier attempt of d0b7c3e9; the 19th line is partial.
  CHECK(r.rows == 18);
  CHECK(r.superseded_rows == 1);
  CHECK(r.trials.size() == 17);
  CHECK(r.dropped_partial);
  CHECK(r.malformed_lines.empty());
}

TEST_CASE("results: a retried trial keeps its last attempt at its first position") {
  const Results r = load_results(test::fixture("maskcnn_sweep"));
  auto it = std::find_if(r.trials.begin(), r.trials.end(),
                         [](const Trial& t) { return t.id == "d0b7c3e9"; });
  REQUIRE(it != r.trials.end());
  CHECK(it - r.trials.begin() == 9);  // where its first (failed) attempt stood
  CHECK(it->status == "ok");
  CHECK(it->cell("attempt") == "2");
  CHECK(it->metric("val_ccnorm") == Approx(0.526));
}

TEST_CASE("results: quoted multi-line error messages arrive whole") {
  const Results r = load_results(test::fixture("maskcnn_sweep"));
  auto it = std::find_if(r.trials.begin(), r.trials.end(),
                         [](const Trial& t) { return t.id == "c9a15e27"; });
  REQUIRE(it != r.trials.end());
  CHECK(it->status == "failed");
  CHECK(it->error ==
        "loss is nan at iteration 350 (lr=0.003, loss \"poisson\"); lower lr or add gradient "
        "clipping\nException raised from train_step at models/neural/train.cpp:212");
  CHECK(std::isnan(it->metric("val_ccnorm")));
}

TEST_CASE("results: without sweep.json, metrics are told by name and varied params by value") {
  const Results r = load_results(test::fixture("classifier_nosweep"));
  CHECK_FALSE(r.sweep.present);
  CHECK(r.metric_columns ==
        std::vector<std::string>{"train_loss", "val_loss", "val_accuracy", "test_accuracy"});
  CHECK(r.param_columns == std::vector<std::string>{"act", "epochs", "hidden", "lr"});
  // epochs and lr are the same in every row: not part of a configuration.
  CHECK(r.varied == std::vector<std::string>{"act", "hidden"});
  CHECK(r.trials.size() == 4);
  CHECK_FALSE(r.dropped_partial);
  CHECK(r.trials[1].metric("val_accuracy") == Approx(0.8723));
}

TEST_CASE("results: rows with the wrong field count are skipped and reported") {
  test::TempDir tmp;
  test::write_text(tmp.path / "results.csv",
                   "trial_id,status,x,val_loss,seed,repeat,error\n"
                   "t1,ok,1,0.5,1,0,\n"
                   "t2,ok,2,0.4,2,0t3,ok,3,0.3,3,0,\n"  // a torn row glued to the next one
                   "t4,ok,3,0.2,4,0,\n");
  const Results r = load_results(tmp.path);
  CHECK(r.trials.size() == 2);
  CHECK(r.malformed_lines == std::vector<std::size_t>{3});
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] ==
        "skipped 1 row(s) of results.csv whose field count differs from the "
        "header's 7 (line 3)");
}

TEST_CASE("results: bad input names the path and the fix") {
  test::TempDir tmp;
  REQUIRE_THROWS_WITH(load_results(tmp.path / "nope"), Catch::Contains("nope: no such directory"));
  REQUIRE_THROWS_WITH(load_results(tmp.path), Catch::Contains("no results.csv"));
  test::write_text(tmp.path / "results.csv", "");
  REQUIRE_THROWS_WITH(load_results(tmp.path), Catch::Contains("no header line yet"));
  test::write_text(tmp.path / "results.csv", "a,b\n1,2\n");
  REQUIRE_THROWS_WITH(load_results(tmp.path),
                      Catch::Contains("header has no \"trial_id\" column (found: a,b)"));
  test::write_text(tmp.path / "results.csv", "trial_id,status,val_loss\n");
  test::write_text(tmp.path / "sweep.json", "{\"metric\": ");
  REQUIRE_THROWS_WITH(load_results(tmp.path), Catch::Contains("sweep.json: not valid JSON"));
  test::write_text(tmp.path / "sweep.json", "{\"mode\": \"maximum\"}");
  REQUIRE_THROWS_WITH(load_results(tmp.path),
                      Catch::Contains("$.mode: expected one of \"max\", \"min\", got \"maximum\""));
}

TEST_CASE("results: a sweep that has only written its header loads empty") {
  test::TempDir tmp;
  test::write_text(tmp.path / "results.csv", "trial_id,status,lr,val_loss,seed,repeat,error\n");
  const Results r = load_results(tmp.path);
  CHECK(r.trials.empty());
  CHECK(r.metric_columns == std::vector<std::string>{"val_loss"});
}

TEST_CASE("results: trial ids used as paths are checked") {
  CHECK(safe_trial_id("e5b61c83"));
  CHECK(safe_trial_id("trial_0001.r2"));
  CHECK_FALSE(safe_trial_id(".."));
  CHECK_FALSE(safe_trial_id("a/../../etc"));
  CHECK_FALSE(safe_trial_id(""));
}

TEST_CASE("results: sweep.json without a metric list: spec-named parameters are never metrics") {
  test::TempDir tmp;
  // "loss" is a maskcnn parameter (poisson|mse) and "val_every" a training setting the spec names.
  test::write_text(tmp.path / "sweep.json",
                   R"({"spec": {"family": "maskcnn", "fixed": {"loss": "mse"},
    "training": {"val_every": 50}, "grid": {"lr": [0.1, 0.2]}}, "metric": "val_ccnorm", "mode": "max",
    "varied": ["lr"]})");
  test::write_text(tmp.path / "results.csv",
                   "trial_id,status,loss,lr,val_every,val_loss,val_ccnorm,seed,repeat,error\n"
                   "t1,ok,mse,0.1,50,0.9,0.4,1,0,\n"
                   "t2,ok,mse,0.2,50,0.8,0.5,2,0,\n");
  const Results r = load_results(tmp.path);
  CHECK(r.sweep.family == "maskcnn");
  CHECK(r.metric_columns == std::vector<std::string>{"val_loss", "val_ccnorm"});
  CHECK(r.param_columns == std::vector<std::string>{"loss", "lr", "val_every"});
  CHECK(r.varied == std::vector<std::string>{"lr"});
}

TEST_CASE("results: early stopping's rung and resource are bookkeeping, never metrics") {
  // Before issue 27, sweep.json listed them among the metrics; both forms load the same.
  for (const char* metrics : {R"(["score", "rung", "resource"])", R"(["score"])"}) {
    INFO(metrics);
    test::TempDir tmp;
    test::write_text(tmp.path / "sweep.json",
                     std::string(R"({"spec": {"family": "quadratic", "grid": {"x": [1, 2]}},
      "metric": "score", "mode": "max", "varied": ["x"], "metrics": )") + metrics + "}");
    test::write_text(tmp.path / "results.csv",
                     "trial_id,status,x,score,rung,resource,seed,repeat,error\n"
                     "t1,ok,1,0.4,2,9,1,0,\n"
                     "t2,stopped,2,0.1,0,1,2,0,\n"
                     "t3,failed,2,nan,nan,nan,3,0,boom\n");
    const Results r = load_results(tmp.path);
    CHECK(r.metric_columns == std::vector<std::string>{"score"});
    CHECK(r.param_columns == std::vector<std::string>{"x"});
    CHECK(r.rungs);
    REQUIRE(r.trials.size() == 3);
    CHECK(r.trials[0].rung == 2);
    CHECK(r.trials[0].resource == 9);
    CHECK(r.trials[1].rung == 0);
    CHECK(std::isnan(r.trials[2].rung));
    CHECK(r.trials[0].metrics.count("rung") == 0);
  }
}
