#include "engine/worker.hpp"

#include "core/log.hpp"
#include "engine/protocol.hpp"

namespace ns::engine {

void run_worker(Transport& transport, TrialExecutor& executor,
                const std::function<bool()>& drain_requested) {
  const RankInfo& info = executor.info();
  transport.send(0, msg::wrap(MessageKind::kReady, msg::Ready{info.rank, info.host, info.device}));
  bool drained = false;
  // A Report at a rung waits for its Decision; a Drain may come first.
  executor.set_reporter([&](const msg::Report& report) {
    transport.send(0, msg::wrap(MessageKind::kReport, report));
    while (true) {
      auto env = wait_message(transport, [] { return false; },
                              Backoff(Backoff::kSpinUs, Backoff::kReplyWindowUs));
      const MessageKind kind = msg::kind_of(env->message);
      if (kind == MessageKind::kDecision)
        return env->message.at("body").get<msg::DecisionMsg>().decision;
      if (kind == MessageKind::kDrain) drained = true;
    }
  });
  while (true) {
    // The coordinator answers a Ready or Result at once: poll often enough to catch it.
    auto env = wait_message(transport, [] { return false; },
                            Backoff(Backoff::kSpinUs, Backoff::kReplyWindowUs));
    const MessageKind kind = msg::kind_of(env->message);
    if (kind == MessageKind::kShutdown) {
      executor.set_reporter({});  // it refers to this function's locals
      return;
    }
    if (kind == MessageKind::kDrain) {  // arrived between trials: nothing to stop
      drained = true;
      continue;
    }
    auto assign = env->message.at("body").get<msg::Assign>();
    // The only message that can arrive while a trial runs is Drain.
    auto stop = [&]() {
      if (drained || drain_requested()) return true;
      if (auto m = transport.poll()) {
        if (msg::kind_of(m->message) == MessageKind::kDrain) drained = true;
      }
      return drained;
    };
    msg::Result result = executor.run(assign, stop);
    transport.send(0, msg::wrap(MessageKind::kResult, result));
  }
}

}  // namespace ns::engine
