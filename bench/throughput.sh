#!/usr/bin/env bash
# Sweep throughput: the 16-configuration maskcnn grid of bench/throughput16.json on the built-in
# simulated dataset, with 2 training ranks (mpirun -np 3: rank 0 coordinates). Prints trials per
# hour (trials / makespan, the coordinator's first assignment to its last result) and the busy
# fraction: the sum of the trials' wall times / (2 x makespan), i.e. the share of the ranks' time
# spent inside trials (training, evaluation, writing the trial's files).
#   bash bench/throughput.sh [SCHEDULE=dynamic]
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${NS_BINARY:-build/app/neurosweep}
SCHEDULE=${1:-dynamic}
OUT=$(mktemp -d /tmp/ns_tput.XXXXXX); trap 'rm -rf "$OUT"' EXIT
flags=(--oversubscribe); [ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
start=$(date +%s.%N)
mpirun "${flags[@]}" -np 3 "$NS" run bench/throughput16.json --out "$OUT/run" --schedule "$SCHEDULE" 2>"$OUT/log"
end=$(date +%s.%N)
python3 - "$OUT/run" "$start" "$end" <<'PY'
import csv, json, sys
d, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
rows = list(csv.DictReader(open(f"{d}/results.csv")))
s = json.load(open(f"{d}/state.json"))
ms = s["makespan_s"]
busy = sum(float(r["wall_s"]) for r in rows) / (2 * ms)
best = max(rows, key=lambda r: float(r["val_ccnorm"]))
print(f"throughput: {len(rows)} trials ({sum(r['status'] == 'ok' for r in rows)} ok), makespan {ms:.1f} s, "
      f"command wall {end - start:.1f} s")
print(f"  trials per hour {len(rows) / ms * 3600:.1f}; busy fraction {busy:.3f}; "
      f"trial wall s min {min(float(r['wall_s']) for r in rows):.1f} max {max(float(r['wall_s']) for r in rows):.1f}")
print(f"  best by val_ccnorm: test_ccnorm {float(best['test_ccnorm']):.3f}")
PY
