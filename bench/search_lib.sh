# Shared by bench/search_asha.sh and bench/search_pbt.sh (source it; bench/search.md): the
# arguments, each arm's spec from the random arm's, one sweep run with its log, wall time and
# load, and the machine's description. The caller sets RANDOM_DIR and TASKS.
#
#   search_args DEFAULT_OUT "$@"   sets OUT (first argument, else DEFAULT_OUT) and SEEDS (the
#                                  rest, else 0 1 2); reads NS_BENCH_BINARY into NS
#   search_sweep TASK SEED ARM     runs OUT/TASK/seedSEED/ARM.json (already written) on one rank
#                                  with --threads 1 and SEARCH_FLAGS, under nice -n 15, unless
#                                  its state.json says complete; then deletes its trials/ and
#                                  pbt/ (NS_SEARCH_KEEP_TRIALS=1 keeps them). Sets RAN=1 when it
#                                  ran, and writes OUT/machine.txt before the first sweep it runs
#                                  (a call that runs nothing keeps the machine that did).

search_args() {
  OUT=${2:-$1}
  shift 2 || shift $#
  SEEDS=("$@")
  [ ${#SEEDS[@]} -gt 0 ] || SEEDS=(0 1 2)
  NS=${NS_BENCH_BINARY:-build/app/neurosweep}
  RAN=0
  SEARCH_FLAGS=${SEARCH_FLAGS:-}
  mkdir -p "$OUT"
}

search_complete() { [ -f "$1/state.json" ] && grep -q '"state": "complete"' "$1/state.json"; }

search_sweep() {
  local task=$1 seed=$2 arm=$3
  local d=$OUT/$task/seed$seed
  search_complete "$d/$arm" && return 0
  if [ "$RAN" = 0 ]; then
    {
      lscpu | grep 'Model name' | sed 's/  */ /g'
      nproc
      echo "binary $NS: $(stat -c '%y' "$NS"), sha256 $(sha256sum "$NS" | cut -c1-16)"
    } >"$OUT/machine.txt"
  fi
  RAN=1
  echo "$(date -Is) $task seed $seed $arm start, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
  local start rc=0
  start=$(date +%s.%N)
  # shellcheck disable=SC2086  # SEARCH_FLAGS: words on purpose
  nice -n 15 "$NS" run "$d/$arm.json" --threads 1 $SEARCH_FLAGS >"$d/$arm.log" 2>&1 || rc=$?
  echo "$(date +%s.%N) - $start" | bc >"$d/$arm.wall"
  echo "$(date -Is) $task seed $seed $arm end (exit $rc), load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
  search_complete "$d/$arm" || { echo "$d/$arm did not complete (exit $rc); see $d/$arm.log" >&2; exit 1; }
  [ "${NS_SEARCH_KEEP_TRIALS:-0}" = 1 ] || rm -rf "$d/$arm/trials" "$d/$arm/pbt"
}

# search_spec TASK SEED FILE OUTDIR EDIT ARG: writes FILE, the random arm's spec for TASK and
# SEED (RANDOM_DIR/TASK/seedSEED/random.json: same space, seed, data and training) with "out"
# OUTDIR and EDIT applied: Python statements on the dict `s`, which may read `task`, `full` (the
# whole budget of one trial: iterations on v1, epochs on fashion), `unit` (that resource's name)
# and `arg` (ARG, a string).
search_spec() {
  local base=$RANDOM_DIR/$1/seed$2/random.json
  [ -f "$base" ] || { echo "no random-arm spec $base (run bench/search_seeds.sh first)" >&2; exit 1; }
  /usr/bin/python3 - "$base" "$1" "$3" "$4" "$5" "$6" <<'PY'
import json, sys
base, task, dst, out, edit, arg = sys.argv[1:]
s = json.load(open(base))
if task == "v1":
    full, unit = s["training"]["max_iters_per_phase"] * s["training"].get("phases", 1), "iterations"
else:
    full, unit = s["training"]["max_epochs"], "epochs"
s["out"] = out
exec(edit)
with open(dst, "w") as f:
    json.dump(s, f, indent=1)
    f.write("\n")
PY
}

# search_all ARM EDIT V1_ARG FASHION_ARG: for every task in TASKS and seed in SEEDS, writes
# OUT/TASK/seedSEED/ARM.json (search_spec with EDIT and the task's ARG) and runs it
# (search_sweep); OUT/run.wall gets the wall time when anything ran.
search_all() {
  local arm=$1 edit=$2 v1_arg=$3 fashion_arg=$4 task seed t0 arg
  t0=$(date +%s.%N)
  for task in $TASKS; do
    for seed in "${SEEDS[@]}"; do
      arg=$fashion_arg
      [ "$task" = v1 ] && arg=$v1_arg
      mkdir -p "$OUT/$task/seed$seed"
      search_spec "$task" "$seed" "$OUT/$task/seed$seed/$arm.json" "$OUT/$task/seed$seed/$arm" "$edit" "$arg"
      search_sweep "$task" "$seed" "$arm"
    done
  done
  [ "$RAN" = 0 ] || echo "$(date +%s.%N) - $t0" | bc >"$OUT/run.wall"
}
