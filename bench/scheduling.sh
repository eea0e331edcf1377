#!/usr/bin/env bash
# Scheduling efficiency: trials with heavy-tailed durations over W workers. Makespan (the
# coordinator's first assignment to its last result, from state.json) against the lower bound
# max(total sleep / W, longest trial), for three schedules of the same trials:
#   cost    dynamic pull, dearest first by the family's relative cost (the default of `run`)
#   sweep   dynamic pull in the spec's order (`run --order sweep`)
#   static  split round-robin by rank up front (`run --schedule static`: what labs do today)
# and three kinds of duration, all of the quadratic family (sleeps use no CPU, so W may exceed
# the cores):
#   known    sleep_s drawn log-uniformly in [0.1 M, 10 M] (M = median) per trial: the cost model
#            (sleep_s) predicts each duration exactly
#   partial  the same, times a lognormal factor (log-sd 0.5) drawn inside the trial that the
#            coordinator does not see
#   unknown  every trial has sleep_s = M times a lognormal factor (log-sd 1.0): costs are all
#            equal, so the coordinator knows nothing (cost order = sweep order)
#   bash bench/scheduling.sh [TRIALS=200] [WORKERS=8] [MEDIAN_S=0.2]
#   bash bench/scheduling.sh --smoke
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${NS_BINARY:-build/app/neurosweep}
if [ "${1:-}" = "--smoke" ]; then set -- 12 2 0.01; fi
TRIALS=${1:-200}; W=${2:-8}; M=${3:-0.2}
TMP=$(mktemp -d /tmp/ns_sched.XXXXXX); trap 'rm -rf "$TMP"' EXIT
flags=(--oversubscribe); [ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
spec() {  # NAME RANDOM_PARAMS TRAINING
  cat >"$TMP/$1.json" <<J
{"family": "quadratic", "random": {"count": $TRIALS, "params": $2},
 "training": $3, "seed": 3, "metric": "score", "mode": "max"}
J
}
LO=$(python3 -c "print($M/10)"); HI=$(python3 -c "print($M*10)")
spec known   "{\"sleep_s\": {\"dist\": \"log_uniform\", \"low\": $LO, \"high\": $HI}}" '{"sleep_sigma": 0}'
spec partial "{\"sleep_s\": {\"dist\": \"log_uniform\", \"low\": $LO, \"high\": $HI}}" '{"sleep_sigma": 0.5}'
spec unknown '{"x": {"dist": "uniform", "low": -1, "high": 1}}' "{\"sleep_s\": $M, \"sleep_sigma\": 1.0}"
for kind in known partial unknown; do
  for mode in cost sweep static; do
    case $mode in
      cost) args=(--order cost) ;; sweep) args=(--order sweep) ;; static) args=(--schedule static) ;;
    esac
    mpirun "${flags[@]}" -np $((W + 1)) "$NS" run "$TMP/$kind.json" --out "$TMP/$kind-$mode" "${args[@]}" 2>/dev/null
  done
done
python3 - "$TMP" "$W" "$TRIALS" <<'PY'
import csv, json, sys
tmp, w, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(f"scheduling: {n} trials over {w} workers; bound/makespan (1.0 = the lower bound)")
print(f"  {'durations':9} {'sum s':>7} {'longest':>7} {'bound s':>7} | {'cost':>12} {'sweep':>12} {'static':>12} | static/cost")
for kind in ("known", "partial", "unknown"):
    rows = list(csv.DictReader(open(f"{tmp}/{kind}-cost/results.csv")))
    d = [float(r["slept_s"]) for r in rows]
    assert len(d) == n, f"{kind}: {len(d)} rows"
    bound = max(sum(d) / w, max(d))
    ms = {m: json.load(open(f"{tmp}/{kind}-{m}/state.json"))["makespan_s"] for m in ("cost", "sweep", "static")}
    cells = " ".join(f"{bound / ms[m]:5.3f} ({ms[m]:4.1f}s)" for m in ("cost", "sweep", "static"))
    print(f"  {kind:9} {sum(d):7.2f} {max(d):7.2f} {bound:7.2f} | {cells} | {ms['static'] / ms['cost']:.2f}x")
PY
