#pragma once
// Per-neuron prediction metrics, torch-free (plain vectors, double precision):
// Pearson r, CCmax / CCnorm (Schoppe et al. 2016, Front. Comput. Neurosci. 10:10) and FEV.
#include <cstdint>
#include <utility>
#include <vector>

namespace ns::models::neural {

/// Pearson correlation with population (1/n) standard deviations; 0 when either standard
/// deviation is <= 1e-5 (models/neural/README.md "The published model", metrics).
double pearson(const std::vector<double>& x, const std::vector<double>& y);

/// CCmax of one neuron (Schoppe 2016, Eq. 29, with the signal power of Sahani & Linden 2003):
///   SP = (Var(sum_r y_r) - sum_r Var(y_r)) / (R (R - 1))   [variances over images, ddof 1]
///   CCmax = sqrt(SP / Var(ybar))                            [Var(ybar) with 1/M]
/// `trials` is row-major [repeats][images]; NaN marks a missing repeat. Missing repeats: each
/// image keeps its first R' present repeats (in repeat order), R' = the smallest number present
/// for any image, so Eq. 29 runs on a complete R' x M table (repeats of one image are
/// exchangeable). Returns NaN (neuron excluded) when R' < 2 or SP <= 0; never clipped at 1.
double cc_max(const std::vector<double>& trials, std::int64_t repeats, std::int64_t images);

/// Fraction of explainable variance explained where the noise-free rate is known:
/// 1 - mean((pred - truth)^2) / Var(truth) (1/M); NaN when Var(truth) <= 1e-12.
double fev(const std::vector<double>& pred, const std::vector<double>& truth);

/// Mean of the non-NaN values and how many were NaN.
std::pair<double, std::int64_t> nan_mean(const std::vector<double>& v);

/// Read-only view of a population's responses (row-major, whole dataset).
struct PopulationView {
  std::int64_t images = 0, neurons = 0;
  const float* responses = nullptr;  ///< [images][neurons], trial-averaged
  const float* trials = nullptr;     ///< [repeats][images][neurons], NaN = missing; may be null
  std::int64_t repeats = 0;
  const float* truth = nullptr;      ///< [images][neurons] noise-free rates; may be null
};

/// Metrics of one split (val or test) at one model state.
struct SplitScores {
  std::vector<double> pearson, ccmax, ccnorm, fev;  ///< per neuron (NaN = not available)
  double mean_pearson = 0;
  double mean_ccnorm = 0, mean_ccnorm2 = 0;  ///< NaN-aware means over neurons
  std::int64_t ccnorm_excluded = 0;          ///< neurons with CCmax NaN (or no trials)
  double mean_ccmax = 0;                     ///< over the neurons not excluded
  double mean_fev = 0;                       ///< NaN without truth
};

/// Scores predictions `pred` ([index.size()][neurons], row-major) of the images `index` against
/// the trial-averaged responses (Pearson), the trials (CCmax, CCnorm = Pearson / CCmax) and the
/// truth (FEV).
SplitScores score_split(const std::vector<float>& pred, const std::vector<std::int64_t>& index,
                        const PopulationView& data);

}  // namespace ns::models::neural
