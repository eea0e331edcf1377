# Shared by bench/search_asha.sh and bench/search_pbt.sh (source it; bench/search.md): the
# arguments, one sweep run with its log, wall time and load, and the machine's description.
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

# search_all ARM: for every task in TASKS and seed in SEEDS, writes OUT/TASK/seedSEED/ARM.json
# with the caller's `spec TASK SEED FILE OUTDIR` and runs it (search_sweep); OUT/run.wall gets
# the wall time when anything ran.
search_all() {
  local arm=$1 task seed t0
  t0=$(date +%s.%N)
  for task in $TASKS; do
    for seed in "${SEEDS[@]}"; do
      mkdir -p "$OUT/$task/seed$seed"
      spec "$task" "$seed" "$OUT/$task/seed$seed/$arm.json" "$OUT/$task/seed$seed/$arm"
      search_sweep "$task" "$seed" "$arm"
    done
  done
  [ "$RAN" = 0 ] || echo "$(date +%s.%N) - $t0" | bc >"$OUT/run.wall"
}
