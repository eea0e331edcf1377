#pragma once
// Population-based training (Jaderberg et al., "Population Based Training of Neural Networks",
// 2017; asynchronous, as Ray Tune's PopulationBasedTraining and AutoLFADS run it) behind the
// scheduler seam, and the fixed-schedule trial that replays a member's lineage.
//
// * The population: the spec's "random" draws (sweeps::enumerate), one member each. A member's
//   trial id and seed are its initial draw's and stay its own; its parameters change.
// * Segments: a member trains from its step to the next multiple of `interval` (or to `max`,
//   which ends it as finished), pauses there (the runner checkpoints), and the worker copies its
//   trial directory to the snapshot <out>/pbt/<id>/<k>-<step>/ (k: the member's segments so
//   far) with the paused row (result.json).
//   Members take turns: a free worker gets the ready member with the smallest step (ties: the
//   one that became ready first), so a population larger than the worker count advances
//   together. Ties by index starved a top member whose copiers (lower indices) came back to its
//   step and ran again before it, forever.
// * Exploit and explore, when a member pauses at step s: the members with a value (their last
//   pause's metric; kept across an exploit, as Ray Tune keeps a trial's last_score: the copier
//   ranks with its own last value until its next pause, so every decision ranks the whole
//   population that has reported; a member whose segment failed has none until its next pause)
//   are ranked; with n of them, q = ceil(n * quantile), at most floor(n / 2) (Ray's quantiles).
//   A member in the bottom q copies the latest snapshot of a member drawn uniformly from the top
//   q that has one (one that has just copied has none until it pauses): its checkpoint and all
//   its parameters (structural ones too: the weights need them), then explores: each mutable
//   parameter is resampled from its $.random distribution with probability
//   `resample_probability`, else perturbed: a number multiplied by a factor drawn from `perturb`
//   (an int rounded), a choice moved to a neighbouring value of its list (at the ends: stays or
//   moves inward); perturbed numbers are clamped to the distribution's bounds (a dropout of 1.1
//   or a learning rate outside the searched range is not what the spec allows). The member then
//   continues from the donor's step. Other members continue from their own checkpoint.
// * Failures: a member whose segment fails is replaced by an exploit of a top member at once
//   (not waited for); when no member has a snapshot yet it waits for the first. After
//   `max_failures` failures its failed row is written.
// * Snapshots are kept while they are a member's latest or a pending exploit's source: a copy is
//   pinned until the member that copies it has come back from the segment it loaded it for
//   ("kept until every copy has been loaded"); then `remove_snapshot` deletes it.
// * Lineage: each member's segments (from which step on, which parameters, trained by which
//   member); an exploit takes the donor's segments up to the donor's step. The winner's lineage
//   is a fixed schedule that, trained as one trial from the root's initial parameters (the
//   spec's seed gives the same trial seed), pauses and resumes at the same steps with the same
//   parameters: on CPU it reproduces the member's metrics.
// * Journal (reports.jsonl), every decision before it is acted on:
//     {"event": "pbt_result", "member", "trial", "step", "status", "value", "snapshot",
//      "adopted" (the snapshot it loaded, "" none)}
//     {"event": "pbt_exploit", "member", "trial", "step", "donor", "from_step", "snapshot",
//      "params", "changes": {name: [old, new]}, "reason": "quantile"|"failed"}
//     {"event": "pbt_continue", "member", "trial", "step"}
//   plus {"event": "pbt_start", "member", "trial", "seed", "params"} once per member. Each is a
//   typed event (engine/journal.hpp): the handlers build it, journal it and apply() it; restore()
//   applies the journal's events in order through the same apply() functions. A member whose
//   segment was running is handed out again with the same snapshot to load; one that paused with
//   no decision journaled is decided then. A segment that had finished on its worker (its
//   snapshot's result.json exists) when the run ended is taken as having come back, so no
//   segment trains twice.
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/journal.hpp"
#include "engine/pbt_spec.hpp"
#include "engine/scheduler.hpp"
#include "sweeps/spec.hpp"

namespace ns::engine {

/// Why a member exploited (engine/journal.hpp: the "pbt_exploit" event's "reason").
using journal::ExploitReason;

struct PbtOptions {
  int population = 0;
  double interval = 0;
  double max = 0;  ///< 0: members train to their own end
  double quantile = 0.25;
  std::vector<double> perturb = {0.8, 1.2};
  double resample_probability = 0.25;
  std::vector<std::string> mutables;
  std::vector<std::pair<std::string, sweeps::Distribution>> space;  ///< the random block
  std::string metric;
  bool maximize = true;
  std::uint64_t seed = 0;
  int max_failures = 3;  ///< failures replaced by an exploit before a member's row is written
};

/// The options of a spec with "search": {"kind": "pbt", ...}.
PbtOptions pbt_options(const sweeps::SweepSpec& spec, const PbtSpec& pbt);

/// The bottom and top `quantile` of `ranked` (member indices, best first), as Ray computes them.
struct PbtQuantiles {
  std::vector<int> bottom, top;
};
PbtQuantiles pbt_quantiles(const std::vector<int>& ranked, double quantile);

/// Explore: `params` with each mutable parameter resampled or perturbed (see above), drawing
/// from a splitmix64 stream seeded with `stream`. `changes` gets {name: [old, new]}.
nlohmann::json pbt_explore(const nlohmann::json& params, const PbtOptions& o, std::uint64_t stream,
                           nlohmann::json& changes);

/// One part of a lineage: from `from` on, `params`, trained by `member`.
struct PbtSegment {
  double from = 0;
  int member = 0;
  nlohmann::json params;
};

/// The snapshot path of member `trial_id`'s segment number `segment` (0, 1, ...: its results so
/// far), which paused at `step`, relative to the output directory: pbt/<id>/<segment>-<step>.
std::string pbt_snapshot(const std::string& trial_id, int segment, double step);

/// A lineage's part from `from` on, after an exploit at `from` gave `member` `params`: the
/// donor's segments before `from`, then the new one.
std::vector<PbtSegment> pbt_inherit(const std::vector<PbtSegment>& donor, double from, int member,
                                    const nlohmann::json& params);

/// A PBT sweep as its journal tells it (for `report`): every member's initial parameters, its
/// value at each pause, its lineage, and the exploits.
struct PbtHistory {
  struct Member {
    std::string trial;
    nlohmann::json initial;
    std::vector<std::pair<double, double>> values;  ///< (step, metric) at each segment's end
    std::vector<PbtSegment> lineage;
    TrialStatus status = TrialStatus::kInvalid;  ///< its last segment's (kOk once finished)
  };
  struct Exploit {
    int member = 0, donor = 0;
    double step = 0, from = 0;
    nlohmann::json changes;
    ExploitReason reason = ExploitReason::kQuantile;
  };
  std::vector<Member> members;
  std::vector<Exploit> exploits;
};
/// Throws ns::Error when the events are not a PBT journal (no "pbt_start").
PbtHistory pbt_history(const std::vector<nlohmann::json>& events);

/// The spec that replays `member`'s lineage as one fixed-schedule trial: `spec` (as written)
/// without its random, search, out and budget blocks, the root's drawn values in "fixed" (so
/// the trial has the root member's id and seed), and "search": {"kind": "schedule", ...} with
/// one segment per lineage segment (`max`: the last one's end, 0 = the trial's own end).
nlohmann::json pbt_replay_spec(const nlohmann::json& spec, const PbtHistory& history, int member,
                               double max);

class PbtScheduler final : public Scheduler {
 public:
  /// `members`: the initial population (sweeps::enumerate's trials); `journal` receives the
  /// events above; `remove_snapshot` deletes a snapshot directory (relative path) no longer needed.
  PbtScheduler(std::vector<sweeps::Trial> members, PbtOptions options,
               std::function<void(const nlohmann::json&)> journal = {},
               std::function<void(const std::string&)> remove_snapshot = {});

  /// Replays earlier runs' events (in order); `finished`: ids with a row; `segment_result`
  /// gives the row a worker left in a snapshot (result.json) when it exists.
  void restore(const std::vector<nlohmann::json>& events, const std::set<std::string>& finished,
               const std::function<std::optional<ResultRow>(const std::string&)>& segment_result = {});

  /// Failed segments are PBT's own business (an exploit replaces them): no retry rule.
  bool retries_failed() const override { return false; }
  int pending() const override;
  bool may_have_more() const override;
  std::vector<ResultRow> final_rows() override;
  /// Steps reached by the members, plus what running ones train toward.
  double resource_used() const override;

  int size() const { return static_cast<int>(members_.size()); }
  const std::vector<PbtSegment>& lineage(int member) const { return members_.at(member).lineage; }
  const nlohmann::json& params(int member) const { return members_.at(member).trial.params; }
  double step(int member) const { return members_.at(member).step; }
  /// Snapshots still kept (relative paths) and, for each, the members that will load it.
  std::map<std::string, std::set<int>> live_snapshots() const;
  /// Members in the order next() would hand them out (for tests).
  int exploits() const { return exploits_; }

 protected:
  const msg::Assign* choose(int worker) const override;
  msg::Assign commit(int worker, std::optional<msg::Assign> shown) override;
  Verdict decide_result(int worker, const msg::Assign& assign, const ResultRow& row,
                        bool draining) override;

 private:
  /// kReady: waits for a worker; kRunning: a segment out on a worker; kDeciding: its segment
  /// paused and its decision (continue or exploit) is not applied yet; kWaiting: failed, waits
  /// for a snapshot to copy; kDone: its row is written (or due).
  enum class State { kReady, kRunning, kDeciding, kWaiting, kDone };
  struct Member {
    sweeps::Trial trial;
    State state = State::kReady;
    bool started = false;         ///< its pbt_start event is journaled
    std::string final_snapshot;   ///< its finished segment's snapshot ("" none)
    double step = 0;
    std::optional<double> value;  ///< the last pause's metric, kept across an exploit; none after a failure
    std::string latest;           ///< its latest snapshot ("" none)
    std::string adopt;            ///< snapshot to load before its next segment
    int failures = 0;
    int decisions = 0;            ///< explore draws so far (its stream index)
    int results = 0;              ///< segments that came back (names its snapshots)
    std::uint64_t queued = 0;     ///< when it became ready: the turn among equal steps
    std::vector<PbtSegment> lineage;
    std::optional<ResultRow> last_failure;
  };

  double score(double v) const;
  double target(const Member& m) const;  ///< the step its next segment trains to
  msg::Assign assign_for(int i) const;
  int index_of(const std::string& id) const;
  /// Members with a value, best first (ties by index).
  std::vector<int> ranked() const;
  /// Exploit: member i copies a member of the top quantile (excluding i); false if none.
  bool exploit(int i, double step, ExploitReason reason, bool quantile_only);
  /// A deciding member's decision: exploit when it ranks in the bottom quantile, else continue.
  void decide(int i, double step);
  /// Ready for its next segment, queued behind the members that became ready before it.
  void make_ready(Member& m);
  void serve_waiting();
  /// A segment came back (also from restore's result.json): journaled, applied, decided.
  Verdict settle(int i, const msg::Assign& assign, const ResultRow& row);
  void release(const std::string& snapshot);
  /// The member an event names, checked against this population (a journal of another spec).
  int member_of(int member, const std::string& trial) const;

  // Each event's state change, applied when it is decided and when restore() replays it.
  void apply(const journal::PbtStart& ev);
  /// `row`: the segment's row when known (live); restore() has the event's facts only.
  void apply(const journal::PbtResult& ev, const ResultRow* row = nullptr);
  void apply(const journal::PbtExploit& ev);
  void apply(const journal::PbtContinue& ev);

  PbtOptions opt_;
  std::vector<Member> members_;
  std::map<std::string, int> index_;
  std::map<std::string, std::set<int>> pins_;  ///< snapshot -> members that will load it
  std::function<void(const nlohmann::json&)> journal_;
  std::function<void(const std::string&)> remove_snapshot_;
  bool replaying_ = false;
  int exploits_ = 0;
  std::uint64_t queued_ = 0;  ///< ready order so far (Member::queued)
  std::vector<ResultRow> recovered_;  ///< final rows found by restore (result.json)
  std::set<std::string> finals_;      ///< finished segments' snapshots (their row), kept
};

/// A fixed schedule (the spec's "search": {"kind": "schedule", "segments": [...]}): its one
/// trial trains segment by segment, pausing at each `until`, with each segment's parameters
/// applied from its start on. Journal: {"event": "schedule_segment", "segment": k, "step"}.
class FixedScheduleScheduler final : public Scheduler {
 public:
  FixedScheduleScheduler(sweeps::Trial trial, std::vector<ScheduleSegment> segments,
                         std::function<void(const nlohmann::json&)> journal = {});
  void restore(const std::vector<nlohmann::json>& events, const std::set<std::string>& finished);

  /// A failed segment ends the schedule: no retry rule.
  bool retries_failed() const override { return false; }
  int pending() const override { return state_ == State::kReady ? 1 : 0; }

  /// The parameters of segment k (the trial's, with segments 0..k's changes applied).
  nlohmann::json params_at(int k) const;

 protected:
  const msg::Assign* choose(int worker) const override;
  msg::Assign commit(int worker, std::optional<msg::Assign> shown) override;
  Verdict decide_result(int worker, const msg::Assign& assign, const ResultRow& row,
                        bool draining) override;

 private:
  enum class State { kReady, kRunning, kDone };
  /// A finished segment's state change, applied when it is decided and when restore() replays it.
  void apply(const journal::ScheduleSegment& ev);
  sweeps::Trial trial_;
  std::vector<ScheduleSegment> segments_;
  std::function<void(const nlohmann::json&)> journal_;
  int segment_ = 0;
  State state_ = State::kReady;
};

}  // namespace ns::engine
