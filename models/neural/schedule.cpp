#include "models/neural/schedule.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"

namespace ns::models::neural {

PhaseSchedule::PhaseSchedule(ScheduleOptions options) : options_(options) {
  NS_CHECK(options_.phases >= 1 && options_.eval_every >= 1 && options_.patience >= 1 &&
               options_.max_iters_per_phase >= 1 && options_.lr > 0 && options_.lr_decay > 0,
           "invalid training schedule: phases {}, eval_every {}, patience {}, "
           "max_iters_per_phase {} must be >= 1 and lr {}, lr_decay {} > 0",
           options_.phases, options_.eval_every, options_.patience,
           options_.max_iters_per_phase, options_.lr, options_.lr_decay);
}

double PhaseSchedule::lr() const {
  const int p = phase_ < options_.phases ? phase_ : options_.phases - 1;
  return options_.lr / std::pow(options_.lr_decay, p);
}

bool PhaseSchedule::eval_due() const {
  return in_phase_ > 0 &&
         (in_phase_ % options_.eval_every == 0 || in_phase_ >= options_.max_iters_per_phase);
}

void PhaseSchedule::count_step() {
  ++iteration_;
  ++in_phase_;
}

void PhaseSchedule::add_train_loss(double train_loss) {
  train_sum_ += train_loss;
  ++train_count_;
}

EvalDecision PhaseSchedule::report(double val_loss) {
  EvalDecision d;
  const double train =
      train_count_ > 0 ? train_sum_ / static_cast<double>(train_count_) : std::nan("");
  curve_.push_back({iteration_, phase_ + 1, lr(), train, val_loss});
  train_sum_ = 0;
  train_count_ = 0;
  ++evaluations_;
  // Strict improvement only; a NaN loss never improves.
  if (val_loss < best_loss_) {
    best_loss_ = val_loss;
    best_iteration_ = iteration_;
    best_phase_ = phase_ + 1;
    bad_ = 0;
    d.improved = true;
  } else {
    ++bad_;
  }
  if (bad_ >= options_.patience || in_phase_ >= options_.max_iters_per_phase) {
    d.end_phase = true;
    ++phase_;
    in_phase_ = 0;
    bad_ = 0;
    d.finished = finished();
  }
  return d;
}

nlohmann::json PhaseSchedule::state() const {
  // JSON has no NaN/inf: losses are stored as strings of hexfloats.
  auto num = [](double x) { return fmt::format("{:a}", x); };
  nlohmann::json curve = nlohmann::json::array();
  for (const auto& r : curve_)
    curve.push_back({r.iteration, r.phase, num(r.lr), num(r.train_loss), num(r.val_loss)});
  return {{"phase", phase_},         {"iteration", iteration_},   {"in_phase", in_phase_},
          {"evaluations", evaluations_}, {"bad", bad_},          {"best_loss", num(best_loss_)},
          {"best_iteration", best_iteration_}, {"best_phase", best_phase_},
          {"train_sum", num(train_sum_)},
          {"train_count", train_count_},     {"curve", curve}};
}

void PhaseSchedule::set_state(const nlohmann::json& s) {
  auto num = [](const nlohmann::json& v) {
    return std::strtod(v.get<std::string>().c_str(), nullptr);
  };
  phase_ = s.at("phase").get<int>();
  iteration_ = s.at("iteration").get<std::int64_t>();
  in_phase_ = s.at("in_phase").get<std::int64_t>();
  evaluations_ = s.at("evaluations").get<std::int64_t>();
  bad_ = s.at("bad").get<std::int64_t>();
  best_loss_ = num(s.at("best_loss"));
  best_iteration_ = s.at("best_iteration").get<std::int64_t>();
  best_phase_ = s.at("best_phase").get<int>();
  train_sum_ = num(s.at("train_sum"));
  train_count_ = s.at("train_count").get<std::int64_t>();
  curve_.clear();
  for (const auto& r : s.at("curve"))
    curve_.push_back({r.at(0).get<std::int64_t>(), r.at(1).get<int>(), num(r.at(2)),
                      num(r.at(3)), num(r.at(4))});
}

ProtocolDriver::ProtocolDriver(PhaseSchedule& schedule, const ProtocolHooks& hooks)
    : schedule_(schedule), hooks_(hooks) {
  NS_CHECK(hooks_.read_every >= 1, "ProtocolHooks::read_every must be >= 1, got {}",
           hooks_.read_every);
}

void ProtocolDriver::evaluate() {
  EvalDecision d = schedule_.report(hooks_.evaluate());
  if (d.improved) hooks_.save_best();
  if (d.end_phase) {
    if (schedule_.best_iteration() >= 0) {
      hooks_.restore_best();
      hooks_.on_phase_end();
    }
    if (!d.finished) hooks_.set_lr(schedule_.lr());
  }
  hooks_.after_eval();
  if (!schedule_.finished() && hooks_.hold()) held_ = true;
}

void ProtocolDriver::start() {
  if (!schedule_.finished()) hooks_.set_lr(schedule_.lr());
  if (schedule_.needs_initial_eval()) evaluate();
}

void ProtocolDriver::stepped() {
  NS_CHECK(!done() && !eval_due_, "ProtocolDriver: a step was taken {}",
           done() ? "after training ended" : "before the due evaluation ran (supply the losses)");
  schedule_.count_step();
  ++pending_;
  eval_due_ = schedule_.eval_due();
}

bool ProtocolDriver::wants_losses() const {
  return pending_ > 0 && (eval_due_ || pending_ >= hooks_.read_every);
}

void ProtocolDriver::supply(const std::vector<double>& losses) {
  NS_CHECK(static_cast<std::int64_t>(losses.size()) <= pending_,
           "ProtocolDriver: {} losses supplied for {} pending steps", losses.size(), pending_);
  if (failed_) return;
  // The first pending step is iteration (iteration() - pending + 1).
  const std::int64_t first = schedule_.iteration() - pending_ + 1;
  for (std::size_t i = 0; i < losses.size(); ++i) {
    const double loss = losses[i];
    if (!std::isfinite(loss)) {
      failed_ = true;
      error_ = fmt::format(
          "training loss is not finite ({}) at iteration {} (phase {}, lr {:g}); "
          "lower lr or the regularizer weights",
          loss, first + static_cast<std::int64_t>(i), schedule_.phase() + 1, schedule_.lr());
      return;
    }
    schedule_.add_train_loss(loss);
  }
  pending_ -= static_cast<std::int64_t>(losses.size());
  if (pending_ == 0 && eval_due_) {
    eval_due_ = false;
    evaluate();
  }
}

ProtocolResult ProtocolDriver::result(bool interrupted) const {
  ProtocolResult result;
  if (failed_) {
    result.status = ProtocolResult::Status::kFailed;
    result.error = error_;
  } else if ((interrupted || held_) && !schedule_.finished()) {
    result.status = ProtocolResult::Status::kInterrupted;
  } else if (schedule_.best_iteration() < 0) {
    result.status = ProtocolResult::Status::kFailed;
    result.error = fmt::format("the validation loss was never finite ({} evaluations); check "
                               "the data and lower lr",
                               schedule_.curve().size());
  }
  return result;
}

ProtocolResult run_protocol(PhaseSchedule& schedule, const ProtocolHooks& hooks) {
  ProtocolDriver driver(schedule, hooks);
  driver.start();
  while (!driver.done()) {
    if (hooks.stop_requested()) {
      if (driver.pending() > 0) driver.supply(hooks.read_losses());  // the checkpoint holds them
      return driver.result(/*interrupted=*/!driver.done());
    }
    hooks.train_step();
    driver.stepped();
    if (driver.wants_losses()) driver.supply(hooks.read_losses());
  }
  return driver.result();
}

}  // namespace ns::models::neural
