#!/usr/bin/env python3
"""Ray Tune's arms of bench/peers/quality.sh (bench/peers/quality.md), in-process (a local Ray
with 2 CPUs, 1 per trial: 2 trials at a time) on quality_objective.train_step, as a function
trainable that reports every step.

  python quality_ray.py asha SEED LOG TMPDIR   ASHAScheduler(max_t 27, grace_period 1,
                                               reduction_factor 3, brackets 1): rungs 1, 3, 9;
                                               configurations drawn at random
                                               (BasicVariantGenerator(random_state=SEED)); a
                                               Stopper ends the run (stop_all) once the driver
                                               has seen 30 x 27 step results
  python quality_ray.py pbt SEED LOG TMPDIR    PopulationBasedTraining: population 30 (drawn as
                                               above), perturbation_interval 3 steps,
                                               quantile_fraction 0.25, resample_probability 0.25,
                                               perturbation_factors (1.2, 0.8), lr, damping and
                                               decay mutable (Ray's defaults otherwise: synch
                                               False); each member trains to 27 steps, with a
                                               checkpoint every 3

Every trained step is a line of LOG. A trial's noise seed is derived from SEED and its Ray trial
id (a PBT member keeps its own seed when it copies a donor's state, as in neurosweep). Prints
one JSON line: the arm's counts.
"""
import hashlib
import json
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality_objective as q  # noqa: E402

arm, seed, logpath, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import numpy as np  # noqa: E402
import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining  # noqa: E402
from ray.tune.search.basic_variant import BasicVariantGenerator  # noqa: E402

BUDGET = 30 * q.STEPS
INTERVAL = 3


def trainable(config):
    tid = tune.get_context().get_trial_id()
    nseed = int(hashlib.sha256(f"{config['sweep_seed']}/{tid}".encode()).hexdigest()[:12], 16)
    log = q.open_log(config["log"])
    state = q.init_state()
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            state = json.load(open(os.path.join(d, "state.json")))
    while state["step"] < q.STEPS:
        v = q.train(config, nseed, 1, state, log=log, key=tid)[0]
        metrics = {"val_loss": v, "step": state["step"]}
        if config["checkpoint_every"] and state["step"] % config["checkpoint_every"] == 0:
            with tempfile.TemporaryDirectory() as d:
                json.dump(state, open(os.path.join(d, "state.json"), "w"))
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
        else:
            tune.report(metrics)


class BudgetStopper(tune.Stopper):
    """Stops everything once the driver has seen BUDGET step results (ASHA arm)."""

    def __init__(self):
        self.seen = 0

    def __call__(self, trial_id, result):
        self.seen += 1
        return False

    def stop_all(self):
        return self.seen >= BUDGET


random.seed(seed)
np.random.seed(seed)
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
         _temp_dir=os.path.join(tmp, "ray"))
space = {k: tune.loguniform(lo, hi) for k, (lo, hi) in q.SPACE.items()}
const = {"sweep_seed": seed, "log": os.path.abspath(logpath)}
stopper = None
if arm == "asha":
    sched = ASHAScheduler(time_attr="training_iteration", max_t=q.STEPS, grace_period=1,
                          reduction_factor=3, brackets=1)
    stopper = BudgetStopper()
    num_samples = 10000
    const["checkpoint_every"] = 0
elif arm == "pbt":
    sched = PopulationBasedTraining(time_attr="training_iteration", perturbation_interval=INTERVAL,
                                    hyperparam_mutations=dict(space), quantile_fraction=0.25,
                                    resample_probability=0.25, perturbation_factors=(1.2, 0.8))
    num_samples = 30
    const["checkpoint_every"] = INTERVAL
else:
    sys.exit(f"unknown arm {arm}")
tuner = tune.Tuner(
    trainable,
    param_space={**space, **const},
    tune_config=tune.TuneConfig(metric="val_loss", mode="min", scheduler=sched,
                                num_samples=num_samples, max_concurrent_trials=2,
                                reuse_actors=True,
                                search_alg=BasicVariantGenerator(random_state=seed)),
    run_config=tune.RunConfig(storage_path=os.path.join(tmp, "results"), name=f"{arm}{seed}",
                              stop=stopper, verbose=0,
                              ),
)
res = tuner.fit()
last = [r.metrics["val_loss"] for r in res if r.metrics and "val_loss" in r.metrics]
print(json.dumps({"tool": "ray", "arm": arm, "seed": seed, "trials": len(res),
                  "errors": len(res.errors), "results_seen": stopper.seen if stopper else None,
                  "best_last": min(last) if last else None}))
ray.shutdown()
