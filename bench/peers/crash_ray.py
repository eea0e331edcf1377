"""Ray Tune side of bench/peers/crash.sh: one driver, W trials at once.

    python crash_ray.py DIR LOG TARGET W     # run, or restore and finish, the experiment in DIR

The first run builds tune.Tuner(trainable, param_space={"sleep": uniform(0.02, 0.05)},
TuneConfig(num_samples=TARGET, max_concurrent_trials=W, reuse_actors=True)), ray.init(num_cpus=W).
A rerun after a kill does what Ray Tune's fault-tolerance guide says for a driver that died:
if tune.Tuner.can_restore(path): tune.Tuner.restore(path, trainable, resume_errored=True)
(resume_unfinished=True, the default, restarts the trials that were pending or running).
The trainable appends "start <trial id> <pid>" and "end <trial id> <pid>" to LOG around its
sleep. At the end it writes DIR/outcome.json: the result grid's size, errors and trial ids.
"""
import json
import os
import sys
import time


def log_line(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)


def make_trainable(log):
    def trainable(config):
        from ray import tune

        tid = tune.get_context().get_trial_id()
        log_line(log, f"start {tid} {os.getpid()} {time.time():.6f}")
        time.sleep(config["sleep"])
        log_line(log, f"end {tid} {os.getpid()} {time.time():.6f}")
        tune.report({"score": -config["sleep"]})

    return trainable


def main(d, log, target, w):
    import ray
    from ray import tune

    ray.init(num_cpus=w, include_dashboard=False, log_to_driver=False, configure_logging=False)
    path = os.path.join(os.path.abspath(d), "crash")
    trainable = make_trainable(log)
    restored = tune.Tuner.can_restore(path)
    if restored:
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable, param_space={"sleep": tune.uniform(0.02, 0.05)},
            tune_config=tune.TuneConfig(num_samples=target, max_concurrent_trials=w,
                                        reuse_actors=True, metric="score", mode="max"),
            run_config=tune.RunConfig(name="crash", storage_path=os.path.abspath(d), verbose=0))
    results = tuner.fit()
    ok = [r.metrics.get("trial_id") for r in results if r.error is None and "score" in (r.metrics or {})]
    out = {"version": ray.__version__, "restored": restored, "results": len(results),
           "ok": len(ok), "ok_ids": ok, "errors": sum(1 for r in results if r.error is not None)}
    with open(os.path.join(d, "outcome.json"), "w") as f:
        json.dump(out, f)
    ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
