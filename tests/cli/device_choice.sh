#!/usr/bin/env bash
# run --device: on a machine without CUDA, a job that asked for GPUs (CUDA_VISIBLE_DEVICES set,
# as Slurm and LSF do) stops before anything is written, naming the LibTorch it was built with;
# --device cpu runs anyway; --device cuda without a GPU is an error. (With a GPU these choices
# are exercised by scripts/gpu_check.sh.)
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<JSON
{"family": "quadratic", "grid": {"x": [0.0, 1.0]}, "metric": "score", "mode": "max",
 "out": "$TMP/sweep"}
JSON
if "$NS" run --device cuda "$TMP/spec.json" 2>/dev/null; then
  echo "SKIP: this build sees a CUDA device; the no-CUDA checks need a machine without one"
  exit 0
fi
CUDA_VISIBLE_DEVICES=0 expect_exit 2 "${MPIRUN[@]}" -x CUDA_VISIBLE_DEVICES -np 3 "$NS" run "$TMP/spec.json"
grep -q "the job asked for GPUs (CUDA_VISIBLE_DEVICES=0)" "$TMP/err" || { cat "$TMP/err"; fail "no GPU-request message"; }
grep -q "is built with LibTorch [0-9]" "$TMP/err" || { cat "$TMP/err"; fail "the message does not name the build"; }
[ "$(grep -c 'the job asked for GPUs' "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "the message is not said once"; }
[ ! -e "$TMP/sweep" ] || fail "the refused run wrote $TMP/sweep"
SLURM_GPUS_ON_NODE=2 expect_exit 2 "$NS" run "$TMP/spec.json"
grep -q "SLURM_GPUS_ON_NODE=2" "$TMP/err" || { cat "$TMP/err"; fail "no Slurm GPU message"; }
expect_exit 2 "$NS" run --device cuda "$TMP/spec.json"
grep -q "\-\-device cuda: rank 0 sees no CUDA device" "$TMP/err" || { cat "$TMP/err"; fail "no --device cuda message"; }
[ ! -e "$TMP/sweep" ] || fail "a refused run wrote $TMP/sweep"
CUDA_VISIBLE_DEVICES=0 expect_exit 0 "$NS" run --device cpu "$TMP/spec.json"
python3 - "$TMP/sweep" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/results.csv")))
assert len(rows) == 2 and all(r["device"] == "cpu" for r in rows), rows
libs = json.load(open(f"{sys.argv[1]}/sweep.json"))["provenance"]["libraries"]
# Debian's CPU-only LibTorch or a CUDA one (scripts/cuda_libtorch.sh) that sees no GPU.
assert libs["torch_cuda"] is False, libs
assert ("CPU only" in libs["torch_build"]) == (libs["cuda"] is None), libs
print("ok: --device cpu ran on cpu;", libs["torch_build"])
PY
echo "PASS device_choice"
