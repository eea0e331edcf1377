#!/usr/bin/env bash
# The README's main job: installs what is missing, builds the `neurosweep` app only (the tests
# and benchmarks are built by scripts/test.sh), and runs the example sweep on the built-in
# simulated V1 dataset under mpirun (a coordinator and two workers).
#   NS_EXAMPLE  spec to run (default examples/simulated_v1.json)
#   NS_RANKS    MPI ranks (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh neurosweep
spec=${NS_EXAMPLE:-examples/simulated_v1.json}
[ -f "$spec" ] || spec=examples/quadratic_grid.json
mpi_flags=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi_flags+=(--allow-run-as-root)
mpirun "${mpi_flags[@]}" -np "${NS_RANKS:-3}" "${BUILD_DIR:-build}/app/neurosweep" run "$spec" "$@"
