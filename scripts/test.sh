#!/usr/bin/env bash
# The README's test command: installs what is missing, builds every target (tests, benchmarks,
# the app), and runs the whole test suite. On a busy machine NS_TEST_TIME_SCALE=3 (any factor)
# multiplies every test's timeout and the tests' own waits (CMakeLists.txt, tests/cli/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "${NS_TEST_JOBS:-2}" "$@"
