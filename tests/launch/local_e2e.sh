#!/usr/bin/env bash
# `neurosweep launch local`: the script it writes runs a quadratic sweep under mpirun; TERM (and
# Ctrl-C) drains it with status 3, and running the script again (here via --submit) finishes it.
# Run: ctest --test-dir build -R launch_local --output-on-failure
# or by hand: NS_BINARY=build/app/neurosweep bash tests/launch/local_e2e.sh
# (NS_LAUNCH_CMD replaces "$NS_BINARY launch"; NS_KEEP=1 keeps the scratch folder.)
set -euo pipefail

: "${NS_BINARY:?set NS_BINARY to the neurosweep binary}"
read -r -a launch <<<"${NS_LAUNCH_CMD:-$NS_BINARY launch}"
binary_opt=()
[ -n "${NS_LAUNCH_CMD:-}" ] && binary_opt=(--binary "$NS_BINARY")
t0=$(date +%s)
say() { printf '[local_e2e %3ds] %s\n' $(( $(date +%s) - t0 )) "$*"; }
fail() { say "FAIL: $*"; exit 1; }
# Polls scale with NS_TEST_TIME_SCALE (the CMake setting of that name; default 1): polls N -> N x it.
polls() { awk -v n="$1" -v k="${NS_TEST_TIME_SCALE:-1}" 'BEGIN { printf "%d", n * k }'; }
command -v mpirun >/dev/null || { say "skip: no mpirun"; exit 77; }

work=$(mktemp -d /tmp/ns_local_e2e.XXXXXX)
script_pid=""
cleanup() {
  local rc=$?
  [ -n "$script_pid" ] && kill -9 "$script_pid" 2>/dev/null
  if [ $rc -ne 0 ]; then
    for f in "$work"/*.log; do [ -f "$f" ] && { echo "----- $f"; tail -n 30 "$f"; }; done
  fi
  if [ "${NS_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT

spec() {  # name sleep_s n
  printf '{"name": "%s", "family": "quadratic", "training": {"sleep_s": %s},
  "grid": {"x": [%s]}, "metric": "score", "mode": "max", "out": "%s/%s"}\n' \
    "$1" "$2" "$(seq -s, -f %.1f 1 "$3")" "$work" "$1"
}
rows() { [ -f "$1/results.csv" ] && echo $(( $(wc -l <"$1/results.csv") - 1 )) || echo 0; }
distinct() { tail -n +2 "$1/results.csv" | cut -d, -f1 | sort -u | wc -l; }

# 1. A whole sweep: the script runs and exits 0 with every trial once.
spec whole 0.2 6 >"$work/whole.json"
cmd=$("${launch[@]}" local "$work/whole.json" "${binary_opt[@]}" --ranks-per-node 2)
[ "$cmd" = "bash $work/whole/job-local.sh" ] || fail "unexpected command: $cmd"
rc=0
$cmd >"$work/whole.log" 2>&1 || rc=$?
[ $rc = 0 ] || fail "1: the script exited $rc"
[ "$(rows "$work/whole")" = 6 ] && [ "$(distinct "$work/whole")" = 6 ] || fail "1: results incomplete"
say "1: whole sweep ok"

# 2. TERM mid-sweep: status 3 within a bound, some rows; then --submit reruns it to the end.
spec cut 1.0 12 >"$work/cut.json"
"${launch[@]}" local "$work/cut.json" "${binary_opt[@]}" --ranks-per-node 2 >/dev/null
bash "$work/cut/job-local.sh" >"$work/cut1.log" 2>&1 &
script_pid=$!
for _ in $(seq "$(polls 300)"); do [ "$(rows "$work/cut")" -ge 2 ] && break; sleep 0.1; done
[ "$(rows "$work/cut")" -ge 2 ] || fail "2: no rows after 30 s x NS_TEST_TIME_SCALE"
kill -TERM "$script_pid"
rc=0
for _ in $(seq "$(polls 150)"); do kill -0 "$script_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$script_pid" 2>/dev/null && fail "2: still running 15 s (x NS_TEST_TIME_SCALE) after TERM"
wait "$script_pid" || rc=$?
script_pid=""
[ $rc = 3 ] || fail "2: status $rc after TERM, expected 3 (interrupted, resumable)"
n=$(rows "$work/cut")
[ "$n" -lt 12 ] || fail "2: the sweep finished before TERM took effect"
grep -q "second signal" "$work/cut1.log" && fail "2: the ranks got TERM twice"
say "2: drained with status 3 after $n of 12 trials"
rc=0
"${launch[@]}" local "$work/cut.json" "${binary_opt[@]}" --ranks-per-node 2 --submit \
  >"$work/cut2.log" 2>&1 || rc=$?
[ $rc = 0 ] || fail "2: the rerun exited $rc"
[ "$(rows "$work/cut")" = 12 ] && [ "$(distinct "$work/cut")" = 12 ] || fail "2: resume incomplete"
say "2: resumed to 12 of 12 trials, none twice"

# 3. Ctrl-C: SIGINT to the whole foreground process group, as a terminal sends it. Job control
# gives the script a group of its own (and keeps SIGINT from being ignored in the background).
spec ctrlc 1.0 8 >"$work/ctrlc.json"
"${launch[@]}" local "$work/ctrlc.json" "${binary_opt[@]}" --ranks-per-node 2 >/dev/null
set -m
bash "$work/ctrlc/job-local.sh" >"$work/ctrlc.log" 2>&1 &
script_pid=$!
set +m
for _ in $(seq "$(polls 300)"); do [ "$(rows "$work/ctrlc")" -ge 1 ] && break; sleep 0.1; done
kill -INT -- "-$script_pid"
rc=0
for _ in $(seq "$(polls 150)"); do kill -0 "$script_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$script_pid" 2>/dev/null && fail "3: still running 15 s (x NS_TEST_TIME_SCALE) after Ctrl-C"
wait "$script_pid" || rc=$?
script_pid=""
[ $rc = 3 ] || fail "3: status $rc after Ctrl-C, expected 3"
grep -q "second signal" "$work/ctrlc.log" && fail "3: the ranks got two signals from one Ctrl-C"
say "3: Ctrl-C drained with status 3 after $(rows "$work/ctrlc") of 8 trials"
say "PASS"
