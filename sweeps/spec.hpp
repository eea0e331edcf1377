#pragma once
// Sweep specs: parsing and validation of the JSON file, deterministic trial enumeration and
// stable trial ids. Knows nothing of MPI or LibTorch.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sweeps/schema.hpp"

namespace ns::sweeps {

/// One random-search distribution ("dist": uniform | log_uniform | int | choice).
/// A "random" parameter's distribution, read once from its "dist" word.
enum class DistKind { kUniform, kLogUniform, kInt, kChoice };
/// The spec's word for `kind` ("uniform", "log_uniform", "int", "choice"), for messages.
const char* dist_word(DistKind kind);

struct Distribution {
  DistKind kind = DistKind::kUniform;
  double low = 0, high = 0;       ///< uniform, log_uniform; int uses them as inclusive bounds
  std::vector<nlohmann::json> choices;  ///< choice
};

enum class Mode { kMax, kMin };

/// The scheduler and search kinds, read once from the spec's words ("asha", "tpe", ...) and
/// compared as enums from there on.
enum class SchedulerKind { kAsha, kHyperband, kMedian };
enum class SearchKind { kTpe, kPbt, kSchedule };

/// The spec's "scheduler" block: early stopping (engine/asha.hpp).
struct SchedulerSpec {
  SchedulerKind kind = SchedulerKind::kAsha;  ///< "asha", "hyperband" or "median"
  std::string resource;  ///< the family's resource unit ("iterations", "epochs", "steps")
  double min = 0, max = 0, eta = 3;
  bool promotion = true;  ///< "variant": "promotion" (true) or "stopping"
  bool synchronous = false;
  /// "order": "shuffled" (true, the default) or "sweep": the order in which ASHA and Hyperband
  /// start new configurations (a shuffle seeded by the spec's seed; see engine/asha.hpp).
  bool shuffle = true;
  double every = 0;       ///< median: resource between two reports
  int min_samples = 3;    ///< median: finished trials needed before any stop
};

/// The spec's "search" block: how the "random" block's trials are chosen (engine/tpe_search.hpp).
/// Absent: independent random draws.
struct SearchSpec {
  SearchKind kind = SearchKind::kTpe;  ///< "tpe", "pbt" or "schedule"
  // TPE (engine/tpe_search.hpp)
  int startup = 10;          ///< random draws before TPE proposes (Optuna's n_startup_trials)
  int candidates = 24;       ///< draws from l(x) per proposal (n_ei_candidates)
  double gamma = 0.1;        ///< good fraction: gamma(n) = min(ceil(gamma n), gamma_max)
  int gamma_max = 25;
  double prior_weight = 1.0;
  // PBT (engine/pbt.hpp): the "random" block's draws are the initial population.
  int population = 0;        ///< members (the random block's count)
  double interval = 0;       ///< resource between two exploit/explore decisions
  double max = 0;            ///< resource at which members end (0: each trains to its own end)
  double quantile = 0.25;    ///< bottom / top fraction of the population
  std::vector<double> perturb = {0.8, 1.2};  ///< factors a perturbed number is multiplied by
  double resample_probability = 0.25;
  std::vector<std::string> mutables;  ///< the parameters explore changes (in $.random.params)
  // A fixed schedule (the replay of a PBT member's lineage): the spec's one trial trains to
  // each segment's `until`, pausing there, with the segment's parameters set from its start
  // on. The last segment's `until` ends the trial (0: the trial's own end).
  struct Segment {
    double until = 0;
    nlohmann::json params = nlohmann::json::object();  ///< changes from the previous segment
  };
  std::vector<Segment> segments;
};

/// A parsed, validated sweep spec.
struct SweepSpec {
  std::string source;            ///< file name, for messages
  nlohmann::json raw;            ///< the spec as written
  std::string name;
  std::string family;
  nlohmann::json data;           ///< dataset block, passed to the family as written
  nlohmann::json base;           ///< family defaults <- fixed <- training (flat)
  std::vector<std::pair<std::string, std::vector<nlohmann::json>>> grid;  ///< sorted by name
  int random_count = 0;
  std::vector<std::pair<std::string, Distribution>> random;  ///< sorted by name
  int repeats = 1;
  std::uint64_t seed = 0;
  std::string metric;
  Mode mode = Mode::kMax;
  std::string out;               ///< output directory ("" = runs/<name>)
  int retries = 0;               ///< re-runs of a failed trial
  double trial_timeout_s = 0;    ///< per-trial wall limit, 0 = none
  /// Trials of equal shapes trained together on one worker (HFTA packing; families that
  /// support it: maskcnn). 1 = one trial per worker. Not part of any trial's identity.
  int pack = 1;
  /// "budget": {"trial_seconds": X}: no trial starts once the trials' wall seconds reach X
  /// (0 = none); with a large random "count" it ends the sweep.
  double budget_trial_s = 0;
  /// "budget": {"resource": N} (with a "scheduler"): no trial starts, and no paused one is
  /// promoted, once the resource the scheduler gave trials reaches N (0 = none).
  double budget_resource = 0;
  /// The spec's block named after its family ("command": {...}), for families whose schema
  /// depends on it (ModelFamily::schema_for); null when absent. Not part of trial identity.
  nlohmann::json options;
  /// Early stopping; absent = every trial trains to its end.
  std::optional<SchedulerSpec> scheduler;
  /// Adaptive search over the "random" block's space; absent = random draws.
  std::optional<SearchSpec> search;

  /// Names of the parameters the search varies (grid, then random), sorted.
  std::vector<std::string> varied() const;
  /// Every parameter name (the columns of results.csv), sorted.
  std::vector<std::string> param_names() const;
  bool better(double a, double b) const { return mode == Mode::kMax ? a > b : a < b; }
};

/// One trial of a sweep: enumerated here, handed out by the coordinator, run by a worker (the
/// one trial type of the engine; the params travel in msg::Assign, the cost stays on rank 0).
struct Trial {
  std::string id;          ///< stable hash of (family, data, resolved params, repeat)
  int index = 0;           ///< position in the sweep's deterministic order
  int repeat = 0;          ///< repeat index (0..repeats-1)
  std::uint64_t seed = 0;  ///< derived from (sweep seed, id); seeds every random stream
  nlohmann::json params;   ///< flat, fully resolved: defaults <- fixed <- training <- varied
  /// Expected duration relative to the sweep's other trials (ModelFamily::relative_cost, set by
  /// the coordinator's rank after the data check; 1 = all alike). Orders the dynamic schedule
  /// (longest first) and scales the deadline check; not sent to workers.
  double cost = 1.0;
  /// ModelFamily::pack_key: trials with the same non-empty key may be trained together as one
  /// pack (`pack: K`). Set with `cost`; not sent to workers.
  std::string pack_key{};
};

/// The value of `d` at the uniform draw u in [0, 1) (what a random block draws).
nlohmann::json draw(const Distribution& d, double u);

/// Returns the keys a spec may contain, in documentation order.
const std::vector<std::string>& spec_keys();

/// Parses and validates a spec against its family's schema. Throws ns::Error naming the JSON
/// path ("$.grid.lr[2]") and what is allowed. `lookup` maps a family name to its schema and
/// throws (listing the known families) when unknown.
template <typename Lookup>
SweepSpec parse_spec(const nlohmann::json& j, const std::string& source, Lookup&& lookup);

/// The same, with the schema already known (family name checked against schema.name).
SweepSpec parse_spec_with(const nlohmann::json& j, const std::string& source,
                          const FamilySchema& schema);
/// Reads the "family" field only (with a clear error if missing or not a string).
std::string spec_family(const nlohmann::json& j, const std::string& source);
/// Reads a JSON file; errors name the file and the parse position.
nlohmann::json read_json_file(const std::string& path);

/// All trials in deterministic order: grid points (last key fastest) x random samples x repeats.
/// With a "search" block: the first min(startup, count) random samples only.
std::vector<Trial> enumerate(const SweepSpec& spec);

/// Stable trial id: 16 hex digits of FNV-1a/64 over the canonical JSON of
/// {family, data, params, repeat}. Independent of ranks and of the order of keys in the file.
std::string trial_id(const std::string& family, const nlohmann::json& data,
                     const nlohmann::json& params, int repeat);

/// Per-trial seed derived from (sweep seed, trial id).
std::uint64_t trial_seed(std::uint64_t sweep_seed, const std::string& id);

template <typename Lookup>
SweepSpec parse_spec(const nlohmann::json& j, const std::string& source, Lookup&& lookup) {
  return parse_spec_with(j, source, lookup(spec_family(j, source)));
}

}  // namespace ns::sweeps
