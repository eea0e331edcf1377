#!/usr/bin/env bash
# Random search against TPE at an equal budget of trials (bench/search.md, issue 17): on the
# simulated V1 population (maskcnn, selected by val_ccnorm, reported by test_ccnorm) and on
# Fashion-MNIST (convnet, selected by val_accuracy, reported by test_accuracy), each over
# several sweep seeds. Both arms draw from the same "random" block; the TPE arm adds
# "search": {"kind": "tpe", "startup": STARTUP}, so its first STARTUP trials are the random
# search's own first draws. Prints best-so-far curves (at each trial count n, the test metric
# of the trial with the best validation metric among the first n finished) as mean +- SEM over
# the seeds, and the number of trials TPE needs to reach the random search's final best.
#
#   bash bench/search_seeds.sh [OUT=bench/results/search] [SEED...=0 1 2]
#   NS_SEARCH_TRIALS=30 NS_SEARCH_STARTUP=10 NS_SEARCH_TASKS="v1 fashion" bash bench/search_seeds.sh
#
# Every sweep runs on one rank (`neurosweep run SPEC`: rank 0 trains the trials itself, one at a
# time, so results arrive in proposal order and TPE sees every earlier result), with one
# intra-op thread (--threads 1) and --order sweep (the random arm runs its trials in draw
# order, not dearest first), under `nice -n 10`. The two arms of one seed run side by side (two
# processes on the 2 cores). A sweep whose state.json says complete is not run again. The
# trials/ subdirectories are deleted afterwards (NS_SEARCH_KEEP_TRIALS=1 keeps them).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/search}
shift || true
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(0 1 2)
TRIALS=${NS_SEARCH_TRIALS:-30}
STARTUP=${NS_SEARCH_STARTUP:-10}
TASKS=${NS_SEARCH_TASKS:-v1 fashion}
NS=${NS_BENCH_BINARY:-build/app/neurosweep}
mkdir -p "$OUT"

spec() {  # spec TASK SEED ARM FILE OUTDIR
  local search=""
  [ "$3" = tpe ] && search=", \"search\": {\"kind\": \"tpe\", \"startup\": $STARTUP}"
  if [ "$1" = fashion ]; then
    cat >"$4" <<JSON
{"name": "search_fashion_$3", "family": "convnet",
 "data": {"kind": "idx", "dir": "/usr/share/datasets/fashion-mnist", "limit": 4000, "test_limit": 2000},
 "fixed": {"blocks": 2, "dense_units": 64},
 "training": {"optimizer": "adam", "lr_schedule": "cosine", "batch_size": 64, "max_epochs": 3,
              "patience": 3, "val_split": 0.1},
 "random": {"count": $TRIALS, "params": {
   "lr": {"dist": "log_uniform", "low": 0.0001, "high": 0.03},
   "weight_decay": {"dist": "log_uniform", "low": 1e-06, "high": 0.01},
   "dropout": {"dist": "uniform", "low": 0.0, "high": 0.7},
   "filters": {"dist": "choice", "values": [8, 16, 32]}}},
 "seed": $2, "metric": "val_accuracy", "mode": "max", "out": "$5"$search}
JSON
  else
    cat >"$4" <<JSON
{"name": "search_v1_$3", "family": "maskcnn",
 "data": {"kind": "simulated", "seed": 0, "images": 2000, "size": 24, "neurons": 30, "repeats": 4},
 "fixed": {"layers": 2, "batch_size": 64},
 "training": {"phases": 1, "max_iters_per_phase": 300, "eval_every": 50, "patience": 100},
 "random": {"count": $TRIALS, "params": {
   "lr": {"dist": "log_uniform", "low": 0.0001, "high": 0.03},
   "smoothness": {"dist": "log_uniform", "low": 1e-07, "high": 0.1},
   "readout_scale": {"dist": "log_uniform", "low": 0.0001, "high": 0.3},
   "channels": {"dist": "choice", "values": [4, 8, 16]}}},
 "seed": $2, "metric": "val_ccnorm", "mode": "max", "out": "$5"$search}
JSON
  fi
}

complete() { [ -f "$1/state.json" ] && grep -q '"complete"' "$1/state.json"; }

lscpu | grep 'Model name' | sed 's/  */ /g' >"$OUT/machine.txt"
nproc >>"$OUT/machine.txt"
t0=$(date +%s.%N)
ran=0
for task in $TASKS; do
  for seed in "${SEEDS[@]}"; do
    d=$OUT/$task/seed$seed
    mkdir -p "$d"
    pids=()
    for arm in random tpe; do
      spec "$task" "$seed" "$arm" "$d/$arm.json" "$d/$arm"
      complete "$d/$arm" && continue
      ran=1
      echo "$(date -Is) $task seed $seed $arm start, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
      (
        start=$(date +%s.%N)
        nice -n 10 "$NS" run "$d/$arm.json" --threads 1 --order sweep >"$d/$arm.log" 2>&1
        echo "$(date +%s.%N) - $start" | bc >"$d/$arm.wall"
        echo "$(date -Is) $task seed $seed $arm end, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
      ) &
      pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    for arm in random tpe; do
      complete "$d/$arm" || { echo "$d/$arm did not complete; see $d/$arm.log" >&2; exit 1; }
      [ "${NS_SEARCH_KEEP_TRIALS:-0}" = 1 ] || rm -rf "$d/$arm/trials"
    done
  done
done
[ "$ran" = 0 ] || echo "$(date +%s.%N) - $t0" | bc >"$OUT/run.wall"

/usr/bin/python3 - "$OUT" "$TRIALS" "$STARTUP" "$TASKS" "${SEEDS[@]}" <<'PY' | tee "$OUT/summary.txt"
import math, sys
import numpy as np, pandas as pd
out, N, startup, tasks, seeds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(), sys.argv[5:]
METRICS = {"v1": ("val_ccnorm", "test_ccnorm"), "fashion": ("val_accuracy", "test_accuracy")}
NS = [n for n in (5, 10, 20, 30, 40) if n <= N]

def curves(df, val, test):
    """Best-so-far after each of the first n rows (results.csv order = finishing order): the
    val and test metric of the first row with the highest val among ok rows with a finite val."""
    bv, bt, out = -math.inf, math.nan, []
    for _, r in df.iterrows():
        v = float(r[val]) if r["status"] == "ok" else math.nan
        if math.isfinite(v) and v > bv:  # strict: the first to finish wins a tie, as best.json
            bv, bt = v, float(r[test])
        out.append((bv, bt))
    return pd.DataFrame(out, columns=["best_val", "best_test"], index=range(1, len(df) + 1))

def ms(v):
    v = np.asarray(v, float)
    return v.mean(), (v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan)

def first_reach(c, target, strict=False):
    """The first n from which on the curve stays at or above (strict: above) target. The test
    metric of the validation-selected trial is not monotone in n (a better validation value
    can have a worse test value), so a curve may touch the target early and fall below again."""
    ok = (c > target) if strict else (c >= target - 1e-12)
    if not ok.iloc[-1]:
        return None
    below = c.index[~ok]
    return int(below[-1]) + 1 if len(below) else int(c.index[0])

SEARCHED = {"v1": ["lr", "smoothness", "readout_scale", "channels"],
            "fashion": ["lr", "weight_decay", "dropout", "filters"]}
total_wall = 0.0

rows = []
for task in tasks:
    val, test = METRICS[task]
    print(f"== {task}: selection by {val}, reported by {test}; {len(seeds)} sweep seeds "
          f"({', '.join(seeds)}), {N} trials per sweep, TPE startup {startup}")
    C, walls, reach = {}, {}, []
    for s in seeds:
        d = f"{out}/{task}/seed{s}"
        df = {a: pd.read_csv(f"{d}/{a}/results.csv", dtype={"trial_id": str}) for a in ("random", "tpe")}
        for a in df:
            assert len(df[a]) == N, (d, a, len(df[a]))
            C[a, s] = curves(df[a], val, test)
            walls[a, s] = float(open(f"{d}/{a}.wall").read())
            c = C[a, s].copy(); c.insert(0, "n", c.index); c.insert(0, "arm", a); c.insert(0, "seed", s)
            c.insert(0, "task", task); rows.append(c)
        # The TPE arm's startup trials are the random search's first draws, scored alike.
        r0, t0 = df["random"].head(startup), df["tpe"].head(startup)
        same_ids = list(r0["trial_id"]) == list(t0["trial_id"])
        max_diff = float(np.nanmax(np.abs(r0[test].to_numpy(float) - t0[test].to_numpy(float))))
        failed = {a: int((df[a]["status"] != "ok").sum()) for a in df}
        R, T = C["random", s], C["tpe", s]
        n_val, n_test = first_reach(T["best_val"], R["best_val"].iloc[-1]), first_reach(T["best_test"], R["best_test"].iloc[-1])
        n_rand_own = first_reach(R["best_test"], R["best_test"].iloc[-1])
        b_test = first_reach(T["best_test"], R["best_test"].iloc[-1], strict=True)
        b_val = first_reach(T["best_val"], R["best_val"].iloc[-1], strict=True)
        reach.append((n_test, n_val, n_rand_own, b_test, b_val))
        total_wall += max(walls["random", s], walls["tpe", s])
        print(f"  seed {s}: first {startup} trials the same in both arms: {same_ids} (largest {test} "
              f"difference {max_diff:.2g}); failed rows random {failed['random']}, tpe {failed['tpe']}; "
              f"wall random {walls['random', s]:.0f} s, tpe {walls['tpe', s]:.0f} s")
        for a in ("random", "tpe"):
            c = C[a, s]
            print(f"    {a:6s} best-so-far {test} at n = " + ", ".join(f"{n}: {c['best_test'][n]:.4f}" for n in NS)
                  + f"  ({val} at {N}: {c['best_val'][N]:.4f})")
            ok = df[a][(df[a]["status"] == "ok") & np.isfinite(df[a][val].astype(float))]
            b = ok.loc[ok[val].astype(float).idxmax()]  # idxmax: the first of tied maxima
            print(f"      its best at {N}: trial {ok.index.get_loc(b.name) + 1} ({b['trial_id']}): "
                  + ", ".join(f"{k} {b[k]:.3g}" if isinstance(b[k], float) else f"{k} {b[k]}" for k in SEARCHED[task]))
        fmt = lambda n: str(n) if n is not None else f"not within {N}"
        print(f"    random's final best {test} {R['best_test'].iloc[-1]:.4f} (its own trial {fmt(n_rand_own)}); "
              f"TPE reaches it (and stays there) at trial {fmt(n_test)}; by {val} ({R['best_val'].iloc[-1]:.4f}) at trial {fmt(n_val)}; "
              f"TPE exceeds it (strictly, from then on) at trial {fmt(b_test)} ({test}), {fmt(b_val)} ({val})")
    print(f"  best-so-far {test}, mean +- SEM over {len(seeds)} seeds:")
    print("    n      " + "".join(f"{'random':>18s}{'tpe':>18s}{'tpe - random':>18s}" for _ in [0]))
    for n in NS:
        r = [C["random", s]["best_test"][n] for s in seeds]
        t = [C["tpe", s]["best_test"][n] for s in seeds]
        (mr, sr), (mt, st), (md, sd) = ms(r), ms(t), ms(np.subtract(t, r))
        print(f"    {n:<6d} {mr:10.4f} +- {sr:.4f} {mt:10.4f} +- {st:.4f} {md:+10.4f} +- {sd:.4f}")
    print(f"  best-so-far {val} at n = {N}: random {ms([C['random', s]['best_val'][N] for s in seeds])[0]:.4f} "
          f"+- {ms([C['random', s]['best_val'][N] for s in seeds])[1]:.4f}, tpe "
          f"{ms([C['tpe', s]['best_val'][N] for s in seeds])[0]:.4f} +- {ms([C['tpe', s]['best_val'][N] for s in seeds])[1]:.4f}")
    for k, name in ((0, test), (1, val)):
        got = [x[k] for x in reach]
        hit = [g for g in got if g is not None]
        if len(hit) == len(got):
            m, e = ms(hit)
            print(f"  trials TPE needs to reach the random search's final best ({name}): "
                  f"{', '.join(map(str, got))}; mean {m:.1f} +- {e:.1f} of {N} "
                  f"(goal <= {N // 2}: {'met' if m <= N / 2 else 'not met'})")
        else:
            print(f"  trials TPE needs to reach the random search's final best ({name}): "
                  f"{', '.join(str(g) if g is not None else f'>{N}' for g in got)}; "
                  f"not reached within {N} on {len(got) - len(hit)} of {len(got)} seeds (goal <= {N // 2}: not met)")
    for k, name in ((3, test), (4, val)):
        got = [x[k] for x in reach]
        print(f"  trial from which on TPE's best-so-far exceeds the random search's final best ({name}): "
              + ", ".join(str(g) if g is not None else f">{N}" for g in got)
              + f" ({sum(g is not None for g in got)} of {len(got)} seeds within {N})")
    got = [x[2] for x in reach]
    print(f"  trial at which the random search itself found its final best: {', '.join(map(str, got))}"
          f" ({sum(g <= startup for g in got)} of {len(got)} within the {startup} startup trials that TPE shares)")
    big = {"v1": ("channels", 16), "fashion": ("filters", 32)}[task]
    for a in ("random", "tpe"):
        ts, share = [], []
        for s in seeds:
            df = pd.read_csv(f"{out}/{task}/seed{s}/{a}/results.csv", dtype={"trial_id": str})
            ts.append(df["wall_s"].sum())
            share.append((df[big[0]].iloc[startup:] == big[1]).mean())
        print(f"  {a}: trial-seconds per sweep {ms(ts)[0]:.0f} +- {ms(ts)[1]:.0f} "
              f"({', '.join(f'{t:.0f}' for t in ts)}); trials {startup + 1}-{N} with {big[0]} {big[1]}: "
              f"{np.mean(share):.2f} of them (mean over seeds)")
    print(f"  wall s per sweep: random {ms([walls['random', s] for s in seeds])[0]:.0f}, "
          f"tpe {ms([walls['tpe', s] for s in seeds])[0]:.0f} (mean; the two arms ran side by side)")
pd.concat(rows).to_csv(f"{out}/curves.csv", index=False)
print(f"sweep wall time, summed over the pairs (the slower arm of each pair): {total_wall:.0f} s = {total_wall / 60:.1f} min")
PY
