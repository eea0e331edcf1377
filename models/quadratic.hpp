#pragma once
// The built-in test objective `quadratic`: "training" evaluates a known function of the
// hyperparameters, with an optional sleep (to test and benchmark the engine) and optional
// induced failures. No LibTorch.
//
//   score = -((x - 1)^2 + (y + 2)^2) + 0.1 * k  [+ noise * N(0,1) from the trial seed]
//   loss  = -score
// On a grid the optimum is the point closest to (1, -2) with the largest k.
#include <memory>

#include "engine/trial_runner.hpp"

namespace ns::models {

std::unique_ptr<engine::ModelFamily> quadratic_family();

/// The noise-free objective, for tests.
double quadratic_score(double x, double y, long k);

}  // namespace ns::models
