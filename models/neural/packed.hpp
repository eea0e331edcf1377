#pragma once
// Several mask CNNs of one architecture trained as one fused model (HFTA: Wang et al., "Horizontally
// Fused Training Array", MLSys 2021): K trials' convolutions become one convolution with
// groups = K over their K batches side by side in the channel dimension, BatchNorm runs over
// K x C channels (each channel's statistics are one member's own), and the factorized readouts
// become batched matrix products. A small model leaves most of a GPU idle; K of them in one
// step fill it. Every member keeps its own modules and parameters: the fused weights are
// concatenated from them at each step, so each member's gradient, optimizer and checkpoint are
// its own, and a member can leave the pack (it stopped early) without touching the others.
// The math is a separate trial's; only the order of float sums differs (tests/neural/test_packed.cpp).
#include <torch/torch.h>

#include <string>
#include <vector>

#include "models/neural/maskcnn.hpp"

namespace ns::models::neural {

/// The options that fix the shapes of a fused step: members agree on these. "" when the
/// options cannot be packed.
std::string pack_shape_key(const ModelOptions& model, const TrainOptions& train);

/// The forward pass, in training mode, of `models` (same pack_shape_key) on their own batches:
/// `x` [K, B, C_in, H, W] (member k's batch at x[k]) -> predictions [K, B, neurons]. Updates each
/// member's BatchNorm running statistics and batch counts as its own forward() would.
torch::Tensor packed_forward(const std::vector<MaskCnn>& models, const torch::Tensor& x);

}  // namespace ns::models::neural
