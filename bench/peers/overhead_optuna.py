"""Optuna's engine overhead: N zero-cost trials over W processes sharing one JournalStorage file.

    python overhead_optuna.py drive N W DIR      # spawns W workers (this interpreter), prints JSON
    python overhead_optuna.py worker JOURNAL K   # one worker: K trials of the shared study

Optuna's documented way to run in parallel without a database: every process opens
JournalStorage(JournalFileBackend(path)) and calls create_study(..., load_if_exists=True) and
study.optimize. The trials are split N // W per process (the first N % W get one more), so the
study ends with exactly N COMPLETE trials. The objective draws one float and returns at once
(RandomSampler: a random search, as neurosweep's `random` block; the default TPE sampler's own
cost grows with the trials and is not engine overhead).
"""
import json
import os
import subprocess
import sys
import time

STUDY = "overhead"


def worker(journal, k):
    t0 = time.time()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t_import = time.time()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    study = optuna.create_study(study_name=STUDY, storage=storage, load_if_exists=True,
                                sampler=optuna.samplers.RandomSampler(), direction="maximize")
    t_ready = time.time()

    def objective(trial):
        x = trial.suggest_float("x", -5.0, 5.0)
        return -(x - 1.0) ** 2

    if k > 0:
        study.optimize(objective, n_trials=k)
    t_end = time.time()
    print(json.dumps({"t0": t0, "t_import": t_import, "t_ready": t_ready, "t_end": t_end, "k": k}))


def drive(n, w, d):
    os.makedirs(d, exist_ok=True)
    journal = os.path.join(d, "journal.log")
    shares = [n // w + (1 if i < n % w else 0) for i in range(w)]
    t0 = time.time()
    procs = [subprocess.Popen([sys.executable, __file__, "worker", journal, str(k)],
                              stdout=subprocess.PIPE, text=True) for k in shares]
    outs = [p.communicate()[0] for p in procs]
    wall = time.time() - t0
    if any(p.returncode for p in procs):
        sys.exit(f"optuna worker failed: {[p.returncode for p in procs]}")
    ws = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    # Check the study: exactly n COMPLETE trials.
    import optuna

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    trials = optuna.load_study(study_name=STUDY, storage=storage).get_trials(deepcopy=False)
    complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    print(json.dumps({
        "tool": "optuna", "version": optuna.__version__, "n": n, "w": w, "wall_s": wall,
        # from the first worker's study being ready (its imports and study loading done: the
        # first trial can start) to the last worker's end, as neurosweep's makespan
        "optimize_s": max(x["t_end"] for x in ws) - min(x["t_ready"] for x in ws) if n else 0.0,
        "optimize_after_last_ready_s": max(x["t_end"] for x in ws) - max(x["t_ready"] for x in ws),
        "import_s": max(x["t_import"] - x["t0"] for x in ws),
        "complete": complete, "trials": len(trials)}))


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        worker(sys.argv[2], int(sys.argv[3]))
    else:
        drive(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
