#!/usr/bin/env bash
# Quality parity of the maskcnn speed deviations, measured at convergence (bench/neural.md).
# The Lee-lab protocol (3 phases, lr 1e-3 / 3 / 9, eval every 50, patience 10, at most 5000
# iterations per phase) at the grid point channels 16 / smoothness 5e-6 / readout scale 0.001
# on the default simulated population (seed 0), for SEEDS trial seeds and each variant:
#   defaults      the project's defaults
#   affine_bn     input_bn_affine: true (the published, trainable input BatchNorm)
#   aten_kernels  ATen's BatchNorm2d / softplus / avg_pool2d instead of the fused CPU functions
# Then prints mean and SEM over seeds of test Pearson, CCnorm, CCnorm^2, FEV and iterations.
#
#   bash bench/neural_convergence.sh [SEEDS=3] [JOBS=2] [OUT=bench/results/neural_convergence]
#   NS_BENCH_SUMMARY=1 bash bench/neural_convergence.sh   # only the table of the finished runs
# OUT keeps each run's result.json and curve.csv in git (bench/results/.gitignore), so a later
# session resumes where this one stopped.
# Runs that finished (result.json present) are not run again, so a cut run resumes; a run that
# another invocation is still training (its pid alive) is skipped. NS_BENCH_JOBS (lines of
# "variant seed") replaces the default order (every variant of seed 0, then seed 1, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-3}
JOBS=${2:-2}
OUT=${3:-bench/results/neural_convergence}
BIN=build/models/neural/ns_neural_trial
[ -x "$BIN" ] || cmake --build build --target ns_neural_trial
mkdir -p "$OUT"
PARAMS='{"channels":16,"smoothness":5e-6,"readout_scale":0.001'
jobs=()
if [ -n "${NS_BENCH_JOBS:-}" ]; then
  mapfile -t jobs <<<"$NS_BENCH_JOBS"
else
  for seed in $(seq 0 $((SEEDS - 1))); do
    for v in defaults affine_bn aten_kernels; do jobs+=("$v $seed"); done
  done
fi
run_one() {
  local v=$1 seed=$2 dir="$OUT/$1_s$2" p="$PARAMS}" env=()
  [ -f "$dir/result.json" ] && return 0
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then return 0; fi
  case $v in
    affine_bn) p="$PARAMS,\"input_bn_affine\":true}" ;;
    aten_kernels) env=(NS_MASKCNN_ATEN_KERNELS=1) ;;
  esac
  mkdir -p "$dir"
  echo $$ >"$dir/pid"
  if env "${env[@]}" "$BIN" --threads 1 --seed "$seed" --params "$p" --out "$dir/trial" \
    > "$dir/result.tmp" 2> "$dir/stderr.log"; then
    mv "$dir/result.tmp" "$dir/result.json"
    echo "done: $v seed $seed"
  else
    echo "failed: $v seed $seed (see $dir/stderr.log)"
  fi
}
export -f run_one
export OUT PARAMS BIN
if [ -z "${NS_BENCH_SUMMARY:-}" ]; then
  printf '%s\n' "${jobs[@]}" | xargs -P "$JOBS" -L 1 bash -c 'run_one $0 $1'
fi
python3 - "$OUT" <<'PY'
import json, math, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = {}
for f in sorted(out.glob("*_s*/result.json")):  # finished runs only
    v = f.parent.name.rsplit("_s", 1)[0]
    m = json.loads(f.read_text())["metrics"]
    rows.setdefault(v, []).append(m)
keys = ["test_pearson", "test_ccnorm", "test_ccnorm2", "test_fev", "iterations"]
print("| variant | seeds | " + " | ".join(keys) + " |")
print("|---|---|" + "---|" * len(keys))
for v in ["defaults", "affine_bn", "aten_kernels"]:
    if v not in rows:
        continue
    cells = []
    for k in keys:
        x = [r[k] for r in rows[v]]
        n = len(x)
        mean = sum(x) / n
        sem = math.sqrt(sum((a - mean) ** 2 for a in x) / (n - 1) / n) if n > 1 else float("nan")
        cells.append(f"{mean:.0f} +- {sem:.0f}" if k == "iterations" else f"{mean:.4f} +- {sem:.4f}")
    print(f"| {v} | {len(rows[v])} | " + " | ".join(cells) + " |")
PY
