// Spec parsing: every malformed spec gets an exact message naming the JSON path.
#include "catch.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/json.hpp"
#include "engine/search_registry.hpp"
#include "models/quadratic.hpp"
#include "sweeps/spec.hpp"

using nlohmann::json;
using ns::engine::parse_spec;

namespace {

const ns::sweeps::FamilySchema& schema() {
  static const auto f = ns::models::quadratic_family();
  return f->schema();
}

json good() {
  return json::parse(R"({"family": "quadratic", "grid": {"x": [0.0, 1.0]}, "metric": "score", "mode": "max"})");
}

std::string error_of(const json& j) {
  try {
    parse_spec(j, "s.json", schema());
  } catch (const ns::Error& e) {
    CHECK(e.exit_code() == 2);
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("a valid spec parses with defaults filled in", "[spec]") {
  auto s = parse_spec(good(), "dir/s.json", schema());
  CHECK(s.name == "s");
  CHECK(s.out == "runs/s");
  CHECK(s.repeats == 1);
  CHECK(s.base.at("y") == 0.0);
  CHECK(s.varied() == std::vector<std::string>{"x"});
  CHECK(s.param_names().size() == 9);
}

TEST_CASE("malformed specs name the JSON path and what is allowed", "[spec]") {
  struct Case {
    const char* what;
    std::function<void(json&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"unknown top-level key", [](json& j) { j["grdi"] = json::object(); },
       "s.json: $.grdi: unknown key; allowed: name, family, data, fixed, training, grid, random, repeats, folds, warm_start, seed, metric, mode, out, retries, trial_timeout_s, pack, scheduler, search, budget"},
      {"unknown parameter in grid", [](json& j) { j["grid"]["z"] = {1.0}; },
       "s.json: $.grid.z: unknown parameter 'z' of family 'quadratic'; allowed: fail_first_n, fail_prob, k, noise, shape, sleep_s, sleep_sigma, x, y"},
      {"empty grid list", [](json& j) { j["grid"]["x"] = json::array(); },
       "s.json: $.grid.x: expected a non-empty array of values, got []"},
      {"grid value not a list", [](json& j) { j["grid"]["x"] = 1.0; },
       "s.json: $.grid.x: expected a non-empty array of values, got 1.0"},
      {"wrong type in grid", [](json& j) { j["grid"]["x"] = {0.0, "one"}; },
       "s.json: $.grid.x[1]: expected a number for 'x', got \"one\""},
      {"non-integer for an integer parameter", [](json& j) { j["grid"]["k"] = {1, 2.5}; },
       "s.json: $.grid.k[1]: expected an integer for 'k', got 2.5"},
      {"negative repeats", [](json& j) { j["repeats"] = -1; },
       "s.json: $.repeats: expected an integer in [1, 1000000], got -1"},
      {"missing metric", [](json& j) { j.erase("metric"); },
       "s.json: $.metric: required key is missing; one of score, loss, slept_s"},
      {"unknown metric", [](json& j) { j["metric"] = "acc"; },
       "s.json: $.metric: unknown metric 'acc' of family 'quadratic'; allowed: score, loss, slept_s"},
      {"bad mode", [](json& j) { j["mode"] = "maximum"; },
       "s.json: $.mode: expected one of \"max\", \"min\", got \"maximum\""},
      {"fixed and searched", [](json& j) { j["fixed"] = {{"x", 2.0}}; },
       "s.json: $.grid.x: also set in $.fixed or $.training; a parameter is either fixed or searched"},
      {"unknown training setting", [](json& j) { j["training"] = {{"x", 2.0}}; },
       "s.json: $.training.x: unknown training setting 'x' of family 'quadratic'; allowed: fail_first_n, fail_prob, noise, sleep_s, sleep_sigma"},
      {"random count zero", [](json& j) { j["random"] = {{"count", 0}, {"params", {{"y", {{"dist", "uniform"}, {"low", 0}, {"high", 1}}}}}}; },
       "s.json: $.random.count: expected an integer in [1, 1000000], got 0"},
      {"unknown distribution", [](json& j) { j["random"] = {{"count", 2}, {"params", {{"y", {{"dist", "normal"}, {"low", 0}, {"high", 1}}}}}}; },
       "s.json: $.random.params.y.dist: unknown distribution 'normal'; allowed: uniform, log_uniform, int, choice"},
      {"log_uniform with low <= 0", [](json& j) { j["random"] = {{"count", 2}, {"params", {{"y", {{"dist", "log_uniform"}, {"low", 0}, {"high", 1}}}}}}; },
       "s.json: $.random.params.y.low: log_uniform needs low > 0, got 0"},
      {"low above high", [](json& j) { j["random"] = {{"count", 2}, {"params", {{"y", {{"dist", "uniform"}, {"low", 2}, {"high", 1}}}}}}; },
       "s.json: $.random.params.y: expected low < high, got low 2 and high 1"},
      {"uniform on an integer parameter", [](json& j) { j["random"] = {{"count", 2}, {"params", {{"k", {{"dist", "uniform"}, {"low", 0}, {"high", 3}}}}}}; },
       "s.json: $.random.params.k.dist: 'k' takes an integer; use \"int\" or \"choice\""},
      {"duplicate grid value", [](json& j) { j["grid"]["x"] = {1.0, 1}; },
       "s.json: $.grid.x[1]: duplicate value 1.0"},
      {"family not a string", [](json& j) { j["family"] = 3; },
       "s.json: $.family: expected a non-empty string, got 3"},
      {"negative timeout", [](json& j) { j["trial_timeout_s"] = -5; },
       "s.json: $.trial_timeout_s: expected a finite number >= 0, got -5"},
      {"pack of 0", [](json& j) { j["pack"] = 0; },
       "s.json: $.pack: expected an integer in [1, 256], got 0"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    json j = good();
    c.edit(j);
    CHECK(error_of(j) == c.message);
  }
  CHECK(cases.size() >= 12);
}

TEST_CASE("a spec that is not an object is refused", "[spec]") {
  CHECK(error_of(json::array()) == "s.json: $: the spec must be a JSON object, got an array");
}

TEST_CASE("a sweep's name must be a safe directory name under runs/", "[spec]") {
  const std::string rule =
      "a name of letters, digits, '.', '_', '-' (at most 200, not starting with '.'; the "
      "output directory is runs/<name>)";
  for (const std::string& bad : std::vector<std::string>{"../../x", "..", ".", ".hidden", "a/b", "/etc", "a\\b", "",
                                "two words", "caf\u00e9", std::string(201, 'a')}) {
    INFO(bad);
    json j = good();
    j["name"] = bad;
    CHECK(error_of(j) == "s.json: $.name: expected " + rule + ", got " + ns::core::shown(json(bad)));
  }
  json j = good();
  j["name"] = 7;
  CHECK(error_of(j).find("s.json: $.name: ") == 0);
  for (const std::string& ok : std::vector<std::string>{"lee8k_grid", "v1.2-final", "A_b.c-9", std::string(200, 'a')}) {
    json g = good();
    g["name"] = ok;
    CHECK(parse_spec(g, "s.json", schema()).name == ok);
    CHECK(parse_spec(g, "s.json", schema()).out == "runs/" + ok);
  }
  // Without "name" the file's stem is the name, under the same rule.
  CHECK(parse_spec(good(), "dir/my-sweep.v2.json", schema()).name == "my-sweep.v2");
  try {
    parse_spec(good(), "dir/.hidden.json", schema());
    FAIL("a stem starting with '.' was accepted");
  } catch (const ns::Error& e) {
    CHECK(std::string(e.what()) == "dir/.hidden.json: $.name: required here: the file name gives "
                                   "\".hidden\", and expected " + rule + "; add \"name\"");
    CHECK(e.exit_code() == 2);
  }
}

TEST_CASE("ints given for float parameters are normalised so ids agree", "[spec]") {
  json a = good(), b = good();
  b["grid"]["x"] = {0, 1};
  auto ta = ns::sweeps::enumerate(parse_spec(a, "s.json", schema()));
  auto tb = ns::sweeps::enumerate(parse_spec(b, "s.json", schema()));
  REQUIRE(ta.size() == tb.size());
  for (size_t i = 0; i < ta.size(); ++i) CHECK(ta[i].id == tb[i].id);
}

TEST_CASE("a spec with more than a million trials is refused", "[spec]") {
  json j = good();
  std::vector<double> v(100);
  for (int i = 0; i < 100; ++i) v[i] = i;
  j["grid"] = {{"x", v}, {"y", v}, {"noise", v}, {"sleep_s", v}};
  CHECK(error_of(j) == "s.json: $: the sweep has 100000000 trials; at most 1000000 are allowed in one spec (split it)");
  // The cap itself is allowed; one more grid point x 2 repeats is not.
  j["grid"] = {{"x", v}, {"y", v}, {"noise", v}};
  CHECK_NOTHROW(parse_spec(j, "s.json", schema()));
  j["grid"]["x"].push_back(100.0);
  j["repeats"] = 2;
  CHECK(error_of(j) == "s.json: $: the sweep has 2020000 trials; at most 1000000 are allowed in one spec (split it)");
}

TEST_CASE("enumerated ids are the hash of the whole canonical dump", "[spec]") {
  // enumerate hashes the text before the params once per sweep; the ids must stay those of
  // json{family, data, params, repeat}.dump() (sweeps written earlier resume by them).
  json j = good();
  j["repeats"] = 2;
  j["random"] = {{"count", 3}, {"params", {{"y", {{"dist", "choice"}, {"values", {1.0, 2.0}}}}}}};
  auto spec = parse_spec(j, "s.json", schema());
  spec.data = {{"dir", "d\"\u00e9\\"}, {"n", 3}};  // escapes and non-ASCII in the prefix
  const auto trials = ns::sweeps::enumerate(spec);
  REQUIRE(trials.size() == 2 * 3 * 2);
  for (const auto& t : trials) {
    const json canon = {{"family", spec.family}, {"data", spec.data}, {"params", t.params},
                        {"repeat", t.repeat}};
    CHECK(t.id == fmt::format("{:016x}", ns::core::fnv1a(canon.dump())));
    CHECK(t.id == ns::sweeps::trial_id(spec.family, spec.data, t.params, t.repeat));
  }
}

TEST_CASE("a TPE search: its block's defaults, and only the startup draws are enumerated",
          "[spec]") {
  json random = json::parse(R"({"family": "quadratic", "metric": "score", "mode": "max",
      "random": {"count": 30, "params": {"x": {"dist": "uniform", "low": -5, "high": 5},
                                         "k": {"dist": "int", "low": 0, "high": 3}}}})");
  json tpe = random;
  tpe["search"] = {{"kind", "tpe"}, {"startup", 7}};
  const auto r = parse_spec(random, "s.json", schema());
  const auto t = parse_spec(tpe, "s.json", schema());
  CHECK(t.search_word == "tpe");
  const auto& ts = t.options_as<ns::engine::TpeSpec>();
  CHECK(ts.startup == 7);
  CHECK(ts.candidates == 24);
  CHECK(ts.gamma == 0.1);
  CHECK(ts.gamma_max == 25);
  CHECK(ts.prior_weight == 1.0);
  const auto rt = ns::sweeps::enumerate(r), tt = ns::sweeps::enumerate(t);
  REQUIRE(rt.size() == 30);
  REQUIRE(tt.size() == 7);
  for (int i = 0; i < 7; ++i) CHECK(tt[i].id == rt[i].id);  // the random search's first draws
  json bad = tpe;
  bad["search"]["gamma"] = 0;
  CHECK(error_of(bad) == "s.json: $.search.gamma: expected a finite number in (0, 1], got 0");
  bad = tpe;
  bad["scheduler"] = {{"kind", "median"}, {"resource", "steps"}, {"min", 1}, {"max", 9}, {"every", 1}};
  CHECK(error_of(bad) == "s.json: $.scheduler.kind: \"search\" combines with \"asha\" only (TPE + ASHA)");
}
