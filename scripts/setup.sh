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
#              NS_JOBS (parallel build jobs, default nproc),
#              NS_CACHE (downloads kept outside the repository, default
#              ${XDG_CACHE_HOME:-$HOME/.cache}/neurosweep: the report's Plotly bundle).
# Registries: Debian's archive (apt-get) and PyPI (pip download, for Plotly); no npm.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake git pkg-config
      libopenmpi-dev openmpi-bin
      libtorch-dev libopenblas0-openmp
      nlohmann-json3-dev libfmt-dev catch2 libcli11-dev
      libhdf5-dev zlib1g-dev libssl-dev
      dataset-fashion-mnist python3-pandas python3-torch chromium
      slurmctld slurmd slurm-client munge iproute2 util-linux)

# pip downloads the report's Plotly bundle from PyPI; a python3 that has pip already will do.
python3 -m pip --version >/dev/null 2>&1 || PKGS+=(python3-pip)

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
# The HTML report inlines Plotly: plotly.min.js from PyPI's `plotly` wheel, both pinned by version
# and sha256 in report/vendor/plotly.lock, kept in the cache (not in the repository).
NS_CACHE=${NS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/neurosweep}
lock() { sed -n "s/^$1=//p" report/vendor/plotly.lock; }
PLOTLY_DIR=$NS_CACHE/plotly.js-$(lock PLOTLY_JS)
PLOTLY_JS=$PLOTLY_DIR/plotly.min.js
js_sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
if [ "$(js_sha "$PLOTLY_JS")" != "$(lock PLOTLY_JS_SHA256)" ]; then
  echo "setup: downloading plotly $(lock PLOTLY_PY) (plotly.js $(lock PLOTLY_JS)) from PyPI into $PLOTLY_DIR"
  mkdir -p "$PLOTLY_DIR"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "plotly==$(lock PLOTLY_PY) --hash=sha256:$(lock PLOTLY_WHEEL_SHA256)" >"$tmp/req.txt"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    -r "$tmp/req.txt" -d "$tmp" </dev/null
  python3 - "$tmp"/plotly-*.whl "$tmp/plotly.min.js" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("plotly/package_data/plotly.min.js"))
PY
  if [ "$(js_sha "$tmp/plotly.min.js")" != "$(lock PLOTLY_JS_SHA256)" ]; then
    echo "setup: plotly.min.js from the plotly $(lock PLOTLY_PY) wheel does not match the sha256 in report/vendor/plotly.lock" >&2
    exit 1
  fi
  mv "$tmp/plotly.min.js" "$PLOTLY_JS"
fi
[ "${1:-}" = "--deps" ] && exit 0

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DNS_PLOTLY_JS="$PLOTLY_JS" -DNS_TEST_TIME_SCALE="${NS_TEST_TIME_SCALE:-1}" ${CMAKE_PREFIX_PATH:+-DCMAKE_PREFIX_PATH="$CMAKE_PREFIX_PATH"} >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "${NS_JOBS:-$(nproc)}" "${targets[@]}"
