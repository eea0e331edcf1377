#pragma once
// Image tensors of an IDX dataset, scaled and normalized once and cached across the trials of a
// worker. LibTorch header: include from models/ .cpp files and tests only.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

#include "models/classifier/idx.hpp"

namespace ns::models::classifier {

/// One dataset, ready for training. Pixels p in 0..255 become (p/255 - mean) / std with mean and
/// std taken over every loaded training image (validation part included: one statistic per
/// dataset, so it can be shared by trials whose val_split differs; no labels enter it).
struct ImageData {
  torch::Tensor train_x;  ///< [N, C, H, W] float32, contiguous, on the device
  torch::Tensor train_y;  ///< [N] int64, on the device
  torch::Tensor test_x;   ///< [M, C, H, W] float32
  torch::Tensor test_y;   ///< [M] int64
  double mean = 0;        ///< of p/255 over the training images
  double std = 1;
  std::string train_path;  ///< training images file (for provenance)
  std::string test_path;   ///< test images file
  std::int64_t channels() const { return train_x.size(1); }
  std::int64_t height() const { return train_x.size(2); }
  std::int64_t width() const { return train_x.size(3); }
};

/// Reads `opts`' files and builds the tensors (no cache).
std::shared_ptr<const ImageData> load_image_data(const IdxDataOptions& opts,
                                                 const torch::Device& device);

/// Keeps the most recent dataset (keyed by data block and device): a sweep names one data block,
/// so every trial after a worker's first reuses it.
class ImageDataCache {
 public:
  std::shared_ptr<const ImageData> get(const IdxDataOptions& opts, const torch::Device& device);
  int loads() const { return loads_; }  ///< how many times files were read (for tests)

 private:
  std::string key_;
  std::shared_ptr<const ImageData> data_;
  int loads_ = 0;
};

}  // namespace ns::models::classifier
