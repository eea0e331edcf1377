# Shared helpers for the CLI tests.
set -euo pipefail
NS=${NS_BINARY:?NS_BINARY must point at the neurosweep binary}
SRC=${NS_SOURCE_DIR:?}
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --mca btl self,vader --mca btl_vader_single_copy_mechanism none)
TMP=$(mktemp -d /tmp/ns_cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# The tests' waits scale with NS_TEST_TIME_SCALE (set by CTest from the CMake setting of that
# name; default 1): a busy machine gives every wait more time.
TIME_SCALE=${NS_TEST_TIME_SCALE:-1}
# scaled SECONDS: SECONDS x the factor (for `timeout` and sleeps that must outlast work).
scaled() { awk -v s="$1" -v k="$TIME_SCALE" 'BEGIN { printf "%.2f", s * k }'; }
# wait_until SECONDS CONDITION: evaluates CONDITION (shell code, run in the caller's scope) every
# 0.05 s until it succeeds (status 0) or SECONDS x the factor of wall time have passed (status 1).
wait_until() {
  local limit_us start now
  limit_us=$(awk -v s="$1" -v k="$TIME_SCALE" 'BEGIN { printf "%d", s * k * 1e6 }')
  start=${EPOCHREALTIME//[.,]/}
  while :; do
    eval "$2" && return 0
    now=${EPOCHREALTIME//[.,]/}
    [ $((now - start)) -lt "$limit_us" ] || return 1
    sleep 0.05
  done
}
# expect_exit CODE CMD...: runs CMD, checks its exit status, keeps stderr in $TMP/err.
expect_exit() {
  local want=$1; shift
  set +e
  "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  set -e
  [ "$got" -eq "$want" ] || { cat "$TMP/err" >&2; fail "exit $got, expected $want: $*"; }
}
# mpi_rank_pid MPIRUN_PID RANK: the pid of that rank among mpirun's children (its
# OMPI_COMM_WORLD_RANK), or nothing while it has not started.
mpi_rank_pid() {
  local p
  for p in $(pgrep -P "$1" 2>/dev/null || true); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return 0; }
  done
  return 0
}
# kill_while_training SPEC OUT KILLS: runs the sweep (mpirun -np 3, --out OUT) KILLS times and
# SIGKILLs the whole job each time while a trial trains: the first kill after a row was written
# (rows must survive a kill), every kill within 0.2 s of seeing a trial that wrote files in this
# run and has no row yet. Sets HITS to the kills that caught such a trial. Seed RANDOM first.
kill_while_training() {
  local spec=$1 out=$2 kills=$3 i pid before hit
  _rows() { [ -f "$out/results.csv" ] && tail -n +2 "$out/results.csv" | wc -l || echo 0; }
  _running() {  # trials that wrote a file since the stamp and have no row
    [ -d "$out/trials" ] || return 0
    local done_ids=""
    [ -f "$out/results.csv" ] && done_ids=$(tail -n +2 "$out/results.csv" | cut -d, -f1)
    find "$out/trials" -mindepth 2 -type f -newer "$TMP/stamp" -printf '%h\n' |
      xargs -r -n1 basename | sort -u |
      while read -r id; do grep -qxF -- "$id" <<<"$done_ids" || echo "$id"; done
  }
  HITS=0
  for i in $(seq 1 "$kills"); do
    touch "$TMP/stamp"
    sleep 0.01  # files written from now on are newer than the stamp
    setsid "${MPIRUN[@]}" -np 3 "$NS" run "$spec" --out "$out" >/dev/null 2>&1 &
    pid=$!
    before=$(_rows)
    if [ "$i" -eq 1 ]; then
      wait_until 60 '[ "$(_rows)" -gt "$before" ] || ! kill -0 "$pid" 2>/dev/null' || true
    fi
    wait_until 20 '[ -n "$(_running)" ] || ! kill -0 "$pid" 2>/dev/null' || true
    sleep "0.$((RANDOM % 3))"
    kill -KILL -- -"$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    wait_until 5 '! pgrep -f -- "--out $out" >/dev/null' || true
    pkill -KILL -f -- "--out $out" 2>/dev/null || true
    hit=$(_running | tr '\n' ' ')
    [ -n "$hit" ] && HITS=$((HITS + 1))
    echo "kill point $i: $(_rows) rows so far; trials training when killed: ${hit:-none}"
  done
}
# kill_one_rank SPEC OUT KILLS [AFTER]: runs `$NS run SPEC --out OUT` on one rank KILLS times and
# SIGKILLs it each time 0-0.9 s after a new row appeared (or after 10 s x the factor without one); AFTER, a
# command, runs after each kill with the kill's number. Sets HITS to the kills that hit a running
# sweep. Seed RANDOM first.
kill_one_rank() {
  local spec=$1 out=$2 kills=$3 after=${4:-} i pid before
  _rows1() { [ -f "$out/results.csv" ] && tail -n +2 "$out/results.csv" | wc -l || echo 0; }
  HITS=0
  for i in $(seq 1 "$kills"); do
    "$NS" run "$spec" --out "$out" >/dev/null 2>&1 &
    pid=$!
    before=$(_rows1)
    wait_until 10 '[ "$(_rows1)" -gt "$before" ] || ! kill -0 "$pid" 2>/dev/null' || true
    sleep "0.$((RANDOM % 10))"
    kill -KILL "$pid" 2>/dev/null && HITS=$((HITS + 1))
    wait "$pid" 2>/dev/null || true
    echo "kill point $i: $(_rows1) rows so far"
    [ -z "$after" ] || "$after" "$i"
  done
}
# bad_spec BASE NAME PYTHON-EDIT EXPECTED: the spec BASE with `s["out"]` set to $TMP/bad_NAME and
# PYTHON-EDIT applied to it (a statement on the dict `s`) must be refused by `run` with exit 2,
# a message containing EXPECTED, and nothing written.
bad_spec() {
  local base=$1 name=$2 edit=$3 want=$4
  python3 - "$base" "$TMP/bad_$name.json" "$TMP/bad_$name" "$edit" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["out"] = sys.argv[3]
exec(sys.argv[4])
json.dump(s, open(sys.argv[2], "w"))
PY
  expect_exit 2 "$NS" run "$TMP/bad_$name.json"
  grep -qF -- "$want" "$TMP/err" || { cat "$TMP/err"; fail "$name: expected '$want'"; }
  [ ! -e "$TMP/bad_$name" ] || fail "$name: wrote $TMP/bad_$name"
}
# csv_col FILE COLUMN[,COLUMN...] [COLUMN=VALUE...]: prints the named columns (space-separated) of
# each row of the CSV file FILE, in file order, keeping only the rows whose cells equal every
# VALUE given. csv_count FILE [COLUMN=VALUE...]: the number of such rows. Both read FILE with
# python's csv module (quoted commas and newlines included) and fail on a missing file or column.
_csv() {
  python3 - "$@" <<'PY'
import csv, sys
mode, path, *args = sys.argv[1:]
cols = args.pop(0).split(",") if mode == "col" else []
if any("=" not in a for a in args):
    sys.exit(f"csv_{mode}: a filter is COLUMN=VALUE, got {args}")
want = [a.split("=", 1) for a in args]
with open(path, newline="") as f:
    reader = csv.DictReader(f)
    rows = list(reader)
header = reader.fieldnames or []
missing = [c for c in cols + [k for k, _ in want] if c not in header]
if missing:
    sys.exit(f"{path}: no column {', '.join(missing)} (the header is {','.join(header)})")
rows = [r for r in rows if all(r[k] == v for k, v in want)]
if mode == "count":
    print(len(rows))
for r in rows if mode == "col" else []:
    print(" ".join(r[c] for c in cols))
PY
}
csv_col() { _csv col "$@"; }
csv_count() { _csv count "$@"; }
