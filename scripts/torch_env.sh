#!/usr/bin/env bash
# Sourced by scripts/cuda_libtorch.sh and scripts/gpu_check.sh: PyTorch's own CUDA LibTorch, from
# PyPI's `torch` wheel (pinned here), in a cached virtual environment outside the repository.
#
#   source scripts/torch_env.sh
#   torch_env_ensure          # downloads the wheels once (unless offline), makes the venv once
#   "$NS_TORCH_PY" -c 'import torch; print(torch.utils.cmake_prefix_path)'
#
# Environment:
#   NS_TORCH_VERSION  the torch wheel (default 2.15.0: CUDA 13 LibTorch, C++11 ABI)
#   NS_CACHE          cache folder (default ${XDG_CACHE_HOME:-$HOME/.cache}/neurosweep)
#   NS_TORCH_WHEELS   the wheel files: torch and everything it needs (default
#                     $NS_CACHE/wheels/torch-VERSION-cpXY, XY the venv's Python). A folder of
#                     wheels copied from another machine is installed with no network at all.
#   NS_TORCH_VENV     the virtual environment (default $NS_CACHE/venv/torch-VERSION-pyX.Y)
#   NS_TORCH_OFFLINE  1: never download; the wheels must already be in NS_TORCH_WHEELS
#   NS_TORCH_BASE_PY  the Python the venv is made from (default python3)
NS_TORCH_VERSION=${NS_TORCH_VERSION:-2.15.0}
NS_CACHE=${NS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/neurosweep}
NS_TORCH_BASE_PY=${NS_TORCH_BASE_PY:-python3}
_ns_pyver=$("$NS_TORCH_BASE_PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
NS_TORCH_WHEELS=${NS_TORCH_WHEELS:-$NS_CACHE/wheels/torch-$NS_TORCH_VERSION-cp${_ns_pyver/./}}
NS_TORCH_VENV=${NS_TORCH_VENV:-$NS_CACHE/venv/torch-$NS_TORCH_VERSION-py$_ns_pyver}
NS_TORCH_PY=$NS_TORCH_VENV/bin/python

# True when the venv holds the pinned torch.
torch_env_ready() {
  "$NS_TORCH_PY" - "$NS_TORCH_VERSION" >/dev/null 2>&1 <<'PY'
import sys, torch
sys.exit(0 if torch.__version__.split("+")[0] == sys.argv[1] else 1)
PY
}

torch_env_ensure() {
  torch_env_ready && return 0
  if ! ls "$NS_TORCH_WHEELS"/torch-"$NS_TORCH_VERSION"-*.whl >/dev/null 2>&1; then
    if [ "${NS_TORCH_OFFLINE:-0}" = 1 ]; then
      echo "torch_env: no torch-$NS_TORCH_VERSION wheel in $NS_TORCH_WHEELS and NS_TORCH_OFFLINE=1" >&2
      return 1
    fi
    echo "torch_env: downloading torch==$NS_TORCH_VERSION and its CUDA libraries from PyPI into $NS_TORCH_WHEELS (about 3 GB, once)" >&2
    mkdir -p "$NS_TORCH_WHEELS"
    "$NS_TORCH_BASE_PY" -m pip download --quiet --only-binary=:all: -d "$NS_TORCH_WHEELS" \
      "torch==$NS_TORCH_VERSION" </dev/null >&2 || return 1
  fi
  echo "torch_env: installing torch $NS_TORCH_VERSION into $NS_TORCH_VENV from $NS_TORCH_WHEELS (no network)" >&2
  rm -rf "$NS_TORCH_VENV"
  "$NS_TORCH_BASE_PY" -m venv "$NS_TORCH_VENV" >&2 || return 1
  "$NS_TORCH_PY" -m pip install --quiet --no-index --find-links "$NS_TORCH_WHEELS" \
    "torch==$NS_TORCH_VERSION" </dev/null >&2 || return 1
  torch_env_ready || { echo "torch_env: $NS_TORCH_PY cannot import torch $NS_TORCH_VERSION" >&2; return 1; }
}
