#!/usr/bin/env bash
# Crash and resume side by side (issue 25, "anchors side by side", item 3): neurosweep, Optuna
# and Ray Tune sweeps of TARGET trials (an objective that sleeps 20-50 ms) on W workers, each
# killed with SIGKILL at KILLS seeded moments and restarted the way the tool documents; the
# objective logs every evaluation's start and end, and bench/peers/crash_run.py counts trials
# lost, repeated and restarted, and whether the final result set has exactly TARGET results.
#
#   bash bench/peers/crash.sh [--quick]        # from the repository root
#
# Settings (environment): KILLS=5 TARGET=200 W=2 SEED=25
# TOOLS="neurosweep neurosweep-mpirun optuna ray" (neurosweep-mpirun: SIGKILL to mpirun's process
# group only; the others: every process of the job at once; see crash_run.py).
# --quick: KILLS=2 TARGET=40. Raw rows: bench/results/peers_crash/kills.csv, summary.csv,
# machine.txt (overwritten; --quick writes to $TMPDIR/peers_crash_quick instead).
set -euo pipefail
cd "$(dirname "$0")/../.."
KILLS=${KILLS:-5} TARGET=${TARGET:-200} W=${W:-2} SEED=${SEED:-25}
TOOLS=${TOOLS:-"neurosweep neurosweep-mpirun optuna ray"}
RES=${RES:-bench/results/peers_crash}
if [ "${1:-}" = "--quick" ]; then KILLS=2; TARGET=40; RES=${TMPDIR:-/tmp}/peers_crash_quick; fi
NS=${NS_BINARY:-build/app/neurosweep}
case " $TOOLS " in *" neurosweep"*) [ -x "$NS" ] || { echo "crash.sh: build $NS first" >&2; exit 2; } ;; esac
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ns_peers_crash.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
[ -x "$NS" ] && cp "$NS" "$TMP/neurosweep" && NS=$TMP/neurosweep  # a rebuild meanwhile cannot swap it
source bench/peers/env.sh
export OPTUNA_PY=$(peer_python optuna) RAY_PY=$(peer_python ray) NS_BINARY=$NS
mkdir -p "$RES"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "neurosweep: $("$NS" --version 2>&1 | head -1) (tree: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench/peers' ':!bench/results' || echo '+dirty'))"
  echo "mpi: $(mpirun --version | head -1)"
  peer_versions optuna ray
  echo "settings: KILLS=$KILLS TARGET=$TARGET W=$W SEED=$SEED TOOLS=$TOOLS"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RES/machine.txt"
python3 bench/peers/crash_run.py "$RES" "$TMP" "$KILLS" "$TARGET" "$W" "$SEED" $TOOLS
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RES/machine.txt"
