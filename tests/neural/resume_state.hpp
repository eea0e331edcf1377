#pragma once
// The JSON state inside a maskcnn trial's resume.pt (models/neural/runner.cpp, save_resume): the
// protocol's state under "schedule" (iteration, best_iteration, ...), minibatch order, timings.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

namespace ns::test {

inline nlohmann::json resume_state(const std::filesystem::path& p) {
  torch::serialize::InputArchive archive;
  archive.load_from(p.string());
  torch::Tensor t;
  archive.read("state", t);
  t = t.contiguous();
  return nlohmann::json::parse(std::string(reinterpret_cast<const char*>(t.data_ptr<std::uint8_t>()),
                                           static_cast<std::size_t>(t.numel())));
}

}  // namespace ns::test
