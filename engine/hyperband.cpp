#include "engine/hyperband.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace ns::engine {

std::vector<int> hyperband_split(int n, double min, double max, double eta) {
  AshaOptions o;
  o.min = min;
  o.max = max;
  o.eta = eta;
  const int s_max = static_cast<int>(asha_rungs(o).size()) - 1;
  std::vector<double> weight;
  double total = 0;
  for (int s = 0; s <= s_max; ++s) {
    weight.push_back(std::ceil(static_cast<double>(s_max + 1) / (s + 1) * std::pow(eta, s)));
    total += weight.back();
  }
  std::vector<int> out(weight.size());
  std::vector<std::pair<double, int>> remainder;
  int given = 0;
  for (std::size_t s = 0; s < weight.size(); ++s) {
    const double exact = n * weight[s] / total;
    out[s] = static_cast<int>(std::floor(exact));
    given += out[s];
    remainder.emplace_back(exact - out[s], -static_cast<int>(s));  // ties: the larger s first
  }
  std::sort(remainder.rbegin(), remainder.rend());
  for (int k = 0; given < n; ++k, ++given) out[static_cast<std::size_t>(-remainder[k].second)] += 1;
  return out;
}

HyperbandScheduler::HyperbandScheduler(std::vector<sweeps::Trial> trials, AshaOptions options,
                                       std::function<void(const nlohmann::json&)> journal) {
  NS_CHECK(options.promotion, "scheduler: hyperband runs its brackets with the promotion variant");
  std::stable_sort(trials.begin(), trials.end(),
                   [](const sweeps::Trial& a, const sweeps::Trial& b) { return a.index < b.index; });
  const std::vector<int> split =
      hyperband_split(static_cast<int>(trials.size()), options.min, options.max, options.eta);
  const int s_max = static_cast<int>(split.size()) - 1;
  // Configurations in sweep order (or shuffled), dealt to the most aggressive bracket first.
  if (options.shuffle) {
    const std::vector<int> order =
        seeded_permutation(static_cast<int>(trials.size()), options.order_seed);
    std::vector<sweeps::Trial> shuffled;
    for (int i : order) shuffled.push_back(trials[static_cast<std::size_t>(i)]);
    trials = std::move(shuffled);
  }
  std::size_t next = 0;
  brackets_.resize(split.size());
  for (int s = s_max; s >= 0; --s) {
    std::vector<sweeps::Trial> mine;
    for (int k = 0; k < split[s]; ++k) {
      owner_[trials[next].id] = s;
      mine.push_back(trials[next++]);
    }
    AshaOptions o = options;
    o.min = options.max / std::pow(options.eta, s);
    auto tagged = [journal, s](const nlohmann::json& e) {
      if (!journal) return;
      nlohmann::json t = e;
      t["bracket"] = s;
      journal(t);
    };
    brackets_[s] = std::make_unique<AshaScheduler>(std::move(mine), o, tagged);
  }
}

double HyperbandScheduler::resource_used() const {
  double used = 0;
  for (const auto& b : brackets_) used += b->resource_used();
  return used;
}

std::vector<std::string> HyperbandScheduler::bracket_trials(int s) const {
  std::vector<std::string> ids;
  for (const auto& [id, b] : owner_)
    if (b == s) ids.push_back(id);
  return ids;
}

int HyperbandScheduler::owner(const std::string& id) const {
  auto it = owner_.find(id);
  NS_CHECK(it != owner_.end(), "internal: hyperband has no trial {}", id);
  return it->second;
}

void HyperbandScheduler::restore(const std::vector<nlohmann::json>& events,
                                 const std::set<std::string>& finished) {
  std::vector<std::vector<nlohmann::json>> per(brackets_.size());
  for (const auto& e : events) {
    auto it = owner_.find(e.value("trial", std::string()));
    if (it != owner_.end()) per[it->second].push_back(e);
  }
  for (std::size_t s = 0; s < brackets_.size(); ++s) brackets_[s]->restore(per[s], finished);
}

const msg::Assign* HyperbandScheduler::choose(int worker) const {
  for (int s = static_cast<int>(brackets_.size()) - 1; s >= 0; --s)
    if (const msg::Assign* a = brackets_[s]->next(worker)) return show(*a);
  return nullptr;
}

msg::Assign HyperbandScheduler::commit(int worker, std::optional<msg::Assign> shown) {
  NS_CHECK(shown.has_value(), "internal: HyperbandScheduler::commit without a job");
  return brackets_[owner(shown->trial.id)]->take(worker);
}

Verdict HyperbandScheduler::decide_result(int worker, const msg::Assign& assign,
                                          const ResultRow& row, bool draining) {
  return brackets_[owner(assign.trial.id)]->on_result(worker, assign, row, draining);
}

void HyperbandScheduler::requeue(int worker, msg::Assign again) {
  brackets_[owner(again.trial.id)]->retry(worker, std::move(again));
}

int HyperbandScheduler::pending() const {
  int n = 0;
  for (const auto& b : brackets_) n += b->pending();
  return n;
}

Decision HyperbandScheduler::decide_report(int worker, const msg::Report& report) {
  return brackets_[owner(report.trial_id)]->on_report(worker, report);
}

bool HyperbandScheduler::may_have_more() const {
  for (const auto& b : brackets_)
    if (b->may_have_more()) return true;
  return false;
}

std::vector<ResultRow> HyperbandScheduler::final_rows() {
  std::vector<ResultRow> rows;
  for (auto& b : brackets_)
    for (auto& r : b->final_rows()) rows.push_back(std::move(r));
  return rows;
}

std::vector<ResultRow> HyperbandScheduler::restored_rows() {
  std::vector<ResultRow> rows;
  for (auto& b : brackets_)
    for (auto& r : b->restored_rows()) rows.push_back(std::move(r));
  return rows;
}

void HyperbandScheduler::annotate(const msg::Assign& assign, ResultRow& row) const {
  brackets_[owner(assign.trial.id)]->annotate(assign, row);
}

}  // namespace ns::engine
