#pragma once
// The MPI side of the engine: the RAII session (init/finalize, node placement) and the
// Transport over MPI point-to-point messages. No MPI types leak out of this header.
// The communicators use MPI_ERRORS_RETURN: a failing MPI call throws ns::Error (exit code 1)
// naming the call and the rank, e.g. "MPI_Send failed on rank 2: <MPI's message>".
#include <memory>
#include <string>
#include <vector>

#include "engine/device.hpp"
#include "engine/transport.hpp"

namespace ns::engine {

/// MPI_Init_thread on construction, MPI_Finalize on destruction.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  /// This rank's place on its node (MPI_Comm_split_type shared-memory split).
  const NodePlacement& placement() const { return placement_; }
  /// A Transport over MPI_COMM_WORLD.
  std::unique_ptr<Transport> transport();
  /// Gathers one string per rank on every rank (used once at start for host names).
  std::string hostname() const;
  /// Barrier on MPI_COMM_WORLD.
  void barrier();
  /// Broadcasts an int from rank 0 (used to agree on start-up success).
  int broadcast_int(int value);
  /// The largest of every rank's `value` (used to agree that no rank failed its checks).
  int max_int(int value);
  /// Every rank's `value`, in rank order, on rank 0 (empty elsewhere). Collective.
  std::vector<std::string> gather_strings(const std::string& value);
  /// MPI_Abort: only main may call this.
  [[noreturn]] void abort(int code);

 private:
  int rank_ = 0, size_ = 1;
  NodePlacement placement_;
};

}  // namespace ns::engine
