#!/usr/bin/env python3
"""Tables of bench/peers/quality.sh from the step logs (standard library only).

  quality_report.py TMP OUT SEEDS "ARM ..."          SEEDS: a count N (0..N-1) or a list "0,1,5" / "9,"
  quality_report.py --merge OUT "ARM ..." RUNS.CSV...  the tables of several runs' runs.csv
                                                       together (a later row for the same arm
                                                       and seed wins)

TMP/ARM.SEED.log: one line per trained step, "<time_ns> <trial> <step> <val_loss>", in the order
trained. An arm's resource spent is its line count; its best-so-far after r steps is the lowest
val_loss among its first r lines (any trial, any step: what the tool had seen); "full" is the
lowest value a trial reported at step 27 (a trial trained to the full budget; for PBT a member's
end). Writes OUT/runs.csv and OUT/curves.csv (the best-so-far's improvements) and prints the
tables.
"""
import collections
import csv
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality_objective as q  # noqa: E402

MERGE = sys.argv[1] == "--merge"
if MERGE:
    tmp, out, arms, merge_files = None, sys.argv[2], sys.argv[3].split(), sys.argv[4:]
    seeds = []
else:
    tmp, out, arms = sys.argv[1], sys.argv[2], sys.argv[4].split()
    seeds = ([int(x) for x in sys.argv[3].split(",") if x] if "," in sys.argv[3]
             else list(range(int(sys.argv[3]))))
BUDGET = 30 * q.STEPS
FRACS = (0.1, 0.25, 0.5, 1.0)
SCALE = 1e-4
PAIRS = [("ns_tpe", "optuna_tpe"), ("ns_tpe", "optuna_tpe_uni"), ("optuna_tpe_uni", "optuna_tpe"), ("ns_asha", "ray_asha"), ("ns_asha", "optuna_sha"),
         ("ns_asha_stop", "ray_asha"), ("ns_asha_stop", "optuna_sha"), ("ns_asha", "ns_asha_stop"),
         ("ns_pbt", "ray_pbt")]

walls = {}
if tmp and os.path.exists(f"{tmp}/walls.txt"):
    for line in open(f"{tmp}/walls.txt"):
        a, s, rc, w = line.split()
        walls[(a, int(s))] = (int(rc), float(w))


def tool_line(arm, seed):
    """The tool's own counts: ARM.SEED.tool (neurosweep's, from results.csv) or the driver's
    JSON line in ARM.SEED.out."""
    for path in (f"{tmp}/{arm}.{seed}.tool", f"{tmp}/{arm}.{seed}.out"):
        if os.path.exists(path):
            for line in open(path):
                if line.startswith('{"tool"'):
                    return json.loads(line)
    return {}


runs, curves = {}, []
for arm in arms if not MERGE else []:
    for seed in seeds:
        path = f"{tmp}/{arm}.{seed}.log"
        if not os.path.exists(path):
            continue
        lines = [l.split() for l in open(path) if l.strip()]
        best, pts, at = math.inf, [], {}
        full = math.inf
        for i, (_, key, step, v) in enumerate(lines, 1):
            v = float(v)
            if int(step) == q.STEPS:
                full = min(full, v)
            if v < best:
                best = v
                pts.append((i, v))
                curves.append({"arm": arm, "seed": seed, "steps": i, "best": repr(v)})
        for f in FRACS:
            r = int(f * BUDGET)
            at[f] = min((v for i, v in pts if i <= r), default=math.nan)
        rc, wall = walls.get((arm, seed), (None, math.nan))
        runs[(arm, seed)] = {
            "arm": arm, "seed": seed, "exit": rc, "wall_s": round(wall, 1), "spent": len(lines),
            "trials": len({l[1] for l in lines}), "best": best, "full": full,
            **{f"at{f}": at[f] for f in FRACS},
            "tool": json.dumps(tool_line(arm, seed), sort_keys=True)}

if MERGE:
    for path in merge_files:
        for r in csv.DictReader(open(path)):
            if r["arm"] not in arms:
                continue
            d = {k: r[k] for k in ("arm", "tool")}
            d.update({k: int(r[k]) for k in ("seed", "spent", "trials")})
            d["exit"] = r["exit"]
            d.update({k: float(r[k]) for k in ["wall_s", "best", "full"] + [f"at{f}" for f in FRACS]})
            runs[(r["arm"], d["seed"])] = d
    seeds = sorted({s for _, s in runs})
os.makedirs(out, exist_ok=True)
with open(f"{out}/runs.csv", "w", newline="") as fh:
    cols = ["arm", "seed", "exit", "wall_s", "spent", "trials", "best", "full"] + [f"at{f}" for f in FRACS] + ["tool"]
    w = csv.DictWriter(fh, cols)
    w.writeheader()
    for r in runs.values():
        w.writerow({k: (repr(v) if isinstance(v, float) and k not in ("wall_s",) else v) for k, v in r.items()})
with open(os.devnull if MERGE else f"{out}/curves.csv", "w", newline="") as fh:
    w = csv.DictWriter(fh, ["arm", "seed", "steps", "best"])
    w.writeheader()
    w.writerows(curves)


def ms(xs):
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return math.nan, math.nan
    m = sum(xs) / len(xs)
    se = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs)) if len(xs) > 1 else math.nan
    return m, se


def fmt(xs, scale=SCALE):
    m, se = ms(xs)
    if math.isnan(m):
        return "-"
    if abs(m / scale) >= 100:
        return f"{m / scale:.4g}" + ("" if math.isnan(se) else f" +- {se / scale:.2g}")
    return f"{m / scale:.2f}" + ("" if math.isnan(se) else f" +- {se / scale:.2f}")


print(f"\nBudget {BUDGET} steps (30 trials x {q.STEPS}); {len(seeds)} sweep seeds ({','.join(map(str, seeds))}); values are val_loss "
      f"x 1e4 (minimize; the optimum is 0), mean +- SEM over seeds.\n")
hdr = ["arm", "spent steps (x budget)", "trials", "best @0.1", "@0.25", "@0.5", "@1.0",
       "final best", "best at step 27", "wall s"]
rows = []
for arm in arms:
    rs = [runs[(arm, s)] for s in seeds if (arm, s) in runs]
    if not rs:
        continue
    sp = [r["spent"] for r in rs]
    rows.append([arm, f"{sum(sp) / len(sp):.0f} ({min(sp) / BUDGET:.3f}-{max(sp) / BUDGET:.3f})",
                 f"{sum(r['trials'] for r in rs) / len(rs):.0f}"]
                + [fmt([r[f"at{f}"] for r in rs]) for f in FRACS]
                + [fmt([r["best"] for r in rs]), fmt([r["full"] for r in rs]),
                   f"{sum(r['wall_s'] for r in rs) / len(rs):.0f}"])
widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
for r in [hdr] + rows:
    print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))

print("\nFinal best (x 1e4) per seed:")
print("  ".join(["arm".ljust(14)] + [f"seed {s}".rjust(8) for s in seeds]))
for arm in arms:
    print("  ".join([arm.ljust(14)] + [
        (f"{runs[(arm, s)]['best'] / SCALE:8.2f}" if (arm, s) in runs else "       -") for s in seeds]))

print("\nPaired by sweep seed (A - B; negative: A lower, better). Across tools the seed index is "
      "all the pair shares (different draws); ns_asha vs ns_asha_stop share the random draws.")
print("A - B                         final best (x1e4)   @1.0 budget (x1e4)  log10(A/B) final   A better")
for a, b in PAIRS:
    if a not in arms or b not in arms:
        continue
    ss = [s for s in seeds if (a, s) in runs and (b, s) in runs]
    if not ss:
        continue
    d = [runs[(a, s)]["best"] - runs[(b, s)]["best"] for s in ss]
    d1 = [runs[(a, s)]["at1.0"] - runs[(b, s)]["at1.0"] for s in ss]
    lr = [math.log10(runs[(a, s)]["best"] / runs[(b, s)]["best"]) for s in ss]
    wins = sum(x < 0 for x in d)
    print(f"{a + ' - ' + b:29s} {fmt(d):19s} {fmt(d1):19s} {fmt(lr, 1.0):18s} {wins}/{len(ss)}")

print("\nWhat each tool said (its own counts):")
for (arm, seed), r in runs.items():
    print(f"  {arm} {seed}: exit {r['exit']}, {r['tool']}")
