#pragma once
// IDX files, the format LeCun published MNIST in (http://yann.lecun.com/exdb/mnist/, "FILE
// FORMATS"), also used by Fashion-MNIST: a big-endian magic number 0x0000TTDD (TT = element type,
// 0x08 = unsigned byte; DD = number of dimensions), DD big-endian uint32 sizes, then the data
// row-major. Torch-free: the engine-facing family header and the tests use it directly.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ns::models::classifier {

/// Classes of the IDX data sets this family reads (MNIST, Fashion-MNIST: labels 0..9).
inline constexpr int kClasses = 10;

/// One IDX array of unsigned bytes as read from `path`.
struct IdxArray {
  std::string path;                 ///< file it was read from (for error messages)
  std::vector<std::uint32_t> dims;  ///< sizes from the header; dims[0] is cut to what was read
  std::vector<std::uint8_t> data;   ///< row-major values, product(dims) bytes
  std::int64_t declared_items = 0;  ///< dims[0] as the header declares it (before any limit)
};

/// Reads an unsigned-byte IDX file with `expected_dims` dimensions (3 for images, 1 for labels),
/// gzip-compressed or plain (zlib's gzread reads both). Reads the first `max_items` entries along
/// the first dimension (all when negative, or when the file has fewer). Throws ns::Error naming
/// the file when it is missing, unreadable, has a wrong magic number or is truncated.
IdxArray read_idx(const std::filesystem::path& path, int expected_dims,
                  std::int64_t max_items = -1);

/// Writes an unsigned-byte IDX file, gzip-compressed when `path` ends in ".gz" (tests, tools).
void write_idx(const std::filesystem::path& path, const std::vector<std::uint32_t>& dims,
               const std::vector<std::uint8_t>& data);

/// `<dir>/<stem>.gz` when it exists, else `<dir>/<stem>`; throws ns::Error naming both when
/// neither exists. `stem` is e.g. "train-images-idx3-ubyte".
std::filesystem::path find_idx_file(const std::filesystem::path& dir, const std::string& stem);

/// The spec's data block for this family:
///   {"kind": "idx", "dir": "/usr/share/datasets/fashion-mnist", "limit": null, "test_limit": null}
/// `limit` / `test_limit` keep the first K training / test images (null = all).
struct IdxDataOptions {
  std::string dir;
  std::int64_t limit = -1;       ///< -1 = all training images
  std::int64_t test_limit = -1;  ///< -1 = all test images

  /// Parses and checks a data block; errors name `json_path` (e.g. "$.data") and the field.
  static IdxDataOptions from_json(const nlohmann::json& data, const std::string& json_path);
  nlohmann::json to_json() const;
};

/// Images and labels of one split, checked against each other.
struct IdxSplit {
  IdxArray images;  ///< [count, rows, cols]
  IdxArray labels;  ///< [count]
  std::int64_t count() const { return images.dims.empty() ? 0 : images.dims[0]; }
  int rows() const { return static_cast<int>(images.dims.at(1)); }
  int cols() const { return static_cast<int>(images.dims.at(2)); }
};

/// Both splits of an MNIST-layout directory.
struct IdxDataset {
  IdxSplit train;  ///< train-{images-idx3,labels-idx1}-ubyte[.gz]
  IdxSplit test;   ///< t10k-{images-idx3,labels-idx1}-ubyte[.gz]
};

/// Reads both splits of `opts.dir` (first `limit` / `test_limit` items). Checks that each images
/// file and its labels file hold the same number of items, labels lie in [0, num_classes), and the
/// test images have the training images' size. Errors name the file(s).
IdxDataset load_idx_dir(const IdxDataOptions& opts, int num_classes = kClasses);

}  // namespace ns::models::classifier
