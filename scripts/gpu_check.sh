#!/usr/bin/env bash
# The GPU check of issue 14, in one go (bench/gpu.md): on a machine with an NVIDIA GPU, a CUDA
# PyTorch for python3 (its bundled LibTorch is what the build links) and no network, it builds
# neurosweep into build-gpu/ and runs, each step timed and bounded:
#   gpu-tests    ctest -L gpu (tests labelled gpu; they exit 77 = skipped without CUDA)
#   cuda-vs-cpu  a 2-trial maskcnn sweep on the simulated data with --device cuda and with
#                --device cpu (TF32 off, the default): val/test metrics agree within 1e-3
#   train-step   build-gpu/bench/train_step_bench --device cuda (when it has that option)
#   pack K=1/4/16  16 maskcnn trials of one shape with the spec's "pack": K: trials per GPU-hour
#   drain-resume a sweep drained by SIGUSR1 to mpirun once a trial wrote its first curve row
#                (exit 3, resume.pt), then rerun on the GPU (exit 0)
#   cpu-load     the drained copy resumed with --device cpu and CUDA hidden: the GPU's
#                resume.pt loads on CPU; model.pt from the GPU carries no CUDA device tags
# and prints one summary table (step, status, seconds, figure), also written to
# BUILD/gpu_check_summary.md (and to $OUT when the device tool runs it). Exit 0 only when every
# step passed.
#
#   bash scripts/gpu_check.sh                 on the GPU machine, from the repository root
#   bash scripts/gpu_check.sh --cpu-dry-run   here: Debian's CPU LibTorch, --device cpu
#                                             everywhere, tiny sizes (tests the plumbing)
#
# Environment:
#   NS_BUILD_DIR   build folder (default build-gpu; build-gpu-dry for --cpu-dry-run). One that
#                  already holds app/neurosweep is used as it is (no configure, no build) unless
#                  NS_REBUILD=1.
#   NS_GPU_DEPS    auto (default: the system's build dependencies if CMake finds them all, else
#                  the .deb files), system, debs (unpack the .deb files even if the system has them)
#   NS_GPU_DEBS    folder of .deb files from scripts/gpu_deps.sh (default .gpu-debs)
#   NS_JOBS        build jobs (default 16; 2 for --cpu-dry-run)
#   NS_STEPS_BUDGET_S  seconds for all run steps together (default 470: under 8 minutes)
#   NS_TOTAL_BUDGET_S  seconds for everything, build included (default 570, for one device call
#                  of 600 s); a step gets what is left of both, capped per step
#   PYTHON         the Python that holds torch (default: scripts/torch_env.sh's venv when it is
#                  there or its wheels are in NS_TORCH_WHEELS, else python3)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
T0=$SECONDS

DRY=0
for a in "$@"; do
  case "$a" in
    --cpu-dry-run) DRY=1 ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done

# The Python that holds torch: $PYTHON when set; else the cached venv of scripts/cuda_libtorch.sh
# (scripts/torch_env.sh: the pinned PyPI torch), made with no network from its wheel files when
# they were copied to NS_TORCH_WHEELS; else python3 (the machine's own CUDA PyTorch).
PY=${PYTHON:-}
if [ -z "$PY" ] && [ "$DRY" -eq 0 ]; then
  source scripts/torch_env.sh
  if torch_env_ready || { ls "$NS_TORCH_WHEELS"/torch-*.whl >/dev/null 2>&1 && NS_TORCH_OFFLINE=1 torch_env_ensure; }; then
    PY=$NS_TORCH_PY
  fi
fi
PY=${PY:-python3}
B=${NS_BUILD_DIR:-$([ "$DRY" -eq 1 ] && echo build-gpu-dry || echo build-gpu)}
mkdir -p "$B"
B=$(cd "$B" && pwd)
W=$B/gpu_check           # specs, sweep outputs, logs of this run
rm -rf "$W"
mkdir -p "$W/logs"
JOBS=${NS_JOBS:-$([ "$DRY" -eq 1 ] && echo 2 || echo 16)}
STEPS_BUDGET=${NS_STEPS_BUDGET_S:-470}
TOTAL_BUDGET=${NS_TOTAL_BUDGET_S:-570}
DEV=$([ "$DRY" -eq 1 ] && echo cpu || echo cuda)   # the "GPU" side of every comparison
MPIRUN=(mpirun --oversubscribe --mca btl self,vader --mca btl_vader_single_copy_mechanism none)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)

log() { echo "gpu_check [$((SECONDS - T0))s] $*" >&2; }
now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }  # seconds since $1

# ---- the summary ------------------------------------------------------------------------------
ROWS=()      # "step|status|seconds|figure"
FAILED=0
STEPS_T0=""  # set when the run steps start
row() {      # row STEP STATUS SECONDS FIGURE
  ROWS+=("$1|$2|$3|$4")
  [ "$2" = PASS ] || FAILED=1
  log "$1: $2 ($3 s) $4"
}
# Seconds a step may take: its cap, bounded by what is left of the steps' and the total budget.
allow() {
  local cap=$1 left_total=$((TOTAL_BUDGET - (SECONDS - T0))) left_steps=$STEPS_BUDGET
  [ -n "$STEPS_T0" ] && left_steps=$((STEPS_BUDGET - (SECONDS - STEPS_T0)))
  local t=$cap
  [ "$left_total" -lt "$t" ] && t=$left_total
  [ "$left_steps" -lt "$t" ] && t=$left_steps
  echo "$t"
}
# run_step SECONDS LOG CMD...: runs CMD under timeout, output to LOG; returns its status (124:
# timed out). Sets STEP_S to the seconds it took.
STEP_S=0
run_step() {
  local t=$1 logf=$2; shift 2
  local s0
  s0=$(now)
  if [ "$t" -lt 5 ]; then STEP_S=0; echo "no time left in the budget" >"$logf"; return 125; fi
  timeout --kill-after=10 "$t" "$@" >"$logf" 2>&1 </dev/null
  local rc=$?
  STEP_S=$(since "$s0")
  return $rc
}
why() {  # the last meaningful line of a log, for the figure column
  grep -v '^\s*$' "$1" 2>/dev/null | grep -iE 'error|fail|not |cannot|unknown|refus' | tail -n 1 |
    cut -c1-160 | tr '|' '/' || true
}

ENV_LINES=()
finish() {
  local md=$B/gpu_check_summary.md
  {
    echo "# scripts/gpu_check.sh$([ "$DRY" -eq 1 ] && echo ' --cpu-dry-run')"
    echo
    for e in "${ENV_LINES[@]}"; do echo "- $e"; done
    echo "- wall time: $((SECONDS - T0)) s (steps budget ${STEPS_BUDGET} s, total ${TOTAL_BUDGET} s)"
    echo
    echo "| step | status | seconds | figure |"
    echo "|---|---|---|---|"
    for r in "${ROWS[@]}"; do
      IFS='|' read -r s st sec fig <<<"$r"
      echo "| $s | $st | $sec | $fig |"
    done
    echo
    if [ "$FAILED" -eq 0 ]; then echo "All steps passed."; else echo "Not all steps passed (logs: $W/logs)."; fi
  } >"$md"
  echo
  cat "$md"
  if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
    cp "$md" "$OUT/" 2>/dev/null
    tar -czf "$OUT/gpu_check_logs.tar.gz" -C "$W" logs 2>/dev/null
  fi
  exit "$FAILED"
}

# ---- 1. torch ---------------------------------------------------------------------------------
TORCH_PREFIX=""
if [ "$DRY" -eq 1 ]; then
  ENV_LINES+=("mode: --cpu-dry-run (the system's LibTorch, --device cpu everywhere, tiny sizes)")
  ABI=1  # Debian builds LibTorch with the C++11 ABI, like everything else on the system
else
  # stderr apart: torch's warnings (e.g. "Failed to initialize NumPy" in a venv without numpy)
  # must not shift the lines read below.
  info=$(PYTHONWARNINGS=ignore "$PY" - 2>"$W/logs/torch_import.log" <<'PY'
import torch
print(torch.utils.cmake_prefix_path)
print(int(torch.compiled_with_cxx11_abi()))
print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None)
ok = torch.cuda.is_available()
print(int(ok), torch.cuda.get_device_name(0) if ok else "no CUDA device")
PY
  ) || { row torch FAIL 0 "$PY cannot import torch: $(tail -n 1 "$W/logs/torch_import.log")"; finish; }
  TORCH_PREFIX=$(sed -n 1p <<<"$info")
  ABI=$(sed -n 2p <<<"$info")
  ENV_LINES+=("torch: $(sed -n 3p <<<"$info") (version, CUDA, cuDNN); C++11 ABI: $ABI; prefix $TORCH_PREFIX")
  ENV_LINES+=("GPU: $(sed -n 4p <<<"$info" | cut -d' ' -f2-); driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1)")
  if [ "$ABI" != 1 ]; then
    # Everything else here (fmt, Open MPI, HDF5, our own libraries) uses the C++11 ABI; a torch
    # built with _GLIBCXX_USE_CXX11_ABI=0 (pip wheels before 2.7) cannot link with it.
    row torch FAIL 0 "this torch uses the pre-C++11 ABI; use torch >= 2.7 or an NGC build (bench/gpu.md)"
    finish
  fi
  if [ "$(sed -n 4p <<<"$info" | cut -d' ' -f1)" != 1 ]; then
    row torch FAIL 0 "torch.cuda.is_available() is False: no usable GPU"
    finish
  fi
  # A CUDA build's TorchConfig.cmake looks for nvcc; the toolkit's usual home may be off PATH.
  if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH=/usr/local/cuda/bin:$PATH
  fi
  ENV_LINES+=("nvcc: $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo 'not found (configure falls back to the TorchConfig shim)')")
fi
ENV_LINES+=("host: ${HOSTNAME:-$(uname -n)}, $(nproc) cores, $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown system}"); git $(git rev-parse --short HEAD 2>/dev/null || echo unknown)")

# ---- 2. build dependencies: the system's, or the .deb files unpacked into a prefix ---------------
DEPS_MODE=${NS_GPU_DEPS:-auto}
DEBS=${NS_GPU_DEBS:-$ROOT/.gpu-debs}
CMAKE_EXTRA=()
PREFIXES=()
[ -n "$TORCH_PREFIX" ] && PREFIXES+=("$TORCH_PREFIX")

# A CMake project with the top CMakeLists.txt's find_package calls, Torch aside.
probe_deps() {
  local d=$B/deps-probe
  rm -rf "$d"
  mkdir -p "$d/src"
  cat >"$d/src/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(ns_deps_probe LANGUAGES C CXX)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(nlohmann_json 3 REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Catch2 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C)
list(GET HDF5_C_LIBRARIES 0 _hdf5)
message(STATUS "probe: MPI ${MPI_CXX_VERSION} (${MPIEXEC_EXECUTABLE}), HDF5 ${HDF5_VERSION} (${_hdf5}), fmt ${fmt_VERSION}, CLI11 ${CLI11_VERSION}, json ${nlohmann_json_VERSION}, Catch2 ${Catch2_VERSION}")
CM
  local pp
  pp=$(IFS=';'; echo "${PREFIXES[*]:-}")
  cmake -S "$d/src" -B "$d/build" ${pp:+-DCMAKE_PREFIX_PATH="$pp"} "${CMAKE_EXTRA[@]}" >"$d/log" 2>&1
}

unpack_debs() {
  local P=$B/deps
  [ -d "$DEBS" ] && ls "$DEBS"/*.deb >/dev/null 2>&1 || return 1
  rm -rf "$P"
  mkdir -p "$P"
  local known skipped=() unpacked=0
  known=$(ldconfig -p 2>/dev/null | awk '{print $1}' | sort -u)
  extract() {  # extract DEB DIR
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$1" "$2"; return; fi
    local m
    m=$(ar t "$1" | grep '^data\.tar') || return 1
    case "$m" in
      *.xz) ar p "$1" "$m" | tar -xJ -C "$2" ;;
      *.zst) ar p "$1" "$m" | zstd -dc | tar -x -C "$2" ;;
      *.gz) ar p "$1" "$m" | tar -xz -C "$2" ;;
      *) ar p "$1" "$m" | tar -x -C "$2" ;;
    esac
  }
  for f in "$DEBS"/*.deb; do
    local pkg group
    pkg=$(basename "$f" | cut -d_ -f1)
    group=$(awk -v p="$pkg" '$2 == p {print $1}' "$DEBS/MANIFEST" 2>/dev/null)
    if [ "$group" = optional ]; then
      # Only when the system lacks one of the sonames it ships (most have libcurl, libssl...).
      local t=$B/deps-one
      rm -rf "$t"; mkdir -p "$t"
      extract "$f" "$t" || return 1
      local missing=0 lib so
      while read -r lib; do
        so=$(readelf -d "$lib" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
        grep -qxF "${so:-$(basename "$lib")}" <<<"$known" || missing=1
      done < <(find "$t" -name '*.so.*' -type f 2>/dev/null)
      if [ "$missing" -eq 0 ]; then skipped+=("$pkg"); rm -rf "$t"; continue; fi
      cp -a "$t"/. "$P"/
      rm -rf "$t"
    else
      extract "$f" "$P" || return 1
    fi
    unpacked=$((unpacked + 1))
  done
  # update-alternatives makes these links at install time; dpkg -x does not run it.
  local tool
  for tool in mpirun mpiexec mpicxx mpic++ mpicc orterun; do
    [ -e "$P/usr/bin/$tool.openmpi" ] && ln -sf "$tool.openmpi" "$P/usr/bin/$tool"
  done
  # Links with absolute targets point into the system; make them point into the prefix.
  local l
  while read -r l; do ln -sfn "$P$(readlink "$l")" "$l"; done < <(find "$P" -type l -lname '/*')
  export PATH=$P/usr/bin:$PATH
  export LD_LIBRARY_PATH=$P/usr/lib/x86_64-linux-gnu:$P/lib/x86_64-linux-gnu:$P/usr/lib/x86_64-linux-gnu/openmpi/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export OPAL_PREFIX=$P/usr                                   # Open MPI, relocated
  export PMIX_INSTALL_PREFIX=$P/usr                           # its PMIx components
  export OMPI_MCA_btl_base_warn_component_unused=0
  PREFIXES+=("$P/usr")
  # Debian's h5cc names Debian's paths; find the library and headers by search instead.
  CMAKE_EXTRA+=(-DHDF5_C_COMPILER_EXECUTABLE=/bin/false -DMPIEXEC_EXECUTABLE="$P/usr/bin/mpiexec.openmpi")
  DEPS_NOTE="$unpacked .deb files from $DEBS ($(head -n 1 "$DEBS/MANIFEST" 2>/dev/null | sed 's/^# scripts\/gpu_deps.sh on //' | cut -c1-90)) unpacked into $P, ${#skipped[@]} left out (the system has their libraries)"
  [ "${#skipped[@]}" -gt 0 ] && ENV_LINES+=("optional .deb files left out, the system has their libraries: ${skipped[*]}")
  return 0
}

DEPS_NOTE="the system's"
s0=$SECONDS
for tool in cmake g++ timeout; do
  command -v "$tool" >/dev/null || { row deps FAIL 0 "$tool is not installed (the .deb files do not bring compilers or CMake)"; finish; }
done
deps_ok=0
if [ "$DEPS_MODE" != debs ] && probe_deps; then
  deps_ok=1
elif [ "$DEPS_MODE" != system ]; then
  if unpack_debs; then
    probe_deps && deps_ok=1
  else
    DEPS_NOTE="the system lacks some and there are no .deb files in $DEBS (run scripts/gpu_deps.sh on Debian 12)"
  fi
fi
cp "$B/deps-probe/log" "$W/logs/deps.log" 2>/dev/null
if [ "$deps_ok" -eq 1 ]; then
  row deps PASS $((SECONDS - s0)) "$DEPS_NOTE; $(grep -o 'probe: .*' "$B/deps-probe/log" | cut -c8-240 | tr '|' '/')"
else
  row deps FAIL $((SECONDS - s0)) "$DEPS_NOTE; $(grep -m1 -A2 'CMake Error' "$B/deps-probe/log" 2>/dev/null | tr '\n' ' ' | cut -c1-200 | tr '|' '/')"
  finish
fi
ENV_LINES+=("build dependencies: $DEPS_NOTE")

# ---- 3. configure and build ---------------------------------------------------------------------
NS=$B/app/neurosweep
if [ -x "$NS" ] && [ -n "${NS_BUILD_DIR:-}" ] && [ "${NS_REBUILD:-0}" != 1 ]; then
  row build PASS 0 "reused $B (NS_BUILD_DIR; not reconfigured)"
else
  pp=$(IFS=';'; echo "${PREFIXES[*]:-}")
  configure=(cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release)
  [ -n "$pp" ] && configure+=(-DCMAKE_PREFIX_PATH="$pp")
  configure+=("${CMAKE_EXTRA[@]}")
  s0=$SECONDS
  how="TorchConfig from $([ -n "$TORCH_PREFIX" ] && echo "$TORCH_PREFIX" || echo "the system")"
  if ! run_step "$(allow 180)" "$W/logs/configure.log" "${configure[@]}"; then
    if [ "$DRY" -eq 0 ] && grep -qiE 'CUDA|nvcc|Caffe2|nvtx' "$W/logs/configure.log"; then
      # The wheel's TorchConfig.cmake wants a CUDA toolkit (nvcc) that this machine may lack;
      # the code compiles no CUDA, so a plain config of the wheel's headers and libraries does.
      shim=$B/torch-shim
      mkdir -p "$shim"
      tdir=$(cd "$TORCH_PREFIX/../.." && pwd)  # .../site-packages/torch
      cat >"$shim/TorchConfig.cmake" <<CM
# Written by scripts/gpu_check.sh: the wheel's LibTorch without its CUDA toolkit checks.
set(_t "$tdir")
add_library(torch INTERFACE IMPORTED)
set_target_properties(torch PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "\${_t}/include;\${_t}/include/torch/csrc/api/include"
  INTERFACE_COMPILE_DEFINITIONS "_GLIBCXX_USE_CXX11_ABI=$ABI"
  INTERFACE_LINK_LIBRARIES "-Wl,--no-as-needed,\${_t}/lib/libtorch_cuda.so,\${_t}/lib/libc10_cuda.so,--as-needed;\${_t}/lib/libtorch.so;\${_t}/lib/libtorch_cpu.so;\${_t}/lib/libc10.so")
set(TORCH_LIBRARIES torch)
set(TORCH_INCLUDE_DIRS "\${_t}/include;\${_t}/include/torch/csrc/api/include")
set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=$ABI")
set(TORCH_LIBRARY "\${_t}/lib/libtorch.so")
set(Torch_FOUND TRUE)
CM
      rm -f "$B/CMakeCache.txt"
      how="a TorchConfig of the wheel's headers and libraries ($shim: its own config failed, see configure-torch.log)"
      mv "$W/logs/configure.log" "$W/logs/configure-torch.log"
      run_step "$(allow 180)" "$W/logs/configure.log" "${configure[@]}" -DTorch_DIR="$shim" ||
        { row configure FAIL $((SECONDS - s0)) "$(why "$W/logs/configure.log")"; finish; }
    else
      row configure FAIL $((SECONDS - s0)) "$(why "$W/logs/configure.log")"
      finish
    fi
  fi
  row configure PASS $((SECONDS - s0)) "$how"
  # Only what the steps run: the app, the step benchmark, and the binaries of gpu-labelled tests
  # (those that are targets of this build).
  targets=(neurosweep)
  cmake --build "$B" --target help 2>/dev/null | grep -q '\btrain_step_bench\b' && targets+=(train_step_bench)
  while read -r t; do
    [ -n "$t" ] && cmake --build "$B" --target help 2>/dev/null | grep -q "\.\.\. $t\$" && targets+=("$t")
  done < <(ctest --test-dir "$B" -N -L gpu --show-only=json-v1 2>/dev/null | "$PY" -c '
import json, os, sys
try:
    tests = json.load(sys.stdin).get("tests", [])
except Exception:
    tests = []
for t in tests:  # a test and its binary usually share the name; "command" is absent until built
    print(t.get("name", ""))
    cmd = t.get("command") or []
    if cmd:
        print(os.path.basename(cmd[0]))
' 2>/dev/null | sort -u)
  s0=$SECONDS
  tflags=()
  for t in "${targets[@]}"; do tflags+=(--target "$t"); done
  if run_step "$(allow 420)" "$W/logs/build.log" cmake --build "$B" -j "$JOBS" "${tflags[@]}"; then
    row build PASS "$STEP_S" "-j $JOBS: ${targets[*]}"
  else
    row build FAIL "$STEP_S" "$(grep -m1 -E 'error|Error' "$W/logs/build.log" | cut -c1-160 | tr '|' '/')"
    finish
  fi
fi
"$NS" --version >/dev/null 2>&1 || { row build FAIL 0 "$NS does not start: $("$NS" --version 2>&1 | tail -n 1)"; finish; }

# ---- 4. the run steps -----------------------------------------------------------------------------
STEPS_T0=$SECONDS
if [ "$DRY" -eq 1 ]; then
  DATA='"images": 600, "size": 16, "neurons": 6, "repeats": 3'
  MODEL='"channels": 4, "layers": 2, "k1": 5, "k_later": 3'
  TRAIN='"phases": 1, "max_iters_per_phase": 30, "eval_every": 10, "patience": 100, "batch_size": 32'
  LONG='"phases": 1, "max_iters_per_phase": 400, "eval_every": 10, "patience": 1000, "batch_size": 32'
  THREADS=(--threads 1)
else
  # The example's sizes (examples/simulated_v1.json), shorter training.
  DATA='"images": 2000, "size": 32, "neurons": 30, "repeats": 6'
  MODEL='"channels": 16, "layers": 2, "k1": 9, "k_later": 3'
  TRAIN='"phases": 2, "max_iters_per_phase": 150, "eval_every": 25, "patience": 100, "batch_size": 256'
  LONG='"phases": 1, "max_iters_per_phase": 2000, "eval_every": 10, "patience": 10000, "batch_size": 64'
  THREADS=()
fi
spec() {  # spec FILE NAME GRID [TRAINING] [EXTRA]
  cat >"$1" <<J
{"name": "$2", "family": "maskcnn",
 "data": {"kind": "simulated", "seed": 3, $DATA},
 "fixed": {$MODEL, "loss": "poisson"},
 "training": {${4:-$TRAIN}},
 "grid": {$3},
 "seed": 0, "metric": "val_ccnorm", "mode": "max"${5:+, $5}}
J
}
rows_ok() {  # rows_ok DIR: the number of ok rows in DIR/results.csv
  "$PY" - "$1/results.csv" <<'PY' 2>/dev/null || echo 0
import csv, sys
print(sum(r["status"] == "ok" for r in csv.DictReader(open(sys.argv[1], newline=""))))
PY
}
SWEEP_MPI=()  # extra mpirun options (-x VAR)
sweep() {  # sweep LOG OUT SPEC [RUN OPTIONS]: one coordinator and one worker, bounded by $CAP
  local logf=$1 out=$2 s=$3; shift 3
  run_step "$CAP" "$logf" "${MPIRUN[@]}" "${SWEEP_MPI[@]}" -np 2 "$NS" run "$s" --out "$out" \
      "${THREADS[@]}" "$@"
}
child_of() {  # the process `timeout` (pid $1) runs
  pgrep -P "$1" 2>/dev/null | head -n 1 || ps -o pid= --ppid "$1" 2>/dev/null | head -n 1
}
status_of() { case $1 in 0) echo PASS ;; 124|137) echo TIMEOUT ;; 125) echo SKIP ;; *) echo FAIL ;; esac; }

# (a) GPU-labelled tests.
n=$(ctest --test-dir "$B" -N -L gpu 2>/dev/null | sed -n 's/^Total Tests: *//p')
if [ "${n:-0}" -eq 0 ]; then
  row gpu-tests SKIP 0 "no test carries the ctest label gpu"
else
  run_step "$(allow 120)" "$W/logs/gpu_tests.log" ctest --test-dir "$B" -L gpu --output-on-failure --timeout 100
  rc=$?
  summary=$(grep -E 'tests passed|tests failed' "$W/logs/gpu_tests.log" | tail -n 1)
  skipped=$(grep -c '\*\*\*Skipped' "$W/logs/gpu_tests.log")
  st=$(status_of $rc)
  # On the GPU machine a skip means this build's LibTorch saw no CUDA device: not a pass.
  [ "$DRY" -eq 0 ] && [ "$skipped" -gt 0 ] && st=FAIL
  row gpu-tests "$st" "$STEP_S" "$n tests: ${summary:-no ctest summary}; $skipped skipped (77)"
fi

# (b) CUDA against CPU, same seeds: every val/test metric within 1e-3 (relative above 1).
spec "$W/two.json" two '"lr": [0.003, 0.01]'
CAP=$(allow 90)
sweep "$W/logs/two_$DEV.log" "$W/two_$DEV" "$W/two.json" --device "$DEV" $([ "$DEV" = cuda ] && echo --deterministic)
rc_g=$?; s_g=$STEP_S
CAP=$(allow 90)
sweep "$W/logs/two_cpu.log" "$W/two_cpu" "$W/two.json" --device cpu
rc_c=$?; s_c=$STEP_S
if [ "$rc_g" -ne 0 ] || [ "$rc_c" -ne 0 ]; then
  row cuda-vs-cpu "$(status_of $((rc_g != 0 ? rc_g : rc_c)))" "$(awk -v a="$s_g" -v b="$s_c" 'BEGIN {print a + b}')" \
      "exit $rc_g ($DEV) / $rc_c (cpu): $(why "$W/logs/two_$DEV.log") $(why "$W/logs/two_cpu.log")"
else
  fig=$("$PY" - "$W/two_$DEV/results.csv" "$W/two_cpu/results.csv" "$DEV" <<'PY' 2>&1
import csv, math, sys
def load(p):
    return {r["trial_id"]: r for r in csv.DictReader(open(p, newline=""))}
g, c, dev = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3]
assert len(g) == len(c) == 2 and set(g) == set(c), f"trial ids differ: {sorted(g)} / {sorted(c)}"
worst, where, n = 0.0, "", 0
for tid in g:
    assert g[tid]["status"] == c[tid]["status"] == "ok", (g[tid]["error"], c[tid]["error"])
    assert g[tid]["device"].startswith(dev), f"ran on {g[tid]['device']}, not {dev}"
    for k in g[tid]:
        if not (k.startswith("val_") or k.startswith("test_")) or k.endswith("_excluded"):
            continue
        a, b = float(g[tid][k]), float(c[tid][k])
        if math.isnan(a) and math.isnan(b):
            continue
        d = abs(a - b) / max(1.0, abs(b))
        n += 1
        if d > worst or not math.isfinite(d):
            worst, where = d, f"{k} of {tid}"
ms = lambda t: "/".join(f"{float(r['ms_per_iter']):.1f}" for r in t.values())
print(f"max diff {worst:.2e} ({where or 'all equal'}) over {n} metrics; ms/iter {dev} {ms(g)}, cpu {ms(c)}")
sys.exit(0 if worst <= 1e-3 else 1)
PY
  )
  rc=$?
  row cuda-vs-cpu "$(status_of $rc)" "$(awk -v a="$s_g" -v b="$s_c" 'BEGIN {print a + b}')" "$(tail -n 1 <<<"$fig" | cut -c1-200 | tr '|' '/')"
fi

# (c) the training-step benchmark on the GPU.
TSB=$B/bench/train_step_bench
if [ ! -x "$TSB" ]; then
  row train-step SKIP 0 "$TSB was not built"
elif ! "$TSB" --help 2>&1 | grep -q -- '--device'; then
  row train-step SKIP 0 "train_step_bench has no --device option"
else
  # Throughput mode: lab-size steps (50x50, 16 channels, batch 256) timed between two device
  # syncs, alone (K=1) and as packs of 4 and 16 (member-steps per second).
  if [ "$DRY" -eq 1 ]; then
    args=(--device cpu --packs 1,4 --iters 3 --warmup 1 --size 20 --neurons 5 --channels 4 --batch 8 --json)
  else
    args=(--device cuda --packs 1,4,16 --iters 50 --warmup 10 --json)
  fi
  run_step "$(allow 90)" "$W/logs/train_step.log" "$TSB" "${args[@]}"
  rc=$?
  fig=$(tail -n 1 "$W/logs/train_step.log" | "$PY" -c '
import json, sys
try:
    t = json.loads(sys.stdin.read())["throughput"]
    print("; ".join("K=%d %.2f ms/step %.0f member-steps/s" % (r["pack"], r["ms_per_step"], r["member_steps_per_s"]) for r in t))
except Exception as e:
    print("no JSON from train_step_bench: %s" % e)')
  row train-step "$(status_of $rc)" "$STEP_S" "$fig"
fi

# (d) packing: 16 trials of one shape, "pack": K (and run --pack K where the build has it).
has_pack_opt=0
"$NS" run --help 2>&1 | grep -q -- '--pack' && has_pack_opt=1
base_rate=""
for K in 1 4 16; do
  spec "$W/pack$K.json" "pack$K" '"lr": [0.002, 0.003, 0.005, 0.01], "readout_scale": [0.001, 0.003, 0.01, 0.03]' "" "\"pack\": $K"
  CAP=$(allow 150)
  popt=()
  [ "$has_pack_opt" -eq 1 ] && popt=(--pack "$K")
  sweep "$W/logs/pack$K.log" "$W/pack$K" "$W/pack$K.json" --device "$DEV" "${popt[@]}"
  rc=$?
  ok=$(rows_ok "$W/pack$K")
  if [ "$rc" -eq 0 ] && [ "$ok" -eq 16 ]; then
    rate=$(awk -v s="$STEP_S" 'BEGIN {printf "%.0f", 16 * 3600 / s}')
    [ -z "$base_rate" ] && base_rate=$rate
    row "pack K=$K" PASS "$STEP_S" "16 trials in $STEP_S s: $rate trials per $([ "$DEV" = cuda ] && echo GPU || echo CPU)-hour ($(awk -v a="$rate" -v b="$base_rate" 'BEGIN {printf "%.2f", a / b}')x K=1)"
  else
    row "pack K=$K" "$([ "$rc" -eq 0 ] && echo FAIL || status_of $rc)" "$STEP_S" "exit $rc, $ok of 16 ok rows: $(why "$W/logs/pack$K.log")"
  fi
done

# (e) drain with SIGUSR1 once a trial wrote its first curve row after training began (the row of
# iteration 0 comes before any step, when Adam has no state yet), then resume on the GPU.
spec "$W/long.json" long '"lr": [0.003, 0.01]' "$LONG"
D=$W/drain
s0=$(now)
t=$(allow 60)
drained=0
if [ "$t" -lt 5 ]; then
  row drain SKIP 0 "no time left in the budget"
else
  timeout --kill-after=10 "$t" "${MPIRUN[@]}" -np 2 "$NS" run "$W/long.json" --out "$D" --device "$DEV" \
      "${THREADS[@]}" >"$W/logs/drain.log" 2>&1 </dev/null &
  pid=$!
  first=""
  for _ in $(seq 1 $((t * 20))); do
    first=$(find "$D/trials" -name curve.csv -size +0 2>/dev/null | while read -r f; do
              [ "$(wc -l <"$f")" -ge 3 ] && echo "$f" && break; done)
    [ -n "$first" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  # To mpirun, which forwards it to every rank (`timeout` itself would die of USR1).
  if [ -n "$first" ]; then
    mp=$(child_of "$pid")
    [ -n "$mp" ] && kill -USR1 "$mp" 2>/dev/null
  fi
  wait "$pid"
  rc=$?
  resume=$(find "$D/trials" -name resume.pt 2>/dev/null | head -n 1)
  if [ -z "$first" ]; then
    row drain FAIL "$(since "$s0")" "no curve row appeared (exit $rc): $(why "$W/logs/drain.log")"
  elif [ "$rc" -ne 3 ] || [ -z "$resume" ]; then
    row drain FAIL "$(since "$s0")" "exit $rc (expected 3), resume.pt: ${resume:-none}: $(why "$W/logs/drain.log")"
  else
    drained=1
    tid=$(basename "$(dirname "$resume")")
    cp "$D/trials/$tid/model.pt" "$W/model_$DEV.pt" 2>/dev/null  # as the GPU wrote it
    cp "$D/trials/$tid/curve.csv" "$W/curve_$DEV.csv"
    iter=$(tail -n 1 "$D/trials/$tid/curve.csv" | cut -d, -f1)
    row drain PASS "$(since "$s0")" "USR1 after the first training row of a curve: exit 3; trial $tid saved resume.pt (last curve row: iteration $iter)"
  fi
fi
if [ "$drained" -eq 1 ]; then
  cp -a "$D" "$W/drain_cpu"   # for the CPU load below
  CAP=$(allow 90)
  sweep "$W/logs/resume.log" "$D" "$W/long.json" --device "$DEV"
  rc=$?
  ok=$(rows_ok "$D")
  if [ "$rc" -eq 0 ] && [ "$ok" -eq 2 ] && ! grep -q 'starting afresh\|cannot resume' "$W/logs/resume.log"; then
    row resume PASS "$STEP_S" "rerun on $DEV: exit 0, 2 ok rows, trial $tid resumed"
  else
    row resume "$([ "$rc" -eq 0 ] && echo FAIL || status_of $rc)" "$STEP_S" "exit $rc, $ok of 2 ok rows: $(why "$W/logs/resume.log")"
  fi
else
  row resume SKIP 0 "nothing was drained"
fi

# (f) the GPU's checkpoint on CPU: resume the drained copy with CUDA hidden and --device cpu;
# model.pt (the best model so far, written on the GPU) must name no CUDA device.
if [ "$drained" -eq 1 ]; then
  CAP=$(allow 120)
  saved_cvd=${CUDA_VISIBLE_DEVICES-unset}
  export CUDA_VISIBLE_DEVICES=""
  SWEEP_MPI=(-x CUDA_VISIBLE_DEVICES)
  sweep "$W/logs/cpu_load.log" "$W/drain_cpu" "$W/long.json" --device cpu
  rc=$?
  SWEEP_MPI=()
  if [ "$saved_cvd" = unset ]; then unset CUDA_VISIBLE_DEVICES; else export CUDA_VISIBLE_DEVICES=$saved_cvd; fi
  fig=$("$PY" - "$W/drain_cpu" "$tid" "$W/model_$DEV.pt" "$W/logs/cpu_load.log" "$W/curve_$DEV.csv" <<'PY' 2>&1
import csv, sys, zipfile
out, tid, model, logf, curve = sys.argv[1:6]
rows = {r["trial_id"]: r for r in csv.DictReader(open(f"{out}/results.csv", newline=""))}
r = rows.get(tid)
assert r is not None, f"no row for {tid}"
assert r["status"] == "ok", r["error"]
assert r["device"] == "cpu", f"ran on {r['device']}"
text = open(logf, errors="replace").read()
assert "starting afresh" not in text and "cannot resume" not in text, "resume.pt was not used"
# The rows the GPU wrote before the drain are kept verbatim (a restart would recompute them on
# the CPU, with other last digits).
before = open(curve).read().splitlines()
after = open(f"{out}/trials/{tid}/curve.csv").read().splitlines()
assert after[:len(before)] == before, "the curve's rows from before the drain changed: not resumed"
assert len(after) > len(before), "no rows after the resume"
# model.pt as the GPU run left it at the drain (the copy's is rewritten on CPU): its pickles
# name every tensor's device; none may be CUDA.
try:
    z = zipfile.ZipFile(model)
    tagged = [n for n in z.namelist() if n.endswith(".pkl") and b"cuda" in z.read(n)]
    tags = "CUDA device tags in " + ", ".join(tagged) if tagged else "no CUDA device tags"
except (FileNotFoundError, zipfile.BadZipFile) as e:
    tagged, tags = [], f"model.pt not checked ({e.__class__.__name__})"
print(f"trial {tid} resumed on cpu (CUDA hidden) after curve row {len(before) - 1}: ok, test_ccnorm {float(r['test_ccnorm']):.4f}; the drained model.pt: {tags}")
sys.exit(1 if tagged else 0)
PY
  )
  rc2=$?
  if [ "$rc" -ne 0 ]; then
    row cpu-load "$(status_of $rc)" "$STEP_S" "exit $rc: $(why "$W/logs/cpu_load.log")"
  else
    row cpu-load "$(status_of $rc2)" "$STEP_S" "$(tail -n 1 <<<"$fig" | cut -c1-200 | tr '|' '/')"
  fi
else
  row cpu-load SKIP 0 "nothing was drained"
fi

finish
