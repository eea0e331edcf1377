#include "engine/worker.hpp"

#include <chrono>

#include "core/log.hpp"
#include "engine/protocol.hpp"

namespace ns::engine {

void run_worker(Transport& transport, TrialExecutor& executor,
                const std::function<bool()>& drain_requested) {
  const RankInfo& info = executor.info();
  const nlohmann::json ready = msg::wrap(MessageKind::kReady, msg::Ready{info.rank, info.host, info.device});
  transport.send(0, ready);
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
      if (kind == MessageKind::kAbandon) throw TrialAbandoned{report.trial_id};
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
    // Taken out as silent just as its result left: the coordinator answers that result with
    // Shutdown.
    if (kind == MessageKind::kAbandon) continue;
    auto assign = env->message.at("body").get<msg::Assign>();
    // The only messages that can arrive while a trial runs are Drain and Abandon. The runner
    // polls this between batches (a program's family while it waits for it): the heartbeat goes
    // from here, and the poll comes first, so a rank that wakes up after it was taken out as
    // silent drops the trial before a drain (the job's end) makes it write a checkpoint.
    using Clock = std::chrono::steady_clock;
    const auto beat_every = std::chrono::duration<double>(assign.heartbeat_s);
    auto last_beat = Clock::now();
    // The heartbeat when due, then one message: Drain is kept, Abandon throws.
    auto poll_coordinator = [&]() {
      if (assign.heartbeat_s > 0 && Clock::now() - last_beat >= beat_every) {
        transport.send(0, msg::heartbeat());
        last_beat = Clock::now();
      }
      if (auto m = transport.poll()) {
        const MessageKind k = msg::kind_of(m->message);
        if (k == MessageKind::kDrain) drained = true;
        if (k == MessageKind::kAbandon) throw TrialAbandoned{assign.trial.id};
      }
    };
    auto stop = [&]() {
      poll_coordinator();
      return drained || drain_requested();
    };
    // TrialContext::check_owner: the runner asks before it writes outside a stop poll.
    executor.set_owner_check(poll_coordinator);
    try {
      msg::Result result = executor.run(assign, stop);
      executor.set_owner_check({});  // it refers to this iteration's locals
      transport.send(0, msg::wrap(MessageKind::kResult, result));
    } catch (const TrialAbandoned& a) {
      executor.set_owner_check({});
      log::warn("trial {}: this rank was taken out as silent (no heartbeat for longer than "
                "--rank-timeout) and the trial went to another rank; dropped without writing",
                a.trial_id);
      transport.send(0, ready);  // asks for work: the coordinator shuts it down
    }
  }
}

}  // namespace ns::engine
