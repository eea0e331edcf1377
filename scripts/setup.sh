#!/usr/bin/env bash
# neurosweep setup: installs what is missing from Debian's archive (idempotent,
# non-interactive, works as root without sudo) and builds into ./build.
#
#   scripts/setup.sh                 install + build everything (tests and benchmarks too)
#   scripts/setup.sh TARGET...       install + build only these CMake targets (and what they need),
#                                    e.g. scripts/setup.sh neurosweep
#   scripts/setup.sh --deps          install only
#
# Environment: BUILD_DIR (default build), CMAKE_PREFIX_PATH (e.g. a CUDA LibTorch),
#              NS_JOBS (parallel build jobs, default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake git pkg-config
      libopenmpi-dev openmpi-bin
      libtorch-dev libopenblas0-openmp
      nlohmann-json3-dev libfmt-dev catch2 libcli11-dev
      libhdf5-dev zlib1g-dev
      dataset-fashion-mnist python3-pandas python3-torch chromium
      slurmctld slurmd slurm-client munge)

# npm installs the report's Plotly bundle; machines with Node.js from elsewhere already have it.
command -v npm >/dev/null || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi
# The HTML report inlines Plotly (version pinned in report/vendor/package.json).
if [ ! -f report/vendor/node_modules/plotly.js-dist-min/plotly.min.js ]; then
  echo "setup: installing plotly.js-dist-min into report/vendor"
  npm install --no-audit --no-fund --save-exact --prefix "$PWD/report/vendor" plotly.js-dist-min@3.7.0
fi
[ "${1:-}" = "--deps" ] && exit 0

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${CMAKE_PREFIX_PATH:+-DCMAKE_PREFIX_PATH="$CMAKE_PREFIX_PATH"} >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "${NS_JOBS:-$(nproc)}" "${targets[@]}"
