#!/usr/bin/env bash
# Issue 27 ("behaviour unchanged: bench/search.md's arms rerun on one seed give the same picks"):
# reruns the four arms of bench/search.md (random, TPE, TPE + ASHA, PBT) on one sweep seed with
# the committed specs (only "out" changed) and compares each with its committed run.
#
#   bash bench/refactor_picks.sh [OUT=/tmp/ns_refactor_picks] [SEED=0]
#   NS_BENCH_BINARY=build/app/neurosweep NS_PICKS_TASKS="v1 fashion" \
#   NS_PICKS_ARMS="tpe_asha tpe random pbt" bash bench/refactor_picks.sh
#
# The committed runs: random and tpe in bench/results/search, tpe_asha in
# bench/results/search_asha, pbt in bench/results/search_pbt (TASK/seedSEED/ARM.json and ARM/).
# Each rerun uses that spec file and the flags of the script that ran it (search_lib.sh's
# search_sweep: one rank, --threads 1, nice -n 15; --order sweep for all but pbt), one sweep at
# a time; a sweep whose state.json says complete is not run again; trials/ and pbt/ are deleted
# afterwards. Then bench/refactor_picks.py compares old and new (OUT/summary.txt, OUT/compare.csv):
# per arm the pick (best.json: trial id, val and test metric), the trial ids both runs have and
# the largest |difference| of their val and test metrics, and the first journal decision (or
# results.csv row, for the random arm) where the two runs part.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/search_lib.sh
search_args /tmp/ns_refactor_picks "${1:-}" "${2:-0}"
SEED=${SEEDS[0]}
TASKS=${NS_PICKS_TASKS:-v1 fashion}
ARMS=${NS_PICKS_ARMS:-tpe_asha tpe random pbt}

committed() {  # committed ARM: the directory holding ARM's committed runs
  case $1 in
    random | tpe) echo bench/results/search ;;
    tpe_asha) echo bench/results/search_asha ;;
    pbt) echo bench/results/search_pbt ;;
    *) echo "unknown arm $1 (random, tpe, tpe_asha, pbt)" >&2; exit 2 ;;
  esac
}

t0=$(date +%s.%N)
for task in $TASKS; do
  for arm in $ARMS; do
    src=$(committed "$arm")/$task/seed$SEED/$arm.json
    [ -f "$src" ] || { echo "no committed spec $src" >&2; exit 2; }
    d=$OUT/$task/seed$SEED
    mkdir -p "$d"
    /usr/bin/python3 - "$src" "$d/$arm.json" "$d/$arm" <<'PY'
import json, sys
src, dst, out = sys.argv[1:]
s = json.load(open(src))
s["out"] = out
with open(dst, "w") as f:
    json.dump(s, f, indent=1)
    f.write("\n")
PY
    SEARCH_FLAGS="--order sweep"
    [ "$arm" = pbt ] && SEARCH_FLAGS=""
    search_sweep "$task" "$SEED" "$arm"
  done
done
[ "$RAN" = 0 ] || echo "$(date +%s.%N) - $t0" | bc >"$OUT/run.wall"
/usr/bin/python3 bench/refactor_picks.py "$OUT" "$SEED" "$TASKS" "$ARMS" | tee "$OUT/summary.txt"
