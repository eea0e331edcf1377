#!/usr/bin/env python3
"""A training program for the command family's tests (tests/cli/command_family.sh).

It reads config.json from its working directory (the trial directory), "trains" for
params.steps steps of params.sleep seconds each, with score = -(x - 1)^2 + 0.1 * step, reports
every step as a JSON line on stdout, keeps its state in state.json (so a rerun in the same
directory continues), and on SIGTERM saves and exits with the interrupted code. params.mode
selects a misbehaviour: fail, hang, malformed, noresult, argv, file (reports to
$NEUROSWEEP_REPORTS instead of stdout).
"""
import json
import os
import signal
import subprocess
import sys
import time

cfg = json.load(open("config.json"))
p = cfg["params"]
mode = p.get("mode", "ok")
steps = int(p.get("steps", 5))
x = float(p.get("x", 0.0))
out = sys.stdout
if mode == "file":
    out = open(os.environ["NEUROSWEEP_REPORTS"], "a")

if mode == "argv":
    json.dump({"argv": sys.argv[1:], "env": {k: v for k, v in os.environ.items()
               if k.startswith("NEUROSWEEP_") or k in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS")},
               "mpi": sorted(k for k in os.environ if k.startswith("OMPI_") or k.startswith("PMIX_"))},
              open("argv.json", "w"))
if mode == "fail":
    print("some progress", flush=True)
    print("Traceback: boom: the loss is a lie", file=sys.stderr, flush=True)
    sys.exit(3)
if mode == "hang":
    helper = subprocess.Popen(["sleep", "1000"])  # in the program's process group
    open("helper.pid", "w").write(str(helper.pid))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)
if mode == "noresult":
    print("I forgot to print my results", flush=True)
    sys.exit(0)
if mode == "malformed":
    print("{this is not json", flush=True)
    print('{"step": "three", "metrics": {"score": 1}}', flush=True)
    print('{"final": {"score": "high"}}', flush=True)

state = {"step": 0, "score": 0.0, "runs": 0}
if os.path.exists("state.json"):
    state = json.load(open("state.json"))
state["runs"] += 1
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))


def save():
    with open("state.json.tmp", "w") as f:
        json.dump(state, f)
    os.replace("state.json.tmp", "state.json")


limit = cfg["resource_limit"] or steps
while state["step"] < min(steps, limit):
    if stop:
        save()
        sys.exit(cfg["interrupted_exit"])
    time.sleep(float(p.get("sleep", 0.0)))
    state["step"] += 1
    state["score"] = -(x - 1) ** 2 + 0.1 * state["step"]
    save()
    print(json.dumps({"step": state["step"], "metrics": {"score": state["score"]}}), file=out, flush=True)
if state["step"] >= steps:
    print(json.dumps({"final": {"score": state["score"], "runs": state["runs"]}}), file=out, flush=True)
