#include "engine/replicates.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "engine/journal.hpp"

namespace ns::engine {

namespace {

bool counts(TrialStatus s) {
  return s == TrialStatus::kOk || s == TrialStatus::kPaused || s == TrialStatus::kStopped;
}

}  // namespace

ResultRow replicate_mean(const sweeps::Trial& config, const std::vector<ResultRow>& rows) {
  ResultRow out;
  out.trial_id = config.id;
  out.params = config.params;
  out.seed = config.seed;
  std::map<std::string, std::pair<double, int>> sum;  // metric -> (sum, n) over finite values
  bool any = false, paused = false, stopped = false;
  for (const ResultRow& r : rows) {
    out.wall_s += r.wall_s;
    out.rank = r.rank;
    out.host = r.host;
    out.device = r.device;
    if (!counts(r.status)) {
      if (out.error.empty()) out.error = r.error;
      continue;
    }
    any = true;
    paused |= r.status == TrialStatus::kPaused;
    stopped |= r.status == TrialStatus::kStopped;
    for (const auto& [k, v] : r.metrics) {
      auto& [s, n] = sum[k];
      if (std::isfinite(v)) {
        s += v;
        ++n;
      }
    }
  }
  for (const auto& [k, sn] : sum)
    out.metrics[k] = sn.second > 0 ? sn.first / sn.second : std::nan("");
  if (!any) {
    out.status = TrialStatus::kFailed;
    out.error = fmt::format("all {} replicates failed; the first: {}", rows.size(), out.error);
  } else {
    out.status = paused ? TrialStatus::kPaused : stopped ? TrialStatus::kStopped : TrialStatus::kOk;
    out.error.clear();
  }
  return out;
}

sweeps::Trial config_trial(const sweeps::SweepSpec& spec, const sweeps::Trial& first,
                           int replicates) {
  sweeps::Trial t = first;
  t.index = first.index / std::max(replicates, 1);
  t.repeat = 0;
  t.fold = -1;
  t.folds = 0;
  t.fold_seed = 0;
  t.id = sweeps::config_id(spec.family, spec.data, t.params);
  t.seed = sweeps::trial_seed(spec.seed, t.id);
  return t;
}

ReplicateScheduler::ReplicateScheduler(
    const sweeps::SweepSpec& spec,
    const std::function<std::unique_ptr<Scheduler>(Journal)>& build_inner, Journal journal)
    : n_(spec.replicates()), journal_(std::move(journal)) {
  spec_.family = spec.family;
  spec_.data = spec.data;
  spec_.seed = spec.seed;
  spec_.repeats = spec.repeats;
  spec_.folds = spec.folds;
  // The inner scheduler's decisions reach the journal (the report reads them), except while
  // restore() replays the calls that made them.
  inner_ = build_inner([this](const nlohmann::json& e) {
    if (!replaying_ && journal_) journal_(e);
  });
}

void ReplicateScheduler::log(const nlohmann::json& event) {
  if (!replaying_ && journal_) journal_(event);
}

ReplicateScheduler::Slot ReplicateScheduler::slot_of(const std::string& trial_id) const {
  const auto it = slot_of_.find(trial_id);
  NS_CHECK(it != slot_of_.end(), "internal: replicates: unknown trial {}", trial_id);
  return it->second;
}

void ReplicateScheduler::set_segment(Job& job) const {
  if (!job.points.empty()) {
    job.limit = job.points.front();
    job.final_segment = false;
  } else {
    job.limit = job.config.resource_limit;
    job.final_segment = job.config.final_rung;
  }
}

msg::Assign ReplicateScheduler::assign_of(const Job& job, const Rep& rep) const {
  msg::Assign a;
  a.trial = rep.trial;
  a.attempt = rep.attempt;
  a.time_limit_s = job.config.time_limit_s;
  a.resource_limit = job.limit;
  a.final_rung = job.final_segment;
  return a;
}

ReplicateScheduler::Job ReplicateScheduler::visit(const msg::Assign& c) const {
  Job job;
  const auto it = job_of_.find(c.trial.id);
  if (it != job_of_.end()) {
    job = jobs_[static_cast<std::size_t>(it->second)];
  } else {
    for (sweeps::Trial& t : sweeps::replicates_of(spec_, c.trial)) {
      Rep rep;
      rep.trial = std::move(t);
      job.reps.push_back(std::move(rep));
    }
  }
  // Where its replicates are: the resource they paused at (0 for a new configuration).
  double at = 0;
  for (const Rep& r : job.reps)
    if (r.state == RepState::kHeld && r.row && r.row->resource) at = std::max(at, *r.row->resource);
  job.config = c;
  job.points.clear();
  for (double p : c.rungs)
    if (p > at && (c.resource_limit <= 0 || p < c.resource_limit)) job.points.push_back(p);
  std::sort(job.points.begin(), job.points.end());
  set_segment(job);
  return job;
}

void ReplicateScheduler::begin_visit(int worker, const msg::Assign& c) {
  Job job = visit(c);
  job.worker = worker;
  auto it = job_of_.find(c.trial.id);
  if (it == job_of_.end()) {
    const int j = static_cast<int>(jobs_.size());
    for (std::size_t r = 0; r < job.reps.size(); ++r) slot_of_[job.reps[r].trial.id] = {j, static_cast<int>(r)};
    jobs_.push_back(std::move(job));
    it = job_of_.emplace(c.trial.id, j).first;
  } else {
    jobs_[static_cast<std::size_t>(it->second)] = std::move(job);
  }
  const int j = it->second;
  Job& visiting = jobs_[static_cast<std::size_t>(j)];
  for (std::size_t r = 0; r < visiting.reps.size(); ++r) {
    Rep& rep = visiting.reps[r];
    if (rep.state == RepState::kEnded) continue;  // failed for good at an earlier rung
    rep.state = RepState::kQueued;
    queue_.emplace_back(j, static_cast<int>(r));
  }
}

const msg::Assign* ReplicateScheduler::choose(int worker) const {
  if (!queue_.empty()) {
    const auto [j, r] = queue_.front();
    const Job& job = jobs_[static_cast<std::size_t>(j)];
    return show(assign_of(job, job.reps[static_cast<std::size_t>(r)]));
  }
  const msg::Assign* c = inner_->next(worker);
  if (c == nullptr) return nullptr;
  // What commit() will hand out: the visit's first replicate that runs.
  const Job job = visit(*c);
  for (const Rep& r : job.reps)
    if (r.state != RepState::kEnded) return show(assign_of(job, r));
  NS_CHECK(false, "internal: replicates: configuration {} has no replicate to run", c->trial.id);
  return nullptr;
}

msg::Assign ReplicateScheduler::commit(int worker, std::optional<msg::Assign>) {
  if (queue_.empty()) {
    const msg::Assign c = inner_->take(worker);
    log(journal::ReplicatesTake{c.trial.id, worker}.to_json());
    begin_visit(worker, c);
  }
  NS_CHECK(!queue_.empty(), "internal: replicates: a visit with no replicate to run");
  const auto [j, r] = queue_.front();
  queue_.pop_front();
  Job& job = jobs_[static_cast<std::size_t>(j)];
  Rep& rep = job.reps[static_cast<std::size_t>(r)];
  rep.state = RepState::kRunning;
  return assign_of(job, rep);
}

std::vector<msg::Assign> ReplicateScheduler::commit_more(
    int, const std::function<bool(const msg::Assign&)>& fits, int max) {
  std::vector<msg::Assign> out;
  for (auto it = queue_.begin(); it != queue_.end() && static_cast<int>(out.size()) < max;) {
    Job& job = jobs_[static_cast<std::size_t>(it->first)];
    Rep& rep = job.reps[static_cast<std::size_t>(it->second)];
    msg::Assign a = assign_of(job, rep);
    if (!fits(a)) {
      ++it;
      continue;
    }
    rep.state = RepState::kRunning;
    out.push_back(std::move(a));
    it = queue_.erase(it);
  }
  return out;
}

Verdict ReplicateScheduler::decide_result(int, const msg::Assign&, const ResultRow& row,
                                          bool draining) {
  // Applied first, journaled after: the search's own events (which restore() does not replay)
  // come before it, so a kill between them runs the replicate again and they are journaled
  // again, instead of lost.
  apply_result(row, draining);
  log(journal::ReplicateResult{row, draining}.to_json());
  return Verdict::kDefer;
}

void ReplicateScheduler::apply_result(const ResultRow& row, bool draining) {
  const auto [j, r] = slot_of(row.trial_id);
  Job& job = jobs_[static_cast<std::size_t>(j)];
  Rep& rep = job.reps[static_cast<std::size_t>(r)];
  // A replay makes no hand-outs: the replicate is still queued there.
  const auto queued = std::find(queue_.begin(), queue_.end(), Slot{j, r});
  if (queued != queue_.end()) queue_.erase(queued);
  rep.row = row;
  rep.attempt = row.attempt;
  if (row.status == TrialStatus::kPaused) {
    rep.state = RepState::kHeld;
    // The resource it paused at: the segment's limit (a row carries none of its own).
    rep.row->resource = job.limit;
  } else {
    rep.state = RepState::kEnded;
  }
  for (const Rep& other : job.reps)
    if (other.state == RepState::kQueued || other.state == RepState::kRunning) return;
  settle(j, draining);
}

void ReplicateScheduler::settle(int j, bool draining) {
  Job& job = jobs_[static_cast<std::size_t>(j)];
  std::vector<ResultRow> rows;
  std::vector<ResultRow> held;
  for (const Rep& r : job.reps) {
    if (!r.row) continue;
    rows.push_back(*r.row);
    if (r.state == RepState::kHeld) held.push_back(*r.row);
  }
  if (!job.points.empty() && !held.empty()) {
    // A lockstep report point: the inner scheduler decides on the replicates' mean there.
    const double p = job.points.front();
    job.points.erase(job.points.begin());
    const ResultRow mean = replicate_mean(job.config.trial, held);
    const msg::Report report{job.config.trial.id, p, mean.metrics};
    if (inner_->on_report(job.worker, report) == Decision::kContinue) {
      set_segment(job);
      for (std::size_t r = 0; r < job.reps.size(); ++r) {
        if (job.reps[r].state != RepState::kHeld) continue;
        job.reps[r].state = RepState::kQueued;
        queue_.emplace_back(j, static_cast<int>(r));
      }
      return;
    }
    rows.clear();
    for (Rep& r : job.reps) {
      if (r.state == RepState::kHeld) {
        r.state = RepState::kEnded;
        r.row->status = TrialStatus::kStopped;
        r.row->error = fmt::format(
            "stopped by the scheduler at resource {} on the mean of the configuration's {} "
            "replicates there",
            p, held.size());
      }
      if (r.row) rows.push_back(*r.row);
    }
    ResultRow stopped = replicate_mean(job.config.trial, rows);
    stopped.status = TrialStatus::kStopped;
    inner_->on_result(job.worker, job.config, stopped, draining);
    release(j);
    return;
  }
  const ResultRow mean = replicate_mean(job.config.trial, rows);
  const Verdict v = inner_->on_result(job.worker, job.config, mean, draining);
  NS_CHECK(v == Verdict::kHold || v == Verdict::kRecord,
           "internal: replicates: the search asked to retry configuration {}",
           job.config.trial.id);
  if (v == Verdict::kRecord) {
    for (Rep& r : job.reps) {
      if (r.state != RepState::kHeld) continue;  // (a search that records a paused result)
      r.state = RepState::kEnded;
      r.row->status = TrialStatus::kStopped;
    }
  }
  release(j);
}

void ReplicateScheduler::release(int j) {
  Job& job = jobs_[static_cast<std::size_t>(j)];
  for (Rep& r : job.reps) {
    if (r.state != RepState::kEnded || r.written || !r.row) continue;
    ResultRow row = *r.row;
    inner_->annotate(job.config, row);
    r.written = true;
    ready_.push_back(std::move(row));
  }
}

void ReplicateScheduler::requeue(int, msg::Assign again) {
  log(journal::ReplicateRetry{again.trial.id, again.attempt}.to_json());
  apply_retry(again.trial.id, again.attempt);
}

void ReplicateScheduler::apply_retry(const std::string& trial, int attempt) {
  const auto [j, r] = slot_of(trial);
  Rep& rep = jobs_[static_cast<std::size_t>(j)].reps[static_cast<std::size_t>(r)];
  rep.attempt = attempt;
  rep.state = RepState::kQueued;
  const auto queued = std::find(queue_.begin(), queue_.end(), Slot{j, r});
  if (queued != queue_.end()) queue_.erase(queued);
  queue_.emplace_front(j, r);
}

void ReplicateScheduler::lose_worker(int worker) { inner_->on_worker_lost(worker); }

std::vector<ResultRow> ReplicateScheduler::ready_rows() {
  std::vector<ResultRow> out;
  out.swap(ready_);
  return out;
}

std::vector<ResultRow> ReplicateScheduler::final_rows() {
  std::vector<ResultRow> rows = apply_final();  // (as decide_result: applied, then journaled)
  log(journal::ReplicatesFinal{}.to_json());
  return rows;
}

std::vector<ResultRow> ReplicateScheduler::apply_final() {
  std::vector<ResultRow> out = ready_rows();
  for (const ResultRow& config_row : inner_->final_rows()) {
    const auto it = job_of_.find(config_row.trial_id);
    if (it == job_of_.end()) continue;
    for (Rep& r : jobs_[static_cast<std::size_t>(it->second)].reps) {
      if (r.state != RepState::kHeld || !r.row) continue;
      ResultRow row = *r.row;
      row.status = TrialStatus::kStopped;
      row.rung = config_row.rung;
      row.resource = config_row.resource;
      row.error = config_row.error + " (the mean of the configuration's replicates)";
      r.state = RepState::kEnded;
      r.written = true;
      out.push_back(std::move(row));
    }
  }
  return out;
}

std::vector<ResultRow> ReplicateScheduler::restored_rows() {
  std::vector<ResultRow> out;
  out.swap(owed_);
  return out;
}

void ReplicateScheduler::restore(const std::vector<nlohmann::json>& events,
                                 const std::set<std::string>& finished) {
  bool begun = false, decisions = false;
  for (const auto& ev : events) {
    const journal::Kind k = journal::kind_of(ev);
    if (k == journal::Kind::kReplicates) {
      const int n = journal::Replicates::from(ev).replicates;
      NS_CHECK(n == n_,
               "reports.jsonl: this sweep ran {} replicates per configuration, the spec now asks "
               "for {} (\"repeats\" x \"folds\"); start a new output directory",
               n, n_);
      begun = true;
    } else if (k != journal::Kind::kFormat && k != journal::Kind::kUnknown) {
      decisions |= !begun;
    }
  }
  NS_CHECK(!decisions,
           "reports.jsonl: this sweep's decisions were made without replicates (an earlier "
           "neurosweep ran each repeat as a configuration of its own); it cannot be continued "
           "with replicates: start a new output directory");
  if (!begun) log(journal::Replicates{n_}.to_json());

  replaying_ = true;
  std::vector<ResultRow> decided;
  for (const auto& ev : events) {
    switch (journal::kind_of(ev)) {
      case journal::Kind::kReplicatesTake: {
        const auto take = journal::ReplicatesTake::from(ev);
        NS_CHECK(inner_->next(take.worker) != nullptr,
                 "reports.jsonl: the search had nothing to hand out where the journal says it "
                 "handed out configuration {}; the journal does not belong to this sweep",
                 take.config);
        const msg::Assign c = inner_->take(take.worker);
        NS_CHECK(c.trial.id == take.config,
                 "reports.jsonl: the search hands out configuration {} where the journal says "
                 "{}; the spec's search space, fixed parameters or data changed since (start a "
                 "new output directory)",
                 c.trial.id, take.config);
        begin_visit(take.worker, c);
        break;
      }
      case journal::Kind::kReplicateResult: {
        const auto res = journal::ReplicateResult::from(ev);
        if (slot_of_.count(res.row.trial_id)) apply_result(res.row, res.draining);
        break;
      }
      case journal::Kind::kReplicateRetry: {
        const auto retry = journal::ReplicateRetry::from(ev);
        if (slot_of_.count(retry.trial)) apply_retry(retry.trial, retry.attempt);
        break;
      }
      case journal::Kind::kReplicatesFinal:
        for (ResultRow& r : apply_final()) decided.push_back(std::move(r));
        break;
      default:
        break;
    }
    for (ResultRow& r : ready_rows()) decided.push_back(std::move(r));
  }
  replaying_ = false;
  // Rows the replay decided that results.csv lacks: a kill came between the decision and them.
  for (ResultRow& r : decided)
    if (!finished.count(r.trial_id)) owed_.push_back(std::move(r));
  // Replicates that ran when the run ended (no result in the journal) are queued already, in
  // visit order; a replicate with a row but no result event cannot exist (the event comes
  // first).
}

int ReplicateScheduler::pending() const {
  return static_cast<int>(queue_.size()) + inner_->pending() * n_;
}

bool ReplicateScheduler::may_have_more() const {
  if (inner_->may_have_more()) return true;
  for (const Job& job : jobs_)
    for (const Rep& r : job.reps)
      if (r.state == RepState::kRunning) return true;
  return false;
}

double ReplicateScheduler::resource_used() const { return inner_->resource_used() * n_; }

}  // namespace ns::engine
