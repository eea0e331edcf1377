#pragma once
// Message transport between ranks. The MPI implementation (engine/mpi_transport.cpp) holds every
// MPI call of the project; tests use an in-process fake.
#include <nlohmann/json.hpp>

#include <chrono>
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

/// Capped backoff between polls: polls back to back for a short window (a reply to a message
/// just sent usually comes within microseconds; yielding instead would hand the core to any
/// other runnable process for a whole time slice), then sleeps of 50 us doubling to 1 ms (mpi4py's
/// futures poll at ~1 ms), so an idle rank leaves its core to training.
///
/// Two sides that both back off must not wait for each other: if each reply arrives while the
/// other side sleeps, every round trip runs up the whole ladder (measured: 2.9 ms per zero-cost
/// trial with one worker). So the worker, which waits for an answer it knows is coming, keeps to
/// short sleeps (kShortUs) for its first kReplyWindowUs before doubling; sleeping rather than
/// spinning leaves the core to the coordinator when ranks outnumber cores.
class Backoff {
 public:
  explicit Backoff(int spin_us = kSpinUs, int short_window_us = 0)
      : spin_us_(spin_us), short_window_us_(short_window_us) {}
  void reset() { spinning_since_ = {}; step_us_ = kStartUs; }
  void pause();

  static constexpr int kSpinUs = 100;
  static constexpr int kShortUs = 20;
  static constexpr int kReplyWindowUs = 5000;
  static constexpr int kStartUs = 50;
  static constexpr int kCapUs = 1000;

 private:
  int spin_us_, short_window_us_;
  std::chrono::steady_clock::time_point spinning_since_{};
  int step_us_ = kStartUs;
};

/// Waits for the next message with `backoff`. `give_up` is checked between polls; returns
/// nothing if it fires first.
template <typename GiveUp>
std::optional<Envelope> wait_message(Transport& t, GiveUp&& give_up, Backoff backoff = Backoff()) {
  while (true) {
    if (auto e = t.poll()) return e;
    if (give_up()) return std::nullopt;
    backoff.pause();
  }
}

}  // namespace ns::engine
