#include "engine/transport.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

namespace ns::engine {

void backoff_sleep(int& step_us) {
  std::this_thread::sleep_for(std::chrono::microseconds(step_us));
  step_us = std::min(step_us * 2, kBackoffCapUs);
}

}  // namespace ns::engine
