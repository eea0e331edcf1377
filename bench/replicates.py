"""Figures of bench/replicates.sh (bench/search.md, "Issue 28: replicates and folds").

    /usr/bin/python3 bench/replicates.py OUT SEED...

Prints parts (a), (c), (c2) and (b) from whatever of OUT/a and OUT/c is complete; writes OUT/a.csv
(one line per seed and arm), OUT/c.csv and OUT/c2.csv (one line per seed and configuration) and
OUT/b.csv (one line per seed).
"""
import json
import math
import os
import sys

import numpy as np
import pandas as pd

out, seeds = sys.argv[1], sys.argv[2:]
VAL, TEST = "val_ccnorm", "test_ccnorm"
RANDOM_DIR = os.environ.get("RANDOM_DIR", "bench/results/search")  # bench/replicates.sh exports it


def ms(v):
    v = np.asarray(v, float)
    return v.mean(), (v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan)


def pm(v, d=4):
    m, e = ms(v)
    return f"{m:.{d}f} +- {e:.{d}f}"


def complete(d):
    p = f"{d}/state.json"
    return os.path.exists(p) and json.load(open(p)).get("state") == "complete"


def rows(d):
    return pd.read_csv(f"{d}/results.csv", dtype={"trial_id": str})


def wall(f):
    return float(open(f).read()) if os.path.exists(f) else math.nan


def short(p, keys):
    return ", ".join(f"{k} {p[k]:.3g}" if isinstance(p[k], float) else f"{k} {p[k]}" for k in keys)


def spearman(x, y):
    """Spearman's rho: Pearson's r of the ranks (average ranks on ties)."""
    return float(pd.Series(x).rank().corr(pd.Series(y).rank()))


# ---------------------------------------------------------------- (a)
def part_a():
    lines = []
    for s in seeds:
        d = f"{out}/a/seed{s}"
        if not all(complete(f"{d}/{a}") for a in ("r1", "r3", "retrain_r1", "retrain_r3")):
            print(f"  seed {s}: not complete, left out")
            continue
        spec = json.load(open(f"{d}/r1.json"))
        keys = list(spec["random"]["params"])
        for arm in ("r1", "r3"):
            df = rows(f"{d}/{arm}")
            best = json.load(open(f"{d}/{arm}/best.json"))
            bc = json.load(open(f"{d}/{arm}/best_config.json"))
            choice = best["params"] if arm == "r1" else bc["params"]
            # The retrain grid is the choice's searched parameters (replicates.sh): check it.
            rs = json.load(open(f"{d}/retrain_{arm}.json"))
            assert all(rs["grid"][k] == [choice[k]] for k in keys), (d, arm)
            rt = rows(f"{d}/retrain_{arm}")
            assert len(rt) == 5 and (rt["status"] == "ok").all(), (d, arm)
            assert np.allclose(rt["iterations"].astype(float), 300), (d, arm)
            cfg = df.groupby(keys, sort=False)
            top = df[(df["status"] == "ok") & np.isclose(df["resource"].astype(float), 300)]
            # The choice's own rows in the sweep (r1: the one best row; r3: its 3 replicates).
            mine = df.loc[np.logical_and.reduce([np.isclose(df[k].astype(float), float(choice[k])) for k in keys])]
            mine = mine[np.isclose(mine["resource"].astype(float), 300)]
            sweep_val = best["value"] if arm == "r1" else bc["value"]
            # Configurations the journal started (r3: "start" names the configuration) against
            # those with rows in results.csv.
            ev = [json.loads(l) for l in open(f"{d}/{arm}/reports.jsonl") if l.strip()]
            started = len({e["trial"] for e in ev if e.get("event") == "start"})
            proposals = sum(e.get("event") == "tpe_propose" for e in ev)
            # Is the choice one of the 10 startup draws (the random arm's first 10 trials)?
            draws = rows(f"{RANDOM_DIR}/v1/seed{s}/random").head(spec["search"]["startup"])
            startup = bool(np.logical_and.reduce([np.isclose(draws[k].astype(float), float(choice[k]), rtol=1e-12)
                                                  for k in keys]).any())
            # Replicate results in the journal whose trial has no row (the last result per trial).
            lost = {e["row"]["trial_id"]: e["row"] for e in ev if e.get("event") == "replicate_result"}
            lost = [r for t, r in lost.items() if t not in set(df["trial_id"])]
            lost = "; ".join(f"{r['trial_id']} {r['status']} at {r['metrics'].get('iterations', 0):g} it, "
                             f"{VAL} {r['metrics'].get(VAL, math.nan):.4f}" for r in lost) or "none"
            lines.append(dict(
                seed=int(s), arm=arm, configurations=cfg.ngroups, startup=startup, started=started, proposals=proposals, lost=lost, rows=len(df),
                configs_at_300=top.groupby(keys).ngroups, resource=float(df["resource"].astype(float).sum()),
                choice=short(choice, keys), choice_resource=float(best["resource"]) if arm == "r1" else max(
                    r["resource"] for r in bc["rows"]), choice_n=1 if arm == "r1" else bc["n"],
                same_as_best_config=(arm == "r3" or all(float(bc["params"][k]) == float(choice[k]) for k in keys)),
                sweep_val=sweep_val, sweep_test=float(mine[TEST].mean()),
                retrain_val=float(rt[VAL].mean()), retrain_test=float(rt[TEST].mean()),
                retrain_test_sem=ms(rt[TEST])[1], retrain_test_min=float(rt[TEST].min()),
                retrain_test_max=float(rt[TEST].max()), wall=wall(f"{d}/{arm}.wall"),
                retrain_wall=wall(f"{d}/retrain_{arm}.wall"),
                build=json.load(open(f"{d}/{arm}/sweep.json"))["provenance"].get("git_revision")))
    if not lines:
        return
    A = pd.DataFrame(lines)
    A.to_csv(f"{out}/a.csv", index=False)
    done = sorted(A["seed"].unique())
    print(f"== (a) TPE + ASHA, 1 repeat (r1) against 3 repeats (r3), budget 9000 iterations each; "
          f"choices retrained 5 x 300 iterations (seed 1000 + S); sweep seeds {', '.join(map(str, done))}")
    for _, r in A.iterrows():
        print(f"  seed {r.seed} {r.arm}: {r.configurations} configurations with rows ({r.rows} rows, their resource "
              f"column sums to {r.resource:g}; the journal started {r.started}, {r.proposals} of them TPE proposals), {r.configs_at_300} reached 300 iterations; build {r.build}; wall {r.wall:.0f} s "
              f"(retrain {r.retrain_wall:.0f} s)")
        if r.lost != "none":
            print(f"    replicate results in reports.jsonl without a row in results.csv: {r.lost}")
        print(f"    choice: {r.choice} (n {r.choice_n}; a startup draw: {r.startup}"
              + ("" if r.arm == "r3" else f"; best_config.json names the same: {r.same_as_best_config}") + ")")
        print(f"    its sweep {VAL} {r.sweep_val:.4f} (sweep {TEST} {r.sweep_test:.4f}); retrained: {VAL} "
              f"{r.retrain_val:.4f}, {TEST} {r.retrain_test:.4f} +- {r.retrain_test_sem:.4f} "
              f"(range {r.retrain_test_min:.4f} .. {r.retrain_test_max:.4f}); optimism "
              f"(sweep {VAL} - retrained {VAL}) {r.sweep_val - r.retrain_val:+.4f}")
    P = A.pivot(index="seed", columns="arm")
    print(f"  retrained {TEST} of the choice, mean +- SEM over seeds: r1 {pm(P['retrain_test']['r1'])}, "
          f"r3 {pm(P['retrain_test']['r3'])}; r3 - r1 paired {pm(P['retrain_test']['r3'] - P['retrain_test']['r1'])} "
          f"(per seed {', '.join(f'{x:+.4f}' for x in P['retrain_test']['r3'] - P['retrain_test']['r1'])})")
    print(f"  retrained {VAL}: r1 {pm(P['retrain_val']['r1'])}, r3 {pm(P['retrain_val']['r3'])}; "
          f"r3 - r1 paired {pm(P['retrain_val']['r3'] - P['retrain_val']['r1'])}")
    opt = P["sweep_val"] - P["retrain_val"]
    print(f"  optimism of the sweep's value (sweep {VAL} of the choice - its retrained mean): "
          f"r1 {pm(opt['r1'])}, r3 {pm(opt['r3'])}")
    print(f"  configurations seen: r1 {pm(P['configurations']['r1'], 1)}, r3 {pm(P['configurations']['r3'], 1)} "
          f"(TPE proposals among the started: r1 {pm(P['proposals']['r1'], 1)}, r3 {pm(P['proposals']['r3'], 1)}); "
          f"of them trained to 300 iterations: r1 {pm(P['configs_at_300']['r1'], 1)}, r3 {pm(P['configs_at_300']['r3'], 1)}")
    print(f"  wall s, sweeps (two side by side): r1 {pm(P['wall']['r1'], 0)}, r3 {pm(P['wall']['r3'], 0)}; "
          f"retrains {pm(P['retrain_wall']['r1'], 0)}, {pm(P['retrain_wall']['r3'], 0)}")


# ---------------------------------------------------------------- (c)
def part_c(name):
    td = f"{out}/{name}/seedtruth/truth"
    if not complete(td):
        print(f"== ({name}): the truth grid is not complete")
        return
    spec = json.load(open(f"{out}/{name}/seedtruth/truth.json"))
    keys = list(spec["grid"])
    T = rows(td)
    assert (T["status"] == "ok").all() and len(T) == 9 * spec["repeats"], "truth grid rows"
    truth = T.groupby(keys)[TEST].agg(["mean", "sem", "count"]).rename(columns=lambda c: f"truth_{c}")
    truth["truth_val"] = T.groupby(keys)[VAL].mean()
    print(f"== ({name}) 5-fold selection against a single split: 800 images, grid {json.dumps(spec['grid'])}, "
          f"fixed {json.dumps(spec['fixed'])}; true quality = mean {TEST} over {spec['repeats']} seeds "
          f"(seed {spec['seed']}) on the simulator's split")
    for k, r in truth.sort_values("truth_mean", ascending=False).iterrows():
        print(f"  {short(dict(zip(keys, k if isinstance(k, tuple) else (k,))), keys)}: true {TEST} {r.truth_mean:.4f} +- {r.truth_sem:.4f} "
              f"(n {int(r.truth_count)}); its {VAL} {r.truth_val:.4f}")
    res, lines = [], []
    for s in seeds:
        d = f"{out}/{name}/seed{s}/folds"
        if not complete(d):
            print(f"  seed {s}: not complete, left out")
            continue
        F = rows(d)
        assert (F["status"] == "ok").all() and len(F) == 45, d
        K = int(F["fold"].max()) + 1
        per_fold = F.pivot_table(index=keys, columns="fold", values=VAL)
        cv = per_fold.mean(axis=1)
        j = truth.join(per_fold.rename(columns=lambda k: f"fold{k}")).join(cv.rename("cv_mean"))
        j["cv_test"] = F.groupby(keys)[TEST].mean()
        rho_single = spearman(j["fold0"], j["truth_mean"])
        rho_each = [spearman(j[f"fold{k}"], j["truth_mean"]) for k in range(K)]
        rho_cv = spearman(j["cv_mean"], j["truth_mean"])
        best_true = j["truth_mean"].max()
        regret = lambda col: best_true - j.loc[j[col].idxmax(), "truth_mean"]
        res.append(dict(seed=int(s), rho_single=rho_single, rho_cv=rho_cv, rho_single_each=float(np.mean(rho_each)),
                        regret_single=regret("fold0"), regret_cv=regret("cv_mean"),
                        regret_single_each=float(np.mean([regret(f"fold{k}") for k in range(K)])),
                        wall=wall(f"{out}/{name}/seed{s}/folds.wall")))
        print(f"  seed {s}: Spearman with the true quality: single split (fold 0) {rho_single:+.3f}, "
              f"5-fold mean {rho_cv:+.3f}; each fold alone {', '.join(f'{x:+.3f}' for x in rho_each)} "
              f"(mean {np.mean(rho_each):+.3f}); the pick's true {TEST} below the best: single "
              f"{regret('fold0'):.4f}, 5-fold {regret('cv_mean'):.4f}")
        jj = j.reset_index()
        jj.insert(0, "seed", int(s))
        lines.append(jj)
    if not res:
        return
    pd.concat(lines).to_csv(f"{out}/{name}.csv", index=False)
    R = pd.DataFrame(res)
    print(f"  mean +- SEM over seeds {', '.join(map(str, R['seed']))}: Spearman single split {pm(R['rho_single'], 3)}, "
          f"5-fold {pm(R['rho_cv'], 3)}, 5-fold - single paired {pm(R['rho_cv'] - R['rho_single'], 3)}; "
          f"a single split averaged over which fold it is {pm(R['rho_single_each'], 3)} "
          f"(5-fold - that, paired {pm(R['rho_cv'] - R['rho_single_each'], 3)})")
    print(f"  true {TEST} of the pick below the best configuration's: single split (fold 0) {pm(R['regret_single'])}, "
          f"averaged over folds {pm(R['regret_single_each'])}, 5-fold {pm(R['regret_cv'])}")
    print(f"  wall s per 5-fold grid (45 trials, beside another sweep): {pm(R['wall'], 0)}; truth grid "
          f"{wall(f'{out}/{name}/seedtruth/truth.wall'):.0f} s")

# ---------------------------------------------------------------- (b)
def best_so_far(df):
    """Best-so-far by VAL (strict >: the first wins a tie, as best.json): (val, test) after each row."""
    bv, bt, out_ = -math.inf, math.nan, []
    for _, r in df.iterrows():
        v = float(r[VAL])
        if r["status"] == "ok" and math.isfinite(v) and v > bv:
            bv, bt = v, float(r[TEST])
        out_.append((bv, bt))
    return pd.DataFrame(out_, columns=["val", "test"], index=range(1, len(df) + 1))


def reach(c, col, target):
    """The first n from which on c[col] stays >= target; None if its last point is not."""
    ok = (c[col] >= target - 1e-12).to_numpy()
    if not ok[-1]:
        return None
    below = np.flatnonzero(~ok)
    return int(c.index[below[-1] + 1]) if len(below) else int(c.index[0])


def part_b():
    res = []
    print(f"== (b) warm start: a second population (data seed 1); random search, cold TPE (startup 10), "
          f"warm TPE (startup 0, warm_start: the first population's TPE sweep of the same seed)")
    for s in seeds:
        d = f"{out}/b/seed{s}"
        if not all(complete(f"{d}/{a}") for a in ("random", "tpe", "warm")):
            print(f"  (b) seed {s}: not complete, left out")
            continue
        C = {a: best_so_far(rows(f"{d}/{a}")) for a in ("random", "tpe", "warm")}
        n = {a: len(c) for a, c in C.items()}
        rv, rt = C["random"]["val"].iloc[-1], C["random"]["test"].iloc[-1]
        prior = json.load(open(f"{d}/warm/warm_start.json")) if os.path.exists(f"{d}/warm/warm_start.json") else None
        line = dict(seed=int(s), random_test=rt, random_val=rv, random_own=reach(C["random"], "test", rt))
        for a in ("tpe", "warm"):
            line[f"{a}_reach_test"] = reach(C[a], "test", rt)
            line[f"{a}_reach_val"] = reach(C[a], "val", rv)
            for k in (5, 10, 20, n[a]):
                line[f"{a}_test_at_{k if k != n[a] else 'end'}"] = C[a]["test"].loc[min(k, n[a])]
        res.append(line)
        warn = [l.strip() for l in open(f"{d}/warm.log") if l.lower().startswith(("warm", "warning"))][:3]
        print(f"  (b) seed {s}: rows random {n['random']}, tpe {n['tpe']}, warm {n['warm']}; random's final best "
              f"{TEST} {rt:.4f} ({VAL} {rv:.4f}), its own at trial {line['random_own']}; reached (and kept) by "
              f"{TEST}: cold TPE at {line['tpe_reach_test'] or 'never'}, warm TPE at {line['warm_reach_test'] or 'never'}; "
              f"by {VAL}: cold {line['tpe_reach_val'] or 'never'}, warm {line['warm_reach_val'] or 'never'}")
        for a in ("tpe", "warm"):
            df = rows(f"{d}/{a}")
            changes = [i + 1 for i in range(len(C[a])) if i == 0 or C[a]["val"].iloc[i] != C[a]["val"].iloc[i - 1]]
            keys = list(json.load(open(f"{d}/{a}.json"))["random"]["params"])
            pick = df.loc[changes[-1] - 1]
            print(f"    {a:4s} best-so-far {TEST} at n = 5, 10, 20, end: " + ", ".join(
                f"{C[a]['test'].loc[min(k, n[a])]:.4f}" for k in (5, 10, 20, n[a]))
                  + f"; the best trial changed at n = {', '.join(map(str, changes))}; final pick: "
                  + short({k: pick[k] for k in keys}, keys))
        print(f"    warm start: {len(prior['prior']) if prior else 'no warm_start.json:'} prior observations; "
              f"log lines naming it: {' | '.join(warn) if warn else 'none'}")
    if not res:
        return
    B = pd.DataFrame(res)
    B.to_csv(f"{out}/b.csv", index=False)
    print(f"  over seeds {', '.join(map(str, B['seed']))}:")
    for col in ("reach_test", "reach_val"):
        for a in ("tpe", "warm"):
            v = B[f"{a}_{col}"]
            print(f"  trials to reach random's final best ({col[6:]}), {a}: {', '.join(str(int(x)) if x == x and x is not None else 'not within 30' for x in v)}"
                  + (f"; mean {pm(v.astype(float), 1)}" if v.notna().all() else ""))
    for k in ("5", "10", "20", "end"):
        print(f"  best-so-far {TEST} at n = {k}: cold {pm(B[f'tpe_test_at_{k}'])}, warm {pm(B[f'warm_test_at_{k}'])}, "
              f"warm - cold paired {pm(B[f'warm_test_at_{k}'] - B[f'tpe_test_at_{k}'])}")
    print(f"  random search's final best {TEST}: {pm(B['random_test'])}")


print(f"# bench/replicates.py {out} {' '.join(seeds)}")
for f in sorted(f for f in os.listdir(out) if f.startswith("machine")):
    print(f"{f}: " + "; ".join(open(f"{out}/{f}").read().split("\n")).strip("; "))
if os.path.isdir(f"{out}/a"):
    part_a()
for name in ("c", "c2"):
    if os.path.isdir(f"{out}/{name}"):
        part_c(name)
if os.path.isdir(f"{out}/b"):
    part_b()
