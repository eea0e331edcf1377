// report/html: the data the page draws, and the page's self-containment (no browser here; see
// test_report_browser.cpp for the rendered page).
#include "catch.hpp"

#include "report/html.hpp"
#include "test_util.hpp"

using namespace ns::report;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
json maskcnn_data(int top = 10) {
  const Results r = load_results(test::fixture("maskcnn_sweep"));
  return html_data(r, analyze(r, choose_selection(r, "", "")), top);
}
}  // namespace

TEST_CASE("html: heatmap over the two most influential parameters, means per cell") {
  const json d = maskcnn_data();
  const json& h = d["heatmap"];
  REQUIRE(h.is_object());
  CHECK(h["x"] == "lr");  // spread 0.0605 > 0.0241 for channels
  CHECK(h["y"] == "channels");
  CHECK(h["xs"] == json({"0.0003", "0.001", "0.003"}));
  CHECK(h["ys"] == json({"8", "16"}));
  CHECK(h["z"][1][1].get<double>() == Approx(0.595));  // channels 16, lr 0.001
  CHECK(h["z"][0][2].get<double>() == Approx(0.54));   // channels 8, lr 0.003: one ok repeat
  CHECK(h["n"][0][2] == 1);
}

TEST_CASE("html: learning curves of the top configurations' best trials; missing ones listed") {
  const json d = maskcnn_data();
  REQUIRE(d["curves"].size() == 3);
  CHECK(d["curves"][0]["id"] == "e5b61c83");
  CHECK(d["curves"][0]["x_name"] == "iteration");
  CHECK(d["curves"][0]["columns"] == json({"train_loss", "val_loss", "val_ccnorm"}));
  // 21 complete rows; the partial last line of the running writer is dropped.
  CHECK(d["curves"][0]["x"].size() == 21);
  CHECK(d["curves"][0]["x"][20] == 1000);
  CHECK(d["curves"][1]["id"] == "f6c7d219");
  CHECK(d["curves"][2]["id"] == "b8f0a6d3");
  const std::string skipped = d["skipped"].dump();
  CHECK(skipped.find("no learning curve for trial c3d04b5e") != std::string::npos);
  CHECK(skipped.find("no learning curve for trial d6e2f8a0") != std::string::npos);
}

TEST_CASE("html: per-neuron Pearson/CCnorm and readout masks of the best trial") {
  const json d = maskcnn_data();
  const json& n = d["neurons"];
  REQUIRE(n.is_object());
  CHECK(n["trial"] == "e5b61c83");
  CHECK(n["columns"].size() == 3);  // val_pearson, test_pearson, test_ccnorm (not test_ccmax)
  CHECK(n["columns"]["test_ccnorm"].size() == 12);
  CHECK(n["columns"]["test_ccnorm"][4].is_null());
  CHECK(n["excluded"]["test_ccnorm"] == 1);
  CHECK(n["excluded"]["test_pearson"] == 0);
  const json& m = d["masks"];
  REQUIRE(m.is_object());
  CHECK(m["n"] == 12);
  CHECK(m["h"] == 8);
  CHECK(m["w"] == 8);
  CHECK(m["values"].size() == 12);
  // Neuron 0's blob is centred at (1.5, 1.5): row 1, col 1 holds exp(-0.25) * 0.8.
  CHECK(m["values"][0][1][1].get<double>() == Approx(0.8 * std::exp(-0.25)).epsilon(1e-3));
}

TEST_CASE("html: the table holds every trial, numeric columns flagged") {
  const json d = maskcnn_data();
  const json& t = d["table"];
  CHECK(t["rows"].size() == 17);
  CHECK(t["best_id"] == "e5b61c83");
  const auto& cols = t["columns"];
  auto idx = [&](const char* c) { return std::find(cols.begin(), cols.end(), c) - cols.begin(); };
  CHECK(t["numeric"][idx("lr")] == true);
  CHECK(t["numeric"][idx("val_ccnorm")] == true);
  CHECK(t["numeric"][idx("error")] == false);
  CHECK(t["numeric"][idx("trial_id")] == false);
}

TEST_CASE("html: a bad readout_masks.json is skipped with a note, not an error") {
  test::TempDir tmp;
  const fs::path dir = test::copy_fixture("maskcnn_sweep", tmp.path);
  test::write_text(dir / "trials/e5b61c83/readout_masks.json",
                   R"({"shape": [12, 8, 8], "values": [1, 2]})");
  const Results r = load_results(dir);
  const json d = html_data(r, analyze(r, choose_selection(r, "", "")), 10);
  CHECK(d["masks"].is_null());
  CHECK(d["skipped"].dump().find("$.values should hold N*H*W = 768 numbers, found 2") !=
        std::string::npos);
}

TEST_CASE("html: one self-contained page; text from the files cannot close the script") {
  test::TempDir tmp;
  test::write_text(tmp.path / "results.csv",
                   "trial_id,status,lr,val_loss,seed,repeat,error\n"
                   "t1,ok,0.1,0.5,1,0,\n"
                   "t2,failed,0.2,nan,2,0,</script><script>alert(1)</script> <!-- x\n");
  const Results r = load_results(tmp.path);
  const std::string fake_plotly =
      "window.Plotly={newPlot:function(){}};/*" + std::string(2000, ' ') + "*/";
  const std::string page = render_html(r, analyze(r, choose_selection(r, "", "")), 10, fake_plotly);
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find(fake_plotly) != std::string::npos);  // inlined, not linked
  CHECK(page.find("<script src") == std::string::npos);
  CHECK(page.find("<link") == std::string::npos);
  CHECK(page.find("alert(1)") != std::string::npos);
  CHECK(page.find("</script><script>alert") == std::string::npos);
  CHECK(page.find("<\\/script><script>alert(1)<\\/script> <\\u0021-- x") != std::string::npos);
}

TEST_CASE("html: a sweep without per-trial files draws what it can, one note at most") {
  const Results r = load_results(test::fixture("classifier_nosweep"));
  const json d = html_data(r, analyze(r, choose_selection(r, "val_accuracy", "")), 10);
  CHECK(d["curves"].empty());
  CHECK(d["skipped"].empty());  // the page says "No curve.csv found" once, not per trial
  CHECK(d["neurons"].is_null());
  CHECK(d["masks"].is_null());
  CHECK(d["heatmap"]["x"] == "act");  // spread 0.0104 > 0.0080 for hidden
  // trial_id status act hidden | 4 metrics | seed repeat attempt wall_s host error
  CHECK(d["table"]["metric"] == json({false, false, false, false, true, true, true, true, false,
                                      false, false, false, false, false}));
}

TEST_CASE("html: an early-stopping sweep's metric at each rung, from its journal") {
  const Results r = load_results(test::fixture("asha_sweep"));
  const json d = html_data(r, analyze(r, choose_selection(r, "", "")), 10);
  const json& e = d["early_stopping"];
  REQUIRE(e.is_object());
  CHECK(e["rungs"] == json({1.0, 3.0, 9.0}));  // where trials paused (none reached 27)
  REQUIRE(e["trials"].size() == 9);
  for (const auto& t : e["trials"]) CHECK(t["status"] == "stopped");
  // 8b008d15e44e219f (x = 1) went furthest: rungs at 1, 3 and 9 steps.
  bool found = false;
  for (const auto& t : e["trials"]) {
    if (t["id"] != "8b008d15e44e219f") continue;
    found = true;
    CHECK(t["x"] == json({1.0, 3.0, 9.0}));
    CHECK(t["y"][2].get<double>() == Approx(-3.0617334775073783));
  }
  CHECK(found);
  // A sweep without a scheduler has no such section.
  CHECK(maskcnn_data()["early_stopping"].is_null());
}
