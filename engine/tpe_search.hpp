#pragma once
// TPE search behind the scheduler seam: the spec's "random" block gives the space and the
// number of trials, and "search": {"kind": "tpe", ...} makes each trial after the first
// `startup` a TPE proposal (engine/tpe.hpp) from the results recorded so far.
//
// * Trials 0 .. startup-1 are the random search's own first draws (sweeps::enumerate): TPE and
//   the random search it is compared with start from the same configurations.
// * Trial k >= startup is proposed when a worker asks for it, from the observations in journal
//   order (the proposals, each with its state: complete with its value, or still running: the
//   constant liar), with the seed core::mix_seed(spec seed, 100 k). A proposal whose trial id
//   already exists (a repeat of a configuration: small int or choice spaces) is drawn again
//   with the next seed: 10 times by TPE, then up to 90 times from the prior; when all fail the
//   space is taken as exhausted and the search ends early (logged).
// * Failed trials (after their retries) are left out of the densities, as Optuna leaves out
//   failed trials; they are not proposed again (their id exists).
// * Journal (reports.jsonl, through the ResultSink), written before the row:
//     {"event": "tpe_propose", "index": k, "trial": id, "params": {name: value}}
//     {"event": "tpe_result", "trial": id, "status": "ok"|"failed"|..., "value": v}
//   restore() replays it: a resumed sweep has the observations the interrupted one had, in the
//   same order, so trial k is what the uninterrupted sweep would have proposed from the same
//   journal. Trials proposed and not finished are handed out again first.
#include <nlohmann/json.hpp>

#include <deque>
#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/journal.hpp"
#include "engine/scheduler.hpp"
#include "engine/tpe.hpp"
#include "sweeps/spec.hpp"

namespace ns::engine {

struct TpeSearchOptions {
  TpeOptions tpe;
  int trials = 0;          ///< trials in all (the random block's count)
  std::uint64_t seed = 0;  ///< the spec's seed
  std::string metric;      ///< the sweep's metric (TpeOptions::maximize its mode)
  /// A warm start's prior observations (engine/warm_start.hpp), seen before the sweep's own.
  std::vector<TpeObservation> prior;
};

/// The spec's "search" block for TPE ({"kind": "tpe", "startup", "candidates", "gamma",
/// "gamma_max", "prior_weight"}), parsed by from_json; alone or as TPE + ASHA's source of new
/// configurations.
struct TpeSpec : sweeps::SearchOptions {
  int startup = 10;          ///< random draws before TPE proposes (Optuna's n_startup_trials)
  int candidates = 24;       ///< draws from l(x) per proposal (n_ei_candidates)
  double gamma = 0.1;        ///< good fraction: gamma(n) = min(ceil(gamma n), gamma_max)
  int gamma_max = 25;
  double prior_weight = 1.0;

  /// Parses blocks.search; `with_asha`: the "scheduler" block is ASHA's (TPE + ASHA), else a
  /// "scheduler" block is refused.
  static TpeSpec from_json(const sweeps::SpecBlocks& blocks, bool with_asha);
  /// The startup draws are listed; the others are proposed as results come in.
  int listed_draws(int random_count) const override { return std::min(startup, random_count); }
  bool takes_warm_start() const override { return true; }
};

/// The options of a spec with "search": {"kind": "tpe", ...}.
TpeSearchOptions tpe_search_options(const sweeps::SweepSpec& spec, const TpeSpec& t);

/// Builds trial `index` from a proposal (the searched parameters only): resolved parameters,
/// id, seed and cost (the application knows the family and the data).
using MakeTrial = std::function<sweeps::Trial(int index, const nlohmann::json& proposal)>;

/// Proposal k from the observations, as a trial not tried yet (see the redraws above); nullopt
/// when every draw repeated a tried one. Shared by TpeScheduler and TPE + ASHA.
class TpeProposer {
 public:
  TpeProposer(TpeSpace space, TpeSearchOptions options, MakeTrial make_trial);
  std::optional<sweeps::Trial> propose(int k, const std::vector<TpeObservation>& observations,
                                       const std::function<bool(const std::string&)>& tried) const;
  /// The searched parameters of `params` (what the journal and the observations keep).
  nlohmann::json searched(const nlohmann::json& params) const;
  const TpeSearchOptions& options() const { return options_; }
  sweeps::Trial make(int index, const nlohmann::json& proposal) const {
    return make_trial_(index, proposal);
  }
  /// The trial of a journaled "tpe_propose" event, checked to be proposal `expected` (the
  /// next in order) and to have the id the journal recorded; `startup` gives the trials of the
  /// startup draws. Throws ns::Error naming reports.jsonl when the journal is not this spec's.
  sweeps::Trial replay(const nlohmann::json& event, int expected,
                       const std::vector<sweeps::Trial>& startup) const;

 private:
  TpeSampler sampler_;
  TpeSearchOptions options_;
  MakeTrial make_trial_;
};

class TpeScheduler final : public Scheduler {
 public:
  using MakeTrial = engine::MakeTrial;

  /// `startup`: the first trials, as sweeps::enumerate gives them (their "random" parameters
  /// are the startup draws); `journal` receives the events above (may be empty).
  TpeScheduler(TpeSpace space, TpeSearchOptions options, std::vector<sweeps::Trial> startup,
               MakeTrial make_trial, std::function<void(const nlohmann::json&)> journal = {});

  /// Replays the events of earlier runs, in order; `finished` holds the ids with a row.
  /// Throws ns::Error when the journal's proposals do not match this spec (it was edited).
  void restore(const std::vector<nlohmann::json>& events, const std::set<std::string>& finished);

  int pending() const override;

  /// What the sampler sees, in journal order (failed trials left out).
  std::vector<TpeObservation> observations() const;
  /// Trials proposed so far (taken at least once), in order.
  int proposed() const { return static_cast<int>(entries_.size()); }
  /// True once a proposal found no configuration that was not tried already.
  bool exhausted() const { return exhausted_; }

 protected:
  /// A queued retry, else the upcoming proposal (TPE's own cache of it): no copy.
  const msg::Assign* choose(int worker) const override;
  msg::Assign commit(int worker, std::optional<msg::Assign> shown) override;
  Verdict decide_result(int worker, const msg::Assign& assign, const ResultRow& row,
                        bool draining) override;
  void requeue(int worker, msg::Assign again) override;

 private:
  /// kRunning: handed out, its result to come; kQueued: to run again (a retry, or proposed in
  /// a run a kill cut), in again_. The sampler sees both as running (the constant liar).
  enum class State { kRunning, kQueued, kDone, kFailed };
  struct Entry {
    sweeps::Trial trial;
    nlohmann::json proposal;  ///< the searched parameters
    State state = State::kRunning;
    double value = 0;
    int attempt = 1;  ///< the attempt it runs as (a journaled retry raises it)
  };

  /// The trial the next proposal gives (cached until the state changes), or nullopt when the
  /// space is exhausted.
  const std::optional<msg::Assign>& upcoming() const;
  // Each decision's state change, applied when it is made and when restore() replays it.
  void apply(const journal::TpePropose& ev, sweeps::Trial trial);
  void apply(const journal::TpeResult& ev);
  void apply(const journal::Retry& ev);

  TpeProposer proposer_;  ///< its options() are the search's
  std::vector<sweeps::Trial> startup_;
  std::function<void(const nlohmann::json&)> journal_;
  std::vector<Entry> entries_;              ///< proposal order
  std::map<std::string, int> by_id_;
  std::deque<msg::Assign> again_;           ///< retries and trials an earlier run left running
  mutable bool exhausted_ = false;
  mutable std::optional<msg::Assign> upcoming_;
  mutable bool upcoming_valid_ = false;
};

}  // namespace ns::engine
