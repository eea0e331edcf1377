#pragma once
// Message transport between ranks. The MPI implementation (engine/mpi_transport.cpp) holds every
// MPI call of the project; tests use an in-process fake.
#include <nlohmann/json.hpp>

#include <optional>
#include <utility>

#include "engine/device.hpp"

namespace ns::engine {

struct Envelope {
  int source = 0;
  nlohmann::json message;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Sends a message (buffered; does not wait for the receiver to be ready).
  virtual void send(int dest, const nlohmann::json& message) = 0;
  /// Returns a waiting message from any rank, or nothing; never blocks.
  virtual std::optional<Envelope> poll() = 0;
};

/// Waits for the next message with a capped backoff (50 us doubling to 1 ms, as mpi4py's
/// futures do) so an idle rank leaves its core to training. `give_up` is checked between polls;
/// returns nothing if it fires first.
template <typename GiveUp>
std::optional<Envelope> wait_message(Transport& t, GiveUp&& give_up);

/// Sleeps for the backoff step and doubles it up to the cap.
void backoff_sleep(int& step_us);
constexpr int kBackoffStartUs = 50;
constexpr int kBackoffCapUs = 1000;

template <typename GiveUp>
std::optional<Envelope> wait_message(Transport& t, GiveUp&& give_up) {
  int step = kBackoffStartUs;
  while (true) {
    if (auto e = t.poll()) return e;
    if (give_up()) return std::nullopt;
    backoff_sleep(step);
  }
}

}  // namespace ns::engine
