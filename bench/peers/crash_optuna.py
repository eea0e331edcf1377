"""Optuna side of bench/peers/crash.sh: W worker processes on one JournalStorage file.

    python crash_optuna.py launch JOURNAL LOG TARGET W   # starts W workers, waits for them
    python crash_optuna.py worker JOURNAL LOG TARGET
    python crash_optuna.py count JOURNAL                 # prints the study's trial states (JSON)

Each worker opens JournalStorage(JournalFileBackend(JOURNAL)), create_study(load_if_exists=True)
and runs study.optimize with MaxTrialsCallback(TARGET, states=(COMPLETE,)) (Optuna's documented
way to stop a distributed study at a number of trials), after checking that the study does not
have TARGET COMPLETE trials already. A restart after a kill is the same command. The objective
appends "start <trial number> <pid>" and "end <trial number> <pid>" to LOG around a sleep of
x seconds, x drawn in [0.02, 0.05].
"""
import json
import os
import subprocess
import sys
import time

STUDY = "crash"


def log_line(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)


def open_study(journal):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    return optuna, optuna.create_study(study_name=STUDY, storage=storage, load_if_exists=True,
                                       sampler=optuna.samplers.RandomSampler(), direction="maximize")


def worker(journal, log, target):
    optuna, study = open_study(journal)
    complete = (optuna.trial.TrialState.COMPLETE,)

    def objective(trial):
        x = trial.suggest_float("sleep", 0.02, 0.05)
        log_line(log, f"start {trial.number} {os.getpid()} {time.time():.6f}")
        time.sleep(x)
        log_line(log, f"end {trial.number} {os.getpid()} {time.time():.6f}")
        return -x

    if len(study.get_trials(deepcopy=False, states=complete)) >= target:
        return
    study.optimize(objective, callbacks=[optuna.study.MaxTrialsCallback(target, states=complete)])


def count(journal):
    optuna, study = open_study(journal)
    states = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name] = states.get(t.state.name, 0) + 1
    running = [t.number for t in study.get_trials(deepcopy=False) if t.state.name == "RUNNING"]
    complete = [t.number for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    print(json.dumps({"states": states, "running": running, "complete": complete,
                      "version": optuna.__version__}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "launch":
        journal, log, target, w = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        procs = [subprocess.Popen([sys.executable, __file__, "worker", journal, log, target])
                 for _ in range(w)]
        sys.exit(max(p.wait() for p in procs))
    elif cmd == "worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        count(sys.argv[2])
