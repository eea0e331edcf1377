#include "engine/estimate.hpp"

#include "core/duration.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <queue>

#include "core/error.hpp"

namespace ns::engine {

CostEstimate estimate_cost(const std::vector<Timing>& measured,
                           const std::vector<double>& pending_costs) {
  std::vector<Timing> ok;
  for (const auto& t : measured) {
    if (t.wall_s > 0 && t.cost > 0 && std::isfinite(t.wall_s) && std::isfinite(t.cost)) ok.push_back(t);
  }
  NS_CHECK(!ok.empty(), "no measured trial to estimate from (need finished trials with a wall time)");
  const double n = static_cast<double>(ok.size());
  double sw = 0, sc = 0;
  for (const auto& t : ok) {
    sw += t.wall_s;
    sc += t.cost;
  }
  const double mw = sw / n, mc = sc / n;
  double cov = 0, var = 0;
  for (const auto& t : ok) {
    cov += (t.cost - mc) * (t.wall_s - mw);
    var += (t.cost - mc) * (t.cost - mc);
  }
  CostEstimate e;
  e.samples = static_cast<int>(ok.size());
  e.s_per_cost = sw / sc;  // through the origin
  if (var > 1e-12 * mc * mc * n) {
    const double slope = cov / var, intercept = mw - slope * mc;
    if (slope < 0) {
      e.s_per_cost = 0;
      e.s_fixed = mw;
    } else if (intercept >= 0) {
      e.s_per_cost = slope;
      e.s_fixed = intercept;
    }
  }
  e.predicted_s.reserve(pending_costs.size());
  for (double c : pending_costs) e.predicted_s.push_back(e.s_fixed + c * e.s_per_cost);
  if (!e.predicted_s.empty()) {
    e.total_s = std::accumulate(e.predicted_s.begin(), e.predicted_s.end(), 0.0);
    auto [lo, hi] = std::minmax_element(e.predicted_s.begin(), e.predicted_s.end());
    e.min_s = *lo;
    e.max_s = *hi;
    e.mean_s = e.total_s / static_cast<double>(e.predicted_s.size());
  }
  return e;
}

std::vector<size_t> calibration_sample(const std::vector<double>& costs, int n) {
  std::vector<size_t> order(costs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return costs[a] < costs[b]; });
  std::vector<size_t> out;
  if (n <= 0 || order.empty()) return out;
  if (static_cast<size_t>(n) >= order.size()) return order;
  for (int i = 0; i < n; ++i) {
    const double q = n == 1 ? 0.5 : static_cast<double>(i) / (n - 1);
    const size_t at = static_cast<size_t>(std::lround(q * static_cast<double>(order.size() - 1)));
    if (out.empty() || out.back() != order[at]) out.push_back(order[at]);
  }
  return out;
}

AllocationPlan plan_allocation(const std::vector<double>& predicted_s, const Allocation& a) {
  NS_CHECK(a.workers >= 1, "workers: expected >= 1, got {}", a.workers);
  AllocationPlan p;
  std::vector<double> left = predicted_s;
  std::stable_sort(left.begin(), left.end(), std::greater<>());
  const double total = std::accumulate(left.begin(), left.end(), 0.0);
  p.bound_s = std::max(total / a.workers, left.empty() ? 0.0 : left.front());
  const bool limited = a.job_s > 0;
  p.usable_s = limited ? a.job_s - a.margin_s : 0;
  if (limited && p.usable_s <= 0) {
    p.warnings.push_back(fmt::format(
        "the job time ({}) is not longer than the margin lost at its end ({}): nothing can run",
        core::human_duration(a.job_s), core::human_duration(a.margin_s)));
    p.jobs = 0;
    return p;
  }
  if (limited && !left.empty() && left.front() > p.usable_s) {
    p.warnings.push_back(fmt::format(
        "the longest trial (about {}) is longer than a job's usable time ({}): it finishes only "
        "if its family checkpoints at the drain and resumes in the next job",
        core::human_duration(left.front()), core::human_duration(p.usable_s)));
  }
  p.jobs = 0;
  const int kJobCap = 100000;
  while (!left.empty() && p.jobs < kJobCap) {
    ++p.jobs;
    // Min-heap of the times at which workers become free within this job.
    std::priority_queue<double, std::vector<double>, std::greater<>> free_at;
    for (int w = 0; w < a.workers; ++w) free_at.push(0.0);
    std::vector<double> next;
    double job_end = 0;
    bool stopped = false;  // the coordinator stops starting once one trial does not fit
    for (size_t i = 0; i < left.size(); ++i) {
      const double d = left[i];
      const double t = free_at.top();
      if (stopped || (limited && t + d > p.usable_s && !(t == 0 && d > p.usable_s))) {
        stopped = true;
        next.push_back(d);
        continue;
      }
      free_at.pop();
      if (limited && d > p.usable_s) {  // runs until the drain, resumes next job
        next.push_back(d - p.usable_s);
        free_at.push(p.usable_s);
        job_end = std::max(job_end, p.usable_s);
        continue;
      }
      free_at.push(t + d);
      job_end = std::max(job_end, t + d);
    }
    p.makespan_s += limited && !next.empty() ? a.job_s : job_end;
    std::stable_sort(next.begin(), next.end(), std::greater<>());
    left = std::move(next);
  }
  if (a.queue_max_s > 0 && a.job_s > a.queue_max_s) {
    p.warnings.push_back(fmt::format("the job time {} exceeds the queue's limit of {}",
                                     core::human_duration(a.job_s), core::human_duration(a.queue_max_s)));
  }
  if (a.max_jobs > 0 && p.jobs > a.max_jobs) {
    p.over_max_jobs = true;
    p.warnings.push_back(fmt::format(
        "needs {} jobs of {}, more than the limit of {} (--max-jobs: the launch script's "
        "--max-resubmits + 1, or the site's limit on queued jobs or array size); ask for more "
        "workers or a longer time",
        p.jobs, core::human_duration(a.job_s), a.max_jobs));
  }
  return p;
}


}  // namespace ns::engine
