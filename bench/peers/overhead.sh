#!/usr/bin/env bash
# Engine overhead side by side (issue 25, "anchors side by side", item 1): zero-cost trials on
# neurosweep, Ray Tune and Optuna, with 1, 2 and 4 workers, 10^3 and 10^4 trials, one run of this
# script, the tools back to back (for each worker count: every tool's 1-trial startup, then 10^3
# trials of each, then 10^4 of each).
#
#   bash bench/peers/overhead.sh [--quick]       # from the repository root
#
# - neurosweep: `mpirun -np W+1 build/app/neurosweep run SPEC --out DIR`, the built-in
#   `quadratic` family, a `random` block of N draws of x (nothing sleeps); the wall time of the
#   whole command. Also `build/bench/dispatch_bench --trials N` under the same mpirun (figure 1
#   of bench/README.md: the engine path alone, no spec, no trial directories).
# - Ray Tune (bench/peers/overhead_ray.py): a function trainable that reports once and returns,
#   Tuner with TuneConfig(num_samples=N, max_concurrent_trials=W, reuse_actors=True),
#   ray.init(num_cpus=W); the wall time of the whole python process, ray.init and Tuner.fit
#   also timed apart. With Tune's default reuse_actors=False every trial starts a new actor
#   process; that variant is measured once, at a small N (row "ray-fresh-actors").
# - Optuna (bench/peers/overhead_optuna.py): W processes, each JournalStorage(JournalFileBackend)
#   on one file, create_study(load_if_exists=True), RandomSampler, optimize(n_trials=its share);
#   the wall time from spawning the W processes to the last one's exit.
#
# Per trial: wall / N, and (wall - wall of the same command with 1 trial) / N, which takes out
# process start-up, imports, ray.init, MPI start-up. A peer whose 10^3 run projects (x 10) to more
# than MAX_S (300 s, to keep the script near 20 minutes) for 10^4 trials is not run at 10^4; the
# table says so with the projection from the measured rate.
# The binaries are copied to a temporary directory first, so that a rebuild during the run does
# not change them (the version printed is the copy's).
# Raw rows: bench/results/peers_overhead/runs.csv, summary.csv, machine.txt (overwritten).
# --quick: N = 100 and 300, for checking the script (minutes); raw rows to $TMPDIR/peers_overhead_quick.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
NS=${NS_BINARY:-build/app/neurosweep}
DB=${NS_DISPATCH_BENCH:-build/bench/dispatch_bench}
MAX_S=${MAX_S:-300}
RES=${RES:-bench/results/peers_overhead}
NS_SIZES="1000 10000"
RAY_FRESH_N=20
if [ "${1:-}" = "--quick" ]; then NS_SIZES="100 300"; RAY_FRESH_N=10; RES=${TMPDIR:-/tmp}/peers_overhead_quick; fi
WORKERS=${WORKERS:-"1 2 4"}
[ -x "$NS" ] && [ -x "$DB" ] || { echo "overhead.sh: build $NS and $DB first" >&2; exit 2; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ns_peers_overhead.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
cp "$NS" "$TMP/neurosweep" && cp "$DB" "$TMP/dispatch_bench"
NS=$TMP/neurosweep DB=$TMP/dispatch_bench
source bench/peers/env.sh
OPY=$(peer_python optuna)
RPY=$(peer_python ray)
MPI=(mpirun --allow-run-as-root --oversubscribe --mca btl self,vader
     --mca btl_vader_single_copy_mechanism none)
mkdir -p "$RES"
RUNS=$RES/runs.csv
echo "tool,w,n,wall_s,inner_s,complete,extra,load1" >"$RUNS"

{
  echo "date: $(date -u +%FT%TZ)"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "neurosweep: $("$NS" --version 2>&1 | head -1) (tree: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench/peers' ':!bench/results' || echo '+dirty'))"
  echo "compilers running at start: $(pgrep -c cc1plus || true)"
  echo "mpi: $(mpirun --version | head -1)"
  peer_versions optuna ray
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RES/machine.txt"

now() { date +%s.%N; }
load1() { cut -d' ' -f1 /proc/loadavg; }  # the 1-minute load average after each run
spec() {  # spec N FILE: N random draws of the quadratic family, nothing sleeps
  cat >"$2" <<J
{"name": "overhead", "family": "quadratic",
 "random": {"count": $1, "params": {"x": {"dist": "uniform", "low": -5.0, "high": 5.0}}},
 "seed": 0, "metric": "score", "mode": "max"}
J
}
run_ns() {  # run_ns W N
  local w=$1 n=$2 d=$TMP/ns.$1.$2 t0 t1 rows inner
  spec "$n" "$TMP/spec.$n.json"
  rm -rf "$d"
  t0=$(now)
  "${MPI[@]}" -np $((w + 1)) "$NS" run "$TMP/spec.$n.json" --out "$d" >"$TMP/log" 2>&1 ||
    { cat "$TMP/log"; exit 1; }
  t1=$(now)
  rows=$(($(wc -l <"$d/results.csv") - 1))
  inner=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(s.get('makespan_s', ''))" "$d/state.json" 2>/dev/null || true)
  echo "neurosweep,$w,$n,$(echo "$t1 - $t0" | bc),$inner,$rows,,$(load1)" >>"$RUNS"
  rm -rf "$d"
}
run_db() {  # run_db W N: dispatch_bench, the engine path alone
  local w=$1 n=$2 out us
  out=$("${MPI[@]}" -np $((w + 1)) "$DB" --trials "$n" 2>&1) || { echo "$out"; exit 1; }
  us=$(echo "$out" | grep -oE '[0-9.]+ us' | head -1 | cut -d' ' -f1)
  echo "dispatch_bench,$w,$n,,,${n},us_per_trial=$us,$(load1)" >>"$RUNS"
}
run_optuna() {  # run_optuna W N
  local w=$1 n=$2 t0 t1 j
  rm -rf "$TMP/optuna"
  t0=$(now)
  j=$("$OPY" bench/peers/overhead_optuna.py drive "$n" "$w" "$TMP/optuna") || exit 1
  t1=$(now)
  echo "optuna,$w,$n,$(echo "$t1 - $t0" | bc),$(jq -r .optimize_s <<<"$j"),$(jq -r .complete <<<"$j"),,$(load1)" >>"$RUNS"
  rm -rf "$TMP/optuna"
}
run_ray() {  # run_ray W N [fresh]
  local w=$1 n=$2 tool=ray t0 t1 j
  [ "${3:-}" = fresh ] && tool=ray-fresh-actors
  rm -rf "$TMP/ray"
  t0=$(now)
  j=$("$RPY" bench/peers/overhead_ray.py "$n" "$w" "$TMP/ray" ${3:-} 2>"$TMP/ray.err" | tail -1) ||
    { tail -30 "$TMP/ray.err"; exit 1; }
  t1=$(now)
  echo "$tool,$w,$n,$(echo "$t1 - $t0" | bc),$(jq -r .fit_s <<<"$j"),$(jq -r .complete <<<"$j"),init_s=$(jq -r .init_s <<<"$j"),$(load1)" >>"$RUNS"
  rm -rf "$TMP/ray"
}
wall_of() {  # wall_of TOOL W N: the last measured wall time
  awk -F, -v t="$1" -v w="$2" -v n="$3" '$1==t && $2==w && $3==n {x=$4} END {print x}' "$RUNS"
}

for w in $WORKERS; do
  echo "== $w worker(s): startup (1 trial, twice)"
  for rep in 1 2; do run_ns "$w" 1; run_optuna "$w" 1; run_ray "$w" 1; done
  for n in $NS_SIZES; do
    echo "== $w worker(s), $n trials  (load $(cut -d' ' -f1 /proc/loadavg))"
    run_ns "$w" "$n"
    run_db "$w" "$n"
    for tool in optuna ray; do
      small=$(echo $NS_SIZES | cut -d' ' -f1)
      if [ "$n" != "$small" ]; then
        proj=$(echo "$(wall_of $tool "$w" "$small") * $n / $small" | bc)
        if [ "$proj" -gt "$MAX_S" ]; then
          echo "   $tool: not run (projected ${proj} s from $small trials > $MAX_S s)"
          echo "$tool,$w,$n,,,,not_run_projected_s=$proj,$(load1)" >>"$RUNS"
          continue
        fi
      fi
      "run_$tool" "$w" "$n"
    done
    tail -n +2 "$RUNS" | awk -F, -v w="$w" -v n="$n" '$2==w && $3==n' | sed 's/^/   /'
  done
done
echo "== Ray Tune with its default reuse_actors=False (a new actor per trial): 2 workers"
run_ray 2 1 fresh
run_ray 2 "$RAY_FRESH_N" fresh
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RES/machine.txt"
python3 bench/peers/overhead_table.py "$RES"
