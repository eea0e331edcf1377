#include "engine/transport.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

namespace ns::engine {

void Backoff::pause() {
  const auto now = std::chrono::steady_clock::now();
  if (spinning_since_ == std::chrono::steady_clock::time_point{}) spinning_since_ = now;
  if (now - spinning_since_ < std::chrono::microseconds(spin_us_)) return;
  if (now - spinning_since_ < std::chrono::microseconds(short_window_us_)) {
    std::this_thread::sleep_for(std::chrono::microseconds(kShortUs));
    return;
  }
  std::this_thread::sleep_for(std::chrono::microseconds(step_us_));
  step_us_ = std::min(step_us_ * 2, kCapUs);
}

}  // namespace ns::engine
