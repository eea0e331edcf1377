#pragma once
// Hyperband with each bracket an ASHA (engine/asha.hpp).
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/asha.hpp"

namespace ns::engine {

/// Hyperband (Li et al., JMLR 2018) with each bracket an ASHA (as in the ASHA paper, Section
/// 3.3): s_max = floor(log_eta(max / min)); bracket s = s_max .. 0 starts at min_s = max / eta^s
/// (so its rungs are min_s * eta^k up to max) and gets a share of the configurations proportional
/// to Hyperband's n_s = ceil((s_max + 1) / (s + 1) * eta^s), split in sweep order by largest
/// remainders. Bracket 0 trains its configurations to max (random search). A free worker takes
/// the first job any bracket has, the most aggressive bracket first.
class HyperbandScheduler final : public Scheduler {
 public:
  HyperbandScheduler(std::vector<sweeps::Trial> trials, AshaOptions options,
                     std::function<void(const nlohmann::json&)> journal = {});
  void restore(const std::vector<nlohmann::json>& events, const std::set<std::string>& finished);

  int pending() const override;
  bool may_have_more() const override;
  std::vector<ResultRow> final_rows() override;
  std::vector<ResultRow> restored_rows() override;
  void annotate(const msg::Assign& assign, ResultRow& row) const override;
  double resource_used() const override;

  /// Bracket s's ASHA (s = 0 .. s_max) and the trial ids it was given.
  int brackets() const { return static_cast<int>(brackets_.size()); }
  const AshaScheduler& bracket(int s) const { return *brackets_.at(s); }
  std::vector<std::string> bracket_trials(int s) const;

 protected:
  /// The first job any bracket has, the most aggressive bracket first (kept by show(), so that
  /// commit() knows its bracket by the trial's id).
  const msg::Assign* choose(int worker) const override;
  msg::Assign commit(int worker, std::optional<msg::Assign> shown) override;
  Verdict decide_result(int worker, const msg::Assign& assign, const ResultRow& row,
                        bool draining) override;
  void requeue(int worker, msg::Assign again) override;
  Decision decide_report(int worker, const msg::Report& report) override;

 private:
  int owner(const std::string& id) const;
  std::vector<std::unique_ptr<AshaScheduler>> brackets_;  ///< index s
  std::map<std::string, int> owner_;                      ///< trial id -> bracket
};

/// Hyperband's split of `n` configurations over brackets s = 0 .. s_max (see above).
std::vector<int> hyperband_split(int n, double min, double max, double eta);
}  // namespace ns::engine
