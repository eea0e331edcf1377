#pragma once
// Per-neuron prediction metrics, torch-free (plain vectors, double precision):
// Pearson r, CCmax / CCnorm (Schoppe et al. 2016, Front. Comput. Neurosci. 10:10) and FEV.
#include <cstdint>
#include <utility>
#include <vector>

namespace ns::models::neural {

/// The CCmax/CCnorm estimator, as sweep.json names it ("metric_definitions"). The one before
/// it (sweeps without the record) computed CCmax on each image's first R' present repeats, R'
/// the fewest present, while Pearson used all of them; both equal Eq. 29 on complete data.
inline constexpr const char* kCcnormEstimator =
    "schoppe-eq29-two-way-anova: one trial mean per image; signal power of the additive "
    "image + repeat model on every present repeat (Henderson III)";
inline constexpr const char* kCcnormLegacyEstimator =
    "schoppe-eq29-complete-subset: CCmax on each image's first R' present repeats";

/// Pearson correlation with population (1/n) standard deviations; 0 when either standard
/// deviation is <= 1e-5 (models/neural/README.md "The published model", metrics).
double pearson(const std::vector<double>& x, const std::vector<double>& y);

/// One neuron's trials of one split, summarized: per image the number of present repeats and
/// their mean ybar_m (NaN when none is present).
struct TrialTable {
  std::int64_t repeats = 0, images = 0;
  std::vector<std::int64_t> present;  ///< n_m, present repeats per image
  std::vector<double> mean;           ///< ybar_m, the mean of image m's present repeats
  std::int64_t cells = 0;             ///< present (repeat, image) cells
  std::int64_t images_present = 0;    ///< images with at least one present repeat
};

/// Summarizes `trials`, row-major [repeats][images], NaN = missing.
TrialTable trial_table(const std::vector<double>& trials, std::int64_t repeats,
                       std::int64_t images);

/// The effective repeat count: the median over the images that have any of their number of
/// present repeats (R when nothing is missing; 0 when nothing is present). CCnorm asks for
/// >= 2: a dropped trial here and there keeps it, one repeat for most images does not.
double effective_repeats(const TrialTable& t);

/// Signal power of one neuron (Sahani & Linden 2003; Schoppe et al. 2016 Eq. 29) for any
/// pattern of missing repeats: the additive image + repeat model fitted to the present cells,
/// SP = (SS_image|repeat - df_image * MS_resid) / (n - R) (Henderson's method III; derivation in
/// models/neural/README.md). With nothing missing this is Eq. 29,
///   SP = (Var(sum_r y_r) - sum_r Var(y_r)) / (R (R - 1))   [variances over images, ddof 1],
/// exactly. `trials` is row-major [repeats][images], NaN = missing. NaN when the residual or
/// the image term has no degrees of freedom (e.g. every image has one repeat).
double signal_power(const std::vector<double>& trials, std::int64_t repeats,
                    std::int64_t images);

/// CCmax of one neuron: sqrt(SP / Var(ybar)), ybar_m the mean of image m's present repeats
/// (the same response Pearson is computed against), Var with 1/M over the images with a
/// present repeat. NaN (neuron excluded) when SP <= 0 or undefined; never clipped at 1.
double cc_max(const std::vector<double>& trials, std::int64_t repeats, std::int64_t images);

/// signal_power and cc_max given `table` = trial_table(trials, repeats, images), built once.
double signal_power(const std::vector<double>& trials, const TrialTable& table);
double cc_max(const std::vector<double>& trials, const TrialTable& table);

/// Fraction of explainable variance explained where the noise-free rate is known:
/// 1 - mean((pred - truth)^2) / Var(truth) (1/M); NaN when Var(truth) <= 1e-12.
double fev(const std::vector<double>& pred, const std::vector<double>& truth);

/// Mean of the non-NaN values and how many were NaN.
std::pair<double, std::int64_t> nan_mean(const std::vector<double>& v);

/// Read-only view of a population's responses (row-major, whole dataset).
struct PopulationView {
  std::int64_t images = 0, neurons = 0;
  const float* responses = nullptr;  ///< [images][neurons], trial-averaged (used without trials)
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

/// Scores predictions `pred` ([index.size()][neurons], row-major) of the images `index`. With
/// trials, each image's mean of its present repeats is the response for Pearson and CCmax alike
/// (CCnorm = Pearson / CCmax; images with no present repeat are left out for that neuron);
/// without trials Pearson uses `responses`. FEV against the truth.
SplitScores score_split(const std::vector<float>& pred, const std::vector<std::int64_t>& index,
                        const PopulationView& data);

}  // namespace ns::models::neural
