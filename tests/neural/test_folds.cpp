// models/folds.* (the K-fold partition every family shares) and its use by the neural data
// (fold_labels: the unit is the image).
#include "models/folds.hpp"

#include "catch.hpp"

#include <algorithm>
#include <set>

#include "core/error.hpp"
#include "models/neural/dataset.hpp"

using ns::models::fold_order;
using ns::models::fold_split;
using ns::models::FoldSplit;

namespace {

// Example ids that are not 0..n-1, in an order that is not sorted: the partition must return
// the input's own values, in the input's order.
std::vector<std::int64_t> examples(std::int64_t n) {
  std::vector<std::int64_t> v;
  for (std::int64_t i = 0; i < n; ++i) v.push_back(1000 + 7 * ((i * 13) % n));
  return v;
}

std::vector<FoldSplit> all_folds(const std::vector<std::int64_t>& ex, int k, std::uint64_t seed) {
  std::vector<FoldSplit> out;
  for (int f = 0; f < k; ++f) out.push_back(fold_split(ex, k, f, seed));
  return out;
}

// True when `part` is a subsequence of `whole` (kept the input's order).
bool in_order(const std::vector<std::int64_t>& part, const std::vector<std::int64_t>& whole) {
  std::size_t j = 0;
  for (auto x : whole)
    if (j < part.size() && part[j] == x) ++j;
  return j == part.size();
}

}  // namespace

TEST_CASE("folds partition the examples: each validates once, sizes differ by at most one",
          "[folds]") {
  for (std::int64_t n : {6, 10, 11, 97, 1000}) {
    for (int k : {2, 3, 5}) {
      if (n < 2 * k) continue;
      const auto ex = examples(n);
      const auto folds = all_folds(ex, k, 42);
      std::multiset<std::int64_t> validated;
      std::size_t smallest = ex.size(), largest = 0;
      for (const FoldSplit& f : folds) {
        REQUIRE(f.train.size() + f.val.size() == ex.size());
        std::set<std::int64_t> both(f.train.begin(), f.train.end());
        for (auto x : f.val) REQUIRE(both.count(x) == 0);  // no example trains and validates
        both.insert(f.val.begin(), f.val.end());
        REQUIRE(both == std::set<std::int64_t>(ex.begin(), ex.end()));
        REQUIRE(in_order(f.train, ex));
        REQUIRE(in_order(f.val, ex));
        validated.insert(f.val.begin(), f.val.end());
        smallest = std::min(smallest, f.val.size());
        largest = std::max(largest, f.val.size());
      }
      // Union of the validation parts = the input, and no example in two of them.
      REQUIRE(validated == std::multiset<std::int64_t>(ex.begin(), ex.end()));
      REQUIRE(largest - smallest <= 1);
      REQUIRE(smallest >= 2);
    }
  }
}

TEST_CASE("folds are the same for the same seed and differ for another", "[folds]") {
  const auto ex = examples(60);
  const auto a = all_folds(ex, 3, 7), b = all_folds(ex, 3, 7), c = all_folds(ex, 3, 8);
  for (int f = 0; f < 3; ++f) {
    REQUIRE(a[f].val == b[f].val);
    REQUIRE(a[f].train == b[f].train);
  }
  bool differs = false;
  for (int f = 0; f < 3; ++f) differs = differs || a[f].val != c[f].val;
  REQUIRE(differs);
  // A permutation of 0..n-1, not the identity.
  const auto order = fold_order(60, 7);
  std::vector<std::int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 60; ++i) REQUIRE(sorted[i] == i);
  REQUIRE(order != sorted);
}

TEST_CASE("the fold permutation is pinned (the same on every platform and release)", "[folds]") {
  // The values of docs/formats.md's algorithm ("Cross-validation folds"), computed from its
  // description in Python: a change here changes every sweep's folds.
  REQUIRE(fold_order(10, 0) == std::vector<std::int64_t>{8, 4, 0, 9, 2, 7, 1, 5, 3, 6});
  REQUIRE(fold_order(10, 5) == std::vector<std::int64_t>{0, 5, 3, 8, 7, 4, 2, 1, 6, 9});
  const std::vector<std::int64_t> ex = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  REQUIRE(fold_split(ex, 3, 0, 5).val == std::vector<std::int64_t>{0, 3, 5});
  REQUIRE(fold_split(ex, 3, 1, 5).val == std::vector<std::int64_t>{4, 7, 8});
  REQUIRE(fold_split(ex, 3, 2, 5).val == std::vector<std::int64_t>{1, 2, 6, 9});
  REQUIRE(fold_split(ex, 3, 2, 5).train == std::vector<std::int64_t>{0, 3, 4, 5, 7, 8});
}

TEST_CASE("too few examples for the folds are refused naming $.folds", "[folds]") {
  REQUIRE_THROWS_WITH(fold_split(examples(5), 3, 0, 1),
                      Catch::Matchers::Contains("$.folds") &&
                          Catch::Matchers::Contains("3 folds need at least 6") &&
                          Catch::Matchers::Contains("the data has 5"));
  try {
    fold_split(examples(5), 3, 0, 1);
  } catch (const ns::Error& e) {
    REQUIRE(e.exit_code() == ns::kExitBadInput);
  }
  REQUIRE_NOTHROW(fold_split(examples(6), 3, 2, 1));
  REQUIRE_THROWS_WITH(fold_split(examples(6), 3, 3, 1), Catch::Matchers::Contains("fold 3"));
  REQUIRE_THROWS_WITH(fold_split(examples(6), 1, 0, 1), Catch::Matchers::Contains("$.folds"));
}

TEST_CASE("neural folds: every train+val image validates in one fold, test images never, "
          "repeats of an image together",
          "[folds][dataset]") {
  using namespace ns::models::neural;
  SimOptions o;
  o.images = 60;
  o.size = 8;
  o.neurons = 3;
  o.repeats = 4;
  o.missing = 0.2;
  o.missing_mode = "trial";
  const NeuralData d = simulate_v1(o);
  const auto test = d.indices(kTest);
  std::vector<std::int64_t> pool = d.indices(kTrain);
  for (auto m : d.indices(kVal)) pool.push_back(m);
  std::sort(pool.begin(), pool.end());
  REQUIRE(!test.empty());

  std::vector<int> val_count(static_cast<std::size_t>(d.images), 0);
  for (int k = 0; k < 3; ++k) {
    const std::vector<std::int8_t> labels = fold_labels(d.split, 3, k, 11);
    REQUIRE(labels.size() == d.split.size());
    for (std::int64_t m = 0; m < d.images; ++m) {
      // The test split is untouched.
      REQUIRE((labels[m] == kTest) == (d.split[m] == kTest));
      if (labels[m] == kVal) ++val_count[m];
    }
    // The fold's validation part is fold_split's over the pooled train + val images.
    REQUIRE(part_indices(labels, kVal) == fold_split(pool, 3, k, 11).val);
    REQUIRE(part_indices(labels, kTrain) == fold_split(pool, 3, k, 11).train);
    // The unit is the image: one label per image (not per repeat), so each of its repeats
    // (trials[r][m][.], some missing here) and its mean response sit on one side of the fold.
    REQUIRE(static_cast<std::int64_t>(labels.size()) == d.images);
  }
  for (std::int64_t m = 0; m < d.images; ++m)
    REQUIRE(val_count[m] == (d.split[m] == kTest ? 0 : 1));
  REQUIRE_THROWS_WITH(fold_labels(std::vector<std::int8_t>{0, 0, 1, 2, 2}, 2, 0, 0),
                      Catch::Matchers::Contains("$.folds"));
}
