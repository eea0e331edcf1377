#!/usr/bin/env bash
# PBT against random search, TPE and TPE + ASHA at an equal budget of training resource
# (bench/search.md, issue 17): the fourth arm, on the simulated V1 population (maskcnn, selected
# by val_ccnorm, reported by test_ccnorm, resource iterations) and on Fashion-MNIST (convnet,
# selected by val_accuracy, reported by test_accuracy, resource epochs), over the same sweep
# seeds. The other arms are not run here: their curves are read from search_asha.sh's
# curves.csv (ASHA_DIR, default bench/results/search_asha), where random search trained 30
# trials to the full budget, 30 x 300 = 9000 iterations (V1) and 30 x 3 = 90 epochs (Fashion).
#
# Each PBT spec is the random arm's random.json for the task and seed (RANDOM, default
# bench/results/search: same "random" params, seed, data and training; its 30 draws are the
# population) with
#   "search": {"kind": "pbt", "population": 30, "interval": I, "max": 300 / 3, "quantile": 0.25,
#              "perturb": [0.8, 1.2], "resample_probability": 0.25,
#              "mutable": ["lr", "smoothness", "readout_scale"] / ["lr", "weight_decay", "dropout"]}
# so the population spends the random arm's budget (30 members x the full budget; a little more
# where a member copies a donor that paused an interval earlier and trains that interval again:
# the summary prints the resource used) and every member trains as long as a random trial.
# I: NS_PBT_V1_INTERVAL (default 50 iterations, the evaluation period) and
# NS_PBT_FASHION_INTERVAL (default 1 epoch). The structural parameters (channels, filters) stay
# fixed per member.
#
#   bash bench/search_pbt.sh [OUT=bench/results/search_pbt] [SEED...=0 1 2]
#   NS_SEARCH_RANDOM=bench/results/search NS_SEARCH_ASHA=bench/results/search_asha \
#   NS_SEARCH_TASKS="v1 fashion" NS_BENCH_BINARY=build/app/neurosweep bash bench/search_pbt.sh
#
# Every sweep runs on one rank (`neurosweep run SPEC`: rank 0 trains the members itself, taking
# turns, so the decisions come in a fixed order), with --threads 1, under `nice -n 15`, one sweep
# at a time. A sweep whose state.json says complete is not run again. The trials/ and pbt/
# subdirectories are deleted afterwards (NS_SEARCH_KEEP_TRIALS=1 keeps them). Prints (to
# OUT/summary.txt; PBT's curves to OUT/curves.csv) per seed and as mean +- SEM: the final best
# test metric of the four arms, PBT's best-so-far validation metric against the cumulative
# resource next to the other arms' at 25/50/75/100 % of the budget, and PBT's exploits.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/search_lib.sh
search_args bench/results/search_pbt "$@"
RANDOM_DIR=${NS_SEARCH_RANDOM:-bench/results/search}
ASHA_DIR=${NS_SEARCH_ASHA:-bench/results/search_asha}
TASKS=${NS_SEARCH_TASKS:-v1 fashion}
PY=/usr/bin/python3

search_all pbt '
mutable = ["lr", "smoothness", "readout_scale"] if task == "v1" else ["lr", "weight_decay", "dropout"]
s["name"] = f"search_pbt_{task}"
s["search"] = {"kind": "pbt", "population": s["random"]["count"], "interval": int(arg),
               "max": full, "quantile": 0.25, "perturb": [0.8, 1.2],
               "resample_probability": 0.25, "mutable": mutable}
' "${NS_PBT_V1_INTERVAL:-50}" "${NS_PBT_FASHION_INTERVAL:-1}"

"$PY" - "$OUT" "$ASHA_DIR" "$TASKS" "${SEEDS[@]}" <<'PY' | tee "$OUT/summary.txt"
import json, math, sys
import numpy as np, pandas as pd
out, adir, tasks, seeds = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
METRICS = {"v1": ("val_ccnorm", "test_ccnorm"), "fashion": ("val_accuracy", "test_accuracy")}
FRACS = (0.25, 0.5, 0.75, 1.0)
ARMS = ("random", "tpe", "tpe_asha")

def pm(v, d=4):
    v = np.asarray(v, float)
    e = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan
    return f"{v.mean():.{d}f} +- {e:.{d}f}"

def at(c, f, col):
    """The last point of a step curve at or below the budget share f (nan before its first)."""
    c = c[c["fraction"] <= f + 1e-12]
    return c[col].iloc[-1] if len(c) else math.nan

others = pd.read_csv(f"{adir}/curves.csv")
curves = []
for task in tasks:
    val, test = METRICS[task]
    print(f"== {task}: selection by {val}, reported by {test}; sweep seeds {', '.join(seeds)}")
    final = {a: [] for a in ARMS + ("pbt",)}
    vals = {a: {f: [] for f in FRACS} for a in ARMS + ("pbt",)}
    used_all = []
    for seed in seeds:
        d = f"{out}/{task}/seed{seed}/pbt"
        spec = json.load(open(f"{out}/{task}/seed{seed}/pbt.json"))
        pop, full = spec["search"]["population"], spec["search"]["max"]
        budget = pop * full
        ev = [json.loads(l) for l in open(f"{d}/reports.jsonl")]
        # Resource of a segment: its end step minus where the member started it (0, its last
        # pause, or the donor's step it copied).
        start, used, best, pts, exploits, changed = {}, 0.0, -math.inf, [], 0, {}
        for e in ev:
            k = e.get("event")
            if k == "pbt_start":
                start[e["member"]] = 0.0
            elif k == "pbt_exploit":
                start[e["member"]] = float(e["from_step"])
                exploits += 1
                for p in e.get("changes", {}):
                    changed[p] = changed.get(p, 0) + 1
            elif k == "pbt_result":
                used += float(e["step"]) - start[e["member"]]
                start[e["member"]] = float(e["step"])
                v = e["value"]
                if isinstance(v, (int, float)) and v > best:
                    best = v
                pts.append((used, best))
        # Asynchronous PBT: a member that copies a donor one interval behind trains that
        # interval again, so the population can use a little more than pop x max.
        assert used >= budget - 1e-6, (task, seed, used, budget)
        c = pd.DataFrame(pts, columns=["resource", "best_val"])
        c["fraction"] = c["resource"] / budget
        c.insert(0, "task", task); c.insert(1, "seed", seed); c.insert(2, "arm", "pbt")
        curves.append(c)
        rows = pd.read_csv(f"{d}/results.csv", dtype={"trial_id": str})
        assert len(rows) == pop and (rows["status"] == "ok").all(), rows["status"].value_counts()
        pick = rows.loc[rows[val].idxmax()]  # the first row with the best value, as best.json
        assert pick["trial_id"] == json.load(open(f"{d}/best.json"))["trial_id"]
        final["pbt"].append(pick[test])
        for f in FRACS:
            vals["pbt"][f].append(at(c, f, "best_val"))
        o = others[(others.task == task) & (others.seed == int(seed))]
        line = []
        for a in ARMS:
            ca = o[o.arm == a]
            final[a].append(ca["best_test"].iloc[-1])
            for f in FRACS:
                vals[a][f].append(at(ca, f, "best_val"))
            line.append(f"{a} {final[a][-1]:.4f}")
        wall = float(open(f"{out}/{task}/seed{seed}/pbt.wall").read())
        print(f"  seed {seed}: final best {test}: " + ", ".join(line) + f", pbt {final['pbt'][-1]:.4f}"
              f" (member {pick['trial_id']}, {val} {pick[val]:.4f}); {exploits} exploits"
              f" (parameters changed: {', '.join(f'{p} {n}' for p, n in sorted(changed.items()))});"
              f" resource {used:g} = {used / budget:.3f} of random's {budget:g};"
              f" wall {wall:.0f} s")
        used_all.append(used / budget)
    print(f"  final best {test} (the best {val}'s row), mean +- SEM over {len(seeds)} seeds"
          f" (PBT at its end: {', '.join(f'{u:.3f}' for u in used_all)} of the budget):")
    for a in ARMS + ("pbt",):
        print(f"    {a:>9}  {pm(final[a])}   per seed {', '.join(f'{x:.4f}' for x in final[a])}")
    for a in ARMS:
        print(f"    pbt - {a:<9} (paired) {pm(np.subtract(final['pbt'], final[a]))}")
    print(f"  best-so-far {val} at a share of the budget, mean +- SEM (random and plain TPE: the"
          f" trials finished within it; PBT: every member's value at its pauses):")
    print("    share" + "".join(f"{a:>19}" for a in ARMS + ("pbt",)))
    for f in FRACS:
        print(f"    {f:>5.0%}" + "".join(f"{pm(vals[a][f]):>19}" for a in ARMS + ("pbt",)))
pd.concat(curves).to_csv(f"{out}/curves.csv", index=False)
PY
