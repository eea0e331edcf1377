"""Crash and resume side by side (issue 25, item 3); run by bench/peers/crash.sh.

    python3 crash_run.py RES TMP KILLS TARGET W SEED TOOLS...
    (TOOLS: neurosweep neurosweep-mpirun optuna ray)

Per tool: one uninterrupted sweep (the reference: a check that the counting finds nothing lost or
repeated without a kill), then KILLS sweeps each killed with SIGKILL once round(u x TARGET)
evaluations have ended (u uniform in [0.15, 0.85], seeded) and a further 0-50 ms (seeded): a moment
while trials run, whatever the start-up took, the same progress for every tool. The kill goes to
the whole job at once: every process in the session the command was started in (neurosweep:
mpirun and its ranks, which Open MPI puts in process groups of their own; Ray: the driver, the
Ray processes it started and its trial actors, also in groups of their own; Optuna: the launcher
and its W worker processes), as a node failure or a batch system's kill would. The variant
neurosweep-mpirun kills only mpirun's process group (what `kill -9 -PGID` of mpirun does: the
ranks outlive it for a moment) and reruns at once, retrying while the directory's lock is held
(exit 4). Then the sweep is restarted the documented way until done. TARGET trials of an objective
that sleeps 20-50 ms, W workers. Every evaluation appends "start KEY" and "end KEY" lines to a log
(KEY: neurosweep's trial id, Ray's trial id, Optuna's trial number), so evaluations are counted
directly:
  lost      keys that started but have no completed result in the final result set (Optuna:
            trials left RUNNING forever; Ray: a trial without a result; neurosweep: no ok row)
  repeated  keys whose evaluation ended (an "end" line) more than once: the same trial evaluated
            to the end twice (work done again because its result was not kept)
  restarted keys started more than once but ended once: the evaluation the kill cut short, run
            again (work lost mid-trial; a tool without checkpoints in the objective cannot avoid it)
  stuck     trials the tool's own final state still holds as unfinished (Optuna: RUNNING; Ray:
            errored; neurosweep: rows not ok)
  final     the number of completed results in the final result set, against TARGET
Writes RES/kills.csv (one row per sweep) and RES/summary.csv, prints the table.
"""
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

RES, TMP, KILLS, TARGET, W, SEED = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
TOOLS = sys.argv[7:]
NS = os.environ.get("NS_BINARY", "build/app/neurosweep")
OPY, RPY = os.environ["OPTUNA_PY"], os.environ["RAY_PY"]
MPI = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--mca", "btl", "self,vader",
       "--mca", "btl_vader_single_copy_mechanism", "none"]
RUN_T0 = [0.0]
KILL_RNG = random.Random(SEED + 1)
HERE = os.path.dirname(os.path.abspath(__file__))


def ns_spec(d, log):
    # /bin/sh logs the start, sleeps, logs the end and prints the result line ({{ }}: literal braces)
    script = (f'echo "start $1 $$ $(date +%s.%N)" >> {log}; sleep "$2"; echo "end $1 $$ $(date +%s.%N)" >> {log}; '
              'echo "{{\\"final\\": {{\\"score\\": -$2}}}}"')
    spec = {"name": "crash", "family": "command",
            "command": {"argv": ["/bin/sh", "-c", script, "sh", "{trial_id}", "{sleep}"],
                        "params": {"sleep": 0.03}, "metrics": ["score"]},
            "random": {"count": TARGET, "params": {"sleep": {"dist": "uniform", "low": 0.02, "high": 0.05}}},
            "seed": 0, "metric": "score", "mode": "max"}
    path = os.path.join(d, "spec.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    return path


def command(tool, d, log):
    if tool.startswith("neurosweep"):
        return MPI + ["-np", str(W + 1), NS, "run", ns_spec(d, log), "--out", os.path.join(d, "out")]
    if tool == "optuna":
        return [OPY, os.path.join(HERE, "crash_optuna.py"), "launch", os.path.join(d, "journal.log"), log, str(TARGET), str(W)]
    return [RPY, os.path.join(HERE, "crash_ray.py"), d, log, str(TARGET), str(W)]


def session_pids(sid):
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid and fields[0] != "Z":  # the session id; zombies do not count
                    pids.append(int(p))
            except (OSError, IndexError, ValueError):
                pass
    return pids


def results_now(tool, d):
    """Completed results recorded at this moment (for the progress at the kill)."""
    try:
        if tool.startswith("neurosweep"):
            return max(0, sum(1 for _ in open(os.path.join(d, "out", "results.csv"))) - 1)
        if tool == "optuna":
            return None
    except OSError:
        return 0
    return None


def run(tool, d, log, kill_at=None):
    """One start of the tool's sweep; kill_at: seconds after the start, or None to let it finish."""
    t0 = time.time()
    RUN_T0[0] = t0
    with open(os.path.join(d, "stdout.log"), "ab") as out:
        p = subprocess.Popen(command(tool, d, log), stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        if kill_at is None:
            rc = p.wait()
            return {"rc": rc, "wall_s": time.time() - t0}
        # kill_at = (k, extra): once k evaluations have ended (the log's "end" lines), after a
        # further extra seconds: a moment while trials run, whatever the start-up took
        k, extra = kill_at
        while True:
            rc = p.poll()
            if rc is not None:
                return {"rc": rc, "wall_s": time.time() - t0, "finished_before_kill": True}
            try:
                with open(log) as f:
                    ended = sum(1 for line in f if line.startswith("end "))
            except OSError:
                ended = 0
            if ended >= k:
                break
            time.sleep(0.005)
        time.sleep(extra)
        if tool == "neurosweep-mpirun":
            # only mpirun's process group, as `kill -9` of mpirun's group in a shell would: Open MPI
            # starts each rank in its own process group, so the ranks are not in it
            os.killpg(p.pid, signal.SIGKILL)
        else:
            # the whole job: every process of the session the command started in (its process
            # group, and the MPI ranks or Ray actors in process groups of their own), in one pass
            for pid in [p.pid] + session_pids(p.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        t_kill = time.time() - t0
        p.wait()
        time.sleep(0.5)
        left = session_pids(p.pid)
        names = Counter()
        for pid in left:
            try:
                names[open(f"/proc/{pid}/comm").read().strip()] += 1
            except OSError:
                pass
        if tool != "neurosweep-mpirun":  # (there the ranks are left to do what they do)
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        # Only this session's processes are touched: other Ray instances on the machine (another
        # benchmark's) are not ours. Ray's own processes all stay in the driver's session.
        return {"rc": "SIGKILL", "wall_s": t_kill, "left_after_kill": len(left),
                "left_names": " ".join(f"{k}x{v}" for k, v in sorted(names.items()))}


def parse_log(log, times=False):
    starts, ends, ts = Counter(), Counter(), []
    if os.path.exists(log):
        for line in open(log):
            f = line.split()
            if len(f) >= 2:
                (starts if f[0] == "start" else ends)[f[1]] += 1
            if len(f) >= 4:
                ts.append(float(f[3]))
    return (starts, ends, ts) if times else (starts, ends)


def final_results(tool, d):
    """(number of completed results, set of their keys, extra dict) in the final result set."""
    if tool.startswith("neurosweep"):
        rows = list(csv.DictReader(open(os.path.join(d, "out", "results.csv"))))
        ok = [r["trial_id"] for r in rows if r["status"] == "ok"]
        state = json.load(open(os.path.join(d, "out", "state.json")))
        return len(ok), set(ok), {"rows": len(rows), "ok": len(ok), "distinct_ids": len({r["trial_id"] for r in rows}),
                                  "state": state.get("state")}
    if tool == "optuna":
        j = json.loads(subprocess.run([OPY, os.path.join(HERE, "crash_optuna.py"), "count",
                                       os.path.join(d, "journal.log")], capture_output=True, text=True,
                                      check=True).stdout)
        return len(j["complete"]), {str(n) for n in j["complete"]}, {"states": j["states"], "running": j["running"]}
    o = json.load(open(os.path.join(d, "outcome.json")))
    return o["ok"], set(o["ok_ids"]), {"results": o["results"], "errors": o["errors"]}


def stuck(tool, extra):
    """Trials the tool's own final state holds as unfinished (Optuna: RUNNING forever, with no
    heartbeat for a journal file; Ray: results with an error; neurosweep: rows that are not ok)."""
    if tool == "optuna":
        return extra["states"].get("RUNNING", 0)
    if tool == "ray":
        return extra["errors"]
    return extra["rows"] - extra["ok"]


def one_sweep(tool, i, kill_frac, ref):
    d = os.path.join(TMP, f"{tool}.{i}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    log = os.path.join(d, "evals.log")
    rec = {"tool": tool, "sweep": i, "kill_frac": kill_frac}
    if kill_frac is None:
        r = run(tool, d, log)
        _, _, ts = parse_log(log, times=True)
        # the span in which trials ran, in seconds after the launch
        rec.update(kill_at_s="", first_rc=r["rc"], first_wall_s=round(r["wall_s"], 2),
                   trials_from_s=round(min(ts) - RUN_T0[0], 2), trials_to_s=round(max(ts) - RUN_T0[0], 2))
    else:
        # a moment while trials run: once a fraction u of the target has ended, + 0-50 ms
        k = max(1, round(kill_frac * TARGET))
        r = run(tool, d, log, kill_at=(k, KILL_RNG.uniform(0.0, 0.05)))
        rec.update(kill_at_s=round(r["wall_s"], 2), first_rc=r["rc"],
                   left_after_kill=r.get("left_after_kill", ""), left_names=r.get("left_names", ""),
                   )
        s, e = parse_log(log)
        rec["started_at_kill"] = len(s)
        rec["ended_at_kill"] = len(e)
        rec["results_at_kill"] = results_now(tool, d)
        # the restart, as the tool's documentation says; neurosweep exits 4 while another run
        # (here: ranks that outlived mpirun) holds the output directory: then again after 1 s
        refused = 0
        while True:
            r2 = run(tool, d, log)
            if r2["rc"] != 4 or not tool.startswith("neurosweep") or refused >= 30:
                break
            refused += 1
            time.sleep(1.0)
        rec.update(resume_rc=r2["rc"], resume_wall_s=round(r2["wall_s"], 2), resume_refused=refused)
    starts, ends = parse_log(log)
    n_final, keys, extra = final_results(tool, d)
    out = open(os.path.join(d, "stdout.log"), errors="replace").read()
    stale = out.count("Forcibly releasing the lock file")  # Optuna's journal lock, left by a kill
    if stale:
        extra["stale_lock_released"] = stale
    lost = [k for k in starts if k not in keys]
    rec.update(
        evaluations_started=sum(starts.values()), evaluations_ended=sum(ends.values()),
        lost=len(lost), repeated=sum(1 for k, c in ends.items() if c > 1),
        restarted=sum(1 for k, c in starts.items() if c > 1 and ends[k] <= 1),
        final=n_final, exact=(n_final == TARGET), stuck=stuck(tool, extra), extra=json.dumps(extra, sort_keys=True)[:300])
    shutil.rmtree(d, ignore_errors=True)
    return rec


def main():
    os.makedirs(RES, exist_ok=True)
    rng = random.Random(SEED)
    fracs = [round(rng.uniform(0.15, 0.85), 3) for _ in range(KILLS)]
    print(f"kill moments (fraction of TARGET ended before the kill, + 0-50 ms): {fracs}", flush=True)
    cols = ["tool", "sweep", "kill_frac", "kill_at_s", "first_rc", "first_wall_s", "trials_from_s",
            "trials_to_s", "left_after_kill", "left_names",
            "started_at_kill", "ended_at_kill", "results_at_kill", "resume_rc",
            "resume_wall_s", "resume_refused", "evaluations_started", "evaluations_ended", "lost", "repeated",
            "restarted", "final", "exact", "stuck", "extra"]
    recs = []
    with open(os.path.join(RES, "kills.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, cols)
        wr.writeheader()
        for tool in TOOLS:
            ref = one_sweep(tool, 0, None, None)
            recs.append(ref)
            wr.writerow(ref)
            f.flush()
            print(f"{tool} reference: {ref['first_wall_s']} s (trials from {ref['trials_from_s']} to {ref['trials_to_s']} s), final {ref['final']}, lost {ref['lost']}, "
                  f"repeated {ref['repeated']}  {ref['extra']}", flush=True)
            for i, fr in enumerate(fracs, 1):
                rec = one_sweep(tool, i, fr, ref)
                recs.append(rec)
                wr.writerow(rec)
                f.flush()
                print(f"{tool} kill {i} at {rec['kill_at_s']} s (after {fr} x {TARGET} ended): "
                      f"{rec['ended_at_kill']} ended by then; resume rc {rec['resume_rc']} in {rec['resume_wall_s']} s; "
                      f"lost {rec['lost']} repeated {rec['repeated']} restarted {rec['restarted']} stuck {rec['stuck']} "
                      f"final {rec['final']}/{TARGET}  {rec['extra']}"
                      + (f"  left in the session after the kill: {rec['left_names']}" if rec.get("left_names") else "")
, flush=True)

    summary = []
    for tool in TOOLS:
        ks = [r for r in recs if r["tool"] == tool and r["kill_frac"] is not None]
        summary.append({"tool": tool, "kills": len(ks), "lost": sum(r["lost"] for r in ks),
                        "repeated": sum(r["repeated"] for r in ks),
                        "restarted": sum(r["restarted"] for r in ks),
                        "stuck": sum(r["stuck"] for r in ks),
                        "exact_final": sum(bool(r["exact"]) for r in ks),
                        "finals": " ".join(str(r["final"]) for r in ks),
                        "resume_ok": sum(r["resume_rc"] == 0 for r in ks)})
    with open(os.path.join(RES, "summary.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, list(summary[0]))
        wr.writeheader()
        wr.writerows(summary)
    print(f"\ncrash and resume: {TARGET} trials, {W} workers, {KILLS} SIGKILLs per tool (totals)")
    print(f"{'tool':<18}{'kills':>6}{'lost':>6}{'repeated':>9}{'restarted':>10}{'stuck':>6}{'exact':>7}  final counts      resume rc 0")
    for s in summary:
        print(f"{s['tool']:<18}{s['kills']:>6}{s['lost']:>6}{s['repeated']:>9}{s['restarted']:>10}{s['stuck']:>6}"
              f"{s['exact_final']:>5}/{s['kills']}  {s['finals']:<17} {s['resume_ok']}/{s['kills']}")


if __name__ == "__main__":
    main()
