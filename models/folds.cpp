#include "models/folds.hpp"

#include "core/error.hpp"
#include "core/hash.hpp"

namespace ns::models {

namespace {
// Sub-stream of the sweep seed that drives the folds' permutation (documented in
// docs/formats.md, "Cross-validation folds"): other streams of the same seed stay independent.
constexpr std::uint64_t kFoldStream = 0xF01D;
}  // namespace

std::vector<std::int64_t> fold_order(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  const std::uint64_t s = core::mix_seed(seed, kFoldStream);
  // Fisher-Yates from the back: position i swaps with j = mix_seed(s, i) mod (i + 1). The modulo's
  // bias is below (i + 1) / 2^64, far under anything a data set could show.
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(core::mix_seed(s, static_cast<std::uint64_t>(i)) %
                                             static_cast<std::uint64_t>(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

FoldSplit fold_split(const std::vector<std::int64_t>& examples, int folds, int fold,
                     std::uint64_t seed) {
  NS_CHECK(folds >= 2, "$.folds: expected at least 2 folds, got {}", folds);
  NS_CHECK(fold >= 0 && fold < folds, "fold {} is outside 0..{} ($.folds: {})", fold, folds - 1,
           folds);
  const auto n = static_cast<std::int64_t>(examples.size());
  NS_CHECK(n >= min_fold_examples(folds),
           "$.folds: {} folds need at least {} training + validation examples (2 per fold); the "
           "data has {}: lower \"folds\" or use more data",
           folds, min_fold_examples(folds), n);
  const std::vector<std::int64_t> order = fold_order(n, seed);
  // Part k holds the permuted positions [k n / K, (k + 1) n / K): sizes floor or ceil of n / K.
  const std::int64_t begin = fold * n / folds, end = (fold + 1) * n / folds;
  std::vector<char> in_val(static_cast<std::size_t>(n), 0);
  for (std::int64_t p = begin; p < end; ++p) in_val[static_cast<std::size_t>(order[p])] = 1;
  FoldSplit out;
  out.val.reserve(static_cast<std::size_t>(end - begin));
  out.train.reserve(static_cast<std::size_t>(n - (end - begin)));
  for (std::int64_t i = 0; i < n; ++i)
    (in_val[static_cast<std::size_t>(i)] ? out.val : out.train).push_back(examples[i]);
  return out;
}

}  // namespace ns::models
