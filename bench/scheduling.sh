#!/usr/bin/env bash
# Scheduling efficiency: trials with heavy-tailed (lognormal) durations over W workers, pulled
# dynamically vs split statically by rank. Reports makespan / lower bound, where the bound is
# max(total sleep / W, longest trial), and dynamic vs static. Sleeps use no CPU, so W may exceed
# the cores. Makespan: the coordinator's first assignment to its last result (state.json).
#   bash bench/scheduling.sh [TRIALS=200] [WORKERS=8] [SLEEP_S=0.2] [SIGMA=1.0]
#   bash bench/scheduling.sh --smoke
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${NS_BINARY:-build/app/neurosweep}
if [ "${1:-}" = "--smoke" ]; then set -- 20 2 0.02 1.0; fi
TRIALS=${1:-200}; W=${2:-8}; SLEEP=${3:-0.2}; SIGMA=${4:-1.0}
TMP=$(mktemp -d /tmp/ns_sched.XXXXXX); trap 'rm -rf "$TMP"' EXIT
cat >"$TMP/spec.json" <<J
{"family": "quadratic", "random": {"count": $TRIALS, "params": {"x": {"dist": "uniform", "low": -1, "high": 1}}},
 "training": {"sleep_s": $SLEEP, "sleep_sigma": $SIGMA}, "seed": 3, "metric": "score", "mode": "max"}
J
flags=(--oversubscribe); [ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
for mode in dynamic static; do
  mpirun "${flags[@]}" -np $((W + 1)) "$NS" run "$TMP/spec.json" --out "$TMP/$mode" --schedule $mode 2>/dev/null
done
python3 - "$TMP" "$W" <<'PY'
import csv, json, sys
tmp, w = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(f"{tmp}/dynamic/results.csv")))
d = [float(r["slept_s"]) for r in rows]
bound = max(sum(d) / w, max(d))
dyn = json.load(open(f"{tmp}/dynamic/state.json"))["makespan_s"]
sta = json.load(open(f"{tmp}/static/state.json"))["makespan_s"]
print(f"scheduling: {len(d)} trials over {w} workers, sleeps sum {sum(d):.2f} s, longest {max(d):.2f} s")
print(f"  lower bound {bound:.2f} s; dynamic makespan {dyn:.2f} s (bound/makespan {bound/dyn:.3f}); "
      f"static {sta:.2f} s (bound/makespan {bound/sta:.3f}); static/dynamic {sta/dyn:.2f}x")
PY
