#include "models/neural/dataset.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <optional>
#include <set>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/json.hpp"
#include "models/folds.hpp"
#include "models/neural/h5.hpp"
#include "models/neural/metrics.hpp"
#include "models/neural/rng.hpp"

namespace ns::models::neural {
namespace {

using nlohmann::json;

const char* part_name(int p) { return p == kTrain ? "train" : p == kVal ? "val" : "test"; }

void check_keys(const json& block, const std::string& json_path, const std::string& kind,
                const std::set<std::string>& known) {
  for (const auto& [key, value] : block.items()) {
    NS_CHECK(known.count(key) > 0, "{}.{}: unknown key for a \"{}\" data block; known keys: {}",
             json_path, key, kind, fmt::join(known, ", "));
  }
}

// Every part of the split needs at least one image.
void check_parts(const std::vector<std::int8_t>& split, const std::string& where) {
  std::int64_t count[3] = {0, 0, 0};
  for (auto s : split) ++count[s];
  for (int p = 0; p < 3; ++p) {
    NS_CHECK(count[p] > 0,
             "{} has no {} images (value {}); train (0), val (1) and test (2) each need at least "
             "one image (counts: {} / {} / {})",
             where, part_name(p), p, count[0], count[1], count[2]);
  }
}

std::string fmt_value(float v) { return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

}  // namespace

std::vector<std::int64_t> part_indices(const std::vector<std::int8_t>& split, Part part) {
  std::vector<std::int64_t> out;
  for (std::size_t m = 0; m < split.size(); ++m)
    if (split[m] == part) out.push_back(static_cast<std::int64_t>(m));
  return out;
}

std::vector<std::int64_t> NeuralData::indices(Part part) const {
  return part_indices(split, part);
}

std::vector<std::int8_t> fold_labels(const std::vector<std::int8_t>& split, int folds, int fold,
                                     std::uint64_t seed) {
  std::vector<std::int64_t> pool;
  for (std::size_t m = 0; m < split.size(); ++m)
    if (split[m] != kTest) pool.push_back(static_cast<std::int64_t>(m));
  const FoldSplit f = fold_split(pool, folds, fold, seed);
  std::vector<std::int8_t> out = split;
  for (auto m : f.train) out[static_cast<std::size_t>(m)] = kTrain;
  for (auto m : f.val) out[static_cast<std::size_t>(m)] = kVal;
  return out;
}

DataSpec parse_data_spec(const json& block, const std::string& jp) {
  NS_CHECK(block.is_object() && block.contains("kind") && block.at("kind").is_string(),
           "{}: expected an object with \"kind\": \"simulated\" or \"hdf5\", got {}", jp,
           block.dump());
  DataSpec spec;
  const core::JsonFields f(block, jp);
  const std::string word = block.at("kind").get<std::string>();
  spec.ccnorm = f.boolean("ccnorm", true);
  if (word == "hdf5") {
    spec.kind = DataSpec::Kind::kHdf5;
    check_keys(block, jp, "hdf5", {"kind", "path", "split_seed", "ccnorm"});
    if (!f.has("path")) f.fail_with("path", "an hdf5 data block needs \"path\": \"FILE.h5\"");
    spec.path = f.string("path", "", /*non_empty=*/true);
    core::require_regular_file(spec.path, jp + ".path");
    spec.split_seed = static_cast<std::uint64_t>(f.integer("split_seed", 0, core::Interval::at_least(0)));
  } else if (word == "simulated") {
    spec.kind = DataSpec::Kind::kSimulated;
    check_keys(block, jp, "simulated",
               {"kind", "seed", "images", "size", "neurons", "repeats", "complex_fraction",
                "mean_rate", "missing", "missing_mode", "ccnorm"});
    SimOptions& s = spec.sim;
    s.seed = static_cast<std::uint64_t>(f.integer("seed", 0, core::Interval::at_least(0)));
    // Upper bounds (docs/guide/specs.md, "Sweep specs"), so no value asks for an allocation that cannot be
    // made: each simulated array holds at most kMaxSimulated values.
    s.images = f.integer("images", s.images, core::Interval::closed(10, 1e6));
    s.size = f.integer("size", s.size, core::Interval::closed(8, 1024));
    s.neurons = f.integer("neurons", s.neurons, core::Interval::closed(1, 1e5));
    s.repeats = f.integer("repeats", s.repeats, core::Interval::closed(1, 1000));
    constexpr std::int64_t kMaxSimulated = std::int64_t{1} << 30;
    NS_CHECK(s.images * s.size * s.size <= kMaxSimulated,
             "{}: images x size x size = {} x {} x {} pixels, more than the {} a simulated data "
             "set may hold; lower \"images\" or \"size\"",
             jp, s.images, s.size, s.size, kMaxSimulated);
    NS_CHECK(s.images * s.repeats * s.neurons <= kMaxSimulated,
             "{}: images x repeats x neurons = {} x {} x {} responses, more than the {} a "
             "simulated data set may hold; lower \"images\", \"repeats\" or \"neurons\"",
             jp, s.images, s.repeats, s.neurons, kMaxSimulated);
    s.complex_fraction = f.number("complex_fraction", s.complex_fraction, core::Interval::closed(0, 1));
    s.mean_rate = f.number("mean_rate", s.mean_rate, core::Interval::closed(1e-3, 1e4));
    s.missing = f.number("missing", s.missing, core::Interval::closed(0, 0.9));
    s.missing_mode = f.choice("missing_mode", s.missing_mode, {"cell", "trial", "repeat"});
    NS_CHECK(!spec.ccnorm || s.repeats >= 2,
             "{}.repeats: CCnorm needs at least 2 repeats, got {}; set \"repeats\" >= 2 or "
             "\"ccnorm\": false",
             jp, s.repeats);
    // Expected present repeats per image: the kept ones plus the others with 1 - missing.
    const double kept = s.missing_mode == "repeat" ? std::min<double>(2, s.repeats) : 1;
    const double expected = kept + (static_cast<double>(s.repeats) - kept) * (1 - s.missing);
    NS_CHECK(!spec.ccnorm || expected >= 2,
             "{}.missing: with {} repeats and missing = {} per {} an image keeps {:.2f} repeats "
             "on average; CCnorm needs at least 2; lower \"missing\", raise \"repeats\" or set "
             "\"ccnorm\": false",
             jp, s.repeats, s.missing, s.missing_mode, expected);
  } else {
    NS_FAIL_CODE(kExitBadInput, "{}.kind: unknown data kind \"{}\"; known kinds: hdf5, simulated",
                 jp, word);
  }
  return spec;
}

NeuralData load_dataset(const DataSpec& spec) {
  if (spec.kind == DataSpec::Kind::kHdf5) return read_h5(spec.path, spec.split_seed, spec.ccnorm);
  NeuralData d = simulate_v1(spec.sim);
  if (spec.ccnorm) check_effective_repeats(d, "the simulated data");
  return d;
}

void check_effective_repeats(const NeuralData& d, const std::string& where) {
  const std::int64_t M = d.images, N = d.neurons, R = d.repeats, MN = M * N;
  std::int64_t low = 0, first = -1;
  double lowest = 0;
  std::vector<double> y(R * M);
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t m = 0; m < M; ++m) y[r * M + m] = d.trials[r * MN + m * N + n];
    const double eff = effective_repeats(trial_table(y, R, M));
    if (eff < 2) {
      if (low == 0 || eff < lowest) lowest = eff;
      if (first < 0) first = n;
      ++low;
    }
  }
  NS_CHECK(low == 0,
           "{}: dataset `trials`: {} of {} neurons have fewer than 2 effective repeats (the "
           "median number of present repeats per image; neuron {} first, lowest {:g}); CCnorm "
           "needs at least 2 (its noise estimate comes from repeats of one image); drop those "
           "neurons from the file or set \"ccnorm\": false in the data block",
           where, low, N, first, lowest);
}

namespace {

std::optional<std::string> negative_warning(const std::vector<float>& values,
                                            const std::string& where, const char* dataset) {
  std::int64_t negative = 0, present = 0;
  for (float v : values) {
    if (std::isnan(v)) continue;
    ++present;
    negative += v < 0 ? 1 : 0;
  }
  if (negative == 0) return std::nullopt;
  return fmt::format("{}: dataset `{}` has negative values ({:.2f} % of {}): fine for "
                     "baseline-subtracted rates or dF/F, but the Poisson loss expects counts "
                     "(\"loss\": \"mse\" fits such data)",
                     where, dataset, 100.0 * static_cast<double>(negative) / static_cast<double>(present),
                     present);
}

}  // namespace

std::vector<std::int8_t> random_split(std::int64_t images, std::uint64_t seed) {
  const auto n_train = static_cast<std::int64_t>(std::floor(0.64 * images + 0.5));
  const auto n_val = static_cast<std::int64_t>(std::floor(0.16 * images + 0.5));
  std::vector<std::int64_t> order(images);
  for (std::int64_t i = 0; i < images; ++i) order[i] = i;
  Rng rng(mix_seed(seed, 0x5b117));
  rng.shuffle(order);
  std::vector<std::int8_t> split(images, kTest);
  for (std::int64_t i = 0; i < images; ++i)
    split[order[i]] = i < n_train ? kTrain : i < n_train + n_val ? kVal : kTest;
  return split;
}

NeuralData read_h5(const std::string& path, std::uint64_t split_seed, bool need_ccnorm) {
  const h5::File f = h5::File::open(path);
  auto require_numeric = [&](const std::string& name, const h5::DatasetInfo& info) {
    NS_CHECK(info.type != h5::TypeClass::kOther,
             "{}: dataset `{}` must be numeric (uint8, int or float), found another type", path,
             name);
  };
  NS_CHECK(f.has("images"), "{}: dataset `images` is missing (required, shape [M, H, W] or "
                            "[M, C, H, W]); datasets in the file: [{}]",
           path, fmt::join(f.names(), ", "));
  NeuralData d;
  d.source = path;
  const h5::DatasetInfo img = f.info("images");
  require_numeric("images", img);
  NS_CHECK(img.dims.size() == 3 || img.dims.size() == 4,
           "{}: dataset `images` has rank {} (shape {}); expected [M, H, W] or [M, C, H, W]",
           path, img.dims.size(), img.shape());
  d.images = img.dims[0];
  d.channels = img.dims.size() == 4 ? img.dims[1] : 1;
  d.height = img.dims[img.dims.size() - 2];
  d.width = img.dims.back();
  NS_CHECK(d.images > 0 && d.channels > 0 && d.height > 0 && d.width > 0,
           "{}: dataset `images` is empty (shape {})", path, img.shape());

  const bool has_trials = f.has("trials"), has_responses = f.has("responses");
  NS_CHECK(has_trials || has_responses,
           "{}: neither dataset `trials` [R, M, N] nor `responses` [M, N] is present (one is "
           "required); datasets in the file: [{}]",
           path, fmt::join(f.names(), ", "));
  if (has_trials) {
    const h5::DatasetInfo t = f.info("trials");
    require_numeric("trials", t);
    NS_CHECK(t.dims.size() == 3, "{}: dataset `trials` has rank {} (shape {}); expected "
                                 "[R, M, N] (repeats, images, neurons)",
             path, t.dims.size(), t.shape());
    NS_CHECK(t.dims[1] == d.images,
             "{}: dataset `trials` has {} images (shape {} = [R, M, N]), `images` has {}", path,
             t.dims[1], t.shape(), d.images);
    d.repeats = t.dims[0];
    d.neurons = t.dims[2];
    NS_CHECK(d.repeats > 0 && d.neurons > 0, "{}: dataset `trials` is empty (shape {})", path,
             t.shape());
  }
  if (has_responses) {
    const h5::DatasetInfo r = f.info("responses");
    require_numeric("responses", r);
    NS_CHECK(r.dims.size() == 2, "{}: dataset `responses` has rank {} (shape {}); expected "
                                 "[M, N] (images, neurons)",
             path, r.dims.size(), r.shape());
    NS_CHECK(r.dims[0] == d.images, "{}: dataset `responses` has {} rows, `images` has {}", path,
             r.dims[0], d.images);
    if (has_trials) {
      NS_CHECK(r.dims[1] == d.neurons,
               "{}: dataset `responses` has {} neurons (columns), `trials` has {}", path,
               r.dims[1], d.neurons);
    }
    d.neurons = r.dims[1];
    NS_CHECK(d.neurons > 0, "{}: dataset `responses` has no neurons (shape {})", path, r.shape());
  }
  if (need_ccnorm) {
    NS_CHECK(has_trials && d.repeats >= 2,
             "{}: CCnorm needs dataset `trials` with R >= 2 repeats, but {}; add per-repeat "
             "`trials` [R, M, N] or set \"ccnorm\": false in the data block",
             path,
             has_trials ? fmt::format("`trials` has R = {}", d.repeats)
                        : std::string("the file has only `responses`"));
  }
  const bool has_truth = f.has("truth");
  if (has_truth) {
    const h5::DatasetInfo t = f.info("truth");
    require_numeric("truth", t);
    NS_CHECK(t.dims.size() == 2 && t.dims[0] == d.images && t.dims[1] == d.neurons,
             "{}: dataset `truth` has shape {}; expected [M, N] = [{}, {}]", path, t.shape(),
             d.images, d.neurons);
  }
  if (f.has("split")) {
    const h5::DatasetInfo s = f.info("split");
    NS_CHECK(s.type == h5::TypeClass::kInteger,
             "{}: dataset `split` must hold integers (0 train, 1 val, 2 test)", path);
    NS_CHECK(s.dims.size() == 1 && s.dims[0] == d.images,
             "{}: dataset `split` has shape {}; expected [M] = [{}]", path, s.shape(), d.images);
    const auto raw = f.read_int("split");
    d.split.resize(d.images);
    for (std::int64_t m = 0; m < d.images; ++m) {
      NS_CHECK(raw[m] >= 0 && raw[m] <= 2,
               "{}: dataset `split` has value {} at image {}; expected 0 (train), 1 (val) or 2 "
               "(test)",
               path, raw[m], m);
      d.split[m] = static_cast<std::int8_t>(raw[m]);
    }
    check_parts(d.split, fmt::format("{}: dataset `split`", path));
  } else {
    d.split = random_split(d.images, split_seed);
    check_parts(d.split, fmt::format("{}: the random 64/16/20 split of {} images (no `split` "
                                     "dataset)",
                                     path, d.images));
  }

  // Values.
  d.pixels = f.read_float("images");
  const std::int64_t per_image = d.channels * d.height * d.width;
  for (std::size_t i = 0; i < d.pixels.size(); ++i) {
    NS_CHECK(std::isfinite(d.pixels[i]),
             "{}: dataset `images` has a non-finite value ({}) in image {}; pixels must be finite",
             path, fmt_value(d.pixels[i]), static_cast<std::int64_t>(i) / per_image);
  }
  const std::int64_t MN = d.images * d.neurons;
  if (has_trials) {
    d.trials = f.read_float("trials");
    for (std::size_t i = 0; i < d.trials.size(); ++i) {
      NS_CHECK(!std::isinf(d.trials[i]),
               "{}: dataset `trials` has an infinite value at repeat {}, image {}, neuron {} "
               "(NaN marks a missing repeat; inf is not allowed)",
               path, i / MN, (i % MN) / d.neurons, i % d.neurons);
    }
  }
  if (has_responses) {
    d.responses = f.read_float("responses");
    for (std::int64_t i = 0; i < MN; ++i) {
      NS_CHECK(std::isfinite(d.responses[i]),
               "{}: dataset `responses` has a non-finite value ({}) at image {}, neuron {}", path,
               fmt_value(d.responses[i]), i / d.neurons, i % d.neurons);
    }
  } else {
    // nanmean over the repeats present (docs/formats.md).
    d.responses.assign(MN, 0.0f);
    for (std::int64_t i = 0; i < MN; ++i) {
      double s = 0;
      int n = 0;
      for (std::int64_t r = 0; r < d.repeats; ++r) {
        const float v = d.trials[r * MN + i];
        if (!std::isnan(v)) {
          s += v;
          ++n;
        }
      }
      NS_CHECK(n > 0,
               "{}: dataset `trials` has no repeat present (all {} are NaN) for image {}, neuron "
               "{}; every image needs at least one response per neuron (or give `responses`)",
               path, d.repeats, i / d.neurons, i % d.neurons);
      d.responses[i] = static_cast<float>(s / n);
    }
  }
  if (need_ccnorm) check_effective_repeats(d, path);
  if (has_trials)
    if (auto w = negative_warning(d.trials, path, "trials")) d.warnings.push_back(*w);
  if (has_responses)
    if (auto w = negative_warning(d.responses, path, "responses")) d.warnings.push_back(*w);
  if (has_truth) {
    d.truth = f.read_float("truth");
    for (std::int64_t i = 0; i < MN; ++i) {
      NS_CHECK(std::isfinite(d.truth[i]),
               "{}: dataset `truth` has a non-finite value ({}) at image {}, neuron {}", path,
               fmt_value(d.truth[i]), i / d.neurons, i % d.neurons);
    }
  }
  return d;
}

void write_h5(const NeuralData& d, const std::string& path) {
  h5::File f = h5::File::create(path);
  bool bytes = true;
  for (float v : d.pixels) {
    if (!(v >= 0 && v <= 255 && std::floor(v) == v)) {
      bytes = false;
      break;
    }
  }
  std::vector<std::int64_t> img_dims = {d.images, d.height, d.width};
  if (d.channels != 1) img_dims = {d.images, d.channels, d.height, d.width};
  if (bytes) {
    std::vector<std::uint8_t> px(d.pixels.begin(), d.pixels.end());
    f.write("images", img_dims, px.data());
  } else {
    f.write("images", img_dims, d.pixels.data());
  }
  if (!d.trials.empty()) f.write("trials", {d.repeats, d.images, d.neurons}, d.trials.data());
  f.write("responses", {d.images, d.neurons}, d.responses.data());
  if (!d.truth.empty()) f.write("truth", {d.images, d.neurons}, d.truth.data());
  f.write("split", {d.images}, d.split.data());
}

}  // namespace ns::models::neural
