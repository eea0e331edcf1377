#!/usr/bin/env python3
"""A tiny training program for the command family (tests/data/resume_v1, PBT fixture).

State w starts at 0 and moves toward the parameter `target` by a fraction `lr` each step;
score = 1 - (w - 1)^2 - 0.1 * |target - 1|. Reports every step; keeps its state in state.json
(so a rerun or a PBT snapshot continues); stops by itself at config.json's resource_limit;
on SIGTERM saves and exits with the interrupted code.
"""
import json
import os
import signal
import sys
import time

cfg = json.load(open("config.json"))
p = cfg["params"]
lr, target, steps = float(p["lr"]), float(p["target"]), int(p["steps"])
state = {"step": 0, "w": 0.0}
if os.path.exists("state.json"):
    state = json.load(open("state.json"))
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))


def save():
    with open("state.json.tmp", "w") as f:
        json.dump(state, f)
    os.replace("state.json.tmp", "state.json")


def score():
    return 1 - (state["w"] - 1) ** 2 - 0.1 * abs(target - 1)


limit = min(steps, int(cfg["resource_limit"] or steps))
while state["step"] < limit:
    if stop:
        save()
        sys.exit(cfg["interrupted_exit"])
    time.sleep(float(p["sleep"]))
    state["step"] += 1
    state["w"] += lr * (target - state["w"])
    save()
    print(json.dumps({"step": state["step"], "metrics": {"score": score()}}), flush=True)
if state["step"] >= steps:
    print(json.dumps({"final": {"score": score()}}), flush=True)
