#pragma once
// Sweep specs: parsing and validation of the JSON file, deterministic trial enumeration and
// stable trial ids. Knows nothing of MPI or LibTorch.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
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

struct SweepSpec;

/// The most trials one spec may hold (sweeps/spec.cpp says why).
constexpr int kMaxSpecTrials = 1'000'000;

/// A search kind's typed options: each kind's own struct (engine/asha.hpp's AshaSpec,
/// engine/median.hpp's MedianSpec, engine/tpe_search.hpp's TpeSpec, engine/pbt_spec.hpp's PbtSpec
/// and ScheduleSpec), parsed and checked by the kind's own from_json. The engine's registry of
/// search kinds (engine/search_registry.hpp) maps the spec's words to the kind; this layer knows
/// no kind.
struct SearchOptions {
  virtual ~SearchOptions() = default;
  /// The random draws enumerate() lists before the search runs, of the "random" block's
  /// `random_count` (TPE: its startup draws; the others propose as results come in).
  virtual int listed_draws(int random_count) const { return random_count; }
  /// The resource unit the kind's "scheduler" block names ("" for a kind without one), checked
  /// against the family's.
  virtual std::string scheduler_resource() const { return ""; }
  /// True for a kind that takes the spec's "warm_start" (TPE: prior observations; the list,
  /// which has no options, reuses rows). Default: false.
  virtual bool takes_warm_start() const { return false; }
};

/// What a kind's from_json gets: the spec parsed so far (every block but "budget", "metric" and
/// "mode"), the family's schema, the kind's blocks, and the spec parser's checks (messages name
/// the file and the JSON path as every other spec error does).
class SpecBlocks {
 public:
  /// The spec parser's checks a kind's parser reuses.
  struct Checks {
    virtual ~Checks() = default;
    /// Fails unless `name` is a parameter of the family.
    virtual void require_param(const std::string& path, const std::string& name) const = 0;
    /// `v` type-checked against the parameter's default, normalised as trial ids hash it.
    virtual nlohmann::json check_value(const std::string& path, const std::string& name,
                                       const nlohmann::json& v) const = 0;
  };
  SpecBlocks(const SweepSpec& spec, const FamilySchema& schema, const nlohmann::json* scheduler,
             const nlohmann::json* search, const Checks& checks)
      : spec(spec), schema(schema), scheduler(scheduler), search(search), checks_(checks) {}

  const SweepSpec& spec;
  const FamilySchema& schema;
  const nlohmann::json* scheduler;  ///< the "scheduler" block; nullptr when absent
  const nlohmann::json* search;     ///< the "search" block; nullptr when absent
  const std::string& source() const;

  /// Throws ns::Error "<file>: <path>: <what>" (exit 2).
  [[noreturn]] void fail(const std::string& path, const std::string& what) const;
  void require_param(const std::string& path, const std::string& name) const {
    checks_.require_param(path, name);
  }
  nlohmann::json check_value(const std::string& path, const std::string& name,
                             const nlohmann::json& v) const {
    return checks_.check_value(path, name, v);
  }
  /// Fails for any key of `block` (at `path`, "$.search") not in `keys`: "unknown key<for>;
  /// allowed: ...".
  void allow_keys(const nlohmann::json& block, const std::string& path,
                  const std::vector<std::string>& keys, const std::string& for_what = "") const;

 private:
  const Checks& checks_;
};

/// A SearchKindParser::parse for an options struct T with `static T from_json(const
/// SpecBlocks&)`.
template <typename T>
std::shared_ptr<const SearchOptions> parse_options(const SpecBlocks& blocks) {
  return std::make_shared<const T>(T::from_json(blocks));
}

/// A search kind as the spec parser sees it: the words that select it and its parser. The
/// engine's registry gives the table (engine::search_parsers()).
struct SearchKindParser {
  const char* scheduler_word;  ///< "scheduler": {"kind": word}; nullptr: no "scheduler" block
  const char* search_word;     ///< "search": {"kind": word}; nullptr: no "search" block
  /// The kind's typed options; refuses what the kind cannot run (with today's messages).
  std::shared_ptr<const SearchOptions> (*parse)(const SpecBlocks& blocks);

  /// True when the spec's words ("" for an absent block) are this kind's.
  bool selects(const std::string& scheduler, const std::string& search) const {
    return (scheduler_word == nullptr ? scheduler.empty() : scheduler == scheduler_word) &&
           (search_word == nullptr ? search.empty() : search == search_word);
  }
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
  /// "folds": K >= 2: K-fold cross-validation of the training + validation data; each
  /// configuration runs repeats x K replicates (0: no folds, the family's own split).
  int folds = 0;
  std::uint64_t seed = 0;
  /// "warm_start": output directories of earlier sweeps (engine/warm_start.hpp): TPE's prior
  /// observations, or the list's finished trials reused. Not part of any trial's identity.
  std::vector<std::string> warm_start;
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
  /// The kind words of the "scheduler" and "search" blocks ("" when a block is absent): which
  /// search kind runs the sweep (engine/search_registry.hpp maps them; none: the list).
  std::string scheduler_word, search_word;
  /// The kind's typed options (nullptr for the list): read them with options_as<T>().
  std::shared_ptr<const SearchOptions> search_options;

  /// The search kind's options as its own struct (throws when the kind has other options).
  template <typename T>
  const T& options_as() const {
    const T* o = dynamic_cast<const T*>(search_options.get());
    if (o == nullptr) throw_options_mismatch();
    return *o;
  }
  bool has_scheduler() const { return !scheduler_word.empty(); }
  /// The replicates of one configuration: repeats x folds (a configuration's value is their
  /// mean; engine/replicates.hpp).
  int replicates() const { return repeats * (folds > 1 ? folds : 1); }

  /// Names of the parameters the search varies (grid, then random), sorted.
  std::vector<std::string> varied() const;
  /// Every parameter name (the columns of results.csv), sorted.
  std::vector<std::string> param_names() const;
  bool better(double a, double b) const { return mode == Mode::kMax ? a > b : a < b; }

 private:
  [[noreturn]] void throw_options_mismatch() const;
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
  /// Cross-validation (the spec's "folds": K): this replicate's fold k in 0..K-1 (its
  /// validation part; the others train) and K; fold -1 and folds 0 without folds.
  int fold = -1;
  int folds = 0;
  /// The seed of the folds' partition: the sweep's seed, the same for every trial of a sweep
  /// (so all configurations see the same folds).
  std::uint64_t fold_seed = 0;
};

/// The value of `d` at the uniform draw u in [0, 1) (what a random block draws).
nlohmann::json draw(const Distribution& d, double u);

/// Returns the keys a spec may contain, in documentation order.
const std::vector<std::string>& spec_keys();

/// Parses and validates a spec against its family's schema (family name checked against
/// schema.name); `kinds` parse the "scheduler" and "search" blocks (engine::parse_spec passes
/// the registry's). Throws ns::Error naming the JSON path ("$.grid.lr[2]") and what is allowed.
SweepSpec parse_spec_with(const nlohmann::json& j, const std::string& source,
                          const FamilySchema& schema, const std::vector<SearchKindParser>& kinds);
/// Reads the "family" field only (with a clear error if missing or not a string).
std::string spec_family(const nlohmann::json& j, const std::string& source);
/// Reads a JSON file; errors name the file and the parse position.
nlohmann::json read_json_file(const std::string& path);

/// All trials in deterministic order: grid points (last key fastest) x random samples x
/// replicates (repeats, and within each repeat the folds). With a search kind: its
/// listed_draws() of the random samples only (TPE: its startup draws).
std::vector<Trial> enumerate(const SweepSpec& spec);

/// Stable trial id: 16 hex digits of FNV-1a/64 over the canonical JSON of
/// {family, data, params, repeat} (with folds: the text ends `"repeat":r,"fold":k,"folds":K}`).
/// Independent of ranks and of the order of keys in the file.
std::string trial_id(const std::string& family, const nlohmann::json& data,
                     const nlohmann::json& params, int repeat, int fold = -1, int folds = 0);

/// A configuration's id (its replicates share it): the same hash over {family, data, params}
/// closed by `"configuration":true}` instead of a repeat, so it is never a trial's id.
std::string config_id(const std::string& family, const nlohmann::json& data,
                      const nlohmann::json& params);

/// The replicates of a configuration as `config` (index: the configuration's position; params)
/// has it: spec.replicates() trials, repeat-major then fold, with index config.index x
/// replicates + j, their own ids and seeds; cost and pack_key copied.
std::vector<Trial> replicates_of(const SweepSpec& spec, const Trial& config);

/// Per-trial seed derived from (sweep seed, trial id).
std::uint64_t trial_seed(std::uint64_t sweep_seed, const std::string& id);

}  // namespace ns::sweeps
