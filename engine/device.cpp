#include "engine/device.hpp"

#include <algorithm>
#include <string>

namespace ns::engine {

int local_worker_index(const NodePlacement& p) {
  if (p.world_size > 1 && p.has_coordinator) return std::max(0, p.local_rank - 1);
  return p.local_rank;
}

int local_workers(const NodePlacement& p) {
  if (p.world_size > 1 && p.has_coordinator) return std::max(1, p.local_size - 1);
  return std::max(1, p.local_size);
}

std::string choose_device(const NodePlacement& p, int visible_gpus) {
  if (visible_gpus <= 0) return "cpu";
  return "cuda:" + std::to_string(local_worker_index(p) % visible_gpus);
}

int choose_threads(const NodePlacement& p, int cores_per_node, int requested) {
  if (requested > 0) return requested;
  return std::max(1, cores_per_node / local_workers(p));
}

int count_visible_devices(const char* v) {
  if (v == nullptr) return -1;
  std::string s(v);
  if (s.empty()) return 0;
  return static_cast<int>(std::count(s.begin(), s.end(), ',')) + 1;
}

}  // namespace ns::engine
