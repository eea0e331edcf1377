#include "report/importance.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/error.hpp"
#include "core/json.hpp"
#include "report/analysis.hpp"
#include "report/csv.hpp"
#include "report/results.hpp"
#include "sweeps/spec.hpp"

namespace ns::report {
using nlohmann::json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.14159265358979323846;
// Observed numeric values (no declared space) with more distinct values than this are treated
// as a range over the values seen.
constexpr std::size_t kMaxObservedValues = 32;
// An "int" distribution with at most this many values is a set of ordered values.
constexpr double kMaxIntValues = 64;

double normal_pdf(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2 * kPi); }
double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// Scott's rule (Scott 1992, as the paper uses): 1.059 min(sd, IQR / 1.34) n^(-1/5), the IQR
// ignored when it is 0 (ties) and the spread is not.
double scott_bandwidth(std::vector<double> x) {
  const double n = static_cast<double>(x.size());
  if (x.size() < 2) return 0;
  double mean = 0;
  for (double v : x) mean += v / n;
  double ss = 0;
  for (double v : x) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / (n - 1));
  std::sort(x.begin(), x.end());
  auto quantile = [&](double q) {  // linear interpolation between order statistics
    const double pos = q * (n - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, x.size() - 1);
    return x[lo] + (pos - static_cast<double>(lo)) * (x[hi] - x[lo]);
  };
  const double iqr = quantile(0.75) - quantile(0.25);
  const double spread = iqr > 0 ? std::min(sd, iqr / 1.34) : sd;
  return 1.059 * spread * std::pow(n, -0.2);
}

bool all_numeric(const std::vector<std::string>& values) {
  double v;
  return std::all_of(values.begin(), values.end(),
                     [&](const std::string& s) { return parse_number(s, v); });
}

// A spec value as results.csv writes it (strings bare, numbers as JSON writes them).
std::string cell_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Two cells that hold the same value: the same text, or numbers equal as numbers (a spec's 1.0
// is results.csv's 1).
bool same_value(const std::string& a, const std::string& b) {
  double x, y;
  return a == b || (parse_number(a, x) && parse_number(b, y) && x == y);
}

// A random parameter's "dist" word as the spec parser's DistKind, read once; none for a word
// this version does not know.
std::optional<sweeps::DistKind> dist_kind(const json& dist) {
  const std::string word = dist.value("dist", std::string());
  for (sweeps::DistKind k : {sweeps::DistKind::kUniform, sweeps::DistKind::kLogUniform,
                             sweeps::DistKind::kInt, sweeps::DistKind::kChoice})
    if (word == sweeps::dist_word(k)) return k;
  return std::nullopt;
}

// A set of values (a grid's, a choice's): ordered when all are numbers.
Domain values_domain(std::vector<std::string> values, std::string source) {
  Domain d;
  d.kind = all_numeric(values) ? Domain::Kind::kValues : Domain::Kind::kCategorical;
  if (d.kind == Domain::Kind::kValues) std::sort(values.begin(), values.end(), value_less);
  values.erase(std::unique(values.begin(), values.end(), same_value), values.end());
  d.values = std::move(values);
  d.source = std::move(source);
  return d;
}

// The index of `cell` among a domain's values (numbers compared as numbers); npos when absent.
std::size_t value_index(const Domain& d, const std::string& cell) {
  for (std::size_t k = 0; k < d.values.size(); ++k)
    if (d.values[k] == cell || (d.kind == Domain::Kind::kValues && same_value(d.values[k], cell)))
      return k;
  return std::string::npos;
}

std::string lowercase(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::size_t Domain::distinct() const {
  if (kind == Kind::kRange || kind == Kind::kLogRange) return low < high ? 0 : 1;
  return values.size();
}

double range_divergence(const std::vector<double>& points, const ImportanceOptions& o) {
  const double n = static_cast<double>(points.size());
  const double h = std::max(scott_bandwidth(points), o.min_bandwidth);
  // Each kernel's mass inside [0, 1], so that each truncated kernel integrates to 1.
  std::vector<double> mass;
  for (double mu : points) mass.push_back(normal_cdf((1 - mu) / h) - normal_cdf(-mu / h));
  const int m = std::max(3, o.quadrature);
  std::vector<double> p(static_cast<std::size_t>(m));
  for (int j = 0; j < m; ++j) {
    const double u = static_cast<double>(j) / (m - 1);
    double s = o.prior_weight;  // the baseline, density 1 on [0, 1]
    for (std::size_t i = 0; i < points.size(); ++i)
      s += normal_pdf((u - points[i]) / h) / h / mass[i];
    p[static_cast<std::size_t>(j)] = s / (n + o.prior_weight);
  }
  // Trapezoid rule; p renormalised on the grid so that quadrature error adds no divergence.
  auto integrate = [&](auto f) {
    double s = 0;
    for (int j = 0; j < m; ++j) s += (j == 0 || j == m - 1 ? 0.5 : 1.0) * f(p[static_cast<std::size_t>(j)]);
    return s / (m - 1);
  };
  const double total = integrate([](double v) { return v; });
  return integrate([&](double v) { return (v / total - 1) * (v / total - 1); });
}

double values_divergence(const std::vector<std::size_t>& indices, std::size_t k, bool ordered,
                         const ImportanceOptions& o) {
  if (k < 2) return kNaN;
  const double kk = static_cast<double>(k), n = static_cast<double>(indices.size());
  std::vector<double> p(k, o.prior_weight / kk);
  if (ordered) {
    std::vector<double> x(indices.begin(), indices.end());
    const double h = std::max(scott_bandwidth(x), o.min_index_bandwidth);
    for (std::size_t i : indices) {
      std::vector<double> w(k);
      double sum = 0;
      for (std::size_t j = 0; j < k; ++j)
        sum += w[j] = normal_pdf((static_cast<double>(j) - static_cast<double>(i)) / h);
      for (std::size_t j = 0; j < k; ++j) p[j] += w[j] / sum;
    }
  } else {
    for (std::size_t i : indices) p[i] += 1;
  }
  double d = 0;
  for (double v : p) d += kk * std::pow(v / (n + o.prior_weight) - 1 / kk, 2);
  return d;
}

ImportanceResult ped_anova(const std::vector<std::string>& params,
                           const std::vector<Domain>& domains,
                           const std::vector<std::vector<std::string>>& cells,
                           const std::vector<RankKey>& keys, const ImportanceOptions& o) {
  ImportanceResult r;
  r.trials = static_cast<int>(keys.size());
  for (std::size_t d = 0; d < params.size(); ++d) {
    ParamImportance p;
    p.param = params[d];
    p.domain = domains[d];
    if (p.domain.distinct() == 1) {
      p.raw = p.fraction = kNaN;
      p.why_na = "one value in the search space";
    }
    r.params.push_back(std::move(p));
  }
  const int n = r.trials;
  if (n < o.min_top) {
    r.why_none = fmt::format("needs at least {} trials, found {}", o.min_top, n);
  } else {
    std::vector<std::size_t> order(keys.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return keys[a] > keys[b]; });
    std::size_t top = std::max<std::size_t>(
        static_cast<std::size_t>(o.min_top), static_cast<std::size_t>(std::ceil(o.gamma * n - 1e-9)));
    top = std::min(top, order.size());
    while (top < order.size() && keys[order[top]] == keys[order[top - 1]]) ++top;  // ties
    r.top = static_cast<int>(top);
    if (top == order.size())
      r.why_none = fmt::format("all {} trials are in the top {} (ties or too few trials): "
                               "nothing to compare them with",
                               n, top);
    if (r.why_none.empty()) {
      for (std::size_t d = 0; d < params.size(); ++d) {
        ParamImportance& p = r.params[d];
        if (!p.why_na.empty()) continue;
        const Domain& dom = p.domain;
        if (dom.kind == Domain::Kind::kRange || dom.kind == Domain::Kind::kLogRange) {
          const bool lg = dom.kind == Domain::Kind::kLogRange;
          const double lo = lg ? std::log(dom.low) : dom.low, hi = lg ? std::log(dom.high) : dom.high;
          std::vector<double> u;
          for (std::size_t t = 0; t < top; ++t) {
            double v;
            if (!parse_number(cells[order[t]][d], v) || (lg && v <= 0)) continue;
            u.push_back(std::clamp(((lg ? std::log(v) : v) - lo) / (hi - lo), 0.0, 1.0));
          }
          p.raw = range_divergence(u, o);
        } else {
          std::vector<std::size_t> idx;
          for (std::size_t t = 0; t < top; ++t) {
            const std::size_t k = value_index(dom, cells[order[t]][d]);
            if (k != std::string::npos) idx.push_back(k);
          }
          p.raw = values_divergence(idx, dom.values.size(), dom.kind == Domain::Kind::kValues, o);
        }
      }
    }
  }
  double sum = 0;
  for (auto& p : r.params)
    if (p.why_na.empty() && r.why_none.empty()) sum += p.raw;
  for (auto& p : r.params) {
    if (!p.why_na.empty()) continue;
    if (!r.why_none.empty()) {
      p.raw = p.fraction = kNaN;
      continue;
    }
    p.fraction = sum > 0 ? p.raw / sum : 0;
  }
  std::stable_sort(r.params.begin(), r.params.end(),
                   [](const ParamImportance& a, const ParamImportance& b) {
                     const bool na = std::isnan(a.raw), nb = std::isnan(b.raw);
                     if (na != nb) return nb;
                     return !na && a.raw > b.raw;
                   });
  return r;
}

std::vector<Domain> search_domains(const Results& results) {
  const json& spec = results.sweep.spec;
  std::vector<Domain> out;
  for (const std::string& p : results.varied) {
    Domain d;
    bool found = false;
    if (spec.is_object() && spec.contains("grid") && spec["grid"].is_object() &&
        spec["grid"].contains(p) && spec["grid"][p].is_array() && !spec["grid"][p].empty()) {
      std::vector<std::string> values;
      for (const json& v : spec["grid"][p]) values.push_back(cell_text(v));
      d = values_domain(values, fmt::format("grid of {} values", values.size()));
      found = true;
    } else if (spec.is_object() && spec.contains("random") && spec["random"].is_object() &&
               spec["random"].contains("params") && spec["random"]["params"].is_object() &&
               spec["random"]["params"].contains(p) && spec["random"]["params"][p].is_object()) {
      const json& dist = spec["random"]["params"][p];
      const std::optional<sweeps::DistKind> kind = dist_kind(dist);
      const bool bounds = dist.contains("low") && dist["low"].is_number() &&
                          dist.contains("high") && dist["high"].is_number();
      if (kind == sweeps::DistKind::kChoice && dist.contains("values") && dist["values"].is_array() &&
          !dist["values"].empty()) {
        std::vector<std::string> values;
        for (const json& v : dist["values"]) values.push_back(cell_text(v));
        d = values_domain(values, fmt::format("choice of {} values", values.size()));
        found = true;
      } else if (bounds && kind && kind != sweeps::DistKind::kChoice) {
        const double lo = dist["low"].get<double>(), hi = dist["high"].get<double>();
        if (kind == sweeps::DistKind::kInt && hi - lo + 1 <= kMaxIntValues) {
          std::vector<std::string> values;
          for (double v = lo; v <= hi; v += 1) values.push_back(fmt::format("{}", static_cast<long long>(v)));
          d = values_domain(values, fmt::format("int {}..{}", lo, hi));
        } else {
          d.kind = kind == sweeps::DistKind::kLogUniform && lo > 0 ? Domain::Kind::kLogRange
                                                                   : Domain::Kind::kRange;
          d.low = lo;
          d.high = hi;
          d.source = fmt::format("{} [{}, {}]", sweeps::dist_word(*kind), lo, hi);
        }
        found = true;
      }
    }
    if (!found) {  // no declared space: the values the trials hold
      std::set<std::string> seen;
      for (const Trial& t : results.trials)
        if (!t.cell(p).empty()) seen.insert(t.cell(p));
      std::vector<std::string> values(seen.begin(), seen.end());
      d = values_domain(values, "");
      if (d.kind == Domain::Kind::kValues && d.values.size() > kMaxObservedValues) {
        double lo, hi;
        parse_number(d.values.front(), lo);
        parse_number(d.values.back(), hi);
        d.kind = Domain::Kind::kRange;
        d.low = lo;
        d.high = hi;
        d.values.clear();
        d.source = fmt::format("range seen [{}, {}]", lo, hi);
      } else {
        d.source = fmt::format("{} values seen", d.values.size());
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

ImportanceResult importance_of(const Results& results, const Selection& selection) {
  const double sign = selection.maximize ? 1 : -1;
  const bool staged = results.rungs;
  std::vector<std::vector<std::string>> cells;
  std::vector<RankKey> keys;
  for (const Trial& t : results.trials) {
    const bool stopped = t.state == engine::TrialStatus::kStopped;
    if (!t.ok() && !(staged && stopped)) continue;
    const double v = t.metric(selection.metric);
    if (!std::isfinite(v)) continue;
    // The stage: trained to the end above every rung; a stopped trial at the rung it reached.
    const double stage = !staged || t.ok() ? std::numeric_limits<double>::infinity()
                         : std::isnan(t.rung) ? -1
                                              : t.rung;
    std::vector<std::string> row;
    for (const std::string& p : results.varied) row.push_back(t.cell(p));
    cells.push_back(std::move(row));
    keys.emplace_back(stage, sign * v);
  }
  ImportanceResult r = ped_anova(results.varied, search_domains(results), cells, keys);
  r.rows = staged ? fmt::format("ok and stopped trials with a finite {}, ranked by the stage "
                                "they reached, then by {}",
                                selection.metric, selection.metric)
                  : fmt::format("ok trials with a finite {}", selection.metric);
  return r;
}

std::vector<std::size_t> pareto_front(const std::vector<double>& a, const std::vector<double>& b,
                                      bool maximize_a, bool maximize_b) {
  const double sa = maximize_a ? 1 : -1, sb = maximize_b ? 1 : -1;
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::isfinite(a[i]) && std::isfinite(b[i])) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) {
    if (a[i] != a[j]) return sa * a[i] > sa * a[j];
    return sb * b[i] > sb * b[j];
  });
  std::vector<std::size_t> front;
  double best_b = -std::numeric_limits<double>::infinity();  // best b of strictly better a
  for (std::size_t g = 0; g < order.size();) {
    std::size_t e = g;
    while (e < order.size() && a[order[e]] == a[order[g]]) ++e;
    // Within a group of equal a, the points with the group's best b; on the front when that b
    // beats every point with a better a.
    const double group_b = sb * b[order[g]];
    if (group_b > best_b)
      for (std::size_t k = g; k < e && sb * b[order[k]] == group_b; ++k) front.push_back(order[k]);
    best_b = std::max(best_b, group_b);
    g = e;
  }
  return front;
}

double trial_value(const Results& results, std::size_t trial, const std::string& name) {
  const Trial& t = results.trials[trial];
  if (std::find(results.metric_columns.begin(), results.metric_columns.end(), name) !=
      results.metric_columns.end())
    return t.metric(name);
  double v;
  return parse_number(t.cell(name), v) ? v : kNaN;
}

SecondMetric choose_second(const Results& results, const Selection& selection,
                           const std::string& name, const std::string& mode) {
  SecondMetric s;
  s.name = name.empty() ? "wall_s" : name;
  const auto& cols = results.columns;
  // The candidates: metric columns, wall_s, numeric parameter columns.
  std::vector<std::string> allowed = results.metric_columns;
  if (std::find(cols.begin(), cols.end(), "wall_s") != cols.end()) allowed.push_back("wall_s");
  for (const std::string& p : results.param_columns) {
    bool numeric = false, other = false;
    for (const Trial& t : results.trials) {
      double v;
      if (t.cell(p).empty()) continue;
      (parse_number(t.cell(p), v) ? numeric : other) = true;
    }
    if (numeric && !other) allowed.push_back(p);
  }
  NS_CHECK(std::find(allowed.begin(), allowed.end(), s.name) != allowed.end(),
           "--metric2 {}: not a metric, wall_s or numeric parameter column of results.csv in {}; "
           "one of: {}",
           core::shown(s.name), results.dir.string(), fmt::join(allowed, ", "));
  NS_CHECK(s.name != selection.metric,
           "--metric2 {}: the report already ranks by it; name another column to set it against",
           core::shown(s.name));
  auto has = [&](std::initializer_list<const char*> words) {
    const std::string low = lowercase(s.name);
    return std::any_of(words.begin(), words.end(),
                       [&](const char* w) { return low.find(w) != std::string::npos; });
  };
  if (!mode.empty()) {
    NS_CHECK(mode == "max" || mode == "min", "--mode2: expected max or min, found {}",
             core::shown(mode));
    s.maximize = mode == "max";
    s.mode_source = "as --mode2 says";
  } else if (s.name == "wall_s" ||
             (s.name.size() > 2 && s.name.compare(s.name.size() - 2, 2, "_s") == 0) ||
             has({"loss", "mse", "mae", "nll", "error", "time", "seconds", "params", "size",
                  "memory", "flops"})) {
    s.maximize = false;
    s.mode_source = "inferred from the name";
  } else if (has({"accuracy", "acc", "pearson", "ccnorm", "cc2", "ccmax", "fev", "r2", "corr",
                  "auc", "f1"})) {
    s.maximize = true;
    s.mode_source = "inferred from the name";
  } else {
    throw Error(fmt::format("--metric2 {}: cannot tell whether a higher or a lower value is "
                            "better; pass --mode2 max or --mode2 min",
                            core::shown(s.name)));
  }
  return s;
}

ParetoView pareto_of(const Results& results, const Selection& selection,
                     const SecondMetric& second) {
  ParetoView v;
  v.second = second;
  for (std::size_t i = 0; i < results.trials.size(); ++i) {
    if (!results.trials[i].ok()) continue;
    const double m = results.trials[i].metric(selection.metric);
    const double m2 = trial_value(results, i, second.name);
    if (!std::isfinite(m) || !std::isfinite(m2)) continue;
    v.ids.push_back(results.trials[i].id);
    v.metric.push_back(m);
    v.metric2.push_back(m2);
  }
  v.front = pareto_front(v.metric, v.metric2, selection.maximize, second.maximize);
  return v;
}

}  // namespace ns::report
