#!/usr/bin/env python3
"""Optuna's arms of bench/peers/quality.sh (bench/peers/quality.md), in-process on
quality_objective.train, 2 workers (study.optimize(n_jobs=2): threads).

  python quality_optuna.py tpe SEED LOG      TPESampler(seed=SEED), Optuna's defaults (5.0:
                                             n_startup_trials 10, 24 EI candidates, multivariate
                                             TPE for one objective, constant liar on), 30 trials
                                             of 27 steps
  python quality_optuna.py tpe_uni SEED LOG  the same with multivariate=False (univariate, as
                                             neurosweep's TPE)
  python quality_optuna.py sha SEED LOG      RandomSampler(seed=SEED) + SuccessiveHalvingPruner
                                             (min_resource 1, reduction_factor 3,
                                             min_early_stopping_rate 0): rungs 1, 3, 9 steps, a
                                             trial ends at 27; trials start until the steps
                                             trained reach the budget (30 x 27), and the step that
                                             would pass it is not trained (the trial is pruned,
                                             the study stopped)

Every trained step is a line of LOG (quality_objective's log); the trial's noise seed is
SEED * 100000 + trial number. Prints one JSON line: the arm's counts.
"""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality_objective as q  # noqa: E402

import optuna  # noqa: E402

arm, seed, logpath = sys.argv[1], int(sys.argv[2]), sys.argv[3]
BUDGET = 30 * q.STEPS
log = q.open_log(logpath)
optuna.logging.set_verbosity(optuna.logging.WARNING)
lock = threading.Lock()
spent = [0]


def suggest(trial):
    return {k: trial.suggest_float(k, lo, hi, log=True) for k, (lo, hi) in q.SPACE.items()}


def tpe_objective(trial):
    p = suggest(trial)
    state = q.init_state()
    values = q.train(p, seed * 100000 + trial.number, q.STEPS, state, log=log, key=f"t{trial.number}")
    return values[-1]


def sha_objective(trial):
    p = suggest(trial)
    state = q.init_state()
    v = None
    for step in range(1, q.STEPS + 1):
        with lock:
            if spent[0] >= BUDGET:
                trial.study.stop()
                raise optuna.TrialPruned()
            spent[0] += 1
        v = q.train(p, seed * 100000 + trial.number, 1, state, log=log, key=f"t{trial.number}")[0]
        trial.report(v, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return v


if arm == "tpe":
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(tpe_objective, n_trials=30, n_jobs=2)
elif arm == "tpe_uni":
    study = optuna.create_study(direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed, multivariate=False))
    study.optimize(tpe_objective, n_trials=30, n_jobs=2)
elif arm == "sha":
    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.RandomSampler(seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3,
                                                      min_early_stopping_rate=0))
    study.optimize(sha_objective, n_trials=100000, n_jobs=2)
else:
    sys.exit(f"unknown arm {arm}")
states = [t.state.name for t in study.trials]
print(json.dumps({"tool": "optuna", "arm": arm, "seed": seed, "trials": len(states),
                  "complete": states.count("COMPLETE"), "pruned": states.count("PRUNED"),
                  "best": study.best_value}))
