#include "engine/worker.hpp"

#include "engine/log.hpp"
#include "engine/protocol.hpp"

namespace ns::engine {

void run_worker(Transport& transport, TrialExecutor& executor,
                const std::function<bool()>& drain_requested) {
  const RankInfo& info = executor.info();
  transport.send(0, msg::wrap("ready", msg::Ready{info.rank, info.host, info.device}));
  bool drained = false;
  while (true) {
    // The coordinator answers a Ready or Result at once: poll often enough to catch it.
    auto env = wait_message(transport, [] { return false; },
                            Backoff(Backoff::kSpinUs, Backoff::kReplyWindowUs));
    const std::string type = env->message.at("type").get<std::string>();
    if (type == "shutdown") return;
    if (type == "drain") {  // arrived between trials: nothing to stop
      drained = true;
      continue;
    }
    auto assign = env->message.at("body").get<msg::Assign>();
    // The only message that can arrive while a trial runs is Drain.
    auto stop = [&]() {
      if (drained || drain_requested()) return true;
      if (auto m = transport.poll()) {
        if (m->message.at("type") == "drain") drained = true;
      }
      return drained;
    };
    msg::Result result{executor.execute(assign, stop)};
    transport.send(0, msg::wrap("result", result));
  }
}

}  // namespace ns::engine
