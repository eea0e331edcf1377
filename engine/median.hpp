#pragma once
// The median stopping rule behind the coordinator's scheduler seam.
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/asha.hpp"  // SchedulerRange
#include "engine/journal.hpp"
#include "engine/scheduler.hpp"
#include "sweeps/spec.hpp"

namespace ns::engine {

/// The median stopping rule (Golovin et al., "Google Vizier", KDD 2017; Ray Tune's
/// MedianStoppingRule): every trial trains toward `max` and reports every `every` units from
/// `min` (the grace period) on; at a report at resource r it stops when its best value so far is
/// worse than the median, over the trials that trained to the end, of their running averages up
/// to r — once at least `min_samples` such trials exist. Ties continue.
struct MedianOptions {
  double min = 1, max = 1, every = 1;
  int min_samples = 3;
  std::string metric;
  bool maximize = true;
};

class MedianStoppingScheduler final : public Scheduler {
 public:
  MedianStoppingScheduler(std::vector<sweeps::Trial> trials, MedianOptions options,
                          std::function<void(const nlohmann::json&)> journal = {});
  void restore(const std::vector<nlohmann::json>& events, const std::set<std::string>& finished);

  int pending() const override;
  void annotate(const msg::Assign& assign, ResultRow& row) const override;
  /// Rows of trials stopped before a restart whose rows the kill lost.
  std::vector<ResultRow> restored_rows() override;
  /// Per trial: running, the next report's resource (or max); trained to the end, max; ended
  /// sooner, its last report's resource (0 without one).
  double resource_used() const override { return used_; }

  /// The report resources: min, min + every, ... below max.
  const std::vector<double>& checks() const { return checks_; }

 protected:
  const msg::Assign* choose(int worker) const override;
  msg::Assign commit(int worker, std::optional<msg::Assign> shown) override;
  Verdict decide_result(int worker, const msg::Assign& assign, const ResultRow& row,
                        bool draining) override;
  void requeue(int worker, msg::Assign again) override;
  Decision decide_report(int worker, const msg::Report& report) override;

 private:
  struct Entry {
    sweeps::Trial trial;
    bool started = false, complete = false;  ///< complete: trained to the end
    bool ended = false;                      ///< has its row (or its end event)
    int attempt = 1;
    std::vector<std::pair<double, double>> curve{};  ///< (resource, value) of its reports
    double charged = 0;                      ///< its share of resource_used()
    bool stopped = false;                    ///< told to stop (its row may still be owed)
    std::map<std::string, double> stop_metrics{};  ///< the report it was stopped at
    bool row_owed = false;  ///< stopped before a restart that found no row: restored_rows()
    bool end_journaled = false;  ///< its "end" event is in the journal
  };
  double score(double v) const;
  int index_of(const std::string& id) const;
  // Each decision's state change, applied when it is made and when restore() replays it.
  void apply(int i, const journal::Start& ev);
  void apply(int i, const journal::Report& ev);
  void apply(int i, const journal::End& ev);
  void add_point(int i, double resource, double value);
  void charge(int i);

  MedianOptions opt_;
  std::vector<double> checks_;
  std::vector<Entry> entries_;
  std::vector<int> again_;
  std::unordered_map<std::string, int> index_;  ///< trial id -> entry
  std::function<void(const nlohmann::json&)> journal_;
  double used_ = 0;
};

/// The options of a spec whose "scheduler" block is "kind": "median", with its metric, mode and
/// retries.
/// The spec's "scheduler" block for the median rule ({"kind": "median", "resource", "min",
/// "max", "every", "min_samples"}), parsed by from_json.
struct MedianSpec : SchedulerRange {
  double every = 0;      ///< resource between two reports
  int min_samples = 3;   ///< finished trials needed before any stop

  static MedianSpec from_json(const sweeps::SpecBlocks& blocks);
};

/// The options of a median-rule sweep: `m` with the spec's metric and mode.
MedianOptions median_options(const sweeps::SweepSpec& spec, const MedianSpec& m);

}  // namespace ns::engine
