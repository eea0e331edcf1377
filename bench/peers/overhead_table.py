"""The table of bench/peers/overhead.sh: reads RES/runs.csv, writes RES/summary.csv, prints it.

Per tool, worker count W and trial count N: wall / N; (wall - startup) / N, where startup is the
smaller of the two 1-trial walls of the same tool and W; the tool's own inner time / N
(neurosweep: state.json's makespan_s, the first assignment to the last result; Ray: Tuner.fit;
Optuna: from the first worker's study being loaded to the last worker's end); and the ratios of
the three per-trial figures to neurosweep's at the same W and N (> 1: the peer costs more per trial).
"""
import csv
import sys
from collections import defaultdict

res = sys.argv[1]
rows = list(csv.DictReader(open(f"{res}/runs.csv")))
startups = defaultdict(list)
for r in rows:
    if r["n"] == "1" and r["wall_s"]:
        startups[(r["tool"], r["w"])].append(float(r["wall_s"]))
startup = {k: min(v) for k, v in startups.items()}

out = []
ns = {}
for r in rows:
    if r["n"] == "1" or r["tool"] == "dispatch_bench":
        continue
    n, w = int(r["n"]), r["w"]
    rec = {"tool": r["tool"], "w": w, "n": n, "complete": r["complete"], "note": r["extra"]}
    if r["wall_s"]:
        wall = float(r["wall_s"])
        s = startup.get((r["tool"], w), float("nan"))
        rec.update(wall_s=round(wall, 3), startup_s=round(s, 3),
                   ms_per_trial=wall / n * 1e3, net_ms_per_trial=(wall - s) / n * 1e3,
                   inner_ms_per_trial=float(r["inner_s"]) / n * 1e3 if r["inner_s"] else None)
        if r["tool"] == "neurosweep":
            ns[(w, n)] = rec
    out.append(rec)
db = {(r["w"], int(r["n"])): r["extra"].split("=")[1] for r in rows if r["tool"] == "dispatch_bench"}
for rec in out:
    base = ns.get((rec["w"], rec["n"]))
    if base and "wall_s" in rec:
        rec["ratio"] = rec["ms_per_trial"] / base["ms_per_trial"]
        rec["net_ratio"] = rec["net_ms_per_trial"] / base["net_ms_per_trial"]
        if rec.get("inner_ms_per_trial") and base.get("inner_ms_per_trial"):
            rec["inner_ratio"] = rec["inner_ms_per_trial"] / base["inner_ms_per_trial"]
    if rec["tool"] == "neurosweep":
        rec["dispatch_bench_us"] = db.get((rec["w"], rec["n"]), "")

cols = ["tool", "w", "n", "wall_s", "startup_s", "ms_per_trial", "net_ms_per_trial",
        "inner_ms_per_trial", "ratio", "net_ratio", "inner_ratio", "complete", "dispatch_bench_us", "note"]


def fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


with open(f"{res}/summary.csv", "w", newline="") as f:
    wr = csv.writer(f)
    wr.writerow(cols)
    for rec in out:
        wr.writerow([fmt(rec.get(c)) for c in cols])

print("\nper-trial overhead, ms (ratio = peer / neurosweep at the same W and N; net = (wall - 1-trial wall) / N;"
      " inner = the tool's own sweep time / N, without start-up: neurosweep makespan, Ray Tuner.fit, Optuna optimize)")
print(f"{'tool':<17}{'W':>2}{'N':>7}{'wall s':>9}{'start s':>8}{'ms/trial':>10}{'net ms':>9}"
      f"{'inner ms':>9}{'ratio':>8}{'net ratio':>10}{'in ratio':>9}{'rows':>7}  note")
for rec in sorted(out, key=lambda r: (r["n"] if r["tool"] != "ray-fresh-actors" else 10**9, int(r["w"]),
                                     ["neurosweep", "optuna", "ray", "ray-fresh-actors"].index(r["tool"]))):
    if "wall_s" not in rec:
        print(f"{rec['tool']:<17}{rec['w']:>2}{rec['n']:>7}  not run: {rec['note']}")
        continue
    note = rec["note"]
    if rec["tool"] == "neurosweep" and rec.get("dispatch_bench_us"):
        note = f"dispatch_bench {rec['dispatch_bench_us']} us/trial"
    print(f"{rec['tool']:<17}{rec['w']:>2}{rec['n']:>7}{rec['wall_s']:>9.2f}{rec['startup_s']:>8.2f}"
          f"{rec['ms_per_trial']:>10.3f}{rec['net_ms_per_trial']:>9.3f}"
          f"{fmt(rec['inner_ms_per_trial']):>9}{fmt(rec.get('ratio')):>8}{fmt(rec.get('net_ratio')):>10}"
          f"{fmt(rec.get('inner_ratio')):>9}"
          f"{rec['complete']:>7}  {note}")

if "--md" in sys.argv:  # the same rows as a Markdown table (for overhead.md)
    name = {"neurosweep": "neurosweep", "optuna": "Optuna", "ray": "Ray Tune",
            "ray-fresh-actors": "Ray Tune, `reuse_actors=False` (default)"}
    print("\n| tool | W | N | wall s | 1-trial wall s | wall/N ms | net ms | inner ms | ratio wall/N | ratio net | ratio inner |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for rec in sorted(out, key=lambda r: (r["n"] if r["tool"] != "ray-fresh-actors" else 10**9, int(r["w"]),
                                         ["neurosweep", "optuna", "ray", "ray-fresh-actors"].index(r["tool"]))):
        if "wall_s" not in rec:
            proj = rec["note"].split("=")[1]
            print(f"| {name[rec['tool']]} | {rec['w']} | {rec['n']} | not run: {proj} s projected | | | | | | | |")
            continue
        r = lambda k, d=2: "" if rec.get(k) is None else f"{rec[k]:.{d}f}"
        print(f"| {name[rec['tool']]} | {rec['w']} | {rec['n']} | {rec['wall_s']:.2f} | {rec['startup_s']:.2f} | "
              f"{r('ms_per_trial')} | {r('net_ms_per_trial')} | {r('inner_ms_per_trial')} | {r('ratio', 1)} | "
              f"{r('net_ratio', 1)} | {r('inner_ratio', 1)} |")
