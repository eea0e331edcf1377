#pragma once
// The sampling core of a Tree-structured Parzen Estimator (TPE: Bergstra, Bardenet, Bengio &
// Kegl, "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011), univariate, with the
// defaults and heuristics of Optuna's TPESampler (optuna/samplers/_tpe/sampler.py,
// parzen_estimator.py). Pure: no scheduler, no I/O; a proposal depends only on the space, the
// options, the observations in journal order and a seed.
//
// 1. Startup: while fewer than `startup` observations are complete or stopped (running ones do
//    not count), every parameter is drawn from the prior with the random search's semantics
//    (tpe_prior_draw).
// 2. Split: n = complete + stopped observations; the best gamma(n) = min(ceil(0.1 n), 25) form
//    the good group, the rest and every running observation the bad group (Optuna's
//    constant_liar=True: concurrent workers are steered away from what is being trained).
//    Ranking (Optuna's _split_trials): complete observations first, better value first; then
//    stopped ones, the larger rung resource first, then better value at that rung; a NaN value
//    is worse than every number of its class; ties keep journal order (earlier first).
// 3. Densities: per parameter and group, a Parzen estimator (ParzenEstimator) over the group's
//    observations that have the parameter, weighted by tpe_weights in journal order, plus a
//    prior kernel of weight `prior_weight`: l(x) from the good group, g(x) from the bad one.
// 4. Propose: per parameter, `candidates` draws from l; the one with the largest
//    log l(x) - log g(x) wins (ties: the first drawn).
//
// Determinism: parameter `name` draws from its own splitmix64 stream seeded with
// core::mix_seed(seed, core::fnv1a(name)) (adding a parameter changes no other's draws);
// normals come from an inverse CDF (Wichura's AS 241) of our own, not from
// std::normal_distribution. Results are bit-identical wherever std::erfc, std::log and std::exp
// are (IEEE doubles; libm differences of an ulp could only flip a near-tie).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "sweeps/spec.hpp"

namespace ns::engine {

/// Optuna's TPESampler defaults (consider_magic_clip=True, consider_endpoints=False,
/// multivariate=False, constant_liar=True are fixed, not options).
struct TpeOptions {
  int startup = 10;             ///< n_startup_trials: prior draws before this many finished
  int candidates = 24;          ///< n_ei_candidates (>= 1)
  double gamma_fraction = 0.1;  ///< gamma(n) = min(ceil(gamma_fraction * n), gamma_max)
  int gamma_max = 25;
  double prior_weight = 1.0;  ///< weight of the prior kernel (> 0)
  bool maximize = true;       ///< the sweep's mode
};

/// How far an observed trial got.
enum class TpeState {
  kComplete,  ///< trained to the end; `value` is its final value
  kStopped,   ///< stopped (or paused) at a rung; `value` at that rung, `resource` the rung's
  kRunning,   ///< proposed and still training; no value (constant liar: counts as bad)
};

/// One trial as the journal recorded it.
struct TpeObservation {
  /// {name: value}; a name that is absent or null is left out of that parameter's densities.
  nlohmann::json params = nlohmann::json::object();
  TpeState state = TpeState::kComplete;
  double value = std::numeric_limits<double>::quiet_NaN();
  double resource = 0;
};

/// The search space: (name, distribution), names sorted and distinct (SweepSpec::random).
using TpeSpace = std::vector<std::pair<std::string, sweeps::Distribution>>;

/// gamma(n) = min(ceil(gamma_fraction * n), gamma_max) (Optuna's default_gamma).
int tpe_gamma(int n, const TpeOptions& options);

/// Optuna's default_weights: n ones for n < 25; else a linear ramp from 1/n to 1 over the
/// n - 25 oldest (numpy.linspace(1/n, 1, n - 25)) then 25 ones. Oldest first.
std::vector<double> tpe_weights(int n);

/// Complete and stopped observations (those that count for startup and gamma).
int tpe_finished(const std::vector<TpeObservation>& observations);

/// The good and bad groups, as indices into the observations, each in journal order.
struct TpeSplit {
  std::vector<int> good, bad;
};
/// Splits by the ranking above: the first gamma(tpe_finished) ranked are good.
TpeSplit tpe_split(const std::vector<TpeObservation>& observations, const TpeOptions& options);

/// A value drawn from `d` with the random search's semantics from u in [0, 1): uniform
/// low + u (high - low); log_uniform the same in log space; int low + floor(u (high - low + 1)),
/// inclusive; choice the floor(u K)-th of K. Ints as integers, choices as written.
nlohmann::json tpe_prior_draw(const sweeps::Distribution& d, double u);

/// A parameter's value as the estimator sees it: the number (uniform, log_uniform, int) or
/// the index of the first choice equal to it (choice). Throws ns::Error for a value outside
/// the distribution, saying where (`where`, e.g. "tpe observation 3 'lr'") and what is allowed.
double tpe_point(const sweeps::Distribution& d, const nlohmann::json& value,
                 const std::string& where);
/// The JSON value of a point: double, integer, or the choice's value.
nlohmann::json tpe_value(const sweeps::Distribution& d, double point);

/// The Parzen estimator of one parameter over one group (Optuna's univariate
/// _ParzenEstimator): kernels at the observations, oldest first, then the prior kernel.
/// * uniform: truncated normals on [low, high]; log_uniform: the same on [log low, log high]
///   for log x; int: the same on [low - 1/2, high + 1/2], P(k) the kernels' mass on
///   [k - 1/2, k + 1/2] (CDF differences; sampling rounds a continuous draw, as Optuna's
///   discrete distributions). Prior kernel: mean the midpoint, sigma the width. Bandwidth of an
///   observation: the larger gap to its neighbours among the sorted observations and the prior
///   mean, with the range's ends as outer neighbours, except that the lowest and highest use
///   their inner gap (consider_endpoints=False); then clipped to [width / min(100, n + 2),
///   width] (magic clip, n observations). Equal means sort in journal order, the prior last.
/// * choice: kernel i puts 1 + prior_weight / (n + 1) on the observed choice and
///   prior_weight / (n + 1) on each choice, normalized; the prior kernel is uniform.
/// Kernel weights: tpe_weights(n) then prior_weight, normalized (the prior alone when n = 0).
class ParzenEstimator {
 public:
  /// `points` as tpe_point gives them, in journal order; prior_weight > 0.
  ParzenEstimator(const sweeps::Distribution& d, std::vector<double> points, double prior_weight);

  /// log density at point x: uniform, log_uniform per unit of x (the log-space density at
  /// log x minus log x, the Jacobian); int and choice: log P(x). -inf outside the support.
  double log_pdf(double x) const;
  /// A point drawn with two uniforms in [0, 1): `u_kernel` picks a kernel by weight, `u_value`
  /// is pushed through its inverse CDF (numbers) or its cumulative choice weights (choice).
  double sample(double u_kernel, double u_value) const;

  /// Normalized kernel weights, the prior's last.
  const std::vector<double>& weights() const { return weights_; }
  /// Kernel means and bandwidths in the estimator's space (log x for log_uniform; empty for
  /// choice), the prior's last.
  const std::vector<double>& mus() const { return mus_; }
  const std::vector<double>& sigmas() const { return sigmas_; }
  /// choice: each kernel's probabilities over the choices, the prior's last.
  const std::vector<std::vector<double>>& choice_weights() const { return choice_weights_; }
  /// The support in the estimator's space: [low, high], [log low, log high],
  /// [low - 1/2, high + 1/2], or [0, K - 1].
  double low() const { return low_; }
  double high() const { return high_; }

 private:
  double log_density_internal(double y) const;  ///< continuous mixture in the estimator's space
  sweeps::Distribution dist_;
  std::vector<double> weights_, mus_, sigmas_;
  /// Per kernel, what log_pdf would otherwise recompute for every candidate: log weight, and
  /// (numbers) log sigma and the log of the kernel's mass on the support. Each term is
  /// summed in the same order as before, so densities are bit-identical.
  std::vector<double> log_weights_, log_sigmas_, log_masses_;
  std::vector<std::vector<double>> choice_weights_;
  double low_ = 0, high_ = 0;
};

/// One candidate of one parameter: its point, log l and log g there.
struct TpeCandidate {
  double point = 0;
  double log_l = 0, log_g = 0;
  double score() const { return log_l - log_g; }
};

/// The sampler over a fixed space and options.
class TpeSampler {
 public:
  /// Throws ns::Error for names not sorted or repeated, an unknown or ill-formed distribution
  /// (low < high, low > 0 for log_uniform, integral bounds for int, choices non-empty), or
  /// options out of range (candidates >= 1, startup >= 0, gamma_fraction >= 0, gamma_max >= 0,
  /// prior_weight > 0).
  TpeSampler(TpeSpace space, TpeOptions options);

  /// The next configuration {name: value}, from `seed` and the observations in journal order.
  /// Observation values must lie in the space (see tpe_point).
  nlohmann::json propose(const std::vector<TpeObservation>& observations, std::uint64_t seed) const;
  /// True when propose draws from the prior (fewer than `startup` finished observations).
  bool in_startup(const std::vector<TpeObservation>& observations) const;

  /// l (good group) and g (bad group) of parameter `name`.
  std::pair<ParzenEstimator, ParzenEstimator> densities(
      const std::string& name, const std::vector<TpeObservation>& observations) const;
  /// The candidates propose draws for `name` after startup, in draw order; propose takes the
  /// first of the largest score.
  std::vector<TpeCandidate> candidates(const std::string& name,
                                       const std::vector<TpeObservation>& observations,
                                       std::uint64_t seed) const;

  const TpeSpace& space() const { return space_; }
  const TpeOptions& options() const { return options_; }

 private:
  int index_of(const std::string& name) const;
  std::pair<ParzenEstimator, ParzenEstimator> densities(
      int p, const std::vector<TpeObservation>& observations, const TpeSplit& split) const;
  std::vector<TpeCandidate> candidates(int p, const std::vector<TpeObservation>& observations,
                                       const TpeSplit& split, std::uint64_t seed) const;

  TpeSpace space_;
  TpeOptions options_;
};

}  // namespace ns::engine
