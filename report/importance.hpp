#pragma once
// What mattered in a sweep: hyperparameter importance by PED-ANOVA (Watanabe, Bansal, Hutter,
// "PED-ANOVA: Efficiently Quantifying Hyperparameter Importance in Arbitrary Subspaces",
// IJCAI 2023), global variant, and the Pareto front of two metrics. The computations are pure
// functions of values (no files, no Plotly); importance_of() and pareto_of() read a loaded
// Results (report/results.hpp). Definitions and parameters: report/README.md, "What mattered".
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace ns::report {

struct Results;
struct Selection;

/// A parameter's search space, the baseline region of the global variant.
struct Domain {
  enum class Kind {
    kRange,        ///< uniform on [low, high] (a "uniform" or a wide "int" distribution)
    kLogRange,     ///< log-uniform on [low, high] (uniform in log space)
    kValues,       ///< numeric values in increasing order (a grid, a narrow "int", a "choice")
    kCategorical,  ///< unordered values (strings, booleans, mixed)
  };
  Kind kind = Kind::kCategorical;
  double low = 0, high = 0;         ///< kRange, kLogRange
  std::vector<std::string> values;  ///< kValues, kCategorical: each value as results.csv writes it
  std::string source;               ///< where it came from, e.g. "random: log_uniform [1e-4, 0.01]"
  /// The number of distinct values (0 for a range with low < high).
  std::size_t distinct() const;
};

/// The estimator's settings; the defaults are the paper's and Optuna's.
struct ImportanceOptions {
  double gamma = 0.1;         ///< γ': the top quantile of trials
  int min_top = 2;            ///< at least this many top trials
  int quadrature = 201;       ///< points of the trapezoid rule on the unit interval (ranges)
  double prior_weight = 1.0;  ///< weight of the baseline density mixed into each Parzen estimate
  double min_bandwidth = 0.01;          ///< ranges: smallest kernel width, in units of the range
  double min_index_bandwidth = 0.5 / 1.64;  ///< ordered values: smallest width, in value steps
};

/// One parameter's importance.
struct ParamImportance {
  std::string param;
  Domain domain;
  double raw = 0;       ///< Pearson divergence of the top trials' density from the baseline; NaN: n/a
  double fraction = 0;  ///< raw / sum of raws (NaN when n/a)
  std::string why_na;   ///< why not computed (one value in the space), "" otherwise
};

/// The importances of a sweep's varied parameters.
struct ImportanceResult {
  std::vector<ParamImportance> params;  ///< most important first; n/a last
  int trials = 0;                       ///< trials used (ok, or stopped with early stopping)
  int top = 0;                          ///< the top trials (ties at the cut included)
  std::string rows;                     ///< which rows were used, in words
  std::string why_none;                 ///< non-empty: no importance computed, and why
};

/// A trial's rank key: larger is better, compared lexicographically (the stage it reached,
/// then its metric oriented so that higher is better).
using RankKey = std::pair<double, double>;

/// PED-ANOVA, global variant. `cells[t][d]` is trial t's value of parameter d as results.csv
/// writes it; `keys[t]` its rank key. The top trials are the best max(min_top, ceil(gamma n)),
/// with every trial tied with the last of them. For each parameter with two or more values in
/// its domain: the Pearson divergence D(p_top || q) = ∫ q (p_top / q - 1)^2 between the Parzen
/// estimate p_top of its values among the top trials and the baseline q, uniform over the
/// domain (in log space for kLogRange). No importance (why_none set) with fewer than min_top
/// trials or when every trial is a top trial.
ImportanceResult ped_anova(const std::vector<std::string>& params,
                           const std::vector<Domain>& domains,
                           const std::vector<std::vector<std::string>>& cells,
                           const std::vector<RankKey>& keys, const ImportanceOptions& options = {});

/// The Pearson divergence ∫_0^1 (p(u) - 1)^2 du of the Parzen estimate p of `points` (in [0, 1])
/// from the uniform density: Gaussian kernels truncated to [0, 1], Scott's bandwidth, the
/// uniform baseline mixed in with options.prior_weight.
double range_divergence(const std::vector<double>& points, const ImportanceOptions& options = {});

/// Σ_k (p_k - 1/K)^2 / (1/K) for the smoothed histogram p of value indices (in [0, K)): with
/// `ordered`, discrete Gaussian kernels over the indices (Scott's bandwidth); without, counts;
/// both mixed with the uniform baseline with options.prior_weight.
double values_divergence(const std::vector<std::size_t>& indices, std::size_t k, bool ordered,
                         const ImportanceOptions& options = {});

/// Each varied parameter's domain: sweep.json's spec (a grid's values, a random distribution),
/// else the values results.csv holds (numeric with more than 32 distinct: the range they span).
std::vector<Domain> search_domains(const Results& results);

/// PED-ANOVA over a loaded sweep under `selection`: ok trials with a finite metric; with early
/// stopping (results.csv has rungs) also stopped trials, ranked first by the stage they reached
/// (trained to the end above any rung, then the rung), then by the metric.
ImportanceResult importance_of(const Results& results, const Selection& selection);

/// Indices of the points (a[i], b[i]) no other point dominates (at least as good in both, better
/// in one), in the order of `a` best first (ties: `b` best first, then index). Equal points are
/// all on the front. Non-finite points are never on it.
std::vector<std::size_t> pareto_front(const std::vector<double>& a, const std::vector<double>& b,
                                      bool maximize_a, bool maximize_b);

/// The second metric of the report's Pareto view.
struct SecondMetric {
  std::string name;  ///< a metric column, wall_s, or a numeric parameter column
  bool maximize = false;
  std::string mode_source;  ///< "as --mode2 says", "inferred from the name"
};

/// Picks --metric2 / --mode2 (empty: wall_s, min). Throws ns::Error (exit 2) naming the columns
/// it could be for an unknown name, the ranking metric itself, or a mode it cannot infer.
SecondMetric choose_second(const Results& results, const Selection& selection,
                           const std::string& name, const std::string& mode);

/// The Pareto view: every ok trial with finite values of both metrics, and the front.
struct ParetoView {
  SecondMetric second;
  std::vector<std::string> ids;  ///< the ok trials with both values
  std::vector<double> metric, metric2;
  std::vector<std::size_t> front;  ///< indices into ids, the first metric best first
};

ParetoView pareto_of(const Results& results, const Selection& selection,
                     const SecondMetric& second);

/// A trial's value of `name` for the Pareto view: a metric column, else its cell as a number
/// (wall_s, a parameter); NaN when absent or not a number.
double trial_value(const Results& results, std::size_t trial, const std::string& name);

}  // namespace ns::report
