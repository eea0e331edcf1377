#!/usr/bin/env bash
# ASHA against the full grid, side by side in one run (bench/asha.md): the simulated V1 population
# (maskcnn), 27 configurations (lr x readout_scale x smoothness, 3 values each), one phase of 450
# iterations each, evaluations every 50. (a) every configuration to the end; (b) ASHA, promotion
# variant, eta 3, rungs at 50, 150, 450 iterations. Both on `mpirun -np 3` (2 workers). Prints,
# for each: total trial-seconds (the sum of results.csv's wall_s), wall time, trials per rung,
# and the best test CCnorm found among trials that trained to the end (ASHA: the top rung).
#
#   bash bench/asha.sh [OUT=bench/results/asha]
#   NS_BENCH_SEED=1 NS_BENCH_MIN=150 NS_BENCH_MAX=1350 bash bench/asha.sh OUT
# (maskcnn: the simulated population's seed, ASHA's min and max iterations; the full arm trains
# every configuration for max; defaults 0, 50, 450). bench/asha_seeds.sh runs several seeds.
#   NS_BENCH_FAMILY=convnet bash bench/asha.sh bench/results/asha_fashion
# The convnet variant: Fashion-MNIST (Debian's dataset-fashion-mnist; 12000 training and 2000
# test images), 27 configurations (lr x dropout x filters), 9 epochs with a cosine schedule;
# ASHA's rungs at 1, 3, 9 epochs; the metric val_accuracy, reported by test_accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
FAMILY=${NS_BENCH_FAMILY:-maskcnn}
SEED=${NS_BENCH_SEED:-0}
ITERS=${NS_BENCH_MAX:-450}
OUT=${1:-bench/results/asha}
NS=${NS_BENCH_BINARY:-build/app/neurosweep}
MPI=(mpirun --allow-run-as-root --oversubscribe -np 3)
mkdir -p "$OUT"
spec() {  # spec FILE OUTDIR SCHEDULER-JSON
  if [ "$FAMILY" = convnet ]; then
    cat >"$1" <<JSON
{"name": "asha_bench_fashion", "family": "convnet",
 "data": {"kind": "idx", "dir": "/usr/share/datasets/fashion-mnist", "limit": 12000, "test_limit": 2000},
 "fixed": {"blocks": 2, "dense_units": 128},
 "training": {"optimizer": "adam", "lr_schedule": "cosine", "batch_size": 64, "max_epochs": 9,
              "patience": 9, "val_split": 0.1},
 "grid": {"lr": [0.0003, 0.001, 0.003], "dropout": [0.0, 0.25, 0.5], "filters": [8, 16, 32]},
 "metric": "val_accuracy", "mode": "max", "out": "$2" $3}
JSON
    return
  fi
  cat >"$1" <<JSON
{"name": "asha_bench", "family": "maskcnn",
 "data": {"kind": "simulated", "seed": $SEED, "images": 2000, "size": 32, "neurons": 30, "repeats": 4},
 "fixed": {"channels": 8, "batch_size": 128},
 "training": {"phases": 1, "max_iters_per_phase": $ITERS, "eval_every": 50, "patience": 100},
 "grid": {"lr": [0.0003, 0.001, 0.003], "readout_scale": [0.001, 0.01, 0.1],
          "smoothness": [1e-06, 0.0001, 0.01]},
 "metric": "val_ccnorm", "mode": "max", "out": "$2" $3}
JSON
}
spec "$OUT/full.json" "$OUT/full" ""
if [ "$FAMILY" = convnet ]; then RES=epochs MIN=1 MAX=9; else RES=iterations MIN=${NS_BENCH_MIN:-50} MAX=$ITERS; fi
spec "$OUT/asha.json" "$OUT/asha" ", \"scheduler\": {\"kind\": \"asha\", \"resource\": \"$RES\", \"min\": $MIN, \"max\": $MAX, \"eta\": 3}"
spec "$OUT/sha.json" "$OUT/sha" ", \"scheduler\": {\"kind\": \"asha\", \"resource\": \"$RES\", \"min\": $MIN, \"max\": $MAX, \"eta\": 3, \"synchronous\": true}"
for arm in full asha sha; do
  if [ ! -f "$OUT/$arm/state.json" ] || ! grep -q '"complete"' "$OUT/$arm/state.json"; then
    start=$(date +%s.%N)
    "${MPI[@]}" "$NS" run "$OUT/$arm.json" 2>"$OUT/$arm.log"
    echo "$(date +%s.%N) - $start" | bc >"$OUT/$arm.wall"
  fi
done
python3 - "$OUT" "$FAMILY" <<'PY'
import collections, csv, sys
out = sys.argv[1]
VAL, TEST, RES = (("val_accuracy", "test_accuracy", "epochs") if sys.argv[2] == "convnet"
                  else ("val_ccnorm", "test_ccnorm", "iterations"))
res = {}
for arm in ("full", "asha", "sha"):
    rows = list(csv.DictReader(open(f"{out}/{arm}/results.csv")))
    wall = float(open(f"{out}/{arm}.wall").read())
    trial_s = sum(float(r["wall_s"]) for r in rows)
    done = [r for r in rows if r["status"] == "ok"]
    best = max(done, key=lambda r: float(r[VAL]))
    rungs = collections.Counter(r.get("rung", "-") for r in rows)
    res[arm] = (trial_s, wall, best, rungs, len(done))
    print(f"{arm:5s}: {len(rows)} trials, {len(done)} trained to the end; trial-seconds {trial_s:.0f}, "
          f"wall {wall:.0f} s; best by {VAL}: {best['trial_id']} val {float(best[VAL]):.4f} "
          f"test {float(best[TEST]):.4f}" + (f"; ended at rungs {dict(sorted(rungs.items()))}" if arm != "full" else ""))
f = res["full"]
for arm in ("asha", "sha"):
    a = res[arm]
    print(f"{arm} / full: trial-seconds {a[0] / f[0]:.3f}, wall {a[1] / f[1]:.3f}; "
          f"{TEST} of the selected best {float(a[2][TEST]):.4f} vs {float(f[2][TEST]):.4f} "
          f"(difference {float(a[2][TEST]) - float(f[2][TEST]):+.4f})")
# Where the full run's best configuration ended under each scheduler.
best_id = f[2]["trial_id"]
for arm in ("asha", "sha"):
    r = next(r for r in csv.DictReader(open(f"{out}/{arm}/results.csv")) if r["trial_id"] == best_id)
    print(f"the full run's best ({best_id}) under {arm}: {r['status']} at rung {r['rung']} ({RES} {r[RES]}, {VAL} {float(r[VAL]):.4f})")
PY
