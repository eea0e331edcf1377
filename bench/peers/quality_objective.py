#!/usr/bin/env python3
"""The training program of bench/peers/quality.sh (bench/peers/quality.md): one objective for
neurosweep, Optuna and Ray Tune, pure Python (standard library only).

A "training run" is heavy-ball SGD on a fixed ill-conditioned quadratic
    f(x) = 1/2 sum_i lam_i x_i^2,   D = 16 dimensions, lam_i log-spaced from 1 to 1000,
started at x0 with f(x0) = 1, with seeded Gaussian gradient noise (g = lam * x + SIGMA * xi) and
a learning rate that decays as lr / (1 + decay * t) over the iterations t. One step of the
resource ("steps") is ITERS = 20 iterations (plus STEP_SECONDS = 10 ms of sleep); a full trial is STEPS = 27 steps. After each step
the program reports val_loss = f(x) (noise-free, minimize). The global minimum is 0 at x = 0;
with gradient noise no run reaches it: a constant learning rate ends at a noise floor that
grows with it, so the best runs start large and decay (PBT's schedules can do that, a fixed
configuration only through `decay`). A diverged run (f > 1000) reports 1000 from then on.

Hyperparameters (all positive, searched log-uniformly, so a multiplicative perturbation stays
valid): lr in [1e-4, 0.1] (stable while lr * 1000 < 2 (1 + momentum)), damping = 1 - momentum in
[0.01, 1] (momentum = max(0, 1 - damping)), decay in [1e-4, 1].

The noise of iteration t is drawn from random.Random(hash of (seed, t)), so a run paused and
resumed (its state: x, velocity, t) continues with exactly the numbers of a run never paused,
and a PBT member that copies a donor's state continues with its own seed's noise.

Two uses:
- As a module: `state = init_state(); values = train(params, seed, steps, state, log=fd, key=k)`
  trains `steps` more steps, returns the value after each (state is updated in place).
- As a neurosweep `command`-family program (argv: this file [--log FILE]): reads config.json
  (params lr, damping, decay, steps; seed; resource_limit; interrupted_exit), continues from
  state.json in its directory if there is one, trains to min(steps, resource_limit), prints
  {"step": s, "metrics": {"val_loss": v}} after every step and {"final": {"val_loss": v}} when it
  reaches `steps`; on SIGTERM it saves and exits with interrupted_exit.
With a log file (--log, or log= in train), every step appends one line
"<time_ns> <key> <step> <val_loss>" (O_APPEND, one write per line): the order of the lines is the
order the steps were trained in, by every tool, so the file measures the resource spent.
"""
import json
import math
import os
import random
import signal
import sys
import time

D = 16
ITERS = 20
STEPS = 27
SIGMA = 0.3
# Wall seconds a step takes on top of its arithmetic (~0.6 ms): the stand-in for a real step's
# cost, so a tool's decision latency (milliseconds) is small against a step, as it is in real
# training. With QUALITY_STEP_SECONDS=0 a program told to stop at a rung trains several steps
# more before the signal arrives (bench/peers/quality.md).
STEP_SECONDS = float(os.environ.get("QUALITY_STEP_SECONDS", "0.01"))
DIVERGED = 1000.0
LAM = [1000.0 ** (i / (D - 1)) for i in range(D)]
X0 = [math.sqrt(2.0 / (D * l)) for l in LAM]  # f(X0) = 1
SPACE = {"lr": (1e-4, 0.1), "damping": (0.01, 1.0), "decay": (1e-4, 1.0)}


def loss(x):
    return 0.5 * sum(l * v * v for l, v in zip(LAM, x))


def init_state():
    return {"step": 0, "t": 0, "x": list(X0), "v": [0.0] * D, "diverged": False}


def train_step(params, seed, state):
    """One step of the resource (ITERS iterations); returns val_loss after it."""
    if STEP_SECONDS > 0:
        time.sleep(STEP_SECONDS)
    if state["diverged"]:
        state["step"] += 1
        state["t"] += ITERS
        return DIVERGED
    lr, decay = float(params["lr"]), float(params["decay"])
    beta = max(0.0, 1.0 - float(params["damping"]))
    x, v, t = state["x"], state["v"], state["t"]
    for _ in range(ITERS):
        rng = random.Random((int(seed) * 1000003 + t) & 0xFFFFFFFFFFFF)
        g = rng.gauss
        eta = lr / (1.0 + decay * t)
        for i in range(D):
            v[i] = beta * v[i] - eta * (LAM[i] * x[i] + SIGMA * g(0.0, 1.0))
            x[i] += v[i]
        t += 1
        if not all(abs(xi) < 1e6 for xi in x):
            break
    state["t"] = t
    state["step"] += 1
    f = loss(x)
    if not math.isfinite(f) or f > DIVERGED:
        state["diverged"] = True
        f = DIVERGED
    return f


def log_line(log, key, step, value):
    if log is not None:
        os.write(log, f"{time.time_ns()} {key} {step} {value!r}\n".encode())


def open_log(path):
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else None


def train(params, seed, steps, state, log=None, key="-"):
    """Trains `steps` more steps from `state` (updated in place); returns the values."""
    out = []
    for _ in range(steps):
        f = train_step(params, seed, state)
        log_line(log, key, state["step"], f)
        out.append(f)
    return out


def main():
    log = None
    if len(sys.argv) >= 3 and sys.argv[1] == "--log":
        log = open_log(sys.argv[2])
    cfg = json.load(open(os.environ.get("NEUROSWEEP_CONFIG", "config.json")))
    p = cfg["params"]
    steps = int(p.get("steps", STEPS))
    limit = cfg.get("resource_limit") or steps
    state = init_state()
    if os.path.exists("state.json"):
        state = json.load(open("state.json"))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

    def save():
        with open("state.json.tmp", "w") as fh:
            json.dump(state, fh)
        os.replace("state.json.tmp", "state.json")

    key = cfg.get("trial_id", "-")
    f = None
    while state["step"] < min(steps, limit):
        if stop:
            save()
            sys.exit(cfg.get("interrupted_exit", 75))
        f = train_step(p, cfg["seed"], state)
        save()
        log_line(log, key, state["step"], f)
        print(json.dumps({"step": state["step"], "metrics": {"val_loss": f}}), flush=True)
    if state["step"] >= steps:
        if f is None:
            f = DIVERGED if state["diverged"] else loss(state["x"])
        print(json.dumps({"final": {"val_loss": f}}), flush=True)


if __name__ == "__main__":
    main()
