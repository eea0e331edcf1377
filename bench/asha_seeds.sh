#!/usr/bin/env bash
# bench/asha.sh over several simulated V1 populations (maskcnn), then the mean and SEM across
# them of ASHA's and synchronous SHA's share of the full grid's trial-seconds and wall time, and
# of the test CCnorm difference between the configuration each selected (by val_ccnorm, among
# trials trained to the end) and the full grid's selection (bench/asha.md).
#
#   NS_BENCH_MIN=150 NS_BENCH_MAX=1350 bash bench/asha_seeds.sh OUT SEED...
# Each seed's sweeps go to OUT/seedN; a seed whose three arms are complete is not run again.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$1
shift
for seed in "$@"; do
  NS_BENCH_SEED=$seed bash bench/asha.sh "$OUT/seed$seed" | tee "$OUT/seed$seed.txt"
done
python3 - "$OUT" "$@" <<'PY'
import csv, math, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
def arm(seed, name):
    d = f"{out}/seed{seed}"
    rows = list(csv.DictReader(open(f"{d}/{name}/results.csv")))
    done = [r for r in rows if r["status"] == "ok"]
    best = max(done, key=lambda r: float(r["val_ccnorm"]))
    return (sum(float(r["wall_s"]) for r in rows), float(open(f"{d}/{name}.wall").read()),
            float(best["test_ccnorm"]), best["trial_id"])
def mean_sem(v):
    m = statistics.mean(v)
    return m, (statistics.stdev(v) / math.sqrt(len(v)) if len(v) > 1 else float("nan"))
print(f"{len(seeds)} populations (seeds {', '.join(seeds)}): mean +- SEM")
for name in ("asha", "sha"):
    share_t, share_w, diff, same = [], [], [], 0
    for s in seeds:
        f, a = arm(s, "full"), arm(s, name)
        share_t.append(a[0] / f[0]); share_w.append(a[1] / f[1]); diff.append(a[2] - f[2])
        same += a[3] == f[3]
        print(f"  seed {s} {name}: trial-seconds {a[0]:.0f} / {f[0]:.0f} = {a[0] / f[0]:.3f}; "
              f"wall {a[1]:.0f} / {f[1]:.0f} s; test CCnorm {a[2]:.4f} vs {f[2]:.4f} ({a[2] - f[2]:+.4f})")
    (mt, st), (mw, sw), (md, sd) = mean_sem(share_t), mean_sem(share_w), mean_sem(diff)
    print(f"{name}: trial-seconds share {mt:.3f} +- {st:.3f}, wall share {mw:.3f} +- {sw:.3f}, "
          f"test CCnorm difference {md:+.4f} +- {sd:.4f}; the same configuration as the full "
          f"grid's in {same} of {len(seeds)}")
PY
