// Enumeration order, random draws, repeats and stable ids.
#include "catch.hpp"

#include <cmath>
#include <set>

#include "engine/search_registry.hpp"
#include "models/quadratic.hpp"
#include "sweeps/spec.hpp"

using nlohmann::json;

namespace {
ns::sweeps::SweepSpec parse(const std::string& text) {
  static const auto f = ns::models::quadratic_family();
  return ns::engine::parse_spec(json::parse(text), "t.json", f->schema());
}
}  // namespace

TEST_CASE("grid enumerates the cartesian product, last key fastest", "[enumerate]") {
  auto s = parse(R"({"family":"quadratic","grid":{"x":[1.0,2.0],"y":[3.0,4.0,5.0]},"metric":"score","mode":"max"})");
  auto t = ns::sweeps::enumerate(s);
  REQUIRE(t.size() == 6);
  CHECK(t[0].params["x"] == 1.0);
  CHECK(t[0].params["y"] == 3.0);
  CHECK(t[1].params["y"] == 4.0);
  CHECK(t[3].params["x"] == 2.0);
  for (int i = 0; i < 6; ++i) CHECK(t[i].index == i);
}

TEST_CASE("repeats get distinct ids and seeds; ids do not depend on key order", "[enumerate]") {
  auto a = parse(R"({"family":"quadratic","grid":{"x":[1.0,2.0]},"repeats":3,"metric":"score","mode":"max"})");
  auto b = parse(R"({"mode":"max","metric":"score","repeats":3,"grid":{"x":[1.0,2.0]},"family":"quadratic"})");
  auto ta = ns::sweeps::enumerate(a), tb = ns::sweeps::enumerate(b);
  REQUIRE(ta.size() == 6);
  std::set<std::string> ids;
  std::set<std::uint64_t> seeds;
  for (size_t i = 0; i < ta.size(); ++i) {
    CHECK(ta[i].id == tb[i].id);
    CHECK(ta[i].id.size() == 16);
    ids.insert(ta[i].id);
    seeds.insert(ta[i].seed);
  }
  CHECK(ids.size() == 6);
  CHECK(seeds.size() == 6);
  CHECK(ta[0].repeat == 0);
  CHECK(ta[2].repeat == 2);
}

TEST_CASE("trial ids are stable across builds (golden value)", "[enumerate]") {
  // Changing this value would orphan every existing results.csv: resumes would rerun all.
  CHECK(ns::sweeps::trial_id("quadratic", json::object(), json{{"x", 1.0}}, 0) ==
        ns::sweeps::trial_id("quadratic", json::object(), json{{"x", 1.0}}, 0));
  CHECK(ns::sweeps::trial_id("quadratic", json::object(), json{{"x", 1.0}}, 0) !=
        ns::sweeps::trial_id("quadratic", json::object(), json{{"x", 1.0}}, 1));
  CHECK(ns::sweeps::trial_id("quadratic", json::object(), json{{"x", 1.0}}, 0) == "a502b2e9624636f3");
}

TEST_CASE("random search draws within bounds, deterministically by seed", "[enumerate]") {
  const char* text = R"({"family":"quadratic","random":{"count":50,"params":{
      "x":{"dist":"uniform","low":-1,"high":1},
      "y":{"dist":"log_uniform","low":0.001,"high":10},
      "k":{"dist":"int","low":2,"high":4},
      "shape":{"dist":"choice","values":["bowl","nan"]}}},
      "seed": 7, "metric":"score","mode":"max"})";
  auto t1 = ns::sweeps::enumerate(parse(text));
  auto t2 = ns::sweeps::enumerate(parse(text));
  REQUIRE(t1.size() == 50);
  std::set<long> ks;
  std::set<std::string> shapes;
  for (size_t i = 0; i < t1.size(); ++i) {
    CHECK(t1[i].params == t2[i].params);
    double x = t1[i].params["x"], y = t1[i].params["y"];
    CHECK(x >= -1);
    CHECK(x < 1);
    CHECK(y >= 0.001);
    CHECK(y < 10);
    ks.insert(t1[i].params["k"].get<long>());
    shapes.insert(t1[i].params["shape"].get<std::string>());
  }
  CHECK(ks == std::set<long>{2, 3, 4});
  CHECK(shapes.size() == 2);
  auto other = parse(std::string(text).replace(std::string(text).find("\"seed\": 7"), 9, "\"seed\": 8"));
  CHECK(ns::sweeps::enumerate(other)[0].params["x"] != t1[0].params["x"]);
}

TEST_CASE("grid combined with random: each grid point gets count samples", "[enumerate]") {
  auto s = parse(R"({"family":"quadratic","grid":{"k":[0,1]},"random":{"count":3,"params":{"x":{"dist":"uniform","low":0,"high":1}}},"repeats":2,"metric":"score","mode":"max"})");
  CHECK(ns::sweeps::enumerate(s).size() == 12);
}
