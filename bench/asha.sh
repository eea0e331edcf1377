#!/usr/bin/env bash
# ASHA against the full grid, side by side in one run (bench/asha.md): the simulated V1 population
# (maskcnn), 27 configurations (lr x readout_scale x smoothness, 3 values each), one phase of 450
# iterations each, evaluations every 50. (a) every configuration to the end; (b) ASHA, promotion
# variant, eta 3, rungs at 50, 150, 450 iterations. Both on `mpirun -np 3` (2 workers). Prints,
# for each: total trial-seconds (the sum of results.csv's wall_s), wall time, trials per rung,
# and the best test CCnorm found among trials that trained to the end (ASHA: the top rung).
#
#   bash bench/asha.sh [OUT=bench/results/asha]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/asha}
NS=build/app/neurosweep
MPI=(mpirun --allow-run-as-root --oversubscribe -np 3)
mkdir -p "$OUT"
spec() {  # spec FILE OUTDIR SCHEDULER-JSON
  cat >"$1" <<JSON
{"name": "asha_bench", "family": "maskcnn",
 "data": {"kind": "simulated", "seed": 0, "images": 2000, "size": 32, "neurons": 30, "repeats": 4},
 "fixed": {"channels": 8, "batch_size": 128},
 "training": {"phases": 1, "max_iters_per_phase": 450, "eval_every": 50, "patience": 100},
 "grid": {"lr": [0.0003, 0.001, 0.003], "readout_scale": [0.001, 0.01, 0.1],
          "smoothness": [1e-06, 0.0001, 0.01]},
 "metric": "val_ccnorm", "mode": "max", "out": "$2" $3}
JSON
}
spec "$OUT/full.json" "$OUT/full" ""
spec "$OUT/asha.json" "$OUT/asha" ', "scheduler": {"kind": "asha", "resource": "iterations", "min": 50, "max": 450, "eta": 3}'
spec "$OUT/sha.json" "$OUT/sha" ', "scheduler": {"kind": "asha", "resource": "iterations", "min": 50, "max": 450, "eta": 3, "synchronous": true}'
for arm in full asha sha; do
  if [ ! -f "$OUT/$arm/state.json" ] || ! grep -q '"complete"' "$OUT/$arm/state.json"; then
    start=$(date +%s.%N)
    "${MPI[@]}" "$NS" run "$OUT/$arm.json" 2>"$OUT/$arm.log"
    echo "$(date +%s.%N) - $start" | bc >"$OUT/$arm.wall"
  fi
done
python3 - "$OUT" <<'PY'
import collections, csv, sys
out = sys.argv[1]
res = {}
for arm in ("full", "asha", "sha"):
    rows = list(csv.DictReader(open(f"{out}/{arm}/results.csv")))
    wall = float(open(f"{out}/{arm}.wall").read())
    trial_s = sum(float(r["wall_s"]) for r in rows)
    done = [r for r in rows if r["status"] == "ok"]
    best = max(done, key=lambda r: float(r["val_ccnorm"]))
    rungs = collections.Counter(r.get("rung", "-") for r in rows)
    res[arm] = (trial_s, wall, best, rungs, len(done))
    print(f"{arm:5s}: {len(rows)} trials, {len(done)} trained to the end; trial-seconds {trial_s:.0f}, "
          f"wall {wall:.0f} s; best by val_ccnorm: {best['trial_id']} val {float(best['val_ccnorm']):.4f} "
          f"test {float(best['test_ccnorm']):.4f}" + (f"; ended at rungs {dict(sorted(rungs.items()))}" if arm != "full" else ""))
f = res["full"]
for arm in ("asha", "sha"):
    a = res[arm]
    print(f"{arm} / full: trial-seconds {a[0] / f[0]:.3f}, wall {a[1] / f[1]:.3f}; "
          f"test CCnorm of the selected best {float(a[2]['test_ccnorm']):.4f} vs {float(f[2]['test_ccnorm']):.4f} "
          f"(difference {float(a[2]['test_ccnorm']) - float(f[2]['test_ccnorm']):+.4f})")
# Where the full run's best configuration ended under each scheduler.
best_id = f[2]["trial_id"]
for arm in ("asha", "sha"):
    r = next(r for r in csv.DictReader(open(f"{out}/{arm}/results.csv")) if r["trial_id"] == best_id)
    print(f"the full run's best ({best_id}) under {arm}: {r['status']} at rung {r['rung']} (iteration {r['iterations']}, val_ccnorm {float(r['val_ccnorm']):.4f})")
PY
