#!/usr/bin/env bash
# Issue 28's measurements of replicates (bench/search.md, "Issue 28: replicates and folds"), on
# the simulated V1 population (maskcnn, 300 iterations, selected by val_ccnorm, reported by
# test_ccnorm), each sweep on one rank with --threads 1 (bench/search_lib.sh's search_sweep):
#
#  a  TPE + ASHA with "repeats": 3 against TPE + ASHA with 1 repeat at the same total resource.
#     Both arms are bench/results/search/v1/seedS/random.json (2000 images, the issue-17 space)
#     plus bench/search_asha.sh's TPE + ASHA settings ("startup": 10, rungs at 100 and 300
#     iterations, eta 3) and "budget": {"resource": 9000}; arm r3 adds "repeats": 3, so it sees
#     about a third of the configurations. Each arm's choice (r3: best_config.json, the best
#     mean; r1: best.json, the best single row, what a lab would take) is then retrained as a
#     grid of that one configuration with "repeats": 5 and seed 1000 + S (used by no sweep),
#     300 iterations; the choice's quality is the mean test_ccnorm of those 5 rows. The two arms
#     of a seed run side by side (one process each), the retrains likewise.
#  c  5-fold selection against a single split on a small population (800 images, data seed 0,
#     the simulator's fixed test part of 160 images): a grid of 9 configurations with
#     "folds": 5 and seed S. Ranking (i): the single split = fold 0 alone (an 80/20 draw of the
#     640 train + val images that depends on S); ranking (ii): the mean val_ccnorm over the 5
#     folds. True quality: a separate grid of the same 9 configurations without folds, seed
#     2000, on the simulator's own split (train 512 = a fold's size, val 128, test 160): mean
#     test_ccnorm over its repeats. Spearman correlation of each ranking with it, per S.
#     c: lr 0.0005/0.003/0.015 x readout_scale 0.001/0.01/0.1 (channels 8, smoothness 1e-4),
#     truth over 4 repeats; c2: 9 log-spaced lr 0.003 .. 0.03 (readout_scale 0.01), 8 repeats.
#  b  warm start: a second population (data seed 1), 30 trials each of random search, cold TPE
#     ("startup": 10) and warm TPE ("startup": 0, "warm_start": the committed TPE sweep of the
#     same seed on the first population, NS_SEARCH_RANDOM/v1/seedS/tpe); trials until TPE's
#     best-so-far reaches the random search's final best. Needs a binary with warm start.
#
#   nice -n 10 bash bench/replicates.sh [OUT=bench/results/replicates] [PART...=a c c2]
#   NS_BENCH_BINARY=build/app/neurosweep NS_REPL_SEEDS="0 1 2" NS_SEARCH_RANDOM=bench/results/search
#
# Sweeps run two at a time (one process and core each). A sweep whose state.json says complete
# is not run again; trials/ is deleted after each sweep (NS_SEARCH_KEEP_TRIALS=1 keeps it).
# OUT/machine.PART.txt records the machine and binary of the parts that ran. Then
# bench/replicates.py prints every figure of bench/search.md to OUT/summary.txt (and OUT/a.csv,
# b.csv, c.csv, c2.csv) from whatever is complete; a call with nothing left to run only
# recomputes them.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/search_lib.sh
SEARCH_FLAGS="--order sweep"
out_arg=${1:-bench/results/replicates}
shift || true
PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(a c c2)
# shellcheck disable=SC2086  # NS_REPL_SEEDS: words on purpose
search_args bench/results/replicates "$out_arg" ${NS_REPL_SEEDS:-0 1 2}
export RANDOM_DIR=${NS_SEARCH_RANDOM:-bench/results/search}
PY=/usr/bin/python3

# pair TASK1 SEED1 ARM1 TASK2 SEED2 ARM2: two sweeps side by side (one core each); fails if
# either fails.
pair() {
  local p1 p2
  if ! { search_complete "$OUT/$1/seed$2/$3" && search_complete "$OUT/$4/seed$5/$6"; }; then
    # The machine and binary per part (OUT/machine.PART.txt; search_sweep writes OUT/machine.txt
    # only in a call that has run nothing yet, and the two sweeps here run in subshells).
    [ "$RAN" = 1 ] || {
      lscpu | grep 'Model name' | sed 's/  */ /g'
      nproc
      echo "binary $NS: $(stat -c '%y' "$NS"), sha256 $(sha256sum "$NS" | cut -c1-16)"
    } >"$OUT/machine.$1.txt"
    RAN=1
  fi
  search_sweep "$1" "$2" "$3" & p1=$!
  search_sweep "$4" "$5" "$6" & p2=$!
  wait "$p1"; wait "$p2"
}

# write_json FILE PYTHON-EXPR: FILE gets the expression's value (json, sys.argv[3:] as `a`).
write_json() {
  local f=$1 e=$2
  shift 2
  "$PY" - "$f" "$e" "$@" <<'PY'
import json, sys
f, e, a = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(f, "w") as fh:
    json.dump(eval(e), fh, indent=1)
    fh.write("\n")
PY
}

# The retrain spec of a chosen configuration: the arm's spec without search, scheduler, budget
# and repeats, its "random" block replaced by a one-point grid of the chosen parameters.
retrain_spec() {  # SEED ARM PARAMS_JSON_FILE
  local d=$OUT/a/seed$1
  write_json "$d/retrain_$2.json" '(lambda s, p: {**{k: v for k, v in s.items() if k not in ("random", "search", "scheduler", "budget", "repeats")}, "name": "replicates_a_retrain", "out": a[2], "seed": 1000 + int(a[3]), "repeats": 5, "grid": {k: [p[k]] for k in s["random"]["params"]}})(json.load(open(a[0])), json.load(open(a[1]))["params"])' \
    "$d/$2.json" "$3" "$d/retrain_$2" "$1"
}

part_a() {
  local seed d
  for seed in "${SEEDS[@]}"; do
    d=$OUT/a/seed$seed
    mkdir -p "$d"
    for arm in r1 r3; do
      search_spec v1 "$seed" "$d/$arm.json" "$d/$arm" '
s["name"] = "replicates_a_" + arg
s["budget"] = {"resource": s["random"]["count"] * full}  # as the random arm: 30 x 300
s["random"]["count"] = 300
s["search"] = {"kind": "tpe", "startup": 10}
s["scheduler"] = {"kind": "asha", "resource": unit, "min": 100, "max": full, "eta": 3}
if arg == "r3":
    s["repeats"] = 3
' "$arm"
    done
    pair a "$seed" r1 a "$seed" r3
    retrain_spec "$seed" r1 "$d/r1/best.json"
    retrain_spec "$seed" r3 "$d/r3/best_config.json"
    pair a "$seed" retrain_r1 a "$seed" retrain_r3
  done
}

# part_c NAME FIXED GRID TRUTH_REPEATS (the two grids: c and c2 below)
part_c() {
  local name=$1 fixed=$2 grid=$3 truth_repeats=$4 seed d=$OUT/$1
  mkdir -p "$d/seedtruth"
  c_spec() {  # FILE OUT SEED EXTRA-JSON
    write_json "$1" '{"name": "replicates_" + a[5], "family": "maskcnn", "data": {"kind": "simulated", "seed": 0, "images": 800, "size": 24, "neurons": 30, "repeats": 4}, "fixed": {"layers": 2, "batch_size": 64, "channels": 8, **json.loads(a[4])}, "training": {"phases": 1, "max_iters_per_phase": 300, "eval_every": 50, "patience": 100}, "grid": json.loads(a[3]), "seed": int(a[1]), "metric": "val_ccnorm", "mode": "max", "out": a[0], **json.loads(a[2])}' \
      "$2" "$3" "$4" "$grid" "$fixed" "$name"
  }
  c_spec "$d/seedtruth/truth.json" "$d/seedtruth/truth" 2000 "{\"repeats\": $truth_repeats}"
  for seed in "${SEEDS[@]}"; do
    mkdir -p "$d/seed$seed"
    c_spec "$d/seed$seed/folds.json" "$d/seed$seed/folds" "$seed" '{"folds": 5}'
  done
  # Two at a time: the truth grid beside the first seed, then the others in pairs.
  local jobs=(truth truth) i
  for seed in "${SEEDS[@]}"; do jobs+=("$seed" folds); done
  for ((i = 0; i < ${#jobs[@]}; i += 4)); do
    if ((i + 2 < ${#jobs[@]})); then
      pair "$name" "${jobs[i]}" "${jobs[i + 1]}" "$name" "${jobs[i + 2]}" "${jobs[i + 3]}"
    else
      search_complete "$OUT/$name/seed${jobs[i]}/${jobs[i + 1]}" || RAN=1
      search_sweep "$name" "${jobs[i]}" "${jobs[i + 1]}"
    fi
  done
}

# b: warm start. A second simulated population (data seed 1, otherwise the issue-17 V1 task:
# bench/results/search/v1/seedS/random.json), 30 trials per arm: random search, cold TPE
# ("startup": 10, as bench/search_seeds.sh) and warm TPE ("startup": 0, "warm_start": the plain
# TPE sweep of the same sweep seed on the first population, RANDOM_DIR/v1/seedS/tpe, 30 trials
# committed by bench/search_seeds.sh). The nine sweeps run two at a time.
part_b() {
  local seed d arm jobs=() i
  for seed in "${SEEDS[@]}"; do
    d=$OUT/b/seed$seed
    mkdir -p "$d"
    for arm in random tpe warm; do
      search_spec v1 "$seed" "$d/$arm.json" "$d/$arm" '
s["name"] = "replicates_b_" + arg
s["data"]["seed"] = 1
if arg == "tpe":
    s["search"] = {"kind": "tpe", "startup": 10}
if arg == "warm":
    s["search"] = {"kind": "tpe", "startup": 0}
    s["warm_start"] = [__import__("os").environ["RANDOM_DIR"] + "/v1/seed" + str(s["seed"]) + "/tpe"]
' "$arm"
      jobs+=("$seed" "$arm")
    done
  done
  for ((i = 0; i < ${#jobs[@]}; i += 4)); do
    if ((i + 2 < ${#jobs[@]})); then
      pair b "${jobs[i]}" "${jobs[i + 1]}" b "${jobs[i + 2]}" "${jobs[i + 3]}"
    else
      search_complete "$OUT/b/seed${jobs[i]}/${jobs[i + 1]}" || RAN=1
      search_sweep b "${jobs[i]}" "${jobs[i + 1]}"
    fi
  done
}

t0=$(date +%s.%N)
for part in "${PARTS[@]}"; do
  case $part in
    a) part_a ;;
    b) part_b ;;
    # c: a wide grid (three learning rates far apart x three readout sparsities), truth over 4 seeds
    c) part_c c '{"smoothness": 1e-4}' '{"lr": [0.0005, 0.003, 0.015], "readout_scale": [0.001, 0.01, 0.1]}' 4 ;;
    # c2: a graded one (nine learning rates log-spaced 0.003 .. 0.03), truth over 8 seeds
    c2) part_c c2 '{"smoothness": 1e-4, "readout_scale": 0.01}' '{"lr": [0.003, 0.004, 0.0053, 0.0071, 0.0095, 0.0126, 0.0168, 0.0224, 0.03]}' 8 ;;
    *) echo "unknown part $part (a, b, c or c2)" >&2; exit 2 ;;
  esac
done
[ "$RAN" = 0 ] || echo "$(date +%s.%N) - $t0" | bc >"$OUT/run.wall.$(IFS=; echo "${PARTS[*]}")"
"$PY" bench/replicates.py "$OUT" "${SEEDS[@]}" | tee "$OUT/summary.txt"
