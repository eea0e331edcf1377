"""Ray Tune's engine overhead: N zero-cost trials, W at once, on one node.

    python overhead_ray.py N W DIR     # prints one JSON line

As Ray Tune's own scalability tests do (release/tune_tests/scalability_tests, "bookkeeping
overhead": many short trials on one node, total time against the theoretical minimum): a function
trainable that reports one result and returns at once, tune.Tuner(..., tune_config=
TuneConfig(num_samples=N, max_concurrent_trials=W)), ray.init(num_cpus=W) so that W trials (1 CPU
each, the default) run at once. The search space is one uniform float (random search, Tune's
default BasicVariantGenerator). Storage under DIR (a local path). ray.init and Tuner.fit are
timed apart; the caller times the whole process too.
"""
import json
import os
import sys
import time

t_start = time.time()


def trainable(config):
    from ray import tune

    tune.report({"score": -(config["x"] - 1.0) ** 2})


def main(n, w, d, reuse=True):
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "1")
    import ray
    from ray import tune

    t_import = time.time()
    ray.init(num_cpus=w, include_dashboard=False, log_to_driver=False, configure_logging=False)
    t_init = time.time()
    tuner = tune.Tuner(
        trainable,
        param_space={"x": tune.uniform(-5.0, 5.0)},
        tune_config=tune.TuneConfig(num_samples=n, max_concurrent_trials=w, reuse_actors=reuse,
                                    metric="score", mode="max"),
        run_config=tune.RunConfig(name="overhead", storage_path=os.path.abspath(d), verbose=0),
    )
    results = tuner.fit()
    t_fit = time.time()
    ok = sum(1 for r in results if r.error is None and "score" in (r.metrics or {}))
    errors = sum(1 for r in results if r.error is not None)
    ray.shutdown()
    t_end = time.time()
    print(json.dumps({"tool": "ray", "version": ray.__version__, "n": n, "w": w,
                      "import_s": t_import - t_start, "init_s": t_init - t_import,
                      "fit_s": t_fit - t_init, "shutdown_s": t_end - t_fit,
                      "complete": ok, "errors": errors, "trials": len(results)}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], len(sys.argv) < 5 or sys.argv[4] != "fresh")
