#!/usr/bin/env bash
# neurosweep against PyTorch's own CUDA LibTorch (the one GPU clusters run), on a machine with no
# GPU: the whole test suite, the C++ ABI, and the device choice. Not part of the README's test
# command (it downloads about 3 GB once); run it after changes that touch torch.
#
#   bash scripts/cuda_libtorch.sh            venv + build into build-cuda/ + checks + ctest
#   bash scripts/cuda_libtorch.sh -R maskcnn extra arguments go to ctest
#
# Steps:
#   1. torch   scripts/torch_env.sh: PyPI's torch wheel (NS_TORCH_VERSION, pinned there) and its
#              CUDA libraries downloaded once into the cache, installed into a cached venv; its
#              version, CUDA version and C++ ABI printed. torch.compiled_with_cxx11_abi() must be
#              True (Debian's fmt, HDF5, Open MPI, CLI11 all use the C++11 ABI).
#   2. build   scripts/setup.sh (Debian packages, Plotly) with BUILD_DIR=build-cuda and
#              CMAKE_PREFIX_PATH at the wheel's share/cmake: every target, linked with the wheel's
#              libtorch_cuda.so. The wheel's libtorch_cpu.so must export std::__cxx11 symbols,
#              nothing may compile with -D_GLIBCXX_USE_CXX11_ABI=0, and the app must load every
#              torch library from the venv, not Debian's.
#   3. device  `--device auto` with no GPU trains on the CPU (results.csv's device column: cpu;
#              sweep.json's torch_build names the CUDA build); `--device cuda` exits 2 before
#              writing anything, with a message that says no CUDA device is visible.
#   4. ctest   the whole suite in build-cuda (CUDA-only tests exit 77: skipped).
# A summary (torch, CUDA, ABI, test counts, seconds) is printed and written to
# build-cuda/cuda_libtorch_summary.md. Exit 0 only when every step passed.
#
# Environment: those of scripts/torch_env.sh (NS_TORCH_VERSION, NS_CACHE, NS_TORCH_WHEELS,
# NS_TORCH_VENV, NS_TORCH_OFFLINE), NS_JOBS (build jobs), NS_TEST_JOBS (ctest -j, default 2),
# BUILD_DIR (default build-cuda).
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$SECONDS
B=${BUILD_DIR:-build-cuda}
SUMMARY=()
say() { echo "cuda_libtorch [$((SECONDS - T0))s] $*" >&2; SUMMARY+=("$*"); }
die() { say "FAIL: $*"; write_summary; exit 1; }
write_summary() {
  mkdir -p "$B"
  { echo "# scripts/cuda_libtorch.sh on $(date -u +%Y-%m-%d), git $(git rev-parse --short HEAD 2>/dev/null)"
    echo
    for l in "${SUMMARY[@]}"; do echo "- $l"; done
    echo "- wall time: $((SECONDS - T0)) s"
  } >"$B/cuda_libtorch_summary.md"
  echo; cat "$B/cuda_libtorch_summary.md"
}

# ---- 1. torch ------------------------------------------------------------------------------------
source scripts/torch_env.sh
torch_env_ensure || die "no torch $NS_TORCH_VERSION environment (see the messages above)"
info=$(PYTHONWARNINGS=ignore "$NS_TORCH_PY" - 2>/dev/null <<'PY'
import torch
print(torch.utils.cmake_prefix_path)
print(int(torch.compiled_with_cxx11_abi()))
print(torch.__version__, "CUDA", torch.version.cuda,
      "cuDNN", torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None)
print(int(torch.cuda.is_available()))
PY
) || die "$NS_TORCH_PY cannot import torch"
TORCH_PREFIX=$(sed -n 1p <<<"$info")
[ "$(sed -n 2p <<<"$info")" = 1 ] || die "torch $(sed -n 3p <<<"$info") uses the pre-C++11 ABI: it cannot link with Debian's libraries"
[ "$(sed -n 4p <<<"$info")" = 0 ] || say "note: this machine has a usable GPU; the no-GPU checks below will fail by design"
say "torch $(sed -n 3p <<<"$info"), C++11 ABI: yes, from $NS_TORCH_VENV (wheels: $NS_TORCH_WHEELS)"
grep -q "CUDA None" <<<"$info" && die "torch $NS_TORCH_VERSION in $NS_TORCH_VENV is a CPU-only build"

# ---- 2. build ------------------------------------------------------------------------------------
# A CUDA build's TorchConfig.cmake looks for the CUDA toolkit (nvcc); its usual home may be off PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
say "nvcc: $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo 'not found')"
s0=$SECONDS
mkdir -p "$B"
BUILD_DIR=$B CMAKE_PREFIX_PATH=$TORCH_PREFIX bash scripts/setup.sh >"$B/build.log" 2>&1 ||
  { tail -n 40 "$B/build.log" >&2; die "the build failed (log: $B/build.log)"; }
say "build: every target in $B, $((SECONDS - s0)) s"
# The C++ ABI: the wheel's libraries export std::__cxx11 symbols (torch 2.x no longer puts
# -D_GLIBCXX_USE_CXX11_ABI in TORCH_CXX_FLAGS: the C++11 ABI is g++'s default), and nothing in
# the build asks for the old one.
TORCH_LIB=$("$NS_TORCH_PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
n_cxx11=$(nm -DC --defined-only "$TORCH_LIB/libtorch_cpu.so" | grep -c 'std::__cxx11::')
[ "$n_cxx11" -gt 0 ] || die "$TORCH_LIB/libtorch_cpu.so exports no std::__cxx11 symbols: not the C++11 ABI"
! grep -q "_GLIBCXX_USE_CXX11_ABI=0" "$B/CMakeCache.txt" "$B/compile_commands.json" ||
  die "$B compiles with -D_GLIBCXX_USE_CXX11_ABI=0"
NS=$B/app/neurosweep
libs=$(ldd "$NS")
cuda_so=$(awk '/libtorch_cuda\.so/ {print $3}' <<<"$libs")
n_torch=0
# torch's own libraries and the CUDA libraries it needs (runtime, NCCL, cuDNN, cuBLAS), all
# from the wheel: a CUDA toolkit's older copies of the same sonames must not be taken.
for so in $(awk '/lib(torch|c10)[a-z_]*\.so|lib(cudart|nccl|cudnn|cublas)\.so/ {print $3}' <<<"$libs"); do
  case "$so" in "$NS_TORCH_VENV"/*) n_torch=$((n_torch + 1)) ;; *) die "$NS loads $so, not the venv's" ;; esac
done
[ "$n_torch" -gt 0 ] || die "$NS loads no torch library: $(head -c 300 <<<"$libs")"
[ -n "$cuda_so" ] || die "$NS does not load libtorch_cuda.so: not a CUDA build"
say "ABI: libtorch_cpu.so exports $n_cxx11 std::__cxx11 symbols, no -D_GLIBCXX_USE_CXX11_ABI=0 in the build; $NS links Debian's fmt, HDF5, Open MPI with the wheel's $(basename "$cuda_so"); $n_torch torch and CUDA libraries, all from the venv"

# ---- 3. the device choice without a GPU --------------------------------------------------------
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cat >"$W/spec.json" <<JSON
{"family": "maskcnn",
 "data": {"kind": "simulated", "seed": 0, "images": 300, "size": 16, "neurons": 8, "repeats": 2},
 "fixed": {"channels": 4, "layers": 2, "k1": 5, "k_later": 3},
 "training": {"phases": 1, "max_iters_per_phase": 20, "eval_every": 10, "batch_size": 32},
 "grid": {"lr": [0.01]}, "metric": "val_ccnorm", "mode": "max", "out": "$W/auto"}
JSON
if "$NS" run --device auto "$W/spec.json" >"$W/auto.log" 2>&1; then
  dev=$(python3 -c "import csv,sys; print(','.join(r['device'] for r in csv.DictReader(open(sys.argv[1]))))" "$W/auto/results.csv")
  build=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['provenance']['libraries']['torch_build'])" "$W/auto/sweep.json")
  [ "$dev" = cpu ] || die "--device auto with no GPU trained on '$dev', not cpu"
  grep -q "with CUDA" <<<"$build" || die "sweep.json's torch_build '$build' does not name the CUDA build"
  say "--device auto, no GPU: trained on the CPU (results.csv device: $dev; sweep.json torch_build: $build)"
else
  cat "$W/auto.log" >&2; die "--device auto failed"
fi
sed -i "s#\"out\": \"$W/auto\"#\"out\": \"$W/cuda\"#" "$W/spec.json"
"$NS" run --device cuda "$W/spec.json" >"$W/cuda.log" 2>&1
rc=$?
[ "$rc" = 2 ] || { cat "$W/cuda.log" >&2; die "--device cuda with no GPU exited $rc, not 2"; }
[ ! -e "$W/cuda" ] || die "--device cuda with no GPU wrote $W/cuda"
grep -q "sees no CUDA device" "$W/cuda.log" || { cat "$W/cuda.log" >&2; die "--device cuda: unclear message"; }
say "--device cuda, no GPU: exit 2, nothing written: \"$(grep -m1 'sees no CUDA device' "$W/cuda.log" | cut -c1-160)\""

# ---- 4. the test suite ---------------------------------------------------------------------------
s0=$SECONDS
ctest --test-dir "$B" --output-on-failure -j "${NS_TEST_JOBS:-2}" "$@" 2>&1 | tee "$B/ctest.log"
ctest_rc=${PIPESTATUS[0]}
counts=$(grep -E "tests passed, [0-9]+ tests failed out of" "$B/ctest.log" | tail -n 1)
skipped=$(grep -cE "\*\*\*Skipped|Not Run" "$B/ctest.log")
say "ctest: $counts; $skipped skipped ($(grep -E '\*\*\*Skipped' "$B/ctest.log" | awk '{print $4}' | paste -sd' ')); $((SECONDS - s0)) s"
[ "$ctest_rc" = 0 ] || die "ctest exited $ctest_rc"
say "PASS"
write_summary
