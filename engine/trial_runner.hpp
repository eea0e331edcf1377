#pragma once
// The one interface between the engine and the model families. The engine knows nothing of LibTorch; models/ implements TrialRunner.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/status.hpp"
#include "sweeps/schema.hpp"
#include "sweeps/spec.hpp"

namespace ns::engine {

/// Everything a runner gets for one trial.
struct TrialContext {
  const sweeps::Trial& trial;
  const nlohmann::json& data;        ///< the spec's "data" block, as written
  std::filesystem::path trial_dir;   ///< <out>/trials/<id>/, already created; write outputs here
  std::string device = "cpu";        ///< "cpu" or "cuda:N" (see engine/device.hpp)
  int threads = 1;                   ///< intra-op threads for this rank
  /// True once the trial must stop at its next safe point: the sweep is draining or the trial's
  /// time limit passed. The runner then saves a checkpoint in trial_dir and returns status
  /// kInterrupted; a later run with the same trial_dir resumes from that checkpoint.
  std::function<bool()> stop_requested = [] { return false; };
  int rank = 0;                      ///< MPI rank running the trial (logs, induced failures)
  /// Early stopping (engine/asha.hpp), in the family's resource units: once this much resource
  /// is used, pause (save the checkpoint as for a stop, return kPaused with the metrics so far)
  /// or, with `final_rung`, end as finished. 0 = no limit: train to the end. A runner walks
  /// these, `rungs` and report() with an engine::RungWalk (engine/rung_walk.hpp).
  double resource_limit = 0;
  bool final_rung = false;
  /// The resources at which report() asks the scheduler (ascending).
  std::vector<double> rungs{};
  /// Runners that can checkpoint mid-trial write one at most this often (improved or not), so a
  /// SIGKILL or a lost node costs at most about this much training plus one evaluation interval
  /// (`run --checkpoint-every`).
  double checkpoint_every_s = 60;
  /// The scheduler's question at a rung: the resource used so far and the metrics; kStop means
  /// end now with status kStopped and these metrics. RungWalk::at calls it, exactly when a rung
  /// not reported yet is reached; a runner does not call it itself.
  std::function<Decision(double resource, const std::map<std::string, double>& metrics)> report =
      [](double, const std::map<std::string, double>&) { return Decision::kContinue; };
  /// PBT's exploit (engine/pbt.hpp): the checkpoint in trial_dir was copied from another
  /// member (another trial id and seed) and the parameters may differ from those it was saved
  /// with. The runner loads it whatever trial wrote it and applies the mutable parameters
  /// (FamilySchema::mutable_params) of `trial.params` from here on.
  bool adopted = false;
  /// The spec's block named after the family (SweepSpec::options; null when absent).
  nlohmann::json options{};
  /// Called before the runner writes into trial_dir outside a stop poll (at the end of an
  /// evaluation, the final outputs): throws engine::TrialAbandoned (engine/executor.hpp) when
  /// this rank no longer owns the trial (the coordinator took it out as silent and the trial
  /// went to another rank), so a rank that wakes up between two polls writes nothing.
  std::function<void()> check_owner = [] {};
};

/// What a trial produced. Failures are data: a runner may also simply throw.
struct TrialOutcome {
  TrialStatus status = TrialStatus::kOk;    ///< kOk, kFailed, kInterrupted, kStopped or kPaused
  std::map<std::string, double> metrics;    ///< names from FamilySchema::metrics; missing = NaN
  std::string error;                        ///< message when not ok
};

/// Lives on one worker across trials (so it may cache datasets between trials).
class TrialRunner {
 public:
  virtual ~TrialRunner() = default;
  virtual TrialOutcome run(const TrialContext& ctx) = 0;
  /// Trains the trials of `members` together (a pack: ModelFamily::pack_key says which trials
  /// may share one); one outcome per member, in their order. Each member's stop_requested is the
  /// pack's. Every member's outputs are those of a separate trial. This default, for runners that
  /// pack nothing, runs the members one after the other (an exception fails that member only).
  virtual std::vector<TrialOutcome> run_pack(const std::vector<TrialContext>& members);
};

/// What a family's check_data learned about a spec's data block, with the spec's block named
/// after the family. check_params, relative_cost and pack_key take it as an argument, so no check
/// depends on an earlier call having filled some state, and each reads the family's block in
/// the same place (`options`). A zero means "not known" or "not applicable" (a family without
/// data, a check that was skipped).
struct DataFacts {
  bool checked = false;         ///< check_data ran on this spec's data block
  std::string source;           ///< what was checked: a file or directory, "simulated data", ...
  std::int64_t examples = 0;    ///< images (or examples) in the whole data set
  std::int64_t train = 0;       ///< of them in the training split
  std::int64_t channels = 0;    ///< image geometry
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::int64_t outputs = 0;     ///< what a model predicts per example: neurons or classes
  std::string output_name = "outputs";  ///< their name in describe(): "neurons", "classes"
  std::int64_t repeats = 0;     ///< repeats per image (neural data; the most any image has)
  /// What the spec's "folds" partition: the training + validation examples (0: not known).
  std::int64_t fold_examples = 0;
  /// The spec's block named after the family (SweepSpec::options; null when absent), as
  /// ModelFamily::check_data_with got it. Null in unchecked facts.
  nlohmann::json options;
  /// One line for `plan`: "data/v1.h5: 6000 images of 1x32x32, 60 neurons, 6 repeats, 3840 train".
  std::string describe() const;
};

/// A file the trials of a spec read (ModelFamily::input_files). Its content is part of what the
/// sweep's rows mean, so `run` fingerprints it (engine/inputs.hpp) and refuses to continue a
/// directory whose rows were run with other content.
struct InputPath {
  std::filesystem::path path;  ///< as the family opens it (a relative one: from neurosweep's working directory)
  std::string role;            ///< "data", "module", "program", "argument" or "declared"
};

/// A model family as registered at start-up (models/registry.cpp). A family implements this
/// interface; the engine and the CLI call it in this order: check_data_with once per sweep, then
/// check_params for each distinct configuration and relative_cost and pack_key for each trial,
/// all with the facts check_data_with returned, then make_runner once per worker. The spec's
/// block named after the family reaches every call the same way: schema_for, check_data_for and
/// input_files get it as `options`, the calls after check_data in DataFacts::options, a runner
/// in TrialContext::options.
class ModelFamily {
 public:
  explicit ModelFamily(sweeps::FamilySchema schema) : schema_(std::move(schema)) {}
  virtual ~ModelFamily() = default;
  ModelFamily(const ModelFamily&) = delete;
  ModelFamily& operator=(const ModelFamily&) = delete;

  /// Name, parameters with their defaults, metrics.
  const sweeps::FamilySchema& schema() const { return schema_; }
  /// The schema a spec gets, from its block named after the family (`options`, null when the
  /// spec has none; `where` names it in errors: "spec.json: $.command"). Families whose
  /// parameters or metrics the user declares (command) build it here; the default refuses a
  /// block and returns schema(). FamilySchema::resource is the unit of
  /// TrialContext::resource_limit and of its reports (early stopping).
  virtual sweeps::FamilySchema schema_for(const nlohmann::json& options,
                                          const std::string& where) const;
  /// One paragraph for `neurosweep families`.
  virtual std::string description() const = 0;
  /// Checks the spec's data block before any training starts: opens the files, checks shapes and
  /// values; throws ns::Error naming file and dataset. `json_path` is e.g. "$.data".
  virtual DataFacts check_data(const nlohmann::json& data, const std::string& json_path) const = 0;
  /// check_data with the spec's block named after the family (SweepSpec::options), for families
  /// whose block decides what data they read (torchscript: its task). Default: check_data.
  virtual DataFacts check_data_for(const nlohmann::json& data, const std::string& json_path,
                                   const nlohmann::json& options) const {
    (void)options;
    return check_data(data, json_path);
  }
  /// What the engine and the CLI call: check_data_for's facts with `options` kept in
  /// DataFacts::options for the calls that follow.
  DataFacts check_data_with(const nlohmann::json& data, const std::string& json_path,
                            const nlohmann::json& options) const {
    DataFacts facts = check_data_for(data, json_path, options);
    facts.options = options;
    return facts;
  }
  /// Cross-field checks of one resolved parameter set against the data (e.g. a kernel larger than
  /// the image); the family's block is `data.options`. With unchecked facts (`!data.checked`)
  /// only the parameters themselves.
  virtual void check_params(const nlohmann::json& params, const DataFacts& data) const;
  /// check_params with `options` as the facts' block (for a caller that holds the block apart
  /// from facts that may lack it).
  void check_params_with(const nlohmann::json& params, const DataFacts& data,
                         const nlohmann::json& options) const;
  /// What check_params does, in a few words, for `plan` ("types and ranges", "builds ...").
  virtual std::string validation() const { return "parameter types and ranges"; }
  /// Expected duration of a resolved parameter set relative to others of the same sweep (same
  /// data), e.g. iterations x FLOPs per iteration; 1 = all trials alike. Only ratios matter.
  /// The coordinator starts expensive trials first (longest-processing-time-first list
  /// scheduling), and `plan` turns measured seconds into an estimate per trial with it.
  virtual double relative_cost(const nlohmann::json& params, const DataFacts& data) const;
  /// Trials whose keys are equal and not empty may be trained together as one pack on one worker
  /// (`pack: K`, the runner's run_pack): their shapes agree. "" (the default): never packed.
  virtual std::string pack_key(const nlohmann::json& params, const DataFacts& data) const;
  /// The files the trials of a spec read besides the spec itself, for their content digests
  /// (engine/inputs.hpp): the data files actually read (not a whole directory), TorchScript
  /// modules, a command's program and the files its argv names. `data` and `options` are the
  /// spec's blocks, `configurations` its distinct resolved parameter sets known before the run.
  /// Only existing regular files; a missing one is check_data's or check_params' to report.
  /// Called after those checks passed. Default: none (a family that reads no file).
  virtual std::vector<InputPath> input_files(const nlohmann::json& data,
                                             const nlohmann::json& options,
                                             const std::vector<nlohmann::json>& configurations) const {
    (void)data;
    (void)options;
    (void)configurations;
    return {};
  }
  /// The part of the spec's block named after the family (`options`, SweepSpec::options) that
  /// changes what a trial computes without entering its id: a rerun whose block differs here
  /// is refused (engine/sweep_output.cpp) unless accepted (`run --accept-changed-inputs`).
  /// Default: the whole block. A family leaves out what only declares the parameter space
  /// (command's "params" defaults reach the ids through the parameters) or cannot change a
  /// result (command's "grace_s").
  virtual nlohmann::json identity_options(const nlohmann::json& options) const { return options; }
  /// Whether the family honours the spec's "folds" (TrialContext's trial.fold/folds/fold_seed:
  /// K-fold cross-validation of its training + validation data; docs/formats.md). A spec with
  /// folds for a family that does not is refused (app/prepare.cpp).
  virtual bool supports_folds() const { return false; }
  /// Whether the engine creates <out>/trials/<id>/ before each trial (a mkdir costs hundreds of
  /// microseconds on some filesystems; a family that writes nothing may opt out).
  virtual bool wants_trial_dir() const { return true; }
  /// The runner a worker keeps across its trials (it may cache data sets between them).
  virtual std::unique_ptr<TrialRunner> make_runner() const = 0;

 private:
  sweeps::FamilySchema schema_;
};

/// `message` without the C++ backtrace LibTorch appends to its errors ("\nException raised
/// from ..."): the first part is the useful one.
std::string without_backtrace(std::string message);

/// `family.relative_cost(params, data)` when it is a finite positive number, else 1.
double trial_cost(const ModelFamily& family, const nlohmann::json& params, const DataFacts& data);

/// String-keyed registry of families, filled by one explicit call at start-up.
class FamilyRegistry {
 public:
  void add(std::unique_ptr<ModelFamily> family);
  /// Throws ns::Error listing the known names when `name` is unknown.
  const ModelFamily& get(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, std::unique_ptr<ModelFamily>> families_;
};

}  // namespace ns::engine
