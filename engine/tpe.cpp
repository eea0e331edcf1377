#include "engine/tpe.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/json.hpp"

namespace ns::engine {

using nlohmann::json;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kLogSqrt2Pi = 0.91893853320467274178;  // log(sqrt(2 pi))

// The standard normal CDF, erfc(-z / sqrt 2) / 2.
double phi(double z) { return 0.5 * std::erfc(-z * 0.70710678118654752440); }

// Standard normal mass on [a, b] (a <= b), computed on the side that does not cancel.
double gauss_mass(double a, double b) {
  if (a >= 0) return phi(-a) - phi(-b);
  if (b <= 0) return phi(b) - phi(a);
  return 1.0 - phi(a) - phi(-b);
}

// c[0] + c[1] r + c[2] r^2 + ... (Horner).
template <std::size_t N>
double poly(const double (&c)[N], double r) {
  double v = c[N - 1];
  for (std::size_t i = N - 1; i-- > 0;) v = v * r + c[i];
  return v;
}

// The standard normal quantile: Wichura, "Algorithm AS 241: The Percentage Points of the Normal
// Distribution", Applied Statistics 37(3), 1988 (PPND16, about 16 digits). Coefficients lowest
// order first: A/B for |p - 1/2| <= 0.425, C/D for r = sqrt(-log(min(p, 1 - p))) <= 5, E/F
// beyond.
constexpr double kA[] = {3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
                         1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
                         3.3430575583588128105e4, 2.5090809287301226727e3};
constexpr double kB[] = {1.0,
                         4.2313330701600911252e1,
                         6.8718700749205790830e2,
                         5.3941960214247511077e3,
                         2.1213794301586595867e4,
                         3.9307895800092710610e4,
                         2.8729085735721942674e4,
                         5.2264952788528545610e3};
constexpr double kC[] = {1.42343711074968357734e0,  4.63033784615654529590e0,
                         5.76949722146069140550e0,  3.64784832476320460504e0,
                         1.27045825245236838258e0,  2.41780725177450611770e-1,
                         2.27238449892691845833e-2, 7.74545014278341407640e-4};
constexpr double kD[] = {1.0,
                         2.05319162663775882187e0,
                         1.67638483018380384940e0,
                         6.89767334985100004550e-1,
                         1.48103976427480074590e-1,
                         1.51986665636164571966e-2,
                         5.47593808499534494600e-4,
                         1.05075007164441684324e-9};
constexpr double kE[] = {6.65790464350110377720e0,  5.46378491116411436990e0,
                         1.78482653991729133580e0,  2.96560571828504891230e-1,
                         2.65321895265761230930e-2, 1.24266094738807843860e-3,
                         2.71155556874348757815e-5, 2.01033439929228813265e-7};
constexpr double kF[] = {1.0,
                         5.99832206555887937690e-1,
                         1.36929880922735805310e-1,
                         1.48753612908506148525e-2,
                         7.86869131145613259100e-4,
                         1.84631831751005468180e-5,
                         1.42151175831644588870e-7,
                         2.04426310338993978564e-15};

double normal_quantile(double p) {
  if (!(p > 0)) return -kInf;
  if (!(p < 1)) return kInf;
  const double q = p - 0.5;
  if (std::fabs(q) <= 0.425) {
    const double r = 0.180625 - q * q;
    return q * poly(kA, r) / poly(kB, r);
  }
  const double r = std::sqrt(-std::log(q < 0 ? p : 1.0 - p));
  const double z =
      r <= 5.0 ? poly(kC, r - 1.6) / poly(kD, r - 1.6) : poly(kE, r - 5.0) / poly(kF, r - 5.0);
  return q < 0 ? -z : z;
}

// Inverse CDF of the standard normal truncated to [a, b] at u in [0, 1). Below the median the
// lower tail is inverted, above it the upper one, so neither loses digits near 1.
double truncated_quantile(double a, double b, double u) {
  const double pa = phi(a), qb = phi(-b);
  const double mass = gauss_mass(a, b);
  const double p = pa + u * mass;
  const double z = p < 0.5 ? normal_quantile(p) : -normal_quantile(qb + (1.0 - u) * mass);
  return std::clamp(z, a, b);
}

// log(sum_k exp(term(k))) over k < n; term(k) is evaluated twice (cheap: the per-kernel logs
// are cached), which saves a buffer per density evaluation.
template <typename Term>
double log_sum_exp(std::size_t n, const Term& term) {
  double top = -kInf;
  for (std::size_t k = 0; k < n; ++k) top = std::max(top, term(k));
  if (top == -kInf) return -kInf;
  double sum = 0;
  for (std::size_t k = 0; k < n; ++k) sum += std::exp(term(k) - top);
  return top + std::log(sum);
}

// Index i with u < w_0 + ... + w_i (w normalized); rounding at the top falls to the last
// index of positive weight.
int pick(const std::vector<double>& w, double u) {
  double c = 0;
  int last = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (w[i] <= 0) continue;
    c += w[i];
    last = static_cast<int>(i);
    if (u < c) return last;
  }
  return last;
}

// splitmix64 as a generator (Steele, Lea & Flood, OOPSLA 2014): the same on every platform.
class Stream {
 public:
  explicit Stream(std::uint64_t seed) : state_(seed) {}
  double uniform() {
    const std::uint64_t r = core::splitmix64(state_);
    state_ += 0x9E3779B97F4A7C15ULL;
    return core::unit_double(r);
  }

 private:
  std::uint64_t state_;
};

Stream stream_for(std::uint64_t seed, const std::string& name) {
  return Stream(core::mix_seed(seed, core::fnv1a(name)));
}

bool is_numeric(const sweeps::Distribution& d) {
  return d.kind == sweeps::DistKind::kUniform || d.kind == sweeps::DistKind::kLogUniform || d.kind == sweeps::DistKind::kInt;
}

void check_distribution(const std::string& name, const sweeps::Distribution& d) {
  const std::string where = fmt::format("tpe: parameter '{}'", name);
  if (d.kind == sweeps::DistKind::kChoice) {
    NS_CHECK(!d.choices.empty(), "{}: a choice needs at least one value", where);
    return;
  }
  NS_CHECK(is_numeric(d), "{}: unknown distribution '{}'; known: uniform, log_uniform, int, choice",
           where, sweeps::dist_word(d.kind));
  NS_CHECK(std::isfinite(d.low) && std::isfinite(d.high),
           "{}: expected finite bounds, got {} and {}", where, d.low, d.high);
  NS_CHECK(d.low < d.high || (d.kind == sweeps::DistKind::kInt && d.low == d.high),
           "{}: expected low < high, got low {} and high {}", where, d.low, d.high);
  NS_CHECK(d.kind != sweeps::DistKind::kLogUniform || d.low > 0, "{}: log_uniform needs low > 0, got {}", where,
           d.low);
  NS_CHECK(d.kind != sweeps::DistKind::kInt || (std::floor(d.low) == d.low && std::floor(d.high) == d.high),
           "{}: int needs integer bounds, got {} and {}", where, d.low, d.high);
}

}  // namespace

int tpe_gamma(int n, const TpeOptions& o) {
  // As Optuna: min(int(np.ceil(0.1 * x)), 25), the product in double as numpy forms it.
  return std::min(static_cast<int>(std::ceil(o.gamma_fraction * n)), o.gamma_max);
}

std::vector<double> tpe_weights(int n) {
  if (n <= 0) return {};
  std::vector<double> w(n, 1.0);
  if (n < 25) return w;
  // numpy.linspace(1/n, 1, num=n-25): start + i * step, the last exactly 1.
  const int ramp = n - 25;
  const double start = 1.0 / n;
  const double step = ramp > 1 ? (1.0 - start) / (ramp - 1) : 0.0;
  for (int i = 0; i < ramp; ++i) w[i] = start + i * step;
  if (ramp > 1) w[ramp - 1] = 1.0;
  return w;
}

int tpe_finished(const std::vector<TpeObservation>& obs) {
  int n = 0;
  for (const auto& o : obs) n += o.state != TpeState::kRunning;
  return n;
}

TpeSplit tpe_split(const std::vector<TpeObservation>& obs, const TpeOptions& o) {
  // Sort key: (class, -resource, loss); complete trials are class 0, stopped ones class 1.
  // A loss is the value signed so that smaller is better; NaN is +inf (Optuna does this for
  // pruned trials), so it is worse than every number of its class.
  using Key = std::tuple<int, double, double, int>;
  std::vector<Key> ranked;
  TpeSplit split;
  for (int i = 0; i < static_cast<int>(obs.size()); ++i) {
    const TpeObservation& t = obs[i];
    if (t.state == TpeState::kRunning) {
      split.bad.push_back(i);
      continue;
    }
    const double loss = std::isnan(t.value) ? kInf : (o.maximize ? -t.value : t.value);
    if (t.state == TpeState::kComplete) {
      ranked.emplace_back(0, 0.0, loss, i);
    } else {
      ranked.emplace_back(1, std::isnan(t.resource) ? kInf : -t.resource, loss, i);
    }
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const Key& a, const Key& b) {
    return std::tie(std::get<0>(a), std::get<1>(a), std::get<2>(a)) <
           std::tie(std::get<0>(b), std::get<1>(b), std::get<2>(b));
  });
  const int n_good =
      std::clamp(tpe_gamma(static_cast<int>(ranked.size()), o), 0, static_cast<int>(ranked.size()));
  for (int k = 0; k < static_cast<int>(ranked.size()); ++k)
    (k < n_good ? split.good : split.bad).push_back(std::get<3>(ranked[k]));
  std::sort(split.good.begin(), split.good.end());
  std::sort(split.bad.begin(), split.bad.end());
  return split;
}

json tpe_prior_draw(const sweeps::Distribution& d, double u) {
  // The random search's draw (sweeps/spec.cpp), so a TPE sweep starts like a random one.
  if (d.kind == sweeps::DistKind::kUniform) return json(d.low + u * (d.high - d.low));
  if (d.kind == sweeps::DistKind::kLogUniform)
    return json(std::exp(std::log(d.low) + u * (std::log(d.high) - std::log(d.low))));
  if (d.kind == sweeps::DistKind::kInt) {
    auto lo = static_cast<std::int64_t>(d.low), hi = static_cast<std::int64_t>(d.high);
    return json(std::min(hi, lo + static_cast<std::int64_t>(u * static_cast<double>(hi - lo + 1))));
  }
  NS_CHECK(d.kind == sweeps::DistKind::kChoice && !d.choices.empty(), "tpe: cannot draw from distribution '{}'",
           sweeps::dist_word(d.kind));
  auto i = std::min(d.choices.size() - 1, static_cast<std::size_t>(u * d.choices.size()));
  return d.choices[i];
}

double tpe_point(const sweeps::Distribution& d, const json& value, const std::string& where) {
  if (d.kind == sweeps::DistKind::kChoice) {
    for (std::size_t i = 0; i < d.choices.size(); ++i)
      if (d.choices[i] == value) return static_cast<double>(i);
    std::vector<std::string> shown;
    for (const json& c : d.choices) shown.push_back(core::shown(c));
    throw Error(fmt::format("{}: expected one of the choices {}, got {}", where,
                            fmt::join(shown, ", "), core::shown(value)));
  }
  const bool integral = d.kind == sweeps::DistKind::kInt;
  const char* what = integral ? "an integer" : "a number";
  if (!value.is_number() || (integral && !core::is_integral(value)))
    throw Error(fmt::format("{}: expected {} in [{}, {}], got {}", where, what, d.low, d.high,
                            core::shown(value)));
  const double x = value.get<double>();
  if (!(x >= d.low && x <= d.high))
    throw Error(fmt::format("{}: expected {} in [{}, {}], got {}", where, what, d.low, d.high,
                            core::shown(value)));
  return x;
}

json tpe_value(const sweeps::Distribution& d, double point) {
  if (d.kind == sweeps::DistKind::kInt) return json(static_cast<std::int64_t>(std::llround(point)));
  if (d.kind == sweeps::DistKind::kChoice) return d.choices.at(static_cast<std::size_t>(point));
  return json(point);
}

// ---------------------------------------------------------------------------------------------

ParzenEstimator::ParzenEstimator(const sweeps::Distribution& d, std::vector<double> points,
                                 double prior_weight)
    : dist_(d) {
  NS_CHECK(prior_weight > 0, "tpe: prior_weight must be > 0, got {}", prior_weight);
  const int n = static_cast<int>(points.size());
  // Kernel weights (Optuna's _ParzenEstimator.__init__): default_weights(n) and the prior's.
  weights_ = tpe_weights(n);
  weights_.push_back(n == 0 ? 1.0 : prior_weight);
  double total = 0;
  for (double w : weights_) total += w;
  for (double& w : weights_) w /= total;

  if (d.kind == sweeps::DistKind::kChoice) {
    // Optuna's _calculate_categorical_distributions (without a distance function).
    const int k = static_cast<int>(d.choices.size());
    low_ = 0, high_ = k - 1;
    const double fill = prior_weight / (n + 1);
    for (double p : points) {
      std::vector<double> row(k, fill);
      row.at(static_cast<std::size_t>(p)) += 1.0;
      const double sum = 1.0 + fill * k;
      for (double& r : row) r /= sum;
      choice_weights_.push_back(std::move(row));
    }
    choice_weights_.emplace_back(k, 1.0 / k);
    return;
  }

  low_ = d.low, high_ = d.high;
  if (d.kind == sweeps::DistKind::kInt) low_ -= 0.5, high_ += 0.5;
  if (d.kind == sweeps::DistKind::kLogUniform) {
    low_ = std::log(low_), high_ = std::log(high_);
    for (double& p : points) p = std::log(p);
  }
  const double width = high_ - low_;
  const double prior_mu = 0.5 * (low_ + high_);
  mus_ = points;
  if (n > 0) {
    // Optuna's univariate bandwidths (_calculate_numerical_distributions): sort the means with
    // the prior's, put the range's ends around them, take the larger neighbour gap; the
    // outermost take their inner gap (consider_endpoints=False). A stable sort: equal means keep
    // journal order, the prior after them (numpy's argsort is not stable).
    std::vector<double> with_prior = points;
    with_prior.push_back(prior_mu);
    const int m = n + 1;
    std::vector<int> order(m);
    for (int i = 0; i < m; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return with_prior[a] < with_prior[b]; });
    std::vector<double> s(m + 2);
    s[0] = low_;
    for (int j = 0; j < m; ++j) s[j + 1] = with_prior[order[j]];
    s[m + 1] = high_;
    std::vector<double> sorted_sigma(m);
    for (int j = 0; j < m; ++j) sorted_sigma[j] = std::max(s[j + 1] - s[j], s[j + 2] - s[j + 1]);
    sorted_sigma[0] = s[2] - s[1];
    sorted_sigma[m - 1] = s[m] - s[m - 1];
    // Magic clip (Bergstra et al.'s hyperopt, as Optuna): no kernel narrower than
    // width / min(100, kernels + 1).
    const double min_sigma = width / std::min(100.0, 1.0 + m);
    sigmas_.assign(n, 0.0);
    for (int j = 0; j < m; ++j)
      if (order[j] < n) sigmas_[order[j]] = std::clamp(sorted_sigma[j], min_sigma, width);
  }
  mus_.push_back(prior_mu);
  sigmas_.push_back(width);
  for (std::size_t k = 0; k < weights_.size(); ++k) {
    const double sigma = sigmas_[k];
    log_weights_.push_back(std::log(weights_[k]));
    log_sigmas_.push_back(std::log(sigma));
    log_masses_.push_back(
        std::log(gauss_mass((low_ - mus_[k]) / sigma, (high_ - mus_[k]) / sigma)));
  }
}

double ParzenEstimator::log_density_internal(double y) const {
  if (!(y >= low_ && y <= high_)) return -kInf;
  return log_sum_exp(weights_.size(), [&](std::size_t k) {
    const double z = (y - mus_[k]) / sigmas_[k];
    return log_weights_[k] - 0.5 * z * z - kLogSqrt2Pi - log_sigmas_[k] - log_masses_[k];
  });
}

double ParzenEstimator::log_pdf(double x) const {
  if (dist_.kind == sweeps::DistKind::kUniform) return log_density_internal(x);
  if (dist_.kind == sweeps::DistKind::kLogUniform) {
    if (!(x >= dist_.low && x <= dist_.high)) return -kInf;
    return log_density_internal(std::log(x)) - std::log(x);  // Jacobian of y = log x
  }
  if (dist_.kind == sweeps::DistKind::kInt) {
    if (!(x >= dist_.low && x <= dist_.high) || std::floor(x) != x) return -kInf;
    // The bin's mass depends on x: computed once per kernel, then summed as above.
    std::vector<double> terms(weights_.size());
    for (std::size_t k = 0; k < weights_.size(); ++k) {
      const double mu = mus_[k], sigma = sigmas_[k];
      const double bin = gauss_mass((x - 0.5 - mu) / sigma, (x + 0.5 - mu) / sigma);
      terms[k] = log_weights_[k] + std::log(bin) - log_masses_[k];
    }
    return log_sum_exp(terms.size(), [&](std::size_t k) { return terms[k]; });
  }
  // choice
  if (!(x >= low_ && x <= high_) || std::floor(x) != x) return -kInf;
  double p = 0;
  for (std::size_t k = 0; k < weights_.size(); ++k)
    p += weights_[k] * choice_weights_[k][static_cast<std::size_t>(x)];
  return std::log(p);
}

double ParzenEstimator::sample(double u_kernel, double u_value) const {
  const int k = pick(weights_, u_kernel);
  if (dist_.kind == sweeps::DistKind::kChoice) return pick(choice_weights_[k], u_value);
  const double mu = mus_[k], sigma = sigmas_[k];
  const double z = truncated_quantile((low_ - mu) / sigma, (high_ - mu) / sigma, u_value);
  const double y = std::clamp(mu + sigma * z, low_, high_);
  if (dist_.kind == sweeps::DistKind::kUniform) return y;
  if (dist_.kind == sweeps::DistKind::kLogUniform) return std::clamp(std::exp(y), dist_.low, dist_.high);
  // int: round the draw on [low - 1/2, high + 1/2] to the nearest integer.
  return std::clamp(std::floor(y + 0.5), dist_.low, dist_.high);
}

// ---------------------------------------------------------------------------------------------

TpeSampler::TpeSampler(TpeSpace space, TpeOptions options)
    : space_(std::move(space)), options_(options) {
  for (std::size_t i = 0; i < space_.size(); ++i) {
    if (i > 0)
      NS_CHECK(space_[i - 1].first < space_[i].first,
               "tpe: the space's names must be sorted and distinct; '{}' comes before '{}'",
               space_[i - 1].first, space_[i].first);
    check_distribution(space_[i].first, space_[i].second);
  }
  NS_CHECK(options_.candidates >= 1, "tpe: candidates must be >= 1, got {}", options_.candidates);
  NS_CHECK(options_.startup >= 0, "tpe: startup must be >= 0, got {}", options_.startup);
  NS_CHECK(options_.gamma_fraction >= 0 && std::isfinite(options_.gamma_fraction),
           "tpe: gamma_fraction must be a finite number >= 0, got {}", options_.gamma_fraction);
  NS_CHECK(options_.gamma_max >= 0, "tpe: gamma_max must be >= 0, got {}", options_.gamma_max);
  NS_CHECK(options_.prior_weight > 0 && std::isfinite(options_.prior_weight),
           "tpe: prior_weight must be a finite number > 0, got {}", options_.prior_weight);
}

int TpeSampler::index_of(const std::string& name) const {
  for (std::size_t i = 0; i < space_.size(); ++i)
    if (space_[i].first == name) return static_cast<int>(i);
  std::vector<std::string> names;
  for (const auto& [n, d] : space_) names.push_back(n);
  throw Error(fmt::format("tpe: unknown parameter '{}'; known: {}", name, fmt::join(names, ", ")));
}

bool TpeSampler::in_startup(const std::vector<TpeObservation>& obs) const {
  return tpe_finished(obs) < options_.startup;
}

std::pair<ParzenEstimator, ParzenEstimator> TpeSampler::densities(
    int p, const std::vector<TpeObservation>& obs, const TpeSplit& split) const {
  const auto& [name, dist] = space_[p];
  auto points = [&](const std::vector<int>& group) {
    std::vector<double> out;
    for (int i : group) {
      const json& params = obs[i].params;
      NS_CHECK(params.is_object() || params.is_null(),
               "tpe observation {}: expected params as an object, got {}", i, core::shown(params));
      if (!params.is_object()) continue;
      auto it = params.find(name);
      if (it == params.end() || it->is_null()) continue;  // not in this trial (Optuna skips it)
      // The message's "where" is formatted only for a value tpe_point refuses (every
      // observation is read again at each proposal).
      double point = 0;
      try {
        point = tpe_point(dist, *it, std::string());
      } catch (const Error&) {
        point = tpe_point(dist, *it, fmt::format("tpe observation {} '{}'", i, name));
      }
      out.push_back(point);
    }
    return out;
  };
  return {ParzenEstimator(dist, points(split.good), options_.prior_weight),
          ParzenEstimator(dist, points(split.bad), options_.prior_weight)};
}

std::pair<ParzenEstimator, ParzenEstimator> TpeSampler::densities(
    const std::string& name, const std::vector<TpeObservation>& obs) const {
  return densities(index_of(name), obs, tpe_split(obs, options_));
}

std::vector<TpeCandidate> TpeSampler::candidates(int p, const std::vector<TpeObservation>& obs,
                                                 const TpeSplit& split, std::uint64_t seed) const {
  const auto [l, g] = densities(p, obs, split);
  Stream rng = stream_for(seed, space_[p].first);
  std::vector<TpeCandidate> out(options_.candidates);
  for (TpeCandidate& c : out) {
    const double u_kernel = rng.uniform();
    const double u_value = rng.uniform();
    c.point = l.sample(u_kernel, u_value);
    c.log_l = l.log_pdf(c.point);
    c.log_g = g.log_pdf(c.point);
  }
  return out;
}

std::vector<TpeCandidate> TpeSampler::candidates(const std::string& name,
                                                 const std::vector<TpeObservation>& obs,
                                                 std::uint64_t seed) const {
  return candidates(index_of(name), obs, tpe_split(obs, options_), seed);
}

json TpeSampler::propose(const std::vector<TpeObservation>& obs, std::uint64_t seed) const {
  json out = json::object();
  if (in_startup(obs)) {
    for (const auto& [name, dist] : space_) {
      Stream rng = stream_for(seed, name);
      out[name] = tpe_prior_draw(dist, rng.uniform());
    }
    return out;
  }
  const TpeSplit split = tpe_split(obs, options_);
  for (int p = 0; p < static_cast<int>(space_.size()); ++p) {
    const std::vector<TpeCandidate> cands = candidates(p, obs, split, seed);
    std::size_t best = 0;
    for (std::size_t i = 1; i < cands.size(); ++i)
      if (cands[i].score() > cands[best].score()) best = i;  // ties: the first drawn
    out[space_[p].first] = tpe_value(space_[p].second, cands[best].point);
  }
  return out;
}

}  // namespace ns::engine
