#pragma once
// The one interface between the engine and the model families (STYLE.md: "the shape of the
// house"). The engine knows nothing of LibTorch; models/ implements TrialRunner.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sweeps/schema.hpp"

namespace ns::engine {

/// One trial as the coordinator hands it out.
struct TrialSpec {
  std::string id;          ///< stable hash of (family, data, resolved params, repeat)
  int index = 0;           ///< position in the sweep's deterministic order
  int repeat = 0;          ///< repeat index (0..repeats-1)
  std::uint64_t seed = 0;  ///< derived from (sweep seed, id); seeds every random stream
  nlohmann::json params;   ///< flat, fully resolved: defaults <- fixed <- training <- varied
  /// Expected duration relative to the sweep's other trials (ModelFamily::relative_cost; 1 when
  /// the family has no cost model). Stays on the coordinator: it orders the dynamic schedule
  /// (longest first) and scales the deadline check. Not sent to workers.
  double cost = 1.0;
};

/// Everything a runner gets for one trial.
struct TrialContext {
  const TrialSpec& trial;
  const nlohmann::json& data;        ///< the spec's "data" block, as written
  std::filesystem::path trial_dir;   ///< <out>/trials/<id>/, already created; write outputs here
  std::string device = "cpu";        ///< "cpu" or "cuda:N" (see engine/device.hpp)
  int threads = 1;                   ///< intra-op threads for this rank
  /// True once the trial must stop at its next safe point: the sweep is draining or the trial's
  /// time limit passed. The runner then saves a checkpoint in trial_dir and returns status
  /// "interrupted"; a later run with the same trial_dir resumes from that checkpoint.
  std::function<bool()> stop_requested = [] { return false; };
};

/// What a trial produced. Failures are data: a runner may also simply throw.
struct TrialOutcome {
  std::string status = "ok";                ///< ok | failed | interrupted
  std::map<std::string, double> metrics;    ///< names from FamilySchema::metrics; missing = NaN
  std::string error;                        ///< message when not ok
};

/// Lives on one worker across trials (so it may cache datasets between trials).
class TrialRunner {
 public:
  virtual ~TrialRunner() = default;
  virtual TrialOutcome run(const TrialContext& ctx) = 0;
};

/// A model family as registered at start-up (models/registry.cpp).
struct ModelFamily {
  sweeps::FamilySchema schema;
  std::string description;
  /// Checks the spec's data block before any training starts: opens the files, checks shapes and
  /// values; throws ns::Error naming file and dataset. `json_path` is e.g. "$.data".
  std::function<void(const nlohmann::json& data, const std::string& json_path)> check_data;
  /// Cross-field checks of one resolved parameter set (e.g. kernel larger than the image).
  std::function<void(const nlohmann::json& params)> check_params = [](const nlohmann::json&) {};
  /// What check_params does, in a few words, for `plan` ("types and ranges", "builds ...").
  std::string validation = "parameter types and ranges";
  std::function<std::unique_ptr<TrialRunner>()> make_runner;
  /// Whether the engine creates <out>/trials/<id>/ before each trial (a mkdir costs hundreds of
  /// microseconds on some filesystems; a family that writes nothing may opt out).
  bool wants_trial_dir = true;
  /// Expected duration of a resolved parameter set relative to others of the same sweep (same
  /// data), e.g. iterations x FLOPs per iteration; empty = all trials alike. Only ratios matter.
  /// The coordinator starts expensive trials first (longest-processing-time-first list
  /// scheduling), and `plan` turns measured seconds into an estimate per trial with it.
  std::function<double(const nlohmann::json& params)> relative_cost;
};

/// `family.relative_cost(params)` when it is set and gives a finite positive number, else 1.
double trial_cost(const ModelFamily& family, const nlohmann::json& params);

/// String-keyed registry of families, filled by one explicit call at start-up.
class FamilyRegistry {
 public:
  void add(ModelFamily family);
  /// Throws ns::Error listing the known names when `name` is unknown.
  const ModelFamily& get(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ModelFamily> families_;
};

}  // namespace ns::engine
