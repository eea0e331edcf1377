#pragma once
// K-fold cross-validation of a family's training + validation examples (the spec's "folds": K;
// docs/formats.md, "Cross-validation folds"). Torch-free: the neural, classifier and
// torchscript families share it, and its tests need no LibTorch.
#include <cstdint>
#include <vector>

namespace ns::models {

/// One fold's examples: it validates on `val` and trains on `train`, each in the order the
/// examples had in the input.
struct FoldSplit {
  std::vector<std::int64_t> train;
  std::vector<std::int64_t> val;
};

/// Fold `fold` (0..folds-1) of `examples` (the training + validation examples, e.g. image
/// indices; the test examples never enter): a permutation of their positions seeded by `seed`
/// (Fisher-Yates driven by core::mix_seed, the same on every platform) is cut into `folds`
/// contiguous parts whose sizes differ by at most one; part `fold` validates, the others train.
/// Over fold = 0..folds-1 every example validates exactly once. Throws ns::Error (exit 2)
/// naming `$.folds` when there are fewer than 2 x folds examples, or folds < 2, or fold out of
/// range.
FoldSplit fold_split(const std::vector<std::int64_t>& examples, int folds, int fold,
                     std::uint64_t seed);

/// The positions 0..n-1 in the seeded order fold_split cuts (exposed for tests and the docs).
std::vector<std::int64_t> fold_order(std::int64_t n, std::uint64_t seed);

/// The least number of training + validation examples `folds` folds need (2 per fold, so
/// every fold trains and validates on at least two).
inline std::int64_t min_fold_examples(int folds) { return 2 * static_cast<std::int64_t>(folds); }

}  // namespace ns::models
