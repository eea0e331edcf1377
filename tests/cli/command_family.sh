#!/usr/bin/env bash
# The command family (models/command/family.hpp) end to end with tests/command/prog.py: argv
# substitution passes values literally (spaces, shell metacharacters), the environment, a
# program that fails, one that hangs past its time limit (its whole process group ends), one
# that prints malformed lines, a drain the program acknowledges and a resume that continues it,
# early stopping through its reports, SIGKILLs at random moments, and bad specs (exit 2, nothing
# written).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
PROG=$SRC/tests/command/prog.py
# spec FILE OUT GRID-JSON [EXTRA-TOP-LEVEL-JSON] [EXTRA-COMMAND-JSON]
spec() {
  cat >"$1" <<J
{"family": "command",
 "command": {"argv": ["$PY", "$PROG", "--x", "{x}", "--tag", "{tag}", "literal {{braces}}"],
             "params": {"x": 0.0, "steps": 5, "sleep": 0.0, "mode": "ok", "tag": ""},
             "metrics": ["score", "runs"], "resource": "steps"${5:-}},
 "grid": $3, "metric": "score", "mode": "max", "out": "$2"${4:-}}
J
}
# 1. argv: values with spaces and shell metacharacters arrive literally, one argument each; no
#    shell ran them (the file an injection would create does not exist).
mkdir "$TMP/victim"
spec "$TMP/a.json" "$TMP/a" "{\"mode\": [\"argv\"], \"tag\": [\"two words\", \"\$(touch $TMP/pwned); rm -rf $TMP/victim\", \"'q' \\\"dq\\\" \`bt\` |&;<>*\"]}"
expect_exit 0 "${MPIRUN[@]}" -np 2 "$NS" run "$TMP/a.json"
python3 - "$TMP/a" "$TMP" <<'PY'
import csv, json, os, sys
out, tmp = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(f"{out}/results.csv")))
assert len(rows) == 3 and all(r["status"] == "ok" for r in rows), rows
seen = set()
for r in rows:
    a = json.load(open(f"{out}/trials/{r['trial_id']}/argv.json"))
    assert a["argv"] == ["--x", "0", "--tag", r["tag"], "literal {braces}"], a["argv"]
    seen.add(r["tag"])
    e = a["env"]
    assert e["NEUROSWEEP_TRIAL_ID"] == r["trial_id"] and e["NEUROSWEEP_SEED"] == r["seed"], e
    assert e["NEUROSWEEP_TRIAL_DIR"] == os.path.realpath(f"{out}/trials/{r['trial_id']}"), e
    assert e["CUDA_VISIBLE_DEVICES"] == "" and int(e["OMP_NUM_THREADS"]) >= 1, e
    assert a["mpi"] == [], f"the MPI job's variables reached the program: {a['mpi']}"
assert seen == {"two words", f"$(touch {tmp}/pwned); rm -rf {tmp}/victim", "'q' \"dq\" `bt` |&;<>*"}, seen
assert not os.path.exists(f"{tmp}/pwned") and os.path.isdir(f"{tmp}/victim"), "a shell ran a value"
print("ok: argv literal, environment set, no MPI variables")
PY

# 2. Failures, malformed output, no result, reports in $NEUROSWEEP_REPORTS.
spec "$TMP/f.json" "$TMP/f" '{"mode": ["fail", "malformed", "noresult", "file"], "x": [1]}'
expect_exit 0 "$NS" run "$TMP/f.json"
python3 - "$TMP/f" <<'PY'
import csv, sys
out = sys.argv[1]
rows = {r["mode"]: r for r in csv.DictReader(open(f"{out}/results.csv"))}
f = rows["fail"]
assert f["status"] == "failed" and "exited with code 3" in f["error"] and "boom: the loss is a lie" in f["error"], f
m = rows["malformed"]
assert m["status"] == "ok" and float(m["score"]) == 0.5, m  # the good lines still count
log = open(f"{out}/trials/{m['trial_id']}/log.txt").read()
assert "a report line ignored (not JSON: " in log and "): {this is not json" in log, log
assert 'report line ignored ("step": expected a number, got "three")' in log, log
n = rows["noresult"]
assert n["status"] == "failed" and "without a result" in n["error"], n
assert "I forgot to print my results" in open(f"{out}/trials/{n['trial_id']}/log.txt").read()
r = rows["file"]
assert r["status"] == "ok" and float(r["score"]) == 0.5 and r["runs"] == "1", r
print("ok: failed with stderr, malformed lines logged, no result failed, reports file read")
PY

# 3. A program that ignores SIGTERM and hangs past the time limit: the trial times out, and its
#    whole process group (a helper it started) is gone.
spec "$TMP/h.json" "$TMP/h" '{"mode": ["hang"]}' ', "trial_timeout_s": 1' ', "grace_s": 0.5'
start=$SECONDS
expect_exit 0 "$NS" run "$TMP/h.json"
[ $((SECONDS - start)) -lt 15 ] || fail "the hanging trial took $((SECONDS - start)) s"
[ "$(csv_col "$TMP/h/results.csv" status)" = timeout ] || fail "$(cat "$TMP/h/results.csv")"
helper=$(cat "$TMP"/h/trials/*/helper.pid)
# Alive: it exists and is not a zombie waiting for init to reap it.
alive() { [ -e "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
wait_until 0.5 '! alive "$helper"' || true
! alive "$helper" || { kill -9 "$helper"; fail "the program's helper process $helper outlived the trial"; }
echo "ok: a hanging program timed out and its process group ended"

# 4. Drain: SIGTERM to the sweep; the program saves its state and exits with the interrupted
#    code; the rerun continues it in the same directory (its step count goes on, runs = 2).
spec "$TMP/d.json" "$TMP/d" '{"x": [0, 1], "steps": [40], "sleep": [0.05]}'
"$NS" run "$TMP/d.json" >"$TMP/dlog" 2>&1 &
pid=$!
wait_until 20 'ls "$TMP"/d/trials/*/state.json >/dev/null 2>&1' || true
sleep 0.3
kill -TERM "$pid"
set +e; wait "$pid"; got=$?; set -e
[ "$got" -eq 3 ] || { cat "$TMP/dlog"; fail "drain: exit $got, expected 3"; }
grep -q '"state": "interrupted"' "$TMP/d/state.json" || fail "state.json not interrupted"
grep -q "exited with code 75" "$TMP"/d/trials/*/log.txt || fail "the program did not acknowledge the drain"
expect_exit 0 "$NS" run "$TMP/d.json"
python3 - "$TMP/d" <<'PY'
import csv, json, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/results.csv")))
assert len(rows) == 2 and all(r["status"] == "ok" for r in rows), rows
resumed = [r for r in rows if r["runs"] == "2"]
assert len(resumed) == 1, rows  # the drained trial ran twice, the other once
r = resumed[0]
assert abs(float(r["score"]) - (-(float(r["x"]) - 1) ** 2 + 0.1 * 40)) < 1e-9, r
log = open(f"{out}/trials/{r['trial_id']}/log.txt").read()
assert "resuming trial" in log, log
steps = [json.loads(l)["step"] for l in log.splitlines() if l.startswith('{"step"')]
assert steps == [], "report lines are not copied to the log"
print("ok: drained, acknowledged, resumed where it stopped")
PY

# 5. Early stopping through the reports: synchronous successive halving over 9 configurations,
#    rungs at 1, 3, 9 steps; the best configuration (x = 1) trains to the end.
spec "$TMP/e.json" "$TMP/e" '{"x": [-3, -2, -1, 0, 1, 2, 3, 4, 5], "steps": [9]}' \
  ', "scheduler": {"kind": "asha", "resource": "steps", "min": 1, "max": 9, "eta": 3, "synchronous": true}'
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/e.json"
python3 - "$TMP/e" <<'PY'
import collections, csv, json, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/results.csv")))
st = collections.Counter(r["status"] for r in rows)
assert st == {"stopped": 8, "ok": 1}, st
best = [r for r in rows if r["status"] == "ok"][0]
assert best["x"] == "1" and float(best["score"]) == 0.9 and best["resource"] == "9", best
# The promoted trial was paused at rungs 1 and 3 and resumed from its state each time.
state = json.load(open(f"{out}/trials/{best['trial_id']}/state.json"))
assert state["runs"] == 3 and state["step"] == 9, state
print("ok: ASHA on the program's reports:", dict(st))
PY

# 6. SIGKILL of the whole job at random moments, resumed each time: the same trial ids as an
#    uninterrupted run, none twice, the same scores (each program continues from its state).
spec "$TMP/k.json" "$TMP/k" '{"x": [0, 1, 2, 3, 4, 5, 6, 7], "steps": [30], "sleep": [0.05]}'
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/k.json" --out "$TMP/kref"
rows() { [ -f "$TMP/k/results.csv" ] && tail -n +2 "$TMP/k/results.csv" | wc -l || echo 0; }
progress() { { cat "$TMP"/k/trials/*/state.json 2>/dev/null || true; } | md5sum; }
RANDOM=4242
kills=0
for i in 1 2 3 4 5 6; do
  setsid "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/k.json" >/dev/null 2>&1 &
  pid=$!
  before=$(progress)
  wait_until 10 '[ "$(progress)" != "$before" ] || ! kill -0 "$pid" 2>/dev/null' || true
  sleep "0.$((RANDOM % 10))"
  if kill -KILL -- -"$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  wait_until 5 '! pgrep -f -- "$TMP/k.json" >/dev/null' || true
  pkill -KILL -f -- "$TMP/k.json" 2>/dev/null || true
  echo "kill point $i: $(rows) rows"
done
[ "$kills" -ge 3 ] || fail "only $kills kill points hit a running job"
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/k.json"
python3 - "$TMP" <<'PY'
import csv, sys
tmp = sys.argv[1]
load = lambda d: {r["trial_id"]: r for r in csv.DictReader(open(f"{tmp}/{d}/results.csv"))}
ref, got = load("kref"), load("k")
ids = [r["trial_id"] for r in csv.DictReader(open(f"{tmp}/k/results.csv"))]
assert len(ids) == len(set(ids)), "a trial has two rows"
assert set(got) == set(ref), (sorted(got), sorted(ref))
for k, r in ref.items():
    assert got[k]["status"] == "ok" and got[k]["score"] == r["score"], (got[k], r)
print(f"ok: {len(got)} trials after SIGKILLs, the same ids and scores as the uninterrupted run")
PY

# 7. Bad specs: exit 2, one clear line, nothing written.
bad() { bad_spec "$TMP/e.json" "$@"; }  # bad NAME PYTHON-EDIT EXPECTED-MESSAGE (lib.sh)
bad noblock 'del s["command"]' 'the command family needs a "command" block'
bad placeholder 's["command"]["argv"].append("{lr}")' 'argv[7]: '"'"'{lr}'"'"': unknown placeholder {lr}'
bad brace 's["command"]["argv"].append("a}b")' 'an unmatched }'
bad metric 's["command"]["metrics"] = ["score", "status"]' "'status' is already a column of results.csv"
bad nometric 's["metric"] = "loss"' "unknown metric 'loss' of family 'command'; allowed: score, runs"
bad param 's["grid"]["lr"] = [0.1]' "unknown parameter 'lr' of family 'command'"
bad type 's["grid"]["steps"] = ["many"]' "expected an integer for 'steps'"
bad program 's["command"]["argv"][0] = "no-such-program-xyz"' "cannot find the program 'no-such-program-xyz'"
bad resource 's["command"]["resource"] = "epochs"' 'expected "epochs"'
echo "PASS command_family"
