#pragma once
// A worker rank: asks the coordinator for trials until told to shut down (protocol.hpp).
#include <functional>
#include <string>

#include "engine/executor.hpp"
#include "engine/transport.hpp"

namespace ns::engine {

/// Runs the worker loop. `drain_requested` reports a signal received by this rank itself.
void run_worker(Transport& transport, TrialExecutor& executor,
                const std::function<bool()>& drain_requested);

}  // namespace ns::engine
