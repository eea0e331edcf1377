#pragma once
// Neural response datasets (docs/formats.md): HDF5 files and the built-in simulated V1 population,
// loaded into plain host vectors (torch-free). A data block of a sweep spec names one of them:
//   {"kind": "hdf5", "path": "data/8k.h5", "split_seed": 0, "ccnorm": true}
//   {"kind": "simulated", "seed": 0, "images": 4000, "size": 32, "neurons": 60, "repeats": 6, ...}
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ns::models::neural {

/// Image-split labels (docs/formats.md, `split`).
enum Part : std::int8_t { kTrain = 0, kVal = 1, kTest = 2 };

/// One dataset in memory. Every array is row-major.
struct NeuralData {
  std::string source;  ///< file path, or "simulated(...)"
  std::int64_t images = 0, channels = 1, height = 0, width = 0, neurons = 0;
  std::int64_t repeats = 0;         ///< R of `trials`; 0 when there are none
  std::vector<float> pixels;        ///< [images][channels][height][width], raw pixel values
  std::vector<float> trials;        ///< [repeats][images][neurons], NaN = missing; may be empty
  std::vector<float> responses;     ///< [images][neurons], trial-averaged
  std::vector<float> truth;         ///< [images][neurons] noise-free rates; may be empty
  std::vector<std::int8_t> split;   ///< [images], Part values
  std::vector<std::string> warnings;  ///< one line each, for the user (e.g. negative responses)

  /// Image indices of one part, ascending.
  std::vector<std::int64_t> indices(Part part) const;
};

/// Options of the simulated V1 population (the "simulated" data block, all keys optional).
struct SimOptions {
  std::uint64_t seed = 0;
  std::int64_t images = 4000;
  std::int64_t size = 32;           ///< images are size x size, grayscale
  std::int64_t neurons = 60;
  std::int64_t repeats = 6;
  double complex_fraction = 0.5;    ///< share of complex (energy-model) cells
  double mean_rate = 2.0;           ///< average expected spike count per image
  double missing = 0.0;             ///< probability that a repeat is missing (NaN)
  /// How repeats go missing: "cell" (each repeat of each image and neuron on its own, one kept
  /// per image and neuron), "trial" (a whole presentation: repeat r of image m for every
  /// neuron, one kept per image, as a dropped trial), "repeat" (all images of repeat r for one
  /// neuron, two kept per neuron, as a unit lost for a block of the recording).
  std::string missing_mode = "cell";
};

/// A parsed and checked data block.
struct DataSpec {
  /// The block's "kind", read once by parse_data_spec.
  enum class Kind { kHdf5, kSimulated } kind = Kind::kSimulated;
  std::string path;                 ///< hdf5 only
  std::uint64_t split_seed = 0;     ///< hdf5 without `split`: seed of the 64/16/20 split
  bool ccnorm = true;               ///< CCnorm metrics wanted: trials with R >= 2 required
  SimOptions sim;                   ///< simulated only
};

/// Parses a data block; throws ns::Error naming `json_path` and the offending key.
DataSpec parse_data_spec(const nlohmann::json& block, const std::string& json_path = "$.data");

/// Loads (HDF5) or generates (simulated) the dataset and checks it (see check_dataset).
NeuralData load_dataset(const DataSpec& spec);

/// Reads an HDF5 file (docs/formats.md) and checks shapes and values; errors name the file,
/// the dataset and the shape or value that is wrong.
/// With CCnorm asked for: throws ns::Error (exit 2) when any neuron's effective repeat count
/// (metrics.hpp effective_repeats: the median of present repeats per image) is below 2, naming
/// `where`, the dataset and how many neurons.
void check_effective_repeats(const NeuralData& d, const std::string& where);

NeuralData read_h5(const std::string& path, std::uint64_t split_seed, bool need_ccnorm);

/// Writes `data` as docs/formats.md says (images uint8 when every pixel is an integer in 0..255).
void write_h5(const NeuralData& data, const std::string& path);

/// The seeded random 64/16/20 train/val/test split used when a file has no `split`.
std::vector<std::int8_t> random_split(std::int64_t images, std::uint64_t seed);

/// The image indices of `split` (Part values per image) labelled `part`, ascending.
std::vector<std::int64_t> part_indices(const std::vector<std::int8_t>& split, Part part);

/// Fold `fold` of `folds` (the spec's "folds"; models/folds.hpp) as a split: the images `split`
/// puts in train or val are pooled (ascending) and partitioned by models::fold_split with
/// `seed`; the fold's part becomes kVal, the rest kTrain; kTest images keep their label. The
/// unit is the image, so all repeats of an image (`trials`) and its mean response stay in one
/// part. Throws ns::Error (exit 2) naming `$.folds` when train + val has fewer than 2 x folds
/// images.
std::vector<std::int8_t> fold_labels(const std::vector<std::int8_t>& split, int folds, int fold,
                                     std::uint64_t seed);

/// Generates the simulated V1 population (models/neural/simulate.cpp).
NeuralData simulate_v1(const SimOptions& options);

}  // namespace ns::models::neural
