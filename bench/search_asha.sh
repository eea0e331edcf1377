#!/usr/bin/env bash
# TPE + ASHA against random search at an equal budget of training resource (bench/search.md,
# issue 17): the third arm of bench/search_seeds.sh, on the simulated V1 population (maskcnn,
# selected by val_ccnorm, reported by test_ccnorm, resource iterations) and on Fashion-MNIST
# (convnet, selected by val_accuracy, reported by test_accuracy, resource epochs), over the same
# sweep seeds. The random arm is not run here: its results are read from search_seeds.sh's
# output (RANDOM, default bench/results/search), where it trained 30 trials to the full budget,
# 30 x 300 = 9000 iterations (V1) and 30 x 3 = 90 epochs (Fashion).
#
# Each TPE + ASHA spec is that directory's random.json for the task and seed (same "random"
# params, seed, data and training) with
#   "random": {"count": 300, ...}                          (the budget ends the sweep, not the count)
#   "search": {"kind": "tpe", "startup": 10}
#   "scheduler": {"kind": "asha", "resource": "iterations" / "epochs", "min": MIN, "max": 300 / 3, "eta": 3}
#   "budget": {"resource": 9000 / 90}                      (30 x the full budget)
# (MIN 100 on V1: rungs at 100 and 300 iterations; MIN 1 on Fashion: rungs at 1 and 3 epochs).
#
#   bash bench/search_asha.sh [OUT=bench/results/search_asha] [SEED...=0 1 2]
#   NS_SEARCH_RANDOM=bench/results/search NS_SEARCH_TASKS="v1 fashion" NS_ASHA_V1_MIN=100 \
#   NS_ASHA_FASHION_MIN=1 NS_BENCH_BINARY=build/app/neurosweep bash bench/search_asha.sh
#
# Every sweep runs on one rank (`neurosweep run SPEC`: rank 0 trains the trials itself, one at a
# time, so TPE sees every earlier result and the scheduler's decisions are in a fixed order),
# with --threads 1 and --order sweep, under `nice -n 15`, one sweep at a time. A sweep whose
# state.json says complete is not run again (an incomplete one is resumed by the same command).
# The trials/ subdirectories are deleted afterwards (NS_SEARCH_KEEP_TRIALS=1 keeps them).
# Prints (to OUT/summary.txt; every curve to OUT/curves.csv) the best-so-far test metric against
# the cumulative resource for both arms, per seed and as mean +- SEM at 25/50/75/100 % of the
# budget, and the fraction of the budget at which TPE + ASHA reaches the random search's final best.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/search_lib.sh
SEARCH_FLAGS="--order sweep"
search_args bench/results/search_asha "$@"
RANDOM_DIR=${NS_SEARCH_RANDOM:-bench/results/search}
TASKS=${NS_SEARCH_TASKS:-v1 fashion}
PY=/usr/bin/python3

# The budget is the random arm's: its trial count x one trial's full resource.
search_all tpe_asha '
n = s["random"]["count"]
s["name"] = f"search_asha_{task}_tpe_asha"
s["random"]["count"] = 300
s["search"] = {"kind": "tpe", "startup": 10}
s["scheduler"] = {"kind": "asha", "resource": unit, "min": int(arg), "max": full, "eta": 3}
s["budget"] = {"resource": n * full}
' "${NS_ASHA_V1_MIN:-100}" "${NS_ASHA_FASHION_MIN:-1}"

"$PY" - "$OUT" "$RANDOM_DIR" "$TASKS" "${SEEDS[@]}" <<'PY' | tee "$OUT/summary.txt"
import json, math, sys
import numpy as np, pandas as pd
out, rdir, tasks, seeds = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
METRICS = {"v1": ("val_ccnorm", "test_ccnorm", "iterations"),
           "fashion": ("val_accuracy", "test_accuracy", "epochs")}
SEARCHED = {"v1": ["lr", "smoothness", "readout_scale", "channels"],
            "fashion": ["lr", "weight_decay", "dropout", "filters"]}
FRACS = (0.25, 0.5, 0.75, 1.0)
EPS = 1e-12

def ms(v):
    v = np.asarray(v, float)
    return v.mean(), (v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan)

def pm(v, d=4):
    m, e = ms(v)
    return f"{m:.{d}f} +- {e:.{d}f}"

def step_curve(points, val, test):
    """points: (cum_resource, row) in the order the rows were written. Best so far: the val and
    test metric of the first row with the highest val (strict >, so the first to finish wins a
    tie, as best.json). Returns a DataFrame with one line per point."""
    bv, bt, bid, rows = -math.inf, math.nan, None, []
    for cum, r in points:
        v = float(r[val])
        if math.isfinite(v) and v > bv:
            bv, bt, bid = v, float(r[test]), r["trial_id"]
        rows.append((cum, r["trial_id"], bv, bt, bid))
    return pd.DataFrame(rows, columns=["resource", "trial_id", "best_val", "best_test", "best_trial"])

def at(c, R):
    """The best so far with at most R resource units given: the last point with resource <= R."""
    c = c[c["resource"] <= R + EPS]
    return (math.nan, math.nan) if c.empty else (c["best_val"].iloc[-1], c["best_test"].iloc[-1])

def first_reach(c, col, target, strict=False, other_than=None):
    """The resource from which on the step curve stays at or above (strict: above, and held by a
    trial other than other_than) target; None if its last point is not. The test metric of the
    validation-selected trial is not monotone in the resource."""
    ok = (c[col] > target) if strict else (c[col] >= target - EPS)
    if other_than is not None:
        ok &= c["best_trial"] != other_than
    if c.empty or not ok.iloc[-1]:
        return None
    below = np.flatnonzero(~ok.to_numpy())
    return float(c["resource"].iloc[below[-1] + 1] if len(below) else c["resource"].iloc[0])

def first_touch(c, col, target):
    """The first resource at which the curve is at or above target (it may fall below again)."""
    hit = c[c[col] >= target - EPS]
    return None if hit.empty else float(hit["resource"].iloc[0])

def journal(path):
    return [json.loads(l) for l in open(path) if l.strip()]

curve_rows, total_wall = [], 0.0
for task in tasks:
    val, test, unit = METRICS[task]
    print(f"== {task}: selection by {val}, reported by {test}, resource {unit}; sweep seeds {', '.join(seeds)}")
    per = {}
    for s in seeds:
        d, rd = f"{out}/{task}/seed{s}", f"{rdir}/{task}/seed{s}"
        spec = json.load(open(f"{d}/tpe_asha.json"))
        sch, B = spec["scheduler"], float(spec["budget"]["resource"])
        full, lo = float(sch["max"]), float(sch["min"])
        state = json.load(open(f"{d}/tpe_asha/state.json"))
        rev = json.load(open(f"{d}/tpe_asha/sweep.json"))["provenance"].get("git_revision")
        wall = float(open(f"{d}/tpe_asha.wall").read())
        total_wall += wall
        # The random (and plain TPE) arm: every row trained to the full budget; the cumulative
        # resource after row n is the sum of the rows' own counts (n x full).
        ref = {}
        for a in ("random", "tpe"):
            df = pd.read_csv(f"{rd}/{a}/results.csv", dtype={"trial_id": str})
            assert (df["status"] == "ok").all() and np.allclose(df[unit].astype(float), full), (rd, a)
            cum = df[unit].astype(float).cumsum()
            assert np.isclose(cum.iloc[-1], B), (rd, a, cum.iloc[-1], B)
            ref[a] = (df, step_curve(list(zip(cum, (r for _, r in df.iterrows()))), val, test))
        rnd_df, R = ref["random"]
        _, T = ref["tpe"]
        # TPE + ASHA. reports.jsonl has every rung decision in the order the scheduler made it.
        # The resource given to a trial = the largest rung it reported; the sweep's cumulative
        # resource at an event = the sum over trials so far (one rank: nothing else is training
        # while a result is recorded, so this is what the budget counts at that moment).
        df = pd.read_csv(f"{d}/tpe_asha/results.csv", dtype={"trial_id": str})
        ev = journal(f"{d}/tpe_asha/reports.jsonl")
        given, cum, started, end_at = {}, 0.0, set(), {}
        for e in ev:
            if e.get("event") == "start":
                started.add(e["trial"])
            if e.get("event") == "rung" and "resource" in e:
                t, r = e["trial"], float(e["resource"])
                if r > given.get(t, 0.0):
                    cum += r - given.get(t, 0.0)
                    given[t] = r
                if e.get("decision") == "end":
                    end_at[t] = (cum, len(started))
        status = df["status"].value_counts().to_dict()
        top = df[(df["status"] == "ok") & np.isclose(df["resource"].astype(float), full)]
        ok_short = int(((df["status"] == "ok") & ~np.isclose(df["resource"].astype(float), full)).sum())
        assert all(t in end_at for t in top["trial_id"]), "a top-rung row without an end event"
        pts = [(end_at[r["trial_id"]][0], r) for _, r in top.iterrows()]
        assert all(pts[i][0] <= pts[i + 1][0] for i in range(len(pts) - 1)), "rows not in event order"
        A = step_curve(pts, val, test)
        A["configs"] = [end_at[t][1] for t in A["trial_id"]]
        rows_resource = float(df["resource"].astype(float).sum())
        # Startup draws that reached the top rung are the random arm's own trials: same ids, and
        # (up to the machine's arithmetic) the same metrics.
        both = top.merge(rnd_df[["trial_id", test]], on="trial_id", suffixes=("", "_random"))
        diff = float(np.max(np.abs(both[test] - both[f"{test}_random"]))) if len(both) else math.nan
        per[s] = dict(R=R, T=T, A=A, B=B, full=full, wall=wall, df=df, top=top, rnd=rnd_df)
        print(f"  seed {s}: {state['state']} ({state.get('reason', '')}); build {rev}; wall {wall:.0f} s; "
              f"{len(df)} configurations ({len(started)} started), rows {status}; {len(top)} trained to "
              f"{full:g} {unit}, ok rows short of it: {ok_short}; resource given {cum:g} "
              f"(results.csv's resource column: {rows_resource:g}) of the budget's {B:g}")
        print(f"    rungs reached: " + ", ".join(f"{k:g}: {v}" for k, v in df['resource'].astype(float).value_counts().sort_index().items())
              + f"; trial-seconds {df['wall_s'].sum():.0f} (the random arm in {rd}: {rnd_df['wall_s'].sum():.0f})")
        big, bv = {"v1": ("channels", 16), "fashion": ("filters", 32)}[task]  # the dear end
        print(f"    {big} {bv}: {int((df[big] == bv).sum())} of the {len(df)} configurations, "
              f"{int((top[big] == bv).sum())} of the {len(top)} trained to the end; random arm "
              f"{int((rnd_df[big] == bv).sum())} of {len(rnd_df)}")
        print(f"    startup draws that reached {full:g} {unit} and are in the random arm: {len(both)}; "
              f"largest {test} difference {diff:.2g}")
        for name, c in (("random", R), ("tpe", T), ("tpe_asha", A)):
            print(f"    {name:8s} best-so-far {test} at " + ", ".join(
                f"{int(f * 100)}%: {at(c, f * B)[1]:.4f}" for f in FRACS) + f"  ({val} at 100%: {at(c, B)[0]:.4f})")
        b = A.iloc[-1]
        brow = top[top["trial_id"] == b["best_trial"]].iloc[0]
        k = A.index[A["trial_id"] == b["best_trial"]][0]
        print(f"      tpe_asha's best: trial {b['best_trial']} (configuration {A['configs'][k]}, "
              f"at {A['resource'][k]:g} {unit}): " + ", ".join(
                  f"{p} {brow[p]:.3g}" if isinstance(brow[p], float) else f"{p} {brow[p]}" for p in SEARCHED[task]))
        rt, rv = R["best_test"].iloc[-1], R["best_val"].iloc[-1]
        fr = lambda x: f"{x / B:.3f} ({x:g} {unit})" if x is not None else "not within the budget"
        own = first_reach(R, "best_test", rt)
        per[s].update(reach_test=first_reach(A, "best_test", rt), reach_val=first_reach(A, "best_val", rv),
                      beat_test=first_reach(A, "best_test", rt, strict=True, other_than=R["best_trial"].iloc[-1]), own=own,
                      tpe_reach=first_reach(T, "best_test", rt), touch=first_touch(A, "best_test", rt))
        rbest = R["best_trial"].iloc[-1]
        rid = {t: i + 1 for i, t in enumerate(rnd_df["trial_id"])}
        holder = lambda x: A.loc[A["resource"] == x, "best_trial"].iloc[0] if x is not None else None
        h = holder(per[s]["reach_test"])
        print(f"    random's final best {test} {rt:.4f} ({val} {rv:.4f}; trial {rbest}), its own at {fr(own)}; TPE + ASHA "
              f"reaches it (and stays) at {fr(per[s]['reach_test'])}"
              + (f" with trial {h}" + (" (the same configuration: a shared startup draw)" if h == rbest else
                                       f" (a shared startup draw: the random arm's trial {rid[h]})" if h in rid else "") if h else "")
              + f"; by {val} at {fr(per[s]['reach_val'])}; exceeds it (strictly, with another trial, for good) at {fr(per[s]['beat_test'])}; "
              f"plain TPE reaches it at {fr(per[s]['tpe_reach'])}; TPE + ASHA first touches it at {fr(per[s]['touch'])}")
        if math.isfinite(diff) and diff > 0:
            tol = first_reach(A, "best_test", rt - diff)
            if tol != per[s]["reach_test"]:
                print(f"    with a tolerance of the largest machine difference ({diff:.2g}): TPE + ASHA reaches it at {fr(tol)}")
        for name, c in (("random", R), ("tpe", T), ("tpe_asha", A)):
            cc = c.copy()
            cc.insert(0, "arm", name); cc.insert(0, "seed", s); cc.insert(0, "task", task)
            cc.insert(4, "fraction", cc["resource"] / B)
            if "configs" not in cc:
                cc["configs"] = range(1, len(cc) + 1)
            curve_rows.append(cc)
    print(f"  best-so-far {test} at a share of the budget, mean +- SEM over {len(seeds)} seeds "
          f"(random and plain TPE: the trials finished within it, floor(share x {len(per[seeds[0]]['R'])})):")
    print(f"    {'share':6s} {'random':>18s} {'tpe_asha':>18s} {'asha - random':>18s} {'tpe (no ASHA)':>18s}")
    for f in FRACS:
        r = [at(per[s]["R"], f * per[s]["B"])[1] for s in seeds]
        a = [at(per[s]["A"], f * per[s]["B"])[1] for s in seeds]
        t = [at(per[s]["T"], f * per[s]["B"])[1] for s in seeds]
        print(f"    {int(f * 100):>4d}%  {pm(r):>18s} {pm(a):>18s} {pm(np.subtract(a, r)):>18s} {pm(t):>18s}")
    print(f"  best-so-far {val} at 100%: random {pm([per[s]['R']['best_val'].iloc[-1] for s in seeds])}, "
          f"tpe_asha {pm([per[s]['A']['best_val'].iloc[-1] for s in seeds])}, "
          f"tpe {pm([per[s]['T']['best_val'].iloc[-1] for s in seeds])}")
    print(f"  configurations per sweep: tpe_asha {pm([len(per[s]['df']) for s in seeds], 1)} "
          f"({', '.join(str(len(per[s]['df'])) for s in seeds)}), of them trained to the full budget "
          f"{pm([len(per[s]['top']) for s in seeds], 1)} ({', '.join(str(len(per[s]['top'])) for s in seeds)}); random 30")
    for key, name in (("reach_test", test), ("reach_val", val)):
        got = [per[s][key] / per[s]["B"] if per[s][key] is not None else None for s in seeds]
        txt = ", ".join(f"{g:.3f}" if g is not None else "not reached" for g in got)
        if all(g is not None for g in got):
            m, e = ms(got)
            print(f"  share of the budget at which TPE + ASHA reaches the random search's final best ({name}): {txt}; "
                  f"mean {m:.3f} +- {e:.3f}; goal <= 0.5: {'met' if m <= 0.5 else 'not met'} on the mean, "
                  f"{sum(g <= 0.5 for g in got)} of {len(got)} seeds within it")
        else:
            print(f"  share of the budget at which TPE + ASHA reaches the random search's final best ({name}): {txt}; "
                  f"goal <= 0.5: not met (not reached within the budget on {sum(g is None for g in got)} of {len(got)} seeds)")
    got = [per[s]["beat_test"] / per[s]["B"] if per[s]["beat_test"] is not None else None for s in seeds]
    print(f"  share from which on TPE + ASHA exceeds it ({test}, strictly, with a trial other than random's best): "
          + ", ".join(f"{g:.3f}" if g is not None else "not within the budget" for g in got))
    got = [per[s]["touch"] / per[s]["B"] if per[s]["touch"] is not None else None for s in seeds]
    print(f"  share at which TPE + ASHA's best-so-far {test} first touches it (not necessarily for good): "
          + ", ".join(f"{g:.3f}" if g is not None else "not within the budget" for g in got))
    got = [per[s]["own"] / per[s]["B"] for s in seeds]
    print(f"  share at which the random search itself found its final best: {', '.join(f'{g:.3f}' for g in got)}")
    got = [per[s]["tpe_reach"] / per[s]["B"] if per[s]["tpe_reach"] is not None else None for s in seeds]
    print(f"  share at which plain TPE (no ASHA, search_seeds.sh) reached it: "
          + ", ".join(f"{g:.3f}" if g is not None else "not within the budget" for g in got))
    walls = ", ".join(f"{per[s]['wall']:.0f}" for s in seeds)
    print(f"  wall s per sweep (tpe_asha, this machine): {walls}")
pd.concat(curve_rows).to_csv(f"{out}/curves.csv", index=False)
print(f"tpe_asha sweep wall time, summed: {total_wall:.0f} s = {total_wall / 60:.1f} min")
PY
