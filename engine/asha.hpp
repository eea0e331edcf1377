#pragma once
// Asynchronous successive halving (ASHA: Li et al., "A System for Massively Parallel
// Hyperparameter Tuning", MLSys 2020) behind the coordinator's scheduler seam.
//
// Rungs: resources r_k = min * eta^k for k = 0 .. K-1, where K = floor(log_eta(max / min)), and
// the top rung r_K = max (so a configuration that survives every rung trains to the full budget).
// Every configuration of the spec starts at rung 0; the sweep's metric, as recorded when a trial
// reaches a rung's resource, ranks it there.
//
// * promotion (the paper's Algorithm 2): a trial that reaches its rung's resource pauses there (it
//   checkpoints). A free worker gets, scanning the rungs from the top-but-one down, the best
//   paused trial of rung k that is among the top floor(n_k / eta) of the n_k trials recorded at k
//   and not yet promoted, to train on to rung k+1; when there is none, a new configuration to
//   rung 0. When there is no new configuration either and trials are still running, the worker
//   waits (a later result may make a promotion possible). At the end, paused trials that were
//   never promoted get their row with status "stopped".
// * stopping (as Ray Tune's ASHA): a trial trains toward `max`; when it reaches a rung's resource
//   it continues if its value is at least the (1 - 1/eta) quantile (linear interpolation, as
//   numpy's percentile) of the values recorded at that rung before it, else it stops (row
//   "stopped"). The first trial at a rung always continues; ties continue.
// * synchronous (successive halving rung by rung, promotion variant only): a rung's promotions
//   wait until every trial that entered it has reported or ended; then its top floor(n / eta)
//   go on. The trials, decisions and metrics then depend on neither the number of ranks nor the
//   order results arrive in.
// Ranking: better value first (the spec's mode), NaN last, ties by sweep index.
// Exact resume: every decision goes to the journal (reports.jsonl, through the ResultSink), and
// restore() rebuilds the rung tables from it and from the finished rows.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "engine/journal.hpp"
#include "engine/scheduler.hpp"
#include "engine/tpe_search.hpp"
#include "sweeps/spec.hpp"

namespace ns::engine {

struct AshaOptions {
  double min = 1;        ///< resource of rung 0
  double max = 1;        ///< resource of the top rung (the full budget)
  double eta = 3;        ///< reduction factor (> 1)
  bool promotion = true; ///< false: the stopping variant
  bool synchronous = false;
  std::string metric;    ///< the sweep's metric
  bool maximize = true;
  /// Start new configurations in a seeded shuffle of the sweep order (`order_seed`) instead of
  /// the sweep order. ASHA's promotions assume configurations arrive in random order (the
  /// paper samples them); a grid's order is not random (its last key varies fastest), and when
  /// later configurations are better, asynchronous promotion on the results seen so far sends
  /// too many to the top rung. Ranking ties still go by sweep index.
  bool shuffle = false;
  std::uint64_t order_seed = 0;
};

/// A permutation of 0 .. n-1 from `seed` (Fisher-Yates on splitmix64; the same on every
/// platform and rank).
std::vector<int> seeded_permutation(int n, std::uint64_t seed);

/// The rung resources for `o` (see above); throws ns::Error for min <= 0, max < min, eta <= 1.
std::vector<double> asha_rungs(const AshaOptions& o);

/// The (1 - 1/eta) quantile of `values` with linear interpolation between order statistics
/// (numpy.percentile's default); NaN values are ignored; nullopt when none is left.
std::optional<double> asha_cutoff(std::vector<double> values, double eta);

/// Successive halving's plan for `n` configurations: n_k = floor(n / eta^k) trials reach rung k
/// (ASHA's asynchronous variant promotes the same numbers in the end, from the results it has
/// when it decides), and the resource they use, each training from its last rung on.
struct AshaPlan {
  std::vector<double> rungs;
  std::vector<int> trials;  ///< per rung
  double resource = 0;      ///< total, in the family's units
  double full = 0;          ///< n x max: every configuration to the end
};
AshaPlan asha_plan(const AshaOptions& o, int n);

class AshaScheduler final : public Scheduler {
 public:
  /// `trials` in sweep order (index order); `journal` receives every decision as a JSON event
  /// (the coordinator's sink appends it to reports.jsonl); it may be empty.
  AshaScheduler(std::vector<sweeps::Trial> trials, AshaOptions options,
                std::function<void(const nlohmann::json&)> journal = {});

  /// Rebuilds the state of an earlier run from `events` as the journal wrote them, in order, and
  /// the ids that have a row in results.csv (those trials are over, whatever the journal says
  /// after their last rung: a kill between the journal line and the row loses neither). Trials
  /// that were running when that run ended are handed out again first, to the same rung.
  void restore(const std::vector<nlohmann::json>& events, const std::set<std::string>& finished);

  /// TPE + ASHA: once the trials given have all started, up to `more` new configurations, each
  /// proposed by `search` from observations() when a worker would start a new configuration
  /// (promotions still come first). Journaled as "tpe_propose" before the trial's "start";
  /// restore() rebuilds them. Call before restore().
  void set_search(std::shared_ptr<const TpeProposer> search, int more);
  /// What a search sees, in trial order: a trial that ended ok is complete (its value at its
  /// last rung); one paused at a rung, or stopped there, is stopped at that rung's resource
  /// (Optuna ranks pruned trials by the step they reached); a running one is running (the
  /// constant liar); failed and never-started ones are left out.
  std::vector<TpeObservation> observations() const;

  int pending() const override;
  bool may_have_more() const override;
  std::vector<ResultRow> final_rows() override;
  std::vector<ResultRow> restored_rows() override;
  void annotate(const msg::Assign& assign, ResultRow& row) const override;
  /// Per trial: running, the resource of the next rung it trains toward; paused or ended, the
  /// resource of the highest rung it recorded (a trial that ended before its first rung: 0).
  double resource_used() const override { return used_; }

  const std::vector<double>& rungs() const { return rungs_; }
  /// Trials recorded at rung k, with their values, best first (for tests and the report).
  std::vector<std::pair<std::string, double>> rung_table(int k) const;
  /// Trials paused at a rung and not promoted, by id.
  std::set<std::string> paused() const;

 protected:
  const msg::Assign* choose(int worker) const override;
  msg::Assign commit(int worker, std::optional<msg::Assign> shown) override;
  Verdict decide_result(int worker, const msg::Assign& assign, const ResultRow& row,
                        bool draining) override;
  void requeue(int worker, msg::Assign again) override;
  Decision decide_report(int worker, const msg::Report& report) override;

 private:
  /// kQueued: handed back to run again (a retry, or a trial a kill cut while training), in
  /// again_, until taken; kRunning: handed out, its result to come.
  enum class State { kNew, kRunning, kQueued, kPaused, kDone };
  struct Entry {
    sweeps::Trial trial;
    State state = State::kNew;
    int target = 0;           ///< rung it trains toward while running
    int attempt = 1;
    std::map<int, double> values{};  ///< rung -> value recorded there
    /// The highest rung recorded (-1: none).
    int rung() const { return values.empty() ? -1 : values.rbegin()->first; }
    ResultRow last{};         ///< the row it paused with (its metrics at the rung)
    double charged = 0;       ///< its share of resource_used()
    bool completed = false;   ///< ended ok (trained to its end), for observations()
    int stopped_at = -1;      ///< the rung a stop decision was made at (stopping variant)
    bool row_owed = false;    ///< stopped before a restart that found no row: final_rows() writes it
  };

  /// Ranking value: larger is better; NaN -> -inf.
  double score(double v) const;
  /// A rung's ranking key for entry i: better first, ties by sweep index.
  using Rank = std::tuple<double, int, int>;  ///< (-score, sweep index, entry)
  Rank rank_key(int i, int rung) const;
  /// The trial to promote out of rung k, or -1: the best of candidates_[k] if it is among the
  /// top floor(n_k / eta) of ranked_[k] (O(1); the sets are kept up to date as they change).
  int promotable(int k) const;
  /// How many of a rung's n recorded trials may be promoted out of it: floor(n / eta).
  std::size_t top_of(std::size_t n) const;
  /// Brings entry i's membership of candidates_ up to date (after a change of its state, its
  /// values or promoted_).
  void sync(int i);
  /// The next job: (entry index, target rung), or nullopt.
  std::optional<std::pair<int, int>> job() const;
  bool rung_complete(int k) const;
  void record(int i, int rung, double value);
  // Each decision's state change, applied when it is made and when restore() replays it.
  void apply(int i, const journal::Start& ev);
  void apply(int i, const journal::Rung& ev);
  /// Entry i has its row: it goes no further (its slots at its rungs are used).
  void finish(int i);
  /// A search's proposal becomes the next entry.
  void add_proposed(sweeps::Trial t);
  msg::Assign assign_for(int i, int target) const;
  void log(nlohmann::json event);
  int index_of(const std::string& id) const;
  /// Brings entry i's share of resource_used() up to date (after any change of its state).
  void charge(int i);

  AshaOptions opt_;
  std::vector<double> rungs_;
  std::vector<Entry> entries_;
  std::vector<std::set<Rank>> ranked_;      ///< per rung: entries recorded there, best first
  std::unordered_map<std::string, int> index_;  ///< trial id -> entry
  mutable std::size_t first_new_ = 0;       ///< no entry before it is still new
  std::vector<std::set<int>> promoted_;     ///< per rung: entries promoted out of it
  /// Per rung: the entries of ranked_ that are paused and not promoted out of it, best first.
  std::vector<std::set<Rank>> candidates_;
  /// Per rung: the last of the top floor(n / eta) of ranked_ (meaningless while that is 0).
  std::vector<std::set<Rank>::const_iterator> bound_;
  std::vector<int> again_;                  ///< entries to hand out first (retries, resumed)
  std::vector<int> start_order_;            ///< the order new entries start in
  std::function<void(const nlohmann::json&)> journal_;
  double used_ = 0;
  // TPE + ASHA (set_search): the proposer, how many configurations it may add, how many the
  // list had, and the next proposal (computed by next(), dropped at any change of state).
  std::shared_ptr<const TpeProposer> search_;
  int more_ = 0;
  std::size_t listed_ = 0;
  mutable std::optional<sweeps::Trial> proposal_;
  mutable bool proposal_valid_ = false;
  mutable bool exhausted_ = false;
  /// The next proposal, or nullptr when the search has no more.
  const sweeps::Trial* proposal() const;
  int more_left() const;
};

/// What every early-stopping "scheduler" block has: the family's resource unit and the range
/// trials train over ("resource", "min" > 0, "max" >= min). The base of each early-stopping
/// kind's options struct.
struct SchedulerRange : sweeps::SearchOptions {
  std::string resource;  ///< the family's resource unit ("iterations", "epochs", "steps")
  double min = 0, max = 0;

  /// Reads blocks.scheduler's "resource", "min" and "max".
  static SchedulerRange from_json(const sweeps::SpecBlocks& blocks);
  std::string scheduler_resource() const override { return resource; }
};

/// The spec's "scheduler" block for ASHA and Hyperband ({"kind": "asha" | "hyperband",
/// "resource", "min", "max", "eta", "variant", "synchronous", "order"}), parsed by from_json.
struct AshaSpec : SchedulerRange {
  double eta = 3;
  bool promotion = true;  ///< "variant": "promotion" (true) or "stopping"
  bool synchronous = false;
  /// "order": "shuffled" (true, the default) or "sweep": the order in which new configurations
  /// start (a shuffle seeded by the spec's seed; AshaOptions::shuffle).
  bool shuffle = true;
  bool hyperband = false;  ///< "kind": "hyperband" (brackets of ASHA, promotion only)

  /// Parses blocks.scheduler; `hyperband` for "kind": "hyperband".
  static AshaSpec from_json(const sweeps::SpecBlocks& blocks, bool hyperband);
};

/// The options of an ASHA (or Hyperband, or TPE + ASHA) sweep: `a` with the spec's seed,
/// metric and mode.
AshaOptions asha_options(const sweeps::SweepSpec& spec, const AshaSpec& a);

}  // namespace ns::engine
