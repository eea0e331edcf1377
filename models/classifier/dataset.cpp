#include "models/classifier/dataset.hpp"

namespace ns::models::classifier {

namespace {

torch::Tensor to_images(const IdxArray& a) {
  const std::int64_t n = a.dims[0], h = a.dims[1], w = a.dims[2];
  // from_blob does not own the bytes: the float conversion copies them before `a` goes away.
  return torch::from_blob(const_cast<std::uint8_t*>(a.data.data()), {n, 1, h, w}, torch::kUInt8)
      .to(torch::kFloat32)
      .div_(255.0);
}

torch::Tensor to_labels(const IdxArray& a) {
  return torch::from_blob(const_cast<std::uint8_t*>(a.data.data()),
                          {static_cast<std::int64_t>(a.data.size())}, torch::kUInt8)
      .to(torch::kInt64);
}

}  // namespace

std::shared_ptr<const ImageData> load_image_data(const IdxDataOptions& opts,
                                                 const torch::Device& device) {
  const IdxDataset ds = load_idx_dir(opts);
  auto out = std::make_shared<ImageData>();
  torch::Tensor train_x = to_images(ds.train.images);
  torch::Tensor test_x = to_images(ds.test.images);
  // Statistics in double: a float sum over 47M pixels loses digits.
  out->mean = train_x.to(torch::kFloat64).mean().item<double>();
  out->std = train_x.to(torch::kFloat64).std().item<double>();
  if (!(out->std > 1e-8)) out->std = 1.0;  // a constant image set: centre only
  train_x.sub_(out->mean).div_(out->std);
  test_x.sub_(out->mean).div_(out->std);
  out->train_x = train_x.to(device).contiguous();
  out->train_y = to_labels(ds.train.labels).to(device);
  out->test_x = test_x.to(device).contiguous();
  out->test_y = to_labels(ds.test.labels).to(device);
  out->train_path = ds.train.images.path;
  out->test_path = ds.test.images.path;
  return out;
}

std::shared_ptr<const ImageData> ImageDataCache::get(const IdxDataOptions& opts,
                                                     const torch::Device& device) {
  const std::string key = opts.to_json().dump() + "@" + device.str();
  if (key != key_ || !data_) {
    data_.reset();  // free the old tensors before loading the new ones
    data_ = load_image_data(opts, device);
    key_ = key;
    ++loads_;
  }
  return data_;
}

}  // namespace ns::models::classifier
