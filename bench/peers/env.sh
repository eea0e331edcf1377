#!/usr/bin/env bash
# Sourced by the bench/peers/ scripts: each peer tool in its own cached virtual environment, from
# PyPI, versions pinned here and printed. Never used by the engine or the test suite.
#
#   source bench/peers/env.sh
#   py=$(peer_python optuna)      # creates $NS_CACHE/peers/optuna-5.0.0 once, prints its python
#   peer_versions optuna ray      # one line per tool: name, version, python
#
# NS_CACHE defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/neurosweep, as in scripts/setup.sh.
NS_CACHE=${NS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/neurosweep}
declare -A PEER_PIN=(
  [optuna]="optuna==5.0.0"
  [ray]="ray[tune]==2.60.0"
)
declare -A PEER_MODULE=([optuna]=optuna [ray]=ray)

peer_dir() { echo "$NS_CACHE/peers/${PEER_PIN[$1]//[^A-Za-z0-9.=_-]/}" | sed 's/==/-/'; }

# Prints the python of tool $1's environment, creating it first if needed.
peer_python() {
  local tool=$1
  [ -n "${PEER_PIN[$tool]:-}" ] || { echo "peers: unknown tool $tool (known: ${!PEER_PIN[*]})" >&2; return 2; }
  local dir
  dir=$(peer_dir "$tool")
  if ! "$dir/bin/python" -c "import ${PEER_MODULE[$tool]}" >/dev/null 2>&1; then
    echo "peers: creating $dir (${PEER_PIN[$tool]})" >&2
    python3 -m venv "$dir" >&2 || return 1
    "$dir/bin/python" -m pip install --quiet "${PEER_PIN[$tool]}" </dev/null >&2 || return 1
  fi
  echo "$dir/bin/python"
}

peer_versions() {
  local tool py
  for tool in "$@"; do
    py=$(peer_python "$tool") || return 1
    "$py" -c "import sys, ${PEER_MODULE[$tool]} as m; print('$tool', m.__version__, 'python', sys.version.split()[0])"
  done
}
