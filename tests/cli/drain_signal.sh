#!/usr/bin/env bash
# Signals mid-sweep: the run drains and exits within a bounded time with the documented status,
# state.json says "interrupted", and rerunning the same command completes the sweep.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<'J'
{"family": "quadratic", "grid": {"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "k": [0, 1, 2, 3, 4]},
 "training": {"sleep_s": 0.4}, "metric": "score", "mode": "max"}
J
rows() { [ -f "$TMP/out/results.csv" ] && tail -n +2 "$TMP/out/results.csv" | wc -l || echo 0; }
wait_rows() { wait_until 30 "[ \"\$(rows)\" -ge $1 ]" || fail "no progress"; }
# run_and_signal SIGNAL EXPECTED_STATUS CMD...: starts CMD, signals it once rows appear, and
# checks it ends within 20 s (x NS_TEST_TIME_SCALE) with the expected status.
run_and_signal() {
  local sig=$1 want=$2; shift 2
  "$@" >"$TMP/log" 2>&1 &
  local pid=$!
  wait_rows $(( $(rows) + 3 ))
  local t0=$SECONDS
  kill -s "$sig" "$pid"
  wait_until 20 '! kill -0 "$pid" 2>/dev/null' || true
  kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; fail "$sig: still running after 20 s"; }
  set +e; wait "$pid"; local got=$?; set -e
  [ "$got" -eq "$want" ] || { cat "$TMP/log"; fail "$sig: exit $got, expected $want"; }
  grep -q '"state": "interrupted"' "$TMP/out/state.json" || fail "$sig: state.json not interrupted"
  echo "$sig: exited $got after $((SECONDS - t0)) s with $(rows) rows"
}
# SIGUSR1 (what Slurm's --signal sends): mpirun forwards it; the program's own status 3 comes back.
run_and_signal USR1 3 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --out "$TMP/out"
# SIGTERM to mpirun: it forwards it and reports its own status (1); state.json tells the truth.
run_and_signal TERM 1 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --out "$TMP/out"
# SIGTERM to the program itself (-np 1, or srun): status 3.
run_and_signal TERM 3 "$NS" run "$TMP/spec.json" --out "$TMP/out"
"${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --out "$TMP/out" 2>"$TMP/log" || { cat "$TMP/log"; fail "resume"; }
[ "$(rows)" -eq 30 ] || fail "expected 30 rows, got $(rows)"
[ "$(csv_col "$TMP/out/results.csv" trial_id | sort -u | wc -l)" -eq 30 ] || fail "duplicate ids"
grep -q '"state": "complete"' "$TMP/out/state.json" || fail "state.json not complete"
echo "ok: drained on USR1 and TERM, resumed to 30 unique rows"
