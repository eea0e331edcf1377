#include "sweeps/spec.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/json.hpp"
#include "core/json_text.hpp"

namespace ns::sweeps {
namespace {

using nlohmann::json;

// A sweep's name becomes the directory runs/<name> (core::is_plain_name).
bool valid_name(const std::string& name) { return core::is_plain_name(name); }

const char* type_name(const json& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "an integer";
  if (v.is_number_float()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

/// What a parameter's default says about the values it accepts.
const char* expected_type(const json& def) {
  if (def.is_boolean()) return "a boolean";
  if (def.is_number_integer() || def.is_number_unsigned()) return "an integer";
  if (def.is_number()) return "a number";
  if (def.is_string()) return "a string";
  return "any JSON value";
}


// The most trials one spec may hold: every trial is enumerated and held with its parameters
// (about 2 KB each for the 9 parameters of the quadratic family, 7 KB for 25): at 1,000,000
// `plan` and the start of `run` took 12-15 s and 2.2 GB, or 34-44 s and 7.4 GB with 25
// parameters (bench/plan_sizes.sh, docs/performance.md "Large sweeps").
constexpr double kMaxTrials = kMaxSpecTrials;

class Parser final : public SpecBlocks::Checks {
 public:
  Parser(const std::string& source, const FamilySchema& schema,
         const std::vector<SearchKindParser>& kinds)
      : src_(source), schema_(schema), kinds_(kinds) {
    for (auto& [k, v] : schema.model_defaults.items()) defaults_[k] = v;
    for (auto& [k, v] : schema.training_defaults.items()) defaults_[k] = v;
  }

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw Error(fmt::format("{}: {}: {}", src_, path, what));
  }

  std::string param_list() const {
    std::vector<std::string> names;
    for (auto& [k, v] : defaults_.items()) names.push_back(k);
    return fmt::format("{}", fmt::join(names, ", "));
  }

  void require_param(const std::string& path, const std::string& name) const override {
    if (!defaults_.contains(name)) {
      fail(path, fmt::format("unknown parameter '{}' of family '{}'; allowed: {}", name,
                             schema_.name, param_list()));
    }
  }

  /// Type-checks `v` against the default of `name`; returns it normalised (floats as doubles)
  /// so equal values always hash to the same trial id.
  json check_value(const std::string& path, const std::string& name, const json& v) const override {
    const json& def = defaults_.at(name);
    const bool nullable = std::find(schema_.nullable.begin(), schema_.nullable.end(), name) !=
                          schema_.nullable.end();
    if (v.is_null()) {
      if (nullable) return v;
      fail(path, fmt::format("expected {} for '{}', got null", expected_type(def), name));
    }
    if (def.is_boolean()) {
      if (!v.is_boolean()) fail(path, fmt::format("expected a boolean (true/false) for '{}', got {}", name, core::shown(v)));
      return v;
    }
    if (def.is_number_integer() || def.is_number_unsigned()) {
      if (!v.is_number() || !core::is_integral(v))
        fail(path, fmt::format("expected an integer for '{}', got {}", name, core::shown(v)));
      return json(static_cast<std::int64_t>(v.get<double>()));
    }
    if (def.is_number() || (def.is_null() && v.is_number())) {
      if (!v.is_number()) fail(path, fmt::format("expected a number for '{}', got {}", name, core::shown(v)));
      double d = v.get<double>();
      if (!std::isfinite(d)) fail(path, fmt::format("expected a finite number for '{}'", name));
      return json(d);
    }
    if (def.is_string()) {
      if (!v.is_string()) fail(path, fmt::format("expected a string for '{}', got {}", name, core::shown(v)));
      return v;
    }
    return v;  // a null default (nullable) with a non-number value: the family checks it
  }

  /// The spec's top-level members, named "<file>: $.<key>" in messages.
  core::JsonFields top(const json& j) const { return core::JsonFields(j, src_ + ": $"); }

  std::string required_string(const json& j, const std::string& key, const std::string& hint) const {
    if (!j.contains(key)) fail("$." + key, fmt::format("required key is missing; {}", hint));
    return top(j).string(key, "", /*non_empty=*/true);
  }

  const json& object_at(const json& j, const std::string& key) const { return top(j).object(key); }

  /// The kind word of a "scheduler" or "search" block, one of the registered kinds' words.
  std::string kind_word(const json& block, const std::string& key, bool scheduler) const {
    std::vector<std::string> words;
    for (const auto& k : kinds_) {
      const char* w = scheduler ? k.scheduler_word : k.search_word;
      if (w != nullptr && std::find(words.begin(), words.end(), w) == words.end()) words.push_back(w);
    }
    const core::JsonFields f(block, src_ + ": $." + key);
    if (!f.has("kind"))
      fail("$." + key + ".kind", fmt::format("required key is missing; {}", or_list(words)));
    return f.choice("kind", "", words);
  }

  static std::string or_list(const std::vector<std::string>& words) {
    std::string out;
    for (size_t i = 0; i < words.size(); ++i)
      out += fmt::format("{}\"{}\"", i == 0 ? "" : i + 1 == words.size() ? " or " : ", ", words[i]);
    return out;
  }

  /// The search kind the blocks name, parsed by its own parser: the kind registered for both
  /// words, else the one for the "search" word alone (whose parser refuses the "scheduler" block
  /// with its own message).
  void parse_search_kind(const json& j, SweepSpec& s) const {
    const json* sched = j.contains("scheduler") ? &object_at(j, "scheduler") : nullptr;
    const json* search = j.contains("search") ? &object_at(j, "search") : nullptr;
    if (sched == nullptr && search == nullptr) return;
    if (sched) s.scheduler_word = kind_word(*sched, "scheduler", true);
    if (search) s.search_word = kind_word(*search, "search", false);
    const SearchKindParser* kind = nullptr;
    for (const auto& k : kinds_)
      if (k.selects(s.scheduler_word, s.search_word)) kind = &k;
    if (kind == nullptr && search)
      for (const auto& k : kinds_)
        if (k.selects("", s.search_word)) kind = &k;
    if (kind == nullptr)
      fail("$.scheduler.kind", fmt::format("\"{}\" does not combine with \"search\": \"{}\"",
                                           s.scheduler_word, s.search_word));
    s.search_options = kind->parse(SpecBlocks(s, schema_, sched, search, *this));
    if (sched && kind->scheduler_word == nullptr)
      fail("$.scheduler", fmt::format("cannot be combined with \"search\": \"{}\"", s.search_word));
  }

  Distribution parse_dist(const std::string& path, const std::string& name, const json& d) const {
    if (!d.is_object())
      fail(path, fmt::format("expected an object like {{\"dist\": \"uniform\", \"low\": 0, \"high\": 1}}, got {}", core::shown(d)));
    static const std::vector<std::string> kinds = {"uniform", "log_uniform", "int", "choice"};
    if (!d.contains("dist") || !d.at("dist").is_string())
      fail(path + ".dist", fmt::format("required string; one of {}", fmt::join(kinds, ", ")));
    Distribution out;
    const std::string word = d.at("dist").get<std::string>();
    if (std::find(kinds.begin(), kinds.end(), word) == kinds.end())
      fail(path + ".dist", fmt::format("unknown distribution '{}'; allowed: {}", word, fmt::join(kinds, ", ")));
    out.kind = word == "uniform"       ? DistKind::kUniform
               : word == "log_uniform" ? DistKind::kLogUniform
               : word == "int"         ? DistKind::kInt
                                       : DistKind::kChoice;
    if (out.kind == DistKind::kChoice) {
      for (auto& [k, v] : d.items())
        if (k != "dist" && k != "values") fail(path + "." + k, "unknown key; allowed for 'choice': dist, values");
      if (!d.contains("values") || !d.at("values").is_array() || d.at("values").empty())
        fail(path + ".values", "expected a non-empty array of values");
      int i = 0;
      for (const json& v : d.at("values")) {
        out.choices.push_back(check_value(fmt::format("{}.values[{}]", path, i++), name, v));
      }
      return out;
    }
    for (auto& [k, v] : d.items())
      if (k != "dist" && k != "low" && k != "high")
        fail(path + "." + k, fmt::format("unknown key; allowed for '{}': dist, low, high", word));
    for (const char* b : {"low", "high"}) {
      if (!d.contains(b) || !d.at(b).is_number()) fail(path + "." + b, "expected a number");
    }
    out.low = d.at("low").get<double>();
    out.high = d.at("high").get<double>();
    if (!(out.low < out.high) && !(out.kind == DistKind::kInt && out.low == out.high))
      fail(path, fmt::format("expected low < high, got low {} and high {}", out.low, out.high));
    if (out.kind == DistKind::kLogUniform && out.low <= 0)
      fail(path + ".low", fmt::format("log_uniform needs low > 0, got {}", out.low));
    if (out.kind == DistKind::kInt) {
      if (!core::is_integral(d.at("low")) || !core::is_integral(d.at("high")))
        fail(path, "int needs integer low and high");
    }
    // The sampled value's type must suit the parameter.
    const json& def = defaults_.at(name);
    const bool wants_int = def.is_number_integer() || def.is_number_unsigned();
    if (!def.is_number() && !def.is_null())
      fail(path + ".dist", fmt::format("'{}' takes {}; use \"choice\" for it", name, expected_type(def)));
    if (wants_int && out.kind != DistKind::kInt)
      fail(path + ".dist", fmt::format("'{}' takes an integer; use \"int\" or \"choice\"", name));
    return out;
  }

  SweepSpec parse(const json& j) const {
    if (!j.is_object()) throw Error(fmt::format("{}: $: the spec must be a JSON object, got {}", src_, type_name(j)));
    const auto& keys = spec_keys();
    for (auto& [k, v] : j.items()) {
      if (std::find(keys.begin(), keys.end(), k) == keys.end() && k != schema_.name)
        fail("$." + k, fmt::format("unknown key; allowed: {}", fmt::join(keys, ", ")));
    }
    SweepSpec s;
    s.source = src_;
    s.raw = j;
    const core::JsonFields f = top(j);
    s.family = required_string(j, "family", "name a model family");
    constexpr const char* kNameRule =
        "a name of letters, digits, '.', '_', '-' (at most 200, not starting with '.'; the "
        "output directory is runs/<name>)";
    if (j.contains("name")) {
      s.name = f.string("name", "");
      if (!valid_name(s.name))
        fail("$.name", fmt::format("expected {}, got {}", kNameRule, core::shown(j.at("name"))));
    } else {
      std::string stem = src_.substr(src_.find_last_of('/') + 1);
      s.name = stem.substr(0, stem.rfind('.'));
      if (!valid_name(s.name))
        fail("$.name", fmt::format("required here: the file name gives {}, and expected {}; add "
                                   "\"name\"",
                                   core::shown(json(s.name)), kNameRule));
    }
    s.data = j.contains("data") ? object_at(j, "data") : json::object();
    if (j.contains(schema_.name)) s.options = object_at(j, schema_.name);
    s.base = defaults_;

    std::set<std::string> fixed_names;
    if (j.contains("fixed")) {
      for (auto& [k, v] : object_at(j, "fixed").items()) {
        require_param("$.fixed." + k, k);
        s.base[k] = check_value("$.fixed." + k, k, v);
        fixed_names.insert(k);
      }
    }
    if (j.contains("training")) {
      for (auto& [k, v] : object_at(j, "training").items()) {
        if (!schema_.training_defaults.contains(k)) {
          std::vector<std::string> names;
          for (auto& [t, d] : schema_.training_defaults.items()) names.push_back(t);
          fail("$.training." + k, fmt::format("unknown training setting '{}' of family '{}'; allowed: {}", k, schema_.name, fmt::join(names, ", ")));
        }
        if (fixed_names.count(k)) fail("$.training." + k, "also set in $.fixed; set it once");
        s.base[k] = check_value("$.training." + k, k, v);
        fixed_names.insert(k);
      }
    }
    std::set<std::string> searched;
    if (j.contains("grid")) {
      for (auto& [k, v] : object_at(j, "grid").items()) {
        const std::string path = "$.grid." + k;
        require_param(path, k);
        if (fixed_names.count(k)) fail(path, "also set in $.fixed or $.training; a parameter is either fixed or searched");
        if (!v.is_array()) fail(path, fmt::format("expected a non-empty array of values, got {}", core::shown(v)));
        if (v.empty()) fail(path, "expected a non-empty array of values, got []");
        std::vector<json> values;
        for (size_t i = 0; i < v.size(); ++i) {
          json val = check_value(fmt::format("{}[{}]", path, i), k, v[i]);
          if (std::find(values.begin(), values.end(), val) != values.end())
            fail(fmt::format("{}[{}]", path, i), fmt::format("duplicate value {}", core::shown(val)));
          values.push_back(val);
        }
        s.grid.emplace_back(k, std::move(values));
        searched.insert(k);
      }
    }
    if (j.contains("random")) {
      const json& r = object_at(j, "random");
      for (auto& [k, v] : r.items())
        if (k != "count" && k != "params") fail("$.random." + k, "unknown key; allowed: count, params");
      if (!r.contains("count")) fail("$.random.count", "required: the number of random samples (an integer >= 1)");
      s.random_count = static_cast<int>(core::JsonFields(r, src_ + ": $.random")
                                            .integer("count", 1, core::Interval::closed(1, kMaxTrials)));
      if (!r.contains("params") || !r.at("params").is_object() || r.at("params").empty())
        fail("$.random.params", "expected a non-empty object of parameter -> distribution");
      for (auto& [k, d] : r.at("params").items()) {
        const std::string path = "$.random.params." + k;
        require_param(path, k);
        if (fixed_names.count(k)) fail(path, "also set in $.fixed or $.training; a parameter is either fixed or searched");
        if (searched.count(k)) fail(path, "also in $.grid; a parameter is searched one way");
        s.random.emplace_back(k, parse_dist(path, k, d));
      }
    }
    s.repeats = static_cast<int>(f.integer("repeats", 1, core::Interval::closed(1, kMaxTrials)));
    s.folds = static_cast<int>(f.integer("folds", 0, core::Interval::closed(2, 100)));
    s.seed = static_cast<std::uint64_t>(f.integer("seed", 0, core::Interval::at_least(0)));
    s.retries = static_cast<int>(f.integer("retries", 0, core::Interval::closed(0, 1000)));
    s.trial_timeout_s = f.number("trial_timeout_s", 0, core::Interval::at_least(0));
    s.pack = static_cast<int>(f.integer("pack", 1, core::Interval::closed(1, 256)));
    if (j.contains("warm_start")) {
      const json& w = j.at("warm_start");
      if (!w.is_array() || w.empty() || w.size() > 100)
        fail("$.warm_start", fmt::format("expected an array of 1 to 100 output directories of "
                                         "earlier sweeps, got {}", core::shown(w)));
      for (std::size_t i = 0; i < w.size(); ++i) {
        const std::string path = fmt::format("$.warm_start[{}]", i);
        if (!w[i].is_string() || w[i].get<std::string>().empty())
          fail(path, fmt::format("expected a directory (a non-empty string), got {}", core::shown(w[i])));
        if (std::count(s.warm_start.begin(), s.warm_start.end(), w[i].get<std::string>()))
          fail(path, "named twice");
        s.warm_start.push_back(w[i].get<std::string>());
      }
    }
    parse_search_kind(j, s);
    if (!s.warm_start.empty() && s.search_options && !s.search_options->takes_warm_start())
      fail("$.warm_start", "works with TPE (\"search\": {\"kind\": \"tpe\"}, with or without ASHA: "
                           "the earlier sweeps' results become its prior observations) and with a "
                           "grid or random list without \"scheduler\" (trials an earlier sweep of the "
                           "same inputs finished are reused)");
    if (j.contains("budget")) {
      const json& b = object_at(j, "budget");
      for (auto& [k, v] : b.items())
        if (k != "trial_seconds" && k != "resource")
          fail("$.budget." + k, "unknown key; allowed: trial_seconds, resource");
      if (!b.contains("trial_seconds") && !b.contains("resource"))
        fail("$.budget", "expected \"trial_seconds\" (seconds of training in all, > 0) or "
                         "\"resource\" (the scheduler's resource in all, > 0), or both");
      core::JsonFields bf(b, src_ + ": $.budget");
      s.budget_trial_s = bf.number("trial_seconds", 0, core::Interval::above(0));
      s.budget_resource = bf.number("resource", 0, core::Interval::above(0));
      if (s.budget_resource > 0 && !s.has_scheduler())
        fail("$.budget.resource", "needs a \"scheduler\" block: the budget counts the "
                                  "scheduler's resource (iterations, epochs, steps) given to trials");
    }
    s.metric = required_string(j, "metric", fmt::format("one of {}", fmt::join(schema_.metrics, ", ")));
    if (std::find(schema_.metrics.begin(), schema_.metrics.end(), s.metric) == schema_.metrics.end())
      fail("$.metric", fmt::format("unknown metric '{}' of family '{}'; allowed: {}", s.metric, schema_.name, fmt::join(schema_.metrics, ", ")));
    if (!j.contains("mode")) fail("$.mode", "required key is missing; \"max\" or \"min\"");
    const std::string mode = f.choice("mode", "", {"max", "min"});
    s.mode = mode == "max" ? Mode::kMax : Mode::kMin;
    double total = s.replicates() * static_cast<double>(s.random.empty() ? 1 : s.random_count);
    for (auto& g : s.grid) total *= static_cast<double>(g.second.size());
    if (total > kMaxTrials)
      fail("$", fmt::format("the sweep has {:.0f} trials; at most {} are allowed in one spec (split it)", total, kMaxTrials));
    s.out = f.string("out", "");
    if (s.out.empty()) s.out = "runs/" + s.name;
    return s;
  }

 private:
  std::string src_;
  const FamilySchema& schema_;
  const std::vector<SearchKindParser>& kinds_;
  json defaults_ = json::object();
};

using core::fnv1a;
using core::splitmix64;

/// A uniform double in [0, 1) that is the same on every platform and standard library.
double unit_draw(std::uint64_t seed, int grid_index, int sample, const std::string& name) {
  std::uint64_t h = fnv1a(fmt::format("{}/{}/{}/{}", seed, grid_index, sample, name));
  return core::unit_double(splitmix64(h));
}

}  // namespace

const char* dist_word(DistKind kind) {
  switch (kind) {
    case DistKind::kUniform: return "uniform";
    case DistKind::kLogUniform: return "log_uniform";
    case DistKind::kInt: return "int";
    case DistKind::kChoice: return "choice";
  }
  return "?";
}

json draw(const Distribution& d, double u) {
  if (d.kind == DistKind::kUniform) return json(d.low + u * (d.high - d.low));
  if (d.kind == DistKind::kLogUniform) return json(std::exp(std::log(d.low) + u * (std::log(d.high) - std::log(d.low))));
  if (d.kind == DistKind::kInt) {
    auto lo = static_cast<std::int64_t>(d.low), hi = static_cast<std::int64_t>(d.high);
    return json(std::min(hi, lo + static_cast<std::int64_t>(u * static_cast<double>(hi - lo + 1))));
  }
  auto i = std::min(d.choices.size() - 1, static_cast<size_t>(u * d.choices.size()));
  return d.choices[i];
}


const std::vector<std::string>& spec_keys() {
  static const std::vector<std::string> keys = {
      "name", "family", "data", "fixed", "training", "grid", "random", "repeats", "folds", "warm_start",
      "seed", "metric", "mode", "out", "retries", "trial_timeout_s", "pack", "scheduler", "search",
      "budget"};
  return keys;
}

std::vector<std::string> SweepSpec::varied() const {
  std::vector<std::string> v;
  for (auto& g : grid) v.push_back(g.first);
  for (auto& r : random) v.push_back(r.first);
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::string> SweepSpec::param_names() const {
  std::vector<std::string> v;
  for (auto& [k, val] : base.items()) v.push_back(k);
  return v;  // json objects are sorted by key
}

std::string spec_family(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw Error(fmt::format("{}: $: the spec must be a JSON object, got {}", source, type_name(j)));
  if (!j.contains("family")) throw Error(fmt::format("{}: $.family: required key is missing; name a model family", source));
  return core::JsonFields(j, source + ": $").string("family", "", /*non_empty=*/true);
}

SweepSpec parse_spec_with(const nlohmann::json& j, const std::string& source,
                          const FamilySchema& schema, const std::vector<SearchKindParser>& kinds) {
  return Parser(source, schema, kinds).parse(j);
}

const std::string& SpecBlocks::source() const { return spec.source; }

void SpecBlocks::fail(const std::string& path, const std::string& what) const {
  throw Error(fmt::format("{}: {}: {}", spec.source, path, what));
}

void SpecBlocks::allow_keys(const nlohmann::json& block, const std::string& path,
                            const std::vector<std::string>& keys,
                            const std::string& for_what) const {
  for (auto& [k, v] : block.items())
    if (std::find(keys.begin(), keys.end(), k) == keys.end())
      fail(path + "." + k, fmt::format("unknown key{}; allowed: {}", for_what, fmt::join(keys, ", ")));
}

void SweepSpec::throw_options_mismatch() const {
  throw Error(fmt::format("internal: {}: the search kind's options are not of the type asked for",
                          source), kExitInternal);
}

nlohmann::json read_json_file(const std::string& path) {
  return core::read_json_file(path, core::JsonLimits::spec());
}

namespace {

/// trial_id in two steps: the FNV-1a state after the canonical text's part before the params
/// (`{"data":...,"family":...,"params":`), which a sweep's trials share, then the params' dump
/// and the repeat. The text is byte for byte what `json{{"family", f}, {"data", d},
/// {"params", p}, {"repeat", r}}.dump()` writes (an object's keys sorted, no spaces), so ids
/// are those of the whole dump without copying the params into it.
std::uint64_t id_prefix_hash(const std::string& family, const json& data) {
  return fnv1a(",\"params\":", fnv1a(json(family).dump(),
                                        fnv1a(",\"family\":", fnv1a(data.dump(), fnv1a("{\"data\":")))));
}

std::string finish_id(std::uint64_t after_params, int repeat, int fold = -1, int folds = 0) {
  if (folds > 1)
    return fmt::format("{:016x}", fnv1a(fmt::format(",\"repeat\":{},\"fold\":{},\"folds\":{}}}",
                                                    repeat, fold, folds),
                                        after_params));
  return fmt::format("{:016x}", fnv1a(fmt::format(",\"repeat\":{}}}", repeat), after_params));
}

/// The replicates of one configuration (params, after_params: its hash state), appended to
/// `out` with indices from out.size(); the last takes `params`.
void push_replicates(const SweepSpec& spec, json params, std::uint64_t after_params,
                     std::vector<Trial>& out) {
  const int K = spec.folds > 1 ? spec.folds : 1;
  const int n = spec.repeats * K;
  for (int j = 0; j < n; ++j) {
    Trial t;
    t.index = static_cast<int>(out.size());
    t.repeat = j / K;
    if (spec.folds > 1) {
      t.fold = j % K;
      t.folds = spec.folds;
      t.fold_seed = spec.seed;
    }
    t.id = finish_id(after_params, t.repeat, t.fold, t.folds);
    t.seed = trial_seed(spec.seed, t.id);
    if (j + 1 == n) t.params = std::move(params); else t.params = params;
    out.push_back(std::move(t));
  }
}

}  // namespace

std::vector<Trial> enumerate(const SweepSpec& spec) {
  // Grid points in mixed-radix order, last key fastest.
  size_t n_grid = 1;
  for (auto& [k, vals] : spec.grid) n_grid *= vals.size();
  // A search knows its startup draws in advance (the random search's first draws); it proposes
  // the others as results come in (engine/tpe_search.hpp).
  const int n_random = spec.random.empty() ? 1
                       : spec.search_options ? spec.search_options->listed_draws(spec.random_count)
                                             : spec.random_count;
  const std::uint64_t prefix = id_prefix_hash(spec.family, spec.data);
  std::vector<Trial> out;
  out.reserve(n_grid * static_cast<size_t>(n_random) * static_cast<size_t>(spec.replicates()));
  for (size_t g = 0; g < n_grid; ++g) {
    json point = spec.base;
    size_t rem = g;
    for (size_t k = spec.grid.size(); k-- > 0;) {
      const auto& vals = spec.grid[k].second;
      point[spec.grid[k].first] = vals[rem % vals.size()];
      rem /= vals.size();
    }
    for (int s = 0; s < n_random; ++s) {
      // Each trial owns its params: the last one of a grid point takes the point itself.
      json params;
      if (s + 1 == n_random) params = std::move(point); else params = point;
      for (auto& [name, dist] : spec.random) {
        params[name] = draw(dist, unit_draw(spec.seed, static_cast<int>(g), s, name));
      }
      const std::uint64_t after_params = fnv1a(params.dump(), prefix);  // once for all repeats
      push_replicates(spec, std::move(params), after_params, out);
    }
  }
  return out;
}

std::string trial_id(const std::string& family, const nlohmann::json& data,
                     const nlohmann::json& params, int repeat, int fold, int folds) {
  return finish_id(fnv1a(params.dump(), id_prefix_hash(family, data)), repeat, fold, folds);
}

std::string config_id(const std::string& family, const nlohmann::json& data,
                      const nlohmann::json& params) {
  return fmt::format("{:016x}", fnv1a(",\"configuration\":true}",
                                      fnv1a(params.dump(), id_prefix_hash(family, data))));
}

std::vector<Trial> replicates_of(const SweepSpec& spec, const Trial& config) {
  std::vector<Trial> out;
  const int n = spec.replicates();
  out.reserve(static_cast<std::size_t>(n));
  push_replicates(spec, config.params,
                  fnv1a(config.params.dump(), id_prefix_hash(spec.family, spec.data)), out);
  for (auto& t : out) {
    t.index += config.index * n;
    t.cost = config.cost;
    t.pack_key = config.pack_key;
  }
  return out;
}

std::uint64_t trial_seed(std::uint64_t sweep_seed, const std::string& id) {
  return splitmix64(fnv1a(id, splitmix64(sweep_seed))) & ((1ULL << 53) - 1);
}

}  // namespace ns::sweeps
