#pragma once
// One registry of search kinds: the only place that turns a spec's "scheduler" and "search"
// blocks into a Scheduler. Each kind has a builder (construct, then restore from the journal of
// earlier runs), a describe() whose lines `run` logs, `plan` prints and sweep.json records for
// `report`, and what `plan`'s simulated clock needs to price its visits. `run` and `plan` build
// through the same entry, so every kind plan can simulate is simulated by its real decisions.
//
// Each kind also owns its spec: the words that select it ("scheduler": {"kind": ...},
// "search": {"kind": ...}) and a parser for its typed options struct (AshaSpec, TpeSpec, ...,
// each parsed and checked by its own from_json); the spec parser (sweeps/spec.cpp) knows no kind.
//
// Adding a search kind: its scheduler and its spec struct in its own files, a SearchMethod
// value, and one entry in search_kinds() (search_registry.cpp).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/scheduler.hpp"
#include "engine/status.hpp"
#include "engine/tpe_search.hpp"
#include "sweeps/spec.hpp"

namespace ns::engine {

/// Every way a sweep's trials are chosen.
enum class SearchMethod {
  kList,       ///< the grid, list or random draws, as enumerated (no "scheduler", no "search")
  kAsha,       ///< "scheduler": {"kind": "asha"}
  kHyperband,  ///< "scheduler": {"kind": "hyperband"}
  kMedian,     ///< "scheduler": {"kind": "median"}
  kTpe,        ///< "search": {"kind": "tpe"}
  kTpeAsha,    ///< "search": {"kind": "tpe"} with "scheduler": {"kind": "asha"}
  kPbt,        ///< "search": {"kind": "pbt"}
  kSchedule,   ///< "search": {"kind": "schedule"}
};

/// What describe() needs besides the spec, counted in configurations (a configuration has
/// spec.replicates() trials).
struct SearchFacts {
  std::string resource;  ///< the family's resource unit ("iterations", "epochs", "steps")
  int total_trials = 0;  ///< the sweep's configurations (TPE: the startup draws and the proposals)
  int listed = 0;        ///< configurations the spec lists (TPE: the startup draws)
};

/// What a builder gets.
struct SearchInputs {
  std::vector<sweeps::Trial> trials;  ///< every trial the spec lists, in sweep order
  MakeTrial make_trial;               ///< a proposal's trial (TPE, TPE + ASHA)
  /// TPE's prior observations from a warm start (engine/warm_start.hpp); empty: none.
  std::vector<TpeObservation> prior;
  /// Receives each decision as a journal event (reports.jsonl); empty: none recorded (plan).
  std::function<void(const nlohmann::json&)> journal;
  std::vector<nlohmann::json> events;  ///< the journal of earlier runs, in order
  std::set<std::string> finished;      ///< trial ids that have a row
  std::filesystem::path out;           ///< the output directory (PBT reads its snapshots there)
  bool read_only = false;              ///< true: never delete in `out` (plan)
  /// PBT: the row a worker left in a snapshot (default: <out>/<snapshot>/result.json).
  std::function<std::optional<ResultRow>(const std::string& snapshot)> snapshot_row;
  // The list only: who takes trials and in which order (engine/scheduler.hpp).
  std::vector<int> workers = {0};
  Schedule schedule = Schedule::kDynamic;
  bool longest_first = true;
};

/// A built scheduler and the lines worth logging about its state (restored decisions,
/// Hyperband's brackets) and its warnings.
struct BuiltSearch {
  std::unique_ptr<Scheduler> scheduler;
  std::vector<std::string> info;
  std::vector<std::string> warnings;
};

struct SearchKindEntry {
  SearchMethod method;
  const char* name;  ///< as sweep.json records it ("list", "asha", "tpe+asha", ...)
  /// The spec words that select the kind and its options' parser (sweeps::SearchKindParser):
  /// "scheduler": {"kind": scheduler_word} and "search": {"kind": search_word}, nullptr for a
  /// block the kind has not. Exactly one entry has a parsed spec's words.
  sweeps::SearchKindParser spec;
  BuiltSearch (*build)(const sweeps::SweepSpec& spec, SearchInputs inputs);
  /// What the kind does with this spec, as lines each ending in '\n' ("" for the list).
  std::string (*describe)(const sweeps::SweepSpec& spec, const SearchFacts& facts);
  /// plan's simulated clock: the resource at which a visit from 0 reaches the trial's end (a
  /// visit from a to b costs the share (b - a) / full of the trial); 0: every visit is a whole
  /// trial; nullopt: plan does not simulate it (the list: plan allocates it directly).
  std::optional<double> (*full_resource)(const sweeps::SweepSpec& spec);
};

/// The registry, one entry per SearchMethod.
const std::vector<SearchKindEntry>& search_kinds();
/// The spec half of every entry, for the spec parser.
const std::vector<sweeps::SearchKindParser>& search_parsers();
/// Parses and validates a spec against its family's schema with the registry's search kinds
/// (sweeps::parse_spec_with): the one way to read a spec.
sweeps::SweepSpec parse_spec(const nlohmann::json& j, const std::string& source,
                             const sweeps::FamilySchema& schema);
/// Which kind a parsed spec asks for: the entry with its words.
SearchMethod search_method(const sweeps::SweepSpec& spec);
const SearchKindEntry& search_kind(SearchMethod method);
const SearchKindEntry& search_kind(const sweeps::SweepSpec& spec);
/// The method sweep.json names (SearchKindEntry::name), nullopt for a word no entry has.
std::optional<SearchMethod> search_method_named(const std::string& name);

/// Builds the spec's search kind (its entry's build), wrapped in a ReplicateScheduler
/// (engine/replicates.hpp) when the spec has replicates ("repeats" x "folds" > 1) and the kind
/// is a search (the list simply lists every replicate): the one way `run`, `plan` and the tests
/// build a sweep's scheduler. `inputs.trials` are every trial the spec lists (replicates).
BuiltSearch build_search(const sweeps::SweepSpec& spec, SearchInputs inputs);

/// The kind's describe() lines, plus one on the replicates when the spec has them (`facts` in
/// configurations): what `run` logs, `plan` prints and sweep.json records.
std::string describe_search(const sweeps::SweepSpec& spec, const SearchFacts& facts);

/// What sweep.json records about the search (`report` reads it): {"kind": name, "description":
/// describe()'s lines, "random_first": the draws before TPE proposes (TPE kinds only)}.
nlohmann::json search_record(const sweeps::SweepSpec& spec, const SearchFacts& facts);

}  // namespace ns::engine
